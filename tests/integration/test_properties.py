"""Property tests: random valid data sets round-trip through every format; garbage gives only SvmlpError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from helpers import assert_same_dataset
from hypothesis import given
from hypothesis import strategies as st
from strategies import datasets

import svmlp

TOLERANCE = {"svmlp": 0.0, "coco": 0.0, "yolo": 1e-6, "voc": 0.5}


@pytest.mark.parametrize("fmt", list(TOLERANCE))
@given(ds=datasets())
def test_random_datasets_round_trip(fmt: str, ds: svmlp.Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        svmlp.write(ds, Path(tmp) / "out", format=fmt, images="none")
        back = svmlp.read(Path(tmp) / "out", format=fmt)
    # VOC stores whole pixels, so a sub-pixel box may come back as a zero-size one: still the same box
    assert_same_dataset(ds, back, atol=TOLERANCE[fmt])


@given(ds=datasets())
def test_write_is_deterministic(ds: svmlp.Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in TOLERANCE:
            a, b = Path(tmp) / f"{fmt}-a", Path(tmp) / f"{fmt}-b"
            svmlp.write(ds, a, format=fmt, images="none")
            svmlp.write(ds, b, format=fmt, images="none")
            files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
            assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
            for rel in files_a:
                assert (a / rel).read_bytes() == (b / rel).read_bytes(), (fmt, rel)


_GARBAGE_TARGETS = {
    "coco": "annotations/instances_train.json",
    "svmlp": "annotations/train.svmlp.json",
    "yolo_label": "labels/train/a.txt",
    "yolo_yaml": "data.yaml",
    "voc": "Annotations/a.xml",
}


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
    if fmt == "yolo":
        if target == "yolo_label":
            (root / "data.yaml").write_text("train: images/train\nnames: [a, b]\n")
        (root / "images" / "train").mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.new("RGB", (8, 8)).save(root / "images" / "train" / "a.jpg")
    try:
        svmlp.read(root, format=fmt)
    except svmlp.SvmlpError as exc:
        assert "\n" not in str(exc)
