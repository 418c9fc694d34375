"""Every fixture through every format that can hold it, and back.

Each registered format is held to its declared round trip (DESIGN.md §3: native and COCO exact,
YOLO ≤ 1e-6 px against the source clamped to the image, as YOLO clamps on write and says so, VOC
≤ 0.5 px). Ids, category ids and names, splits, empty and unlabelled images survive (the sidecar
carries what YOLO and VOC cannot). Each write is done twice and must give byte-identical output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_same_dataset, kept_by
from roundtrip import FORMATS, assert_same_tree, clipped_to_frame, crosses_frame, round_trip

import svmlp

#: name: (path under fixtures/, read options, images mode: "none" where the source has no images)
SOURCES = {
    "lf-coco": ("labelformat/COCO/train.json", {}, "copy"),
    "lf-yolo": ("labelformat/YOLOv8/example.yaml", {}, "copy"),
    "lf-voc": ("labelformat/PascalVOC", {"format": "voc", "origin": 0}, "none"),
    "coco_instances": ("datumaro/coco_dataset/coco_instances", {}, "copy"),
    "mmdet_coco": ("datumaro/coco_dataset/mmdet_coco", {}, "copy"),
    "coco_roboflow": ("datumaro/coco_dataset/coco_roboflow", {}, "copy"),
    "yolo-strict": ("datumaro/yolo_dataset/strict", {}, "copy"),
    "yolo-labels": ("datumaro/yolo_dataset/labels", {}, "copy"),
    "yolo-annotations": ("datumaro/yolo_dataset/annotations", {"format": "yolo"}, "copy"),
    "yolov8": ("datumaro/yolo_dataset/ultralytics_yolov8", {}, "copy"),
    "yolov8-list": ("datumaro/yolo_dataset/ultralytics_yolov8_with_list_of_names", {}, "copy"),
    "yolov8-subset-txt": ("datumaro/yolo_dataset/ultralytics_yolov8_with_subset_txt", {}, "copy"),
    "yolov8-obb": ("datumaro/yolo_dataset/ultralytics_yolov8_oriented_boxes", {}, "copy"),
    "voc1": ("datumaro/voc_dataset/voc_dataset1", {}, "copy"),
    "voc2": ("datumaro/voc_dataset/voc_dataset2", {}, "none"),
    "voc3": ("datumaro/voc_dataset/voc_dataset3", {}, "copy"),
}

#: what a format cannot hold, and the error that says so
CANNOT = {
    # VOC keeps all splits in one folder: 1.jpg in train and in val would share Annotations/1.xml
    ("yolo-labels", "voc"): svmlp.AnnotationError,
    # no <size> and no images: YOLO cannot normalise the boxes
    ("voc2", "yolo"): svmlp.ImageError,
    ("voc2", "yolo-obb"): svmlp.ImageError,
    ("voc2", "label-studio"): svmlp.ImageError,  # regions are percent of the image's size
}


@pytest.fixture(scope="session")
def sources(fixtures_dir: Path) -> dict[str, svmlp.Dataset]:
    return {name: svmlp.read(fixtures_dir / rel, **opts) for name, (rel, opts, _) in SOURCES.items()}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", list(SOURCES))
def test_round_trip(name: str, fmt: str, sources: dict[str, svmlp.Dataset], tmp_path: Path) -> None:
    src, images = sources[name], SOURCES[name][2]
    if (name, fmt) in CANNOT:
        with pytest.raises(CANNOT[name, fmt]) as info:
            svmlp.write(src, tmp_path / "out", format=fmt, images=images)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "out").exists()  # all or nothing
        assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder left behind
        return
    back, report = round_trip(src, fmt, tmp_path, images=images)
    expected = src
    if svmlp.FORMATS[fmt].ROUND_TRIP.clamps:
        expected = clipped_to_frame(src)
        assert any("clipped" in n for n in report.notes) == bool(crosses_frame(src)), report.notes
    assert_same_dataset(expected, back, **kept_by(fmt))
    assert back.splits == src.splits
    assert report.images == len(src) and report.boxes == len(src.boxes)
    assert report.images_placed == (len(src) if images == "copy" else 0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_crowd_mask_and_info_survive(fmt: str, sources: dict[str, svmlp.Dataset], tmp_path: Path) -> None:
    """The crowd RLE and the polygon of datumaro's COCO fixture, and its ``info``, come back.

    COCO and native hold them; YOLO and VOC keep them in their sidecars and read them back.
    """
    src = sources["coco_instances"]
    back, _ = round_trip(src, fmt, tmp_path, images="none")
    assert back.boxes.segmentation is not None, f"{fmt}: segmentation lost"
    assert (back.boxes.segmentation.tolist(), back.info) == (src.boxes.segmentation.tolist(), src.info)


@pytest.mark.parametrize("fmt", FORMATS)
def test_second_generation_is_stable(fmt: str, sources: dict[str, svmlp.Dataset], tmp_path: Path) -> None:
    """Writing what was read back gives the very same files again (labelformat's YOLO twin).

    VOC rounds to whole pixels on the first pass, so its fixed point is one generation later.
    """
    first, _ = round_trip(sources["lf-yolo"], fmt, tmp_path / "a", images="none")
    written = tmp_path / "a" / f"{fmt}-1"
    if fmt == "voc":
        first, _ = round_trip(first, fmt, tmp_path / "b", images="none")
        written = tmp_path / "b" / f"{fmt}-1"
    svmlp.write(first, tmp_path / "again", format=fmt, images="none")
    assert_same_tree(written, tmp_path / "again")
