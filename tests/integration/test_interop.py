"""Interoperability: what svmlp writes is read, without complaint, by the reference readers.

* pycocotools loads every COCO file svmlp writes, and the native ``<split>.svmlp.json`` (a COCO
  superset); counts, categories and boxes match, and COCOeval of the ground truth against itself
  gives AP50 == 1 (the extra keys such as ``parent_id`` and ``plate`` do not get in the way).
* FiftyOne's own importer classes for COCO, YOLOv5 and VOC (``fiftyone.utils.coco/yolo/voc``)
  read svmlp's outputs: samples, detections per sample, labels and boxes match svmlp's model.
  FiftyOne's database is not available here, so no ``fo.Dataset`` is made: the importers are
  run directly (``setup()`` through the context manager, then iterated), and every import checks
  that FiftyOne never opened a database connection.
* The same on hostile file names (spaces, several dots, a sub-folder with a space, non-ASCII).

Outputs are written once per session (session-scoped fixtures) and only read by the tests.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

import svmlp

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")  # no usage pings from FiftyOne

coco_api = pytest.importorskip("pycocotools.coco")
coco_eval = pytest.importorskip("pycocotools.cocoeval")

SPLITS = ("train", "val", "test")


# -- session fixtures: source data sets and what svmlp writes from them ------------------------


def _hostile_synth(folder: Path) -> svmlp.Dataset:
    """A small synthetic set whose file names have spaces, several dots, a sub-folder with a
    space and a non-ASCII letter; one image in ten unlabelled, some labelled with no box."""
    from svmlp.synth import generate_annotations, render

    ds = generate_annotations(15, seed=7, unlabelled=0.1, negatives=0.15)
    patterns = ("sub dir/{} copy.v2.jpg", "{} (1).final.jpg", "my {}..x.jpg", "café {}.jpg")
    names = [patterns[i % 4].format(Path(f).stem) for i, f in enumerate(ds.images.file_name.tolist())]
    ds = ds.replace(images=dataclasses.replace(ds.images, file_name=np.array(names)))
    return render(ds, folder)  # draws the JPEGs under folder/images/<split>/<file_name>


@pytest.fixture(scope="session")
def source(sample_dir, fixtures_dir, tmp_path_factory):
    """``source(name)``: the data set svmlp reads (or makes) for ``name``, built once."""
    cache: dict[str, svmlp.Dataset] = {}

    def get(name: str) -> svmlp.Dataset:
        if name not in cache:
            if name == "sample":
                cache[name] = svmlp.read(sample_dir)
            elif name == "hostile":
                cache[name] = _hostile_synth(tmp_path_factory.mktemp("hostile-src"))
            else:  # labelformat's own hostile-name COCO fixture
                cache[name] = svmlp.read(fixtures_dir / "labelformat" / "COCO" / "train.json")
        return cache[name]

    return get


@pytest.fixture(scope="session")
def written(source, tmp_path_factory):
    """``written(name, fmt)``: (source data set, folder svmlp wrote it to in ``fmt``), once."""
    cache: dict[tuple[str, str], Path] = {}

    def get(name: str, fmt: str) -> tuple[svmlp.Dataset, Path]:
        ds = source(name)
        if (name, fmt) not in cache:
            out = tmp_path_factory.mktemp(f"{name}-{fmt}") / "out"
            svmlp.write(ds, out, format=fmt, images="copy")
            cache[name, fmt] = out
        return ds, cache[name, fmt]

    return get


# -- helpers ------------------------------------------------------------------------------------


def _rows(ds: svmlp.Dataset, split: str | None = None) -> dict[str, int]:
    """{file name: image row}, for one split or for all (then names must be unique)."""
    rows = np.arange(len(ds.images)) if split is None else np.flatnonzero(ds.images.split == split)
    names = {str(ds.images.file_name[i]): int(i) for i in rows}
    assert len(names) == len(rows), "file names repeat"
    return names


def _fiftyone_import(fmt: str, out: Path, split: str | None, include_all_data: bool = True):
    """Run FiftyOne's importer for ``fmt`` on svmlp's output ``out``.

    Returns {image path relative to the image folder: (metadata, Detections or None)}.
    """
    fouc = pytest.importorskip("fiftyone.utils.coco")
    fouy = pytest.importorskip("fiftyone.utils.yolo")
    fouv = pytest.importorskip("fiftyone.utils.voc")
    fodb = pytest.importorskip("fiftyone.core.odm.database")
    if fmt == "coco":
        root = out / "images" / split
        importer = fouc.COCODetectionDatasetImporter(
            dataset_dir=str(out),
            data_path=f"images/{split}",
            labels_path=f"annotations/instances_{split}.json",
            label_types="detections",
            include_annotation_id=True,  # the COCO id lands on each Detection as ``coco_id``
        )
    elif fmt == "yolo":
        root = out / "images" / split
        importer = fouy.YOLOv5DatasetImporter(
            str(out), yaml_path="data.yaml", split=split, include_all_data=include_all_data
        )
    else:  # voc: FiftyOne knows no splits (it ignores ImageSets/Main), so all images at once
        root = out / "JPEGImages"
        importer = fouv.VOCDetectionDatasetImporter(
            str(out), data_path="JPEGImages", labels_path="Annotations", include_all_data=include_all_data
        )
    before = fodb._client  # other tests of this process may have connected; the importer must not
    with importer:
        got = {Path(path).relative_to(root).as_posix(): (meta, label) for path, meta, label in importer}
        assert len(got) == len(importer)
    assert fodb._client is before, "FiftyOne opened a database connection"
    return got


def _check_box(fmt: str, det, box, width: int, height: int) -> None:
    x0, y0, x1, y1 = box.xyxy
    if fmt != "voc":
        # FiftyOne boxes are relative [x, y, w, h] in [0, 1]
        want = [x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height]
        np.testing.assert_allclose(det.bounding_box, want, rtol=0, atol=1e-6)
        return
    # svmlp writes VOC's 1-based inclusive pixels: xmin = round(x0) + 1, xmax = round(x1).
    # FiftyOne's VOCBoundingBox.to_detection_format reads them as 0-based continuous coordinates
    # (x = xmin / width, w = (xmax - xmin) / width; no "- 1"), the same convention as its own VOC
    # exporter. So FiftyOne's left/top edge sits one pixel right/below the true one, and its
    # right/bottom edge is the true one up to rounding.
    bx, by, bw, bh = det.bounding_box
    fx0, fy0, fx1, fy1 = bx * width, by * height, (bx + bw) * width, (by + bh) * height
    np.testing.assert_allclose([fx0 - 1, fy0 - 1, fx1, fy1], [x0, y0, x1, y1], rtol=0, atol=0.5 + 1e-9)


def _check_fiftyone(fmt: str, ds: svmlp.Dataset, rows: dict[str, int], got: dict) -> None:
    """FiftyOne's samples ``got`` are svmlp's images ``rows``: detections, labels, boxes, links."""
    assert sorted(got) == sorted(rows)
    for name, (meta, label) in got.items():
        i = rows[name]
        width, height = int(ds.images.width[i]), int(ds.images.height[i])
        boxes = ds.boxes_of(i)
        if meta is not None:  # COCO and VOC carry the size; YOLO has none
            assert (meta.width, meta.height) == (width, height), name
        if fmt == "coco":
            # FiftyOne's COCO importer gives None for any image without annotations: it cannot
            # tell a verified negative from an unlabelled image (svmlp's "labelled": false key)
            assert (label is None) == (not boxes), name
        else:
            # YOLO/VOC: no label file -> None (unlabelled), empty file -> empty Detections
            assert (label is not None) == bool(ds.images.labelled[i]), name
        dets = label.detections if label is not None else []
        assert [d.label for d in dets] == [b.category for b in boxes], name
        for det, box in zip(dets, boxes, strict=True):
            _check_box(fmt, det, box, width, height)
            if fmt == "coco":  # svmlp's extra keys come through as Detection attributes
                assert det.coco_id == box.id, name
                assert getattr(det, "parent_id", None) == box.parent, name
            elif fmt == "voc":  # <svmlp id=.. parent=../> arrives as a dict of XML attributes
                assert int(det.svmlp["@id"]) == box.id, name
                parent = det.svmlp.get("@parent")
                assert (None if parent is None else int(parent)) == box.parent, name


def _annotation_file(out: Path, kind: str, split: str) -> Path:
    name = f"instances_{split}.json" if kind == "coco" else f"{split}.svmlp.json"
    return out / "annotations" / name


# -- 1. pycocotools -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["coco", "svmlp"])
def test_pycocotools_loads_every_split(written, kind):
    ds, out = written("sample", kind)
    assert ds.splits == list(SPLITS)
    for split in SPLITS:
        gt = coco_api.COCO(str(_annotation_file(out, kind, split)))
        rows = _rows(ds, split)
        n_boxes = sum(len(ds.boxes_of(i)) for i in rows.values())
        assert (len(gt.getImgIds()), len(gt.getAnnIds())) == (len(rows), n_boxes), split
        cats = {c["id"]: c["name"] for c in gt.loadCats(gt.getCatIds())}
        assert cats == {c.id: c.name for c in ds.categories}
        images = {im["file_name"]: im for im in gt.dataset["images"]}
        assert sorted(images) == sorted(rows), split
        for name, i in rows.items():
            im, boxes = images[name], ds.boxes_of(i)
            assert (im["width"], im["height"]) == (ds.images.width[i], ds.images.height[i]), name
            anns = gt.loadAnns(gt.getAnnIds(imgIds=[im["id"]]))
            assert [(a["id"], a["category_id"]) for a in anns] == [(b.id, b.category_id) for b in boxes]
            want = [[b.xyxy[0], b.xyxy[1], b.xyxy[2] - b.xyxy[0], b.xyxy[3] - b.xyxy[1]] for b in boxes]
            got = [a["bbox"] for a in anns]
            np.testing.assert_allclose(np.reshape(got, (-1, 4)), np.reshape(want, (-1, 4)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["coco", "svmlp"])
@pytest.mark.parametrize("split", SPLITS)
def test_cocoeval_ground_truth_against_itself(written, kind, split):
    _, out = written("sample", kind)
    gt = coco_api.COCO(str(_annotation_file(out, kind, split)))
    anns = gt.dataset["annotations"]
    assert anns, split
    detections = [
        {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
        for a in anns
    ]
    evaluation = coco_eval.COCOeval(gt, gt.loadRes(detections), iouType="bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[1] == pytest.approx(1.0)  # AP at IoU 0.50, all areas, 100 detections


# -- 2.-4. FiftyOne's importers on the sample -----------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_fiftyone_coco_importer(written, split):
    ds, out = written("sample", "coco")
    got = _fiftyone_import("coco", out, split)
    _check_fiftyone("coco", ds, _rows(ds, split), got)


@pytest.mark.parametrize("split", SPLITS)
def test_fiftyone_yolov5_importer(written, split):
    ds, out = written("sample", "yolo")
    rows = _rows(ds, split)
    # include_all_data=True: every image; no .txt -> label None, empty .txt -> empty Detections
    _check_fiftyone("yolo", ds, rows, _fiftyone_import("yolo", out, split))
    # FiftyOne's default skips images without a .txt: exactly svmlp's labelled images remain
    labelled_only = _fiftyone_import("yolo", out, split, include_all_data=False)
    assert sorted(labelled_only) == sorted(n for n, i in rows.items() if ds.images.labelled[i])


def test_fiftyone_yolov5_importer_sees_unlabelled_and_empty(written):
    """The sample has both kinds; FiftyOne keeps them apart as svmlp does."""
    ds, out = written("sample", "yolo")
    got = _fiftyone_import("yolo", out, "train")
    unlabelled = [n for n, (_, label) in got.items() if label is None]
    empty = [n for n, (_, label) in got.items() if label is not None and not label.detections]
    assert unlabelled and empty
    rows = _rows(ds, "train")
    assert all(not ds.images.labelled[rows[n]] for n in unlabelled)
    assert all(ds.images.labelled[rows[n]] and not ds.boxes_of(rows[n]) for n in empty)


def test_fiftyone_voc_importer(written):
    ds, out = written("sample", "voc")
    rows = _rows(ds)
    _check_fiftyone("voc", ds, rows, _fiftyone_import("voc", out, None))
    labelled_only = _fiftyone_import("voc", out, None, include_all_data=False)
    assert sorted(labelled_only) == sorted(n for n, i in rows.items() if ds.images.labelled[i])


# -- 5. hostile file names ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
@pytest.mark.parametrize("name", ["hostile", "labelformat"])
def test_fiftyone_reads_hostile_file_names(written, name, fmt):
    ds, out = written(name, fmt)
    if fmt == "voc":
        _check_fiftyone(fmt, ds, _rows(ds), _fiftyone_import(fmt, out, None))
        return
    for split in ds.splits:
        _check_fiftyone(fmt, ds, _rows(ds, split), _fiftyone_import(fmt, out, split))


@pytest.mark.parametrize("name", ["hostile", "labelformat"])
def test_pycocotools_reads_hostile_file_names(written, name):
    ds, out = written(name, "coco")
    for split in ds.splits:
        gt = coco_api.COCO(str(_annotation_file(out, "coco", split)))
        assert sorted(im["file_name"] for im in gt.dataset["images"]) == sorted(_rows(ds, split))
        assert all((out / "images" / split / im["file_name"]).is_file() for im in gt.dataset["images"])
