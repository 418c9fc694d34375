"""Oriented boxes keep their corners: YOLO-OBB ↔ COCO ↔ native, within 1e-6 px.

The corners travel in the label rows themselves (``class x1 y1 ... x4 y4``, normalised), so they
survive even where the sidecar is gone; with the sidecar the whole data set comes back.
"""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from helpers import assert_same_dataset, kept_by
from hypothesis import given
from strategies import oriented_datasets

import svmlp
from svmlp.formats._sidecar import SIDECAR_NAME
from svmlp.model import BoxTable

ATOL = 1e-6


def _corners(ds: svmlp.Dataset) -> np.ndarray:
    c = ds.boxes.corners
    return np.full((len(ds.boxes), 4, 2), np.nan) if c is None else c


def _by_key(ds: svmlp.Dataset) -> dict[tuple[str, str], int]:
    return {(s, f): i for i, (s, f) in enumerate(zip(ds.images.split.tolist(), ds.images.file_name.tolist()))}


def _assert_same_corners(a: svmlp.Dataset, b: svmlp.Dataset, *, crowd: bool = True) -> None:
    """Per image (by split and file name), the same boxes' corners in order, within ATOL."""
    ka, kb = _by_key(a), _by_key(b)
    assert set(ka) == set(kb)
    ca, cb = _corners(a), _corners(b)
    for key, i in ka.items():
        ra = [x.index for x in a.boxes_of(i) if crowd or not x.iscrowd]
        rb = [x.index for x in b.boxes_of(kb[key]) if crowd or not x.iscrowd]
        assert len(ra) == len(rb), key
        np.testing.assert_allclose(ca[ra], cb[rb], atol=ATOL, rtol=0, err_msg=str(key))


@given(ds=oriented_datasets())
def test_corners_round_trip_yolo_obb_coco_native(ds: svmlp.Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out, now = Path(tmp), ds
        for k, fmt in enumerate(("yolo-obb", "coco", "svmlp", "yolo-obb", "svmlp", "coco", "yolo-obb")):
            svmlp.write(now, out / str(k), format=fmt, images="none")
            assert svmlp.detect(out / str(k)) == fmt
            now = svmlp.read(out / str(k))
            _assert_same_corners(ds, now)
        assert_same_dataset(ds, now, **kept_by("yolo-obb", "coco", "svmlp"))


def _png_header(w: int, h: int) -> bytes:
    """A PNG that is all header: its size is what a reader measures, no pixels to write."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@given(ds=oriented_datasets())
def test_the_rows_alone_carry_the_corners(ds: svmlp.Dataset) -> None:
    """What ultralytics or any reader that ignores the sidecar gets: every non-crowd box is an
    oriented row in [0, 1], its corners where it has them, else its box's. Read back without the
    sidecar (detected as plain ``yolo``, whose reader keeps the points), they are the corners."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "obb"
        svmlp.write(ds, out, format="yolo-obb", images="none")
        (out / SIDECAR_NAME).unlink()
        for i in range(len(ds)):
            image = out / svmlp.FORMATS["yolo-obb"].image_destination(
                str(ds.images.split[i]), str(ds.images.file_name[i])
            )
            image.parent.mkdir(parents=True, exist_ok=True)
            image.write_bytes(_png_header(int(ds.images.width[i]), int(ds.images.height[i])))
        rows = [r for f in (out / "labels").rglob("*.txt") for r in f.read_text().splitlines()]
        assert all(len(r.split()) == 9 and all(0 <= float(v) <= 1 for v in r.split()[1:]) for r in rows)
        assert svmlp.detect(out) == "yolo"
        back = svmlp.read(out)
    plain = ds.replace(boxes=ds.boxes.take_with_parents(np.flatnonzero(~ds.boxes.iscrowd), len(ds.boxes)))
    b = plain.boxes
    quads = b.xyxy[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 4, 2)
    has = np.isfinite(_corners(plain)).all(axis=(1, 2))
    expected = np.where(has[:, None, None], _corners(plain), quads)
    _assert_same_corners(plain.replace(boxes=BoxTable(**{**b.__dict__, "corners": expected})), back)
    # the box read back is the corners' bounds
    c = _corners(back)
    np.testing.assert_allclose(back.boxes.xyxy, np.concatenate([c.min(axis=1), c.max(axis=1)], axis=1))
