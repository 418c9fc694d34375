"""Comparisons shared by the test suite."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from svmlp.formats import FORMATS
from svmlp.formats._plugin import BOX_ATTRIBUTES
from svmlp.model import Dataset

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"
PLATES = SHARED / "data" / "plates-us-eu"

_FLAGS = ("difficult", "truncated", "occluded")


def kept_by(*formats: str) -> dict[str, Any]:
    """:func:`assert_same_dataset`'s ``atol``, ``keeps`` and ``unset_as`` for data written and
    read back through ``formats`` in turn, from each format's declared round trip: the
    tolerances add up, only what every format keeps is kept, the first fill of an unset flag stays.

    >>> kept_by("coco")["atol"], sorted(kept_by("voc")["unset_as"].items())
    (0.0, [('difficult', 0)])
    """
    trips = [FORMATS[f].ROUND_TRIP for f in formats]
    unset_as: dict[str, int] = {}
    for t in trips:
        for flag, value in t.unset_as.items():
            unset_as.setdefault(flag, value)
    return {
        "atol": float(sum(t.tolerance for t in trips)),
        "keeps": frozenset.intersection(*(t.keeps for t in trips)),
        "unset_as": unset_as,
    }


def _keyed(ds: Dataset) -> dict[tuple[str, str], int]:
    return {(s, f): i for i, (s, f) in enumerate(zip(ds.images.split.tolist(), ds.images.file_name.tolist()))}


def _corners(ds: Dataset, row: int) -> np.ndarray:
    c = ds.boxes.corners
    return np.full((4, 2), np.nan) if c is None else c[row]


def _assert_same_attributes(
    a: Dataset,
    b: Dataset,
    ra: int,
    rb: int,
    *,
    atol: float,
    keeps: Collection[str],
    unset_as: Mapping[str, int],
) -> None:
    """The optional attributes of box ``ra`` of ``a`` and ``rb`` of ``b`` that ``keeps`` names."""
    where = f"box id {int(a.boxes.id[ra])}"
    if "text" in keeps:
        ta = "" if a.boxes.text is None else str(a.boxes.text[ra])
        tb = "" if b.boxes.text is None else str(b.boxes.text[rb])
        assert ta == tb, f"{where}: plate text {ta!r} came back as {tb!r}"
    if "corners" in keeps:  # coordinates: the format's tolerance applies
        np.testing.assert_allclose(
            _corners(a, ra), _corners(b, rb), atol=atol, rtol=0, err_msg=f"{where}: plate corners"
        )
    if "attributes" in keeps:
        aa = None if a.boxes.attributes is None else a.boxes.attributes[ra]
        ab = None if b.boxes.attributes is None else b.boxes.attributes[rb]
        assert (aa or None) == (ab or None), f"{where}: attributes {aa!r} came back as {ab!r}"
    for flag in _FLAGS:
        if flag not in keeps:
            continue
        want = int(getattr(a.boxes, flag)[ra])
        got = int(getattr(b.boxes, flag)[rb])
        filled = want < 0 and flag in unset_as and got == unset_as[flag]
        assert got == want or filled, f"{where}: {flag} {want} came back as {got}"


def assert_same_dataset(
    a: Dataset,
    b: Dataset,
    *,
    atol: float = 0.0,
    keeps: Collection[str] = BOX_ATTRIBUTES,
    unset_as: Mapping[str, int] | None = None,
    ids: bool = True,
    category_ids: bool = True,
    links: bool = True,
    crowd: bool = True,
    sizes: bool = True,
) -> None:
    """``a`` and ``b`` hold the same images and boxes, matched by (split, file name) and box order.

    ``atol`` is the coordinate tolerance in pixels (boxes and plate corners). Box order within an
    image is compared as written (every format keeps it), crowd boxes compared separately when
    ``crowd``. ``keeps`` names the optional box attributes compared (link scores, plate text and
    corners, VOC flags; all by default), ``unset_as`` what an unspecified flag (−1) may come back
    as instead: pass :func:`kept_by` of the formats the data went through (``**kept_by("voc")``).
    """
    unknown = set(keeps) - BOX_ATTRIBUTES
    assert not unknown, f"keeps names attributes no format declares: {sorted(unknown)}"
    unset_as = unset_as or {}
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
                if "link_score" in keeps:
                    assert x.link_score == y.link_score, f"{key}: link score {x.link_score} vs {y.link_score}"
            _assert_same_attributes(a, b, x.index, y.index, atol=atol, keeps=keeps, unset_as=unset_as)


def reference_share(ds: Dataset, p: int, v: int) -> float:
    """The share of plate row ``p`` inside vehicle row ``v`` by its definition, one pair at a time
    with shapely: the plate's corners where it has a valid quadrilateral, its box otherwise."""
    b = ds.boxes
    poly = shapely.Polygon(b.corners[p]) if np.isfinite(b.corners[p]).all() else None
    if poly is None or not poly.is_valid or poly.area <= 0:
        poly = shapely.box(*b.xyxy[p])
    return poly.intersection(shapely.box(*b.xyxy[v])).area / poly.area if poly.area > 0 else 0.0
