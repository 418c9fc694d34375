"""datumaro's YOLO layouts: darknet, loose and ultralytics, all holding the same 15×10 image.

Every plain layout holds the two rows below; the expected boxes are worked out here from the
label numbers, not by svmlp. The oriented-box variant must read as the enclosing boxes of its
polygons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import svmlp

W, H = 15, 10
NAMES = [f"label_{k}" for k in range(10)]
#: the rows of every plain layout's 1.txt: class cx cy w h
ROWS = [(2, 0.133333, 0.300000, 0.266667, 0.200000), (4, 0.266667, 0.450000, 0.133333, 0.300000)]
#: the rows of the oriented-box variant: class x1 y1 x2 y2 x3 y3 x4 y4
OBB_ROWS = [
    (2, 0.146731, 0.151795, 0.319936, 0.301795, 0.186603, 0.648205, 0.013397, 0.498205),
    (4, 0.557735, 0.090192, 0.357735, 0.609808, 0.242265, 0.509808, 0.442265, -0.009808),
]

#: layout: (path to read, format or None to detect, {split: file_name})
PLAIN = {
    "strict": ("strict", None, {"train": "obj_train_data/1.jpg"}),
    "strict-obj.data": ("strict/obj.data", None, {"train": "obj_train_data/1.jpg"}),
    "labels": ("labels", None, {"train": "1.jpg", "val": "1.jpg"}),
    "annotations": ("annotations", "yolo", {"train": "1.jpg"}),
    "ultralytics_yolov8": ("ultralytics_yolov8", None, {"train": "1.jpg"}),
    "ultralytics_yolov8_with_list_of_names": (
        "ultralytics_yolov8_with_list_of_names",
        None,
        {"train": "1.jpg"},
    ),
    "ultralytics_yolov8_with_subset_txt": (
        "ultralytics_yolov8_with_subset_txt",
        None,
        {"train": "images/train/1.jpg"},
    ),
}


def _plain_expected() -> list[tuple[str, tuple[float, float, float, float]]]:
    return [
        (NAMES[c], ((cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H))
        for c, cx, cy, w, h in ROWS
    ]


def _obb_expected() -> list[tuple[str, tuple[float, float, float, float]]]:
    out = []
    for c, *pts in OBB_ROWS:
        xs, ys = pts[0::2], pts[1::2]
        out.append((NAMES[c], (min(xs) * W, min(ys) * H, max(xs) * W, max(ys) * H)))
    return out


@pytest.fixture(scope="module")
def yolo_root(fixtures_dir: Path) -> Path:
    return fixtures_dir / "datumaro" / "yolo_dataset"


def _read(yolo_root: Path, layout: str) -> svmlp.Dataset:
    rel, fmt, _ = PLAIN[layout]
    return svmlp.read(yolo_root / rel, format=fmt)


def _assert_image(ds: svmlp.Dataset, i: int, expected: list[tuple[str, tuple[float, ...]]]) -> None:
    im = ds.image(i)
    assert (im.width, im.height, im.labelled) == (W, H, True)
    assert (int(ds.images.header_width[i]), int(ds.images.header_height[i])) == (W, H)
    got = ds.boxes_of(i)
    assert [b.category for b in got] == [n for n, _ in expected]
    np.testing.assert_allclose([b.xyxy for b in got], [x for _, x in expected], rtol=0, atol=1e-9)


@pytest.mark.parametrize("layout", list(PLAIN))
def test_plain_layout_reads_the_same_boxes(layout: str, yolo_root: Path) -> None:
    ds = _read(yolo_root, layout)
    # no sidecar: category id = class index
    assert [(c.id, c.name) for c in ds.categories] == list(enumerate(NAMES))
    files = PLAIN[layout][2]
    assert sorted(zip(ds.images.split.tolist(), ds.images.file_name.tolist(), strict=True)) == sorted(
        files.items()
    )
    assert ds.splits == list(files)
    for i in range(len(ds)):
        _assert_image(ds, i, _plain_expected())
        path = ds.image_path(i)
        assert path is not None and path.is_file(), path


def test_darknet_paths_are_repaired_with_notes(yolo_root: Path) -> None:
    """obj.data says data/obj.names and data/train.txt (darknet's working folder): found beside it."""
    ds = svmlp.read(yolo_root / "strict")
    assert svmlp.detect(yolo_root / "strict") == "yolo"
    assert ds.roots == {"train": yolo_root / "strict"}
    text = " ".join(ds.notes)
    assert "data/obj.names" in text and "data/train.txt" in text


def test_loose_labels_layout_has_train_and_val(yolo_root: Path) -> None:
    """Split folders under images/ and labels/; the README.txt beside them is not a label file."""
    ds = svmlp.read(yolo_root / "labels")
    assert ds.roots == {"train": yolo_root / "labels/images/train", "val": yolo_root / "labels/images/val"}
    assert ds.images.id.tolist() == [1, 2] and ds.boxes.id.tolist() == [1, 2, 3, 4]


def test_annotations_layout_is_detected_as_yolo(yolo_root: Path) -> None:
    """``Images/`` + ``Annotations/*.txt`` + ``obj.names`` is YOLO; it has no VOC XML at all.

    An ``Annotations/`` folder alone must not make it VOC (the VOC reader would find no XML and
    return an empty data set).
    """
    folder = yolo_root / "annotations"
    assert svmlp.detect(folder) == "yolo"
    ds = svmlp.read(folder)
    assert len(ds) == 1 and len(ds.boxes) == 2


def test_names_as_list_and_as_dict_agree(yolo_root: Path) -> None:
    a = svmlp.read(yolo_root / "ultralytics_yolov8")
    b = svmlp.read(yolo_root / "ultralytics_yolov8_with_list_of_names")
    assert a.categories == b.categories


def test_subset_txt_is_repaired_relative_to_the_yaml(yolo_root: Path) -> None:
    """train.txt lists data/images/train/1.jpg (datumaro's prefix): found under the yaml's folder."""
    ds = svmlp.read(yolo_root / "ultralytics_yolov8_with_subset_txt")
    assert ds.image_path(0) == yolo_root / "ultralytics_yolov8_with_subset_txt/images/train/1.jpg"
    assert any("train.txt" in n for n in ds.notes)


def test_oriented_boxes_read_as_enclosing_boxes(yolo_root: Path) -> None:
    ds = svmlp.read(yolo_root / "ultralytics_yolov8_oriented_boxes")
    assert [(c.id, c.name) for c in ds.categories] == list(enumerate(NAMES))
    assert ds.images.file_name.tolist() == ["1.jpg"] and ds.splits == ["train"]
    _assert_image(ds, 0, _obb_expected())
    # worked by hand for the second row: x from 0.242265 to 0.557735, y from -0.009808 to 0.609808
    np.testing.assert_allclose(ds.boxes.xyxy[1], [3.633975, -0.09808, 8.366025, 6.09808], rtol=0, atol=1e-9)
