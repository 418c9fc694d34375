"""datumaro's COCO variants: the same two images in three layouts.

``coco_instances`` (``annotations/instances_<split>.json`` beside ``images/<split>/``),
``mmdet_coco`` (``<split>/`` beside ``annotations/``) and ``coco_roboflow``
(``<split>/_annotations.coco.json``). Category ids 1, 2, 4 (non-contiguous) are kept, annotation
id 1 is reused by the two split files (legal: ids are unique within a split), and a crowd
annotation carries an RLE mask.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_same_dataset

import svmlp

VARIANTS = {
    # variant: image folder of each split, relative to the variant
    "coco_instances": {"train": "images/train", "val": "images/val"},
    "mmdet_coco": {"train": "train", "val": "val"},
    "coco_roboflow": {"train": "train", "val": "val"},
}
POLYGON = [[0.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0, 2.0]]
RLE = {"counts": [0, 20, 30], "size": [10, 5]}


@pytest.fixture(scope="module")
def coco_root(fixtures_dir: Path) -> Path:
    return fixtures_dir / "datumaro" / "coco_dataset"


@pytest.fixture(scope="module")
def variants(coco_root: Path) -> dict[str, svmlp.Dataset]:
    return {name: svmlp.read(coco_root / name) for name in VARIANTS}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_is_detected_as_coco(variant: str, coco_root: Path) -> None:
    assert svmlp.detect(coco_root / variant) == "coco"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_content(variant: str, variants: dict[str, svmlp.Dataset]) -> None:
    ds = variants[variant]
    assert [(c.id, c.name, c.role) for c in ds.categories] == [(1, "a", None), (2, "b", None), (4, "c", None)]
    assert ds.splits == ["train", "val"]
    images = [
        (im.split, im.file_name, im.id, im.width, im.height, im.labelled)
        for im in map(ds.image, range(len(ds)))
    ]
    assert sorted(images) == [("train", "a.jpg", 5, 10, 5, True), ("val", "b.jpg", 40, 5, 10, True)]
    by_split = {ds.image(i).split: ds.boxes_of(i) for i in range(len(ds))}
    assert [(b.id, b.category_id, b.xyxy, b.iscrowd) for b in by_split["train"]] == [
        (1, 2, (2.0, 2.0, 5.0, 3.0), False)
    ]
    assert [(b.id, b.category_id, b.xyxy, b.iscrowd) for b in by_split["val"]] == [
        (1, 1, (0.0, 0.0, 1.0, 2.0), False),
        (2, 2, (0.0, 0.0, 1.0, 9.0), True),
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_segmentation_and_area_are_kept(variant: str, variants: dict[str, svmlp.Dataset]) -> None:
    ds = variants[variant]
    rows = {
        (ds.image(int(b)).split, int(i)): r
        for r, (b, i) in enumerate(zip(ds.boxes.image, ds.boxes.id, strict=True))
    }
    seg, area = ds.boxes.segmentation, ds.boxes.area
    assert seg is not None
    assert seg[rows["train", 1]] is None  # "segmentation": [] is no segmentation
    assert seg[rows["val", 1]] == POLYGON
    assert seg[rows["val", 2]] == RLE
    assert ds.boxes.iscrowd[rows["val", 2]]
    assert [area[rows[k]] for k in (("train", 1), ("val", 1), ("val", 2))] == [3.0, 2.0, 20.0]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_image_roots_are_found_and_headers_read(
    variant: str, variants: dict[str, svmlp.Dataset], coco_root: Path
) -> None:
    ds = variants[variant]
    assert ds.roots == {s: coco_root / variant / rel for s, rel in VARIANTS[variant].items()}
    for i in range(len(ds)):
        path = ds.image_path(i)
        assert path is not None and path.is_file(), path
        # the headers were read (probe=True) and agree with the stored sizes
        assert (int(ds.images.header_width[i]), int(ds.images.header_height[i])) == (
            ds.image(i).width,
            ds.image(i).height,
        )


@pytest.mark.parametrize("variant", ["mmdet_coco", "coco_roboflow"])
def test_variants_agree_with_coco_instances(variant: str, variants: dict[str, svmlp.Dataset]) -> None:
    a, b = variants["coco_instances"], variants[variant]
    assert_same_dataset(a, b)
    assert a.boxes.segmentation.tolist() == b.boxes.segmentation.tolist()
    assert a.boxes.area.tolist() == b.boxes.area.tolist()


def test_split_file_read_alone(coco_root: Path) -> None:
    """One split file read on its own keeps its split name (instances_val → val)."""
    ds = svmlp.read(coco_root / "coco_instances" / "annotations" / "instances_val.json")
    assert ds.splits == ["val"]
    assert ds.images.file_name.tolist() == ["b.jpg"]
    assert ds.roots == {"val": coco_root / "coco_instances" / "images" / "val"}
