"""The sidecar's two layouts: 2.0 (columns, written now) and 1.0 (an object per image, still read)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import pytest

import svmlp
from svmlp.formats import _sidecar
from svmlp.synth import generate_annotations
from tests.helpers import assert_same_dataset


@pytest.mark.parametrize("fmt", ["yolo", "yolo-obb", "labelme", "cvat", "voc"])
def test_a_version_1_sidecar_reads_as_the_version_2_one(fmt: str, sample_dir: Path, tmp_path: Path) -> None:
    """Files written by an earlier svmlp (layout 1.0) give the same data set as today's."""
    ds = svmlp.read(sample_dir, probe=False)
    out = tmp_path / fmt
    svmlp.write(ds, out, format=fmt, images="none")
    folder = next(p.parent for p in out.rglob(_sidecar.SIDECAR_NAME))
    now = svmlp.read(out, probe=False)
    side = _sidecar.load(folder, fmt)
    assert side is not None
    v1 = msgspec.json.encode(side)  # the per-image view is layout 1.0
    assert json.loads(v1)["svmlp_sidecar"] == "1.0"
    (folder / _sidecar.SIDECAR_NAME).write_bytes(v1)
    before = svmlp.read(out, probe=False)
    assert_same_dataset(now, before)
    if fmt != "voc":  # VOC rounds boxes and writes unset flags as 0: its own tests hold it to that
        assert_same_dataset(ds, before, atol=1e-6, sizes=False)


def test_links_and_plates_are_columns(tmp_path: Path) -> None:
    """A set whose boxes carry only links, plate text and corners keeps no per-box objects."""
    ds = generate_annotations(300, seed=3, vehicles=(2, 5), splits=[("train", 0.7), ("val", 0.3)])
    svmlp.write(ds, tmp_path / "y", format="yolo", images="none")
    doc = json.loads((tmp_path / "y" / _sidecar.SIDECAR_NAME).read_bytes())
    assert doc["svmlp_sidecar"] == "2.0"
    assert doc["kept"] == []
    b = ds.boxes
    assert len(doc["links"]["id"]) == int((b.parent >= 0).sum())
    assert len(doc["rows"]["id"]) == len(b) == sum(doc["images"]["rows"])
    assert all(c is None or len(c) == 8 for c in doc["plates"]["corners"])
    back = svmlp.read(tmp_path / "y", probe=False)
    assert_same_dataset(ds, back, atol=1e-6)


def test_rare_extras_and_crowd_boxes_are_kept_whole(tmp_path: Path) -> None:
    ds = generate_annotations(40, seed=5, vehicles=(2, 4), splits=[("train", 1.0)])
    b = ds.boxes
    b.iscrowd[0] = True
    b.difficult[1] = 1
    attrs = [None] * len(b)
    attrs[2] = {"colour": "red", "rear": True}
    b.attributes = np.array(attrs, dtype=object)
    svmlp.write(ds, tmp_path / "y", format="yolo", images="none")
    doc = json.loads((tmp_path / "y" / _sidecar.SIDECAR_NAME).read_bytes())
    kept = {k["id"]: k for k in doc["kept"]}
    assert "bbox" in kept[int(b.id[0])] and kept[int(b.id[0])]["image"] == int(b.image[0])
    assert kept[int(b.id[1])]["difficult"] == 1 and "bbox" not in kept[int(b.id[1])]
    assert kept[int(b.id[2])]["attributes"] == {"colour": "red", "rear": True}
    back = svmlp.read(tmp_path / "y", probe=False)
    assert_same_dataset(ds, back, atol=1e-6)
