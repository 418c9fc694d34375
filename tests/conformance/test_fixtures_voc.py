"""datumaro's Pascal VOC trees.

``voc_dataset1``: a full devkit tree, ``train.txt`` and ``test.txt``; 2007_000002 is listed in
test and has an image but no XML (an unlabelled image); the person object has ``<part>`` and
``<actions>`` (not boxes of their own). ``voc_dataset2``: no ``<size>``, no images, a
``labelmap.txt`` of 22 classes, and ``@.xml`` with no objects (a labelled, empty image).
``voc_dataset3``: a comment line in ``train.txt``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import svmlp

LABELMAP = [
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
    "ignored",
]


@pytest.fixture(scope="module")
def voc_root(fixtures_dir: Path) -> Path:
    return fixtures_dir / "datumaro" / "voc_dataset"


@pytest.mark.parametrize("name", ["voc_dataset1", "voc_dataset2", "voc_dataset3"])
def test_detected_as_voc(name: str, voc_root: Path) -> None:
    assert svmlp.detect(voc_root / name) == "voc"


def test_dataset1_splits_and_unlabelled_image(voc_root: Path) -> None:
    ds = svmlp.read(voc_root / "voc_dataset1")
    assert ds.splits == ["train", "test"]
    # no labelmap.txt, no sidecar: the names used, sorted, from 1
    assert [(c.id, c.name) for c in ds.categories] == [(1, "cat"), (2, "person")]
    images = {im.file_name: im for im in map(ds.image, range(len(ds)))}
    assert sorted(images) == ["2007_000001.jpg", "2007_000002.jpg"]
    one, two = images["2007_000001.jpg"], images["2007_000002.jpg"]
    assert (one.split, one.labelled, one.width, one.height) == ("train", True, 20, 10)
    # listed in test.txt, no XML: unlabelled, no boxes, its size read from the image
    assert (two.split, two.labelled, two.width, two.height) == ("test", False, 20, 10)
    assert ds.boxes_of(two.index) == []
    assert ds.roots == {
        "train": voc_root / "voc_dataset1/JPEGImages",
        "test": voc_root / "voc_dataset1/JPEGImages",
    }


def test_dataset1_objects(voc_root: Path) -> None:
    """Devkit origin: x0 = xmin - 1, x1 = xmax. <part> and <actions> add no boxes."""
    ds = svmlp.read(voc_root / "voc_dataset1")
    assert [(b.category, b.xyxy) for b in ds.boxes_of(0)] == [
        ("cat", (0.0, 1.0, 3.0, 4.0)),
        ("person", (3.0, 4.0, 6.0, 7.0)),
    ]
    b = ds.boxes
    # cat: <truncated>1</truncated><difficult>0</difficult>; person: neither given
    assert (b.truncated.tolist(), b.difficult.tolist(), b.occluded.tolist()) == ([1, -1], [0, -1], [-1, -1])
    assert not b.iscrowd.any()


def test_dataset1_origin0(voc_root: Path) -> None:
    ds = svmlp.read(voc_root / "voc_dataset1", origin=0)
    assert [b.xyxy for b in ds.boxes_of(0)] == [(1.0, 2.0, 3.0, 4.0), (4.0, 5.0, 6.0, 7.0)]


def test_dataset2_no_size_no_images_labelmap(voc_root: Path) -> None:
    ds = svmlp.read(voc_root / "voc_dataset2")
    # only trainval.txt (the <class>_trainval.txt lists are not splits)
    assert ds.splits == ["trainval"]
    assert [(c.id, c.name) for c in ds.categories] == [(k + 1, n) for k, n in enumerate(LABELMAP)]
    images = {im.file_name: im for im in map(ds.image, range(len(ds)))}
    assert sorted(images) == ["@.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    # no <size> and no image to read one from: 0 x 0
    assert {(im.width, im.height) for im in images.values()} == {(0, 0)}
    assert ds.images.labelled.all()
    assert ds.roots == {} and ds.image_path(0) is None
    # @.xml: an annotation file with no object, a verified negative
    assert ds.boxes_of(images["@.jpg"].index) == []
    got = {im.file_name: [(b.category, b.xyxy) for b in ds.boxes_of(im.index)] for im in images.values()}
    assert got == {
        "@.jpg": [],
        "a.jpg": [("background", (0.0, 1.0, 4.0, 6.0))],
        "b.jpg": [("aeroplane", (1.0, 1.0, 7.0, 6.0))],
        "c.jpg": [("bicycle", (2.0, 0.0, 11.0, 6.0))],
        "d.jpg": [("bird", (3.0, 3.0, 8.0, 8.0))],
    }
    rows = {ds.image(int(i)).file_name: r for r, i in enumerate(ds.boxes.image)}
    assert [int(ds.boxes.occluded[rows[f]]) for f in ("a.jpg", "b.jpg", "c.jpg", "d.jpg")] == [1, 1, 0, 0]


def test_dataset3_comment_line_in_split_list(voc_root: Path) -> None:
    ds = svmlp.read(voc_root / "voc_dataset3")
    assert ds.splits == ["train"]
    assert ds.images.file_name.tolist() == ["2007_000001.jpg"]
    assert [(b.category, b.xyxy) for b in ds.boxes_of(0)] == [("cat", (0.0, 1.0, 3.0, 4.0))]
    assert (ds.image(0).width, ds.image(0).height) == (20, 10)


def test_unlisted_xml_goes_to_split_unlisted(voc_root: Path, tmp_path: Path) -> None:
    """An XML that no ImageSets list names is kept, in split "unlisted" (a copy of voc_dataset3)."""
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    xml = (voc_root / "voc_dataset3/Annotations/2007_000001.xml").read_text(encoding="utf-8")
    (tmp_path / "Annotations/2007_000001.xml").write_text(xml, encoding="utf-8")
    (tmp_path / "Annotations/extra.xml").write_text(
        xml.replace("2007_000001.jpg", "extra.jpg"), encoding="utf-8"
    )
    (tmp_path / "ImageSets/Main/train.txt").write_text("2007_000001\n", encoding="utf-8")
    ds = svmlp.read(tmp_path)
    assert sorted(zip(ds.images.split.tolist(), ds.images.file_name.tolist(), strict=True)) == [
        ("train", "2007_000001.jpg"),
        ("unlisted", "extra.jpg"),
    ]
