"""Box geometry every layer shares: area, intersection, IoU, and the share of one box inside another.

Boxes are ``xyxy`` rows in continuous coordinates (a box over pixel columns 0…9 has x0 = 0 and
x1 = 10: width 10). The element-wise functions broadcast over ``(..., 4)`` arrays, so
``f(a[:, None], b[None])`` gives every pair; the ``*_matrix`` functions spell that out for an
``(n, 4)`` and an ``(m, 4)`` array. An inverted or zero-width box has area 0, and a ratio over a
zero area is 0. A box read leniently may hold NaN or inf: IoU is then 0, and ``share_inside`` 0
when the inner box's area is not a number, NaN when only the outer box is broken (the audit
reports such boxes; these rules keep them from raising or warning).

:class:`CornerShapes` is "inside" for boxes that may carry 4 corners (plates): linking and the
audit both measure through it, so they cannot disagree on a plate.

>>> a, b = np.array([0, 0, 10, 10.0]), np.array([5, 0, 20, 20.0])
>>> float(area(a)), float(intersection(a, b)), float(iou(a, b)), float(share_inside(a, b))
(100.0, 50.0, 0.14285714285714285, 0.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from svmlp.model.tables import rows_all

__all__ = [
    "CornerShapes",
    "area",
    "corner_bounds",
    "intersection",
    "iou",
    "iou_matrix",
    "share_inside",
    "share_inside_matrix",
]

#: A polygon whose bounding box inside the outer box reaches within this of the floor is clipped
#: for real: the bound and the exact share are computed two ways and may differ in the last digit.
_SLACK = 1e-12


def area(xyxy: Any) -> np.ndarray:
    """Area of each box of a ``(..., 4)`` array; 0 for an inverted or zero-width box.

    >>> area(np.array([[0, 0, 10, 5.0], [3, 3, 1, 9]]))
    array([50.,  0.])
    """
    x = np.asarray(xyxy)
    with np.errstate(invalid="ignore"):  # inf - inf is NaN, quietly
        return np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)


def intersection(a: Any, b: Any) -> np.ndarray:
    """Area of box ``a`` ∩ box ``b``, element-wise over broadcast ``(..., 4)`` arrays.

    >>> intersection(np.array([[0, 0, 10, 10.0]]), np.array([[5, 5, 20, 20.0], [10, 0, 20, 10]]))
    array([25.,  0.])
    """
    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(invalid="ignore"):
        w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
        h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
        return np.clip(w, 0, None) * np.clip(h, 0, None)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` as float64, 0 where ``den`` is not above 0 (NaN included)."""
    out = np.zeros(np.broadcast(num, den).shape)
    return np.divide(num, den, out=out, where=den > 0)


def iou(a: Any, b: Any) -> np.ndarray:
    """Intersection over union of ``a`` and ``b``, element-wise over broadcast ``(..., 4)`` arrays.

    >>> iou(np.array([[0, 0, 2, 2.0]]), np.array([[0, 0, 2, 2.0], [1, 0, 3, 2]]))
    array([1.        , 0.33333333])
    """
    inter = intersection(a, b)
    with np.errstate(invalid="ignore"):
        return _ratio(inter, area(a) + area(b) - inter)


def share_inside(inner: Any, outer: Any) -> np.ndarray:
    """Area of ``inner`` ∩ ``outer`` / area of ``inner``, element-wise over broadcast ``(..., 4)``
    arrays; 0 for a zero-area ``inner`` box.

    >>> share_inside(np.array([0, 0, 10, 10.0]), np.array([[5, 0, 20, 20.0], [0, 0, 1, 1]]))
    array([0.5 , 0.01])
    """
    with np.errstate(invalid="ignore"):
        return np.minimum(_ratio(intersection(inner, outer), area(inner)), 1.0)


def _rows(xyxy: Any) -> np.ndarray:
    return np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)


def iou_matrix(a: Any, b: Any) -> np.ndarray:
    """``(n, m)``: IoU of box ``a[i]`` and box ``b[j]``.

    >>> iou_matrix(np.array([[0, 0, 2, 2.0]]), np.array([[0, 0, 2, 2.0], [1, 0, 3, 2]])).shape
    (1, 2)
    """
    a, b = _rows(a), _rows(b)
    return iou(a[:, None, :], b[None, :, :])


def share_inside_matrix(inner: Any, outer: Any) -> np.ndarray:
    """``(n, m)``: share of box ``inner[i]`` inside box ``outer[j]``.

    >>> share_inside_matrix(np.array([[0, 0, 10, 10.0]]), np.array([[5, 0, 20, 20.0], [0, 0, 1, 1]]))
    array([[0.5 , 0.01]])
    """
    inner, outer = _rows(inner), _rows(outer)
    return share_inside(inner[:, None, :], outer[None, :, :])


def corner_bounds(corners: np.ndarray) -> np.ndarray:
    """``(n, 4)``: the xyxy bounds of ``(n, 4, 2)`` corners (NaN where a corner is NaN), without
    numpy's reduction over the short axis (several times slower than three minimums).

    >>> corner_bounds(np.array([[[1, 5], [4, 2], [3, 9], [0, 6.0]]]))
    array([[0., 2., 4., 9.]])
    """
    lo = np.minimum(np.minimum(corners[:, 0], corners[:, 1]), np.minimum(corners[:, 2], corners[:, 3]))
    hi = np.maximum(np.maximum(corners[:, 0], corners[:, 1]), np.maximum(corners[:, 2], corners[:, 3]))
    return np.concatenate([lo, hi], axis=1)


class CornerShapes:
    """The shape that "inside" measures a box by: its 4-corner polygon where that is valid
    (finite, non-zero area, not self-crossing), else its box.

    ``xyxy`` ``(n, 4)`` and ``corners`` ``(n, 4, 2)`` (or None) are a box table's columns; only
    the boxes in ``rows`` are looked at for corners, the others are measured by their box.
    ``extent`` is each box's box joined with its finite corners' bounds (what its shape may cover).

    >>> xyxy = np.array([[0, 0, 100, 100], [60, 40, 140, 60.0]])
    >>> corners = np.array([[[np.nan, np.nan]] * 4, [[60, 40], [99, 45], [99, 55], [60, 60]]])
    >>> CornerShapes(xyxy, corners, np.array([1])).share_inside(np.array([1]), xyxy[[0]])
    array([1.])
    """

    def __init__(self, xyxy: np.ndarray, corners: np.ndarray | None, rows: np.ndarray) -> None:
        self.xyxy = xyxy
        self.extent = xyxy.copy()
        self.corners = corners
        self.has_corners = np.zeros(len(xyxy), dtype=bool)  # whether its polygon is valid is asked later
        if corners is None or not len(rows):
            return
        rows = rows[rows_all(np.isfinite(corners[rows]).reshape(len(rows), 8))]
        self.has_corners[rows] = True
        bounds = corner_bounds(corners[rows])
        self.extent[rows, :2] = np.fmin(bounds[:, :2], xyxy[rows, :2])
        self.extent[rows, 2:] = np.fmax(bounds[:, 2:], xyxy[rows, 2:])

    def share_inside(self, rows: np.ndarray, outer: np.ndarray, *, floor: float = 0.0) -> np.ndarray:
        """Per ``k``: the share of box ``rows[k]``'s shape inside box ``outer[k]``.

        Exact wherever it is at least ``floor``; below it a polygon's share may read 0 (one that
        cannot reach the floor is not clipped, which is most of the linker's time saved).
        """
        share = share_inside(self.xyxy[rows], outer)
        k = np.flatnonzero(self.has_corners[rows])
        if len(k):
            share[k] = self._corner_shares(rows[k], outer[k], share[k], floor)
        return share

    def _corner_shares(self, rows: np.ndarray, v: np.ndarray, box: np.ndarray, floor: float) -> np.ndarray:
        assert self.corners is not None
        c = self.corners[rows]
        qb = corner_bounds(c)
        inside = rows_all(np.concatenate([qb[:, :2] >= v[:, :2], qb[:, 2:] <= v[:, 2:]], axis=1))
        # polygon and box both wholly inside (or both wholly out): the share is 1 (or 0) whichever
        # shape counts, so only the other pairs need their polygon built and checked, which is
        # most of the time both the linker and the audit would spend on corners
        settled = (inside & (box == 1)) | ((share_inside(qb, v) == 0) & (box == 0))
        share = np.where(inside & (box == 1), 1.0, box)
        todo = np.flatnonzero(~settled)
        if not len(todo):
            return share
        import shapely  # here, not at the top: import svmlp.model stays light

        polys = shapely.polygons(c[todo])
        size = shapely.area(polys)
        good = np.flatnonzero(shapely.is_valid(polys) & (size > 0))  # else the box counts
        todo, polys, size, qb, v = todo[good], polys[good], size[good], qb[todo[good]], v[todo[good]]
        share[todo] = inside[todo]
        most = share_inside(qb, v) * area(qb) / size  # the bounds' share bounds the polygon's
        cut = np.flatnonzero(~inside[todo] & (most >= floor - _SLACK))
        if len(cut):
            clip = shapely.intersection(polys[cut], shapely.box(*v[cut].T))
            share[todo[cut]] = shapely.area(clip) / size[cut]
        return share
