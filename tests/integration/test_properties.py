"""Property tests: random valid data sets round-trip through every registered format, each held to
its declared round trip; garbage gives only SvmlpError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_dataset, kept_by
from hypothesis import given
from hypothesis import strategies as st
from strategies import datasets

import svmlp
from svmlp.model import BoxTable

_FLAG = st.sampled_from([-1, 0, 1])


@st.composite
def with_attributes(draw: st.DrawFn) -> svmlp.Dataset:
    """A random data set whose boxes also carry what only some formats hold natively: link
    scores, plate corners (a quadrilateral near the box) and VOC flags."""
    ds = draw(datasets())
    b, n = ds.boxes, len(ds.boxes)
    linked = b.parent >= 0
    scores = [draw(st.floats(0, 1)) if has and draw(st.booleans()) else np.nan for has in linked.tolist()]
    corners = np.full((n, 4, 2), np.nan)
    plates = ds.role_mask("child")
    for r in np.flatnonzero(plates).tolist():
        if draw(st.booleans()):
            x0, y0, x1, y1 = b.xyxy[r].tolist()
            jitter = draw(st.lists(st.floats(-3, 3), min_size=8, max_size=8))
            quad = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
            corners[r] = [(x + jitter[2 * k], y + jitter[2 * k + 1]) for k, (x, y) in enumerate(quad)]
    flags = {f: [draw(_FLAG) for _ in range(n)] for f in ("difficult", "truncated", "occluded")}
    boxes = BoxTable(
        **{
            **b.__dict__,
            "link_score": np.array(scores, dtype=np.float64).reshape(n),
            "corners": corners if plates.any() else None,
            **{f: np.array(v, dtype=np.int8).reshape(n) for f, v in flags.items()},
        }
    )
    return ds.replace(boxes=boxes)


@pytest.mark.parametrize("fmt", svmlp.FORMATS.writable())
@given(ds=with_attributes())
def test_random_datasets_round_trip(fmt: str, ds: svmlp.Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        svmlp.write(ds, Path(tmp) / "out", format=fmt, images="none")
        back = svmlp.read(Path(tmp) / "out", format=fmt)
    # VOC stores whole pixels, so a sub-pixel box may come back as a zero-size one: still the same box
    assert_same_dataset(ds, back, **kept_by(fmt))


@given(ds=with_attributes())
def test_write_is_deterministic(ds: svmlp.Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in svmlp.FORMATS.writable():
            a, b = Path(tmp) / f"{fmt}-a", Path(tmp) / f"{fmt}-b"
            svmlp.write(ds, a, format=fmt, images="none")
            svmlp.write(ds, b, format=fmt, images="none")
            files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
            assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
            for rel in files_a:
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), (fmt, rel)


#: a file of each registered format's layout that garbage is written to
_GARBAGE_TARGETS = {
    "coco": "annotations/instances_train.json",
    "svmlp": "annotations/train.svmlp.json",
    "yolo_label": "labels/train/a.txt",
    "yolo_yaml": "data.yaml",
    "yolo-obb_label": "labels/train/a.txt",
    "dota": "labelTxt/a.txt",
    "voc": "Annotations/a.xml",
    "cvat": "annotations.xml",
    "label-studio": "train.json",
    "labelme": "a.json",
    "ufpr": "training/a.txt",
    "openalpr": "us/a.txt",
    "openimages": "annotations/train-annotations-bbox.csv",
    "ccpd": "splits/train.txt",
}


def test_every_format_has_a_garbage_target() -> None:
    """A newly registered format fails here until its garbage test names a file of its layout."""
    assert set(svmlp.FORMATS) == {t.split("_")[0] for t in _GARBAGE_TARGETS}


@pytest.mark.parametrize("target", list(_GARBAGE_TARGETS))
@given(garbage=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_garbage_raises_only_svmlp_errors(
    target: str, garbage: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp(target)
    path = root / _GARBAGE_TARGETS[target]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(garbage)
    fmt = target.split("_")[0]
    if fmt in ("yolo", "yolo-obb", "dota"):
        if target.endswith("_label"):
            (root / "data.yaml").write_text("train: images/train\nnames: [a, b]\n")
        images = root / "images" / ("" if fmt == "dota" else "train")
        images.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.new("RGB", (8, 8)).save(images / "a.jpg")
    if fmt == "openimages":
        path = root / "images" / "train" / "a.txt"
        path.parent.mkdir(parents=True)
    if fmt == "ccpd":
        path = root / "ccpd_base" / "01-90_85-1&2_5&6-5&6_1&6_1&2_5&2-0_0_1_2_3_4_5-1-2.txt"
        path.parent.mkdir(parents=True)
    if fmt in ("ufpr", "openalpr", "openimages", "ccpd"):
        from PIL import Image

        Image.new("RGB", (8, 8)).save(path.with_suffix(".jpg"))
    try:
        svmlp.read(root, format=fmt)
    except svmlp.SvmlpError as exc:
        assert "\n" not in str(exc)
