"""A big COCO file decodes its annotations a chunk at a time (bounded memory): the same data set
as decoding it whole, for real files and for every kind of annotation svmlp reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import svmlp
from svmlp.formats import _cocojson
from svmlp.synth import generate_annotations
from tests.helpers import assert_same_dataset

REAL = [
    "datumaro/coco_dataset/mmdet_coco",
    "datumaro/coco_dataset/coco_roboflow",
    "datumaro/coco_dataset/coco_instances",
    "labelformat/COCO/train.json",
]


def both_ways(
    path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int = 3
) -> tuple[svmlp.Dataset, svmlp.Dataset]:
    whole = svmlp.read(path, format="coco", probe=False)
    with monkeypatch.context() as m:
        m.setattr(_cocojson, "CHUNKED_BYTES", 0)
        m.setattr(_cocojson, "CHUNK", chunk)
        chunked = svmlp.read(path, format="coco", probe=False)
    return whole, chunked


@pytest.mark.parametrize("rel", REAL)
def test_real_files(rel: str, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, chunked = both_ways(fixtures_dir / rel, monkeypatch)
    assert len(whole.boxes)
    assert_same_dataset(whole, chunked)
    if whole.boxes.segmentation is not None:
        assert chunked.boxes.segmentation is not None
        assert whole.boxes.segmentation.tolist() == chunked.boxes.segmentation.tolist()


@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_every_extra(chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Links, plate text and corners, crowd boxes, flags, attributes, segmentation and exact
    corners, spread over chunks (some chunks without any of them)."""
    ds = generate_annotations(60, seed=11, vehicles=(0, 4), splits=[("train", 1.0)])
    b = ds.boxes
    n = len(b)
    b.iscrowd[::17] = True
    b.difficult[::5] = 1
    b.occluded[3::7] = 0
    attrs: list[dict | None] = [None] * n
    attrs[n // 2] = {"colour": "blue", "rear": False, "score": 2.5}
    b.attributes = np.array(attrs, dtype=object)
    seg: list[object] = [None] * n
    seg[n - 1] = [[1.0, 2.0, 5.0, 2.0, 3.0, 6.0]]
    b.segmentation = np.array(seg, dtype=object)
    svmlp.write(ds, tmp_path / "coco", format="coco", images="none")
    # a box whose [x, y, w, h] cannot hold its corners keeps them as "xyxy" (rare): one of those
    path = tmp_path / "coco" / "annotations" / "instances_train.json"
    doc = json.loads(path.read_text())
    x, y, w, h = doc["annotations"][2]["bbox"]
    doc["annotations"][2]["xyxy"] = [x, y, x + w + 1e-9, y + h]
    path.write_text(json.dumps(doc))
    whole, chunked = both_ways(tmp_path / "coco", monkeypatch, chunk)
    assert_same_dataset(whole, chunked)
    assert chunked.boxes.xyxy[2, 2] == x + w + 1e-9
    assert_same_dataset(ds, chunked, sizes=False, atol=1e-6)
    assert chunked.boxes.attributes is not None and chunked.boxes.attributes.tolist() == attrs
    assert chunked.boxes.segmentation is not None
    assert chunked.boxes.segmentation.tolist() == seg
