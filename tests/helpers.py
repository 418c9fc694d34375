"""Comparisons shared by the test suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svmlp.model import Dataset

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
PLATES = SHARED / "data" / "plates-us-eu"


def _keyed(ds: Dataset) -> dict[tuple[str, str], int]:
    return {(s, f): i for i, (s, f) in enumerate(zip(ds.images.split.tolist(), ds.images.file_name.tolist()))}


def assert_same_dataset(
    a: Dataset,
    b: Dataset,
    *,
    atol: float = 0.0,
    ids: bool = True,
    category_ids: bool = True,
    links: bool = True,
    crowd: bool = True,
    sizes: bool = True,
) -> None:
    """``a`` and ``b`` hold the same images and boxes, matched by (split, file name) and box order.

    ``atol`` is the coordinate tolerance in pixels. Box order within an image is compared as
    written (every format keeps it), crowd boxes compared separately when ``crowd``.
    """
    assert [c.name for c in a.categories] == [c.name for c in b.categories] or not category_ids
    if category_ids:
        assert [(c.id, c.name, c.role) for c in a.categories] == [
            (c.id, c.name, c.role) for c in b.categories
        ]
    ka, kb = _keyed(a), _keyed(b)
    assert set(ka) == set(kb), f"images differ: {sorted(set(ka) ^ set(kb))[:5]}"
    for key, i in ka.items():
        j = kb[key]
        ia, ib = a.image(i), b.image(j)
        assert ia.labelled == ib.labelled, key
        if ids:
            assert ia.id == ib.id, key
        if sizes:
            assert (ia.width, ia.height) == (ib.width, ib.height), key
        ba = [x for x in a.boxes_of(i) if crowd or not x.iscrowd]
        bb = [x for x in b.boxes_of(j) if crowd or not x.iscrowd]
        assert len(ba) == len(bb), f"{key}: {len(ba)} vs {len(bb)} boxes"
        for x, y in zip(ba, bb):
            assert x.category == y.category, key
            np.testing.assert_allclose(x.xyxy, y.xyxy, atol=atol, rtol=0, err_msg=str(key))
            assert x.iscrowd == y.iscrowd, key
            if ids:
                assert x.id == y.id, key
            if links:
                if ids:
                    assert x.parent == y.parent, key
                else:
                    assert (x.parent is None) == (y.parent is None), key
                assert x.text == y.text, key
