"""labelformat's fixture: the same two photos in COCO, YOLOv8 and Pascal VOC, with hostile names.

The COCO file is the twin every other format is compared with: same images (by base name), same
classes by name (``bicycle with space`` included) and the same boxes in file order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from roundtrip import assert_same_boxes

import svmlp

SIZES = {
    "a-weird Filename.asdf.jpg": (640, 416),
    "aNother-weird__ filename.with.many.characters.jpg": (640, 428),
}
N_BOXES = {"a-weird Filename.asdf.jpg": 8, "aNother-weird__ filename.with.many.characters.jpg": 8}
#: The YOLO labels hold the original COCO boxes (e.g. dog [539.72, 295.45, 22.91, 18.39]) to 6
#: significant digits, while the COCO twin rounded each of x, y, w and h to whole pixels: so x, y, w
#: and h agree within half a pixel (x1 = x + w alone may differ by up to 1 px).
YOLO_ATOL = 0.5


@pytest.fixture(scope="module")
def root(fixtures_dir: Path) -> Path:
    return fixtures_dir / "labelformat"


@pytest.fixture(scope="module")
def coco_twin(root: Path) -> svmlp.Dataset:
    return svmlp.read(root / "COCO" / "train.json")


def test_coco_twin_reads_as_written(coco_twin: svmlp.Dataset, root: Path) -> None:
    ds = coco_twin
    assert svmlp.detect(root / "COCO" / "train.json") == "coco"
    # one file with no split in its name: split "train"; COCO ids kept, starting at 0
    assert ds.splits == ["train"]
    assert [c.id for c in ds.categories] == list(range(32))
    assert ds.categories[1].name == "bicycle with space"
    assert ds.categories[31].name == "snowboard"
    assert {ds.image(i).file_name: (ds.image(i).width, ds.image(i).height) for i in range(len(ds))} == SIZES
    assert [ds.image(i).id for i in range(len(ds))] == [0, 1]
    assert len(ds.boxes) == 16 and not ds.boxes.iscrowd.any()
    bicycles = [b for i in range(len(ds)) for b in ds.boxes_of(i) if b.category == "bicycle with space"]
    assert [(b.id, b.category_id, b.xyxy) for b in bicycles] == [
        (7, 1, (75.0, 198.0, 81.0, 213.0)),
        (15, 1, (586.0, 194.0, 598.0, 212.0)),
    ]
    # the source's own area is kept, even where it is not w * h
    assert ds.boxes.area[1] == pytest.approx(695.1853359360001, abs=0)


def test_coco_twin_finds_its_images_and_sizes_agree(coco_twin: svmlp.Dataset, root: Path) -> None:
    ds = coco_twin
    assert ds.roots == {"train": root / "COCO" / "data"}
    for i in range(len(ds)):
        path = ds.image_path(i)
        assert path is not None and path.is_file(), path
    np.testing.assert_array_equal(ds.images.header_width, ds.images.width)
    np.testing.assert_array_equal(ds.images.header_height, ds.images.height)


@pytest.mark.parametrize("source", ["YOLOv8/example.yaml", "YOLOv8"])
def test_yolo_matches_coco_twin(source: str, root: Path, coco_twin: svmlp.Dataset) -> None:
    assert svmlp.detect(root / source) == "yolo"
    ds = svmlp.read(root / source)
    # YOLO without a sidecar: category id = class index, which the COCO twin happens to share
    assert [(c.id, c.name) for c in ds.categories] == [(c.id, c.name) for c in coco_twin.categories]
    assert ds.splits == ["train"]
    # the split is a sub-folder with a space in its name; keys are relative to it
    assert ds.roots == {"train": root / "YOLOv8" / "images" / "a-difficult subfolder"}
    assert sorted(ds.images.file_name.tolist()) == sorted(SIZES)
    assert ds.images.labelled.all()
    # sizes come from the image headers and agree with what the COCO file stores
    for i in range(len(ds)):
        im = ds.image(i)
        assert (im.width, im.height) == SIZES[im.file_name]
        assert (int(ds.images.header_width[i]), int(ds.images.header_height[i])) == SIZES[im.file_name]
        assert len(ds.boxes_of(i)) == N_BOXES[im.file_name]
    assert_same_boxes(ds, coco_twin, atol=YOLO_ATOL, xywh=True)


def test_yolo_boxes_are_the_label_numbers_scaled(root: Path) -> None:
    """One row worked by hand: ``1 0.121414 0.493966 0.00982813 0.0367308`` on a 640×416 image."""
    ds = svmlp.read(root / "YOLOv8")
    i = ds.images.file_name.tolist().index("a-weird Filename.asdf.jpg")
    bicycle = [b for b in ds.boxes_of(i) if b.category == "bicycle with space"]
    assert len(bicycle) == 1
    cx, cy, w, h = 0.121414, 0.493966, 0.00982813, 0.0367308
    expected = ((cx - w / 2) * 640, (cy - h / 2) * 416, (cx + w / 2) * 640, (cy + h / 2) * 416)
    np.testing.assert_allclose(bicycle[0].xyxy, expected, rtol=0, atol=1e-9)


def test_voc_origin0_matches_coco_twin_exactly(root: Path, coco_twin: svmlp.Dataset) -> None:
    folder = root / "PascalVOC"
    assert svmlp.detect(folder) == "voc"
    ds = svmlp.read(folder, format="voc", origin=0)
    # a flat folder of XML files and no ImageSets: one split, "train"
    assert ds.splits == ["train"]
    # no sidecar, no labelmap.txt: the names used, sorted, numbered from 1
    assert [(c.id, c.name) for c in ds.categories] == [
        (1, "bench"),
        (2, "bicycle with space"),
        (3, "dog"),
        (4, "person"),
        (5, "snowboard"),
    ]
    # file names come from <filename>, sizes from <size> (the images are not in this folder)
    assert {ds.image(i).file_name: (ds.image(i).width, ds.image(i).height) for i in range(len(ds))} == SIZES
    assert ds.images.labelled.all()
    assert_same_boxes(ds, coco_twin, atol=0.0)


def test_voc_origin1_reads_devkit_pixel_indices(root: Path, coco_twin: svmlp.Dataset) -> None:
    """The default origin is the devkit's: x0 = xmin - 1, x1 = xmax, so the same file reads 1 px wider."""
    zero = svmlp.read(root / "PascalVOC", format="voc", origin=0)
    one = svmlp.read(root / "PascalVOC", format="voc")
    np.testing.assert_array_equal(one.boxes.xyxy[:, :2], zero.boxes.xyxy[:, :2] - 1)
    np.testing.assert_array_equal(one.boxes.xyxy[:, 2:], zero.boxes.xyxy[:, 2:])


def test_voc_origin_must_be_0_or_1(root: Path) -> None:
    with pytest.raises(svmlp.UsageError):
        svmlp.read(root / "PascalVOC", format="voc", origin=2)
