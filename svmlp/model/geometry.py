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
        #: the corners' own bounds, row by row (NaN where a box has none)
        self.bounds = np.full_like(xyxy, np.nan)
        self._area: np.ndarray | None = None  # each corner polygon's area, as asked for
        if corners is None or not len(rows):
            return
        rows = rows[rows_all(np.isfinite(corners[rows]).reshape(len(rows), 8))]
        self.has_corners[rows] = True
        bounds = corner_bounds(corners[rows])
        self.bounds[rows] = bounds
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

    def _polygon_areas(self, rows: np.ndarray) -> np.ndarray:
        """Each row's corner polygon's area, 0 where it is not a valid polygon; worked out once
        a box (a plate is measured against each vehicle it touches)."""
        if self._area is None:
            self._area = np.full(len(self.xyxy), np.nan)
        new = np.unique(rows[np.isnan(self._area[rows])])
        if len(new):
            assert self.corners is not None
            c = self.corners[new]
            # a quadrilateral turning the same way at every corner is convex, hence a valid
            # polygon: its area is the shoelace's (most plates); the others go to shapely
            edge = np.roll(c, -1, axis=1) - c
            turn = (
                edge[:, :, 0] * np.roll(edge, -1, axis=1)[:, :, 1]
                - edge[:, :, 1] * np.roll(edge, -1, axis=1)[:, :, 0]
            )
            convex = rows_all(turn > 0) | rows_all(turn < 0)
            x, y = c[:, :, 0], c[:, :, 1]
            shoelace = np.abs((x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)) / 2
            self._area[new] = np.where(convex, shoelace, np.nan)
            other = new[~convex]
            if len(other):
                import shapely  # here, not at the top: import svmlp.model stays light

                polys = shapely.polygons(self.corners[other])
                self._area[other] = np.where(shapely.is_valid(polys), shapely.area(polys), 0.0)
        return self._area[rows]

    def _corner_shares(self, rows: np.ndarray, v: np.ndarray, box: np.ndarray, floor: float) -> np.ndarray:
        assert self.corners is not None
        c = self.corners[rows]
        qb = self.bounds[rows]
        inside = rows_all(np.concatenate([qb[:, :2] >= v[:, :2], qb[:, 2:] <= v[:, 2:]], axis=1))
        # polygon and box both wholly inside (or both wholly out): the share is 1 (or 0) whichever
        # shape counts, so only the other pairs need their polygon built and checked, which is
        # most of the time both the linker and the audit would spend on corners
        settled = (inside & (box == 1)) | ((share_inside(qb, v) == 0) & (box == 0))
        share = np.where(inside & (box == 1), 1.0, box)
        todo = np.flatnonzero(~settled)
        if not len(todo):
            return share
        size = self._polygon_areas(rows[todo])
        good = np.flatnonzero(size > 0)  # else (not a valid polygon) the box counts
        todo, size, qb, v = todo[good], size[good], qb[todo[good]], v[todo[good]]
        share[todo] = inside[todo]
        most = share_inside(qb, v) * area(qb) / size  # the bounds' share bounds the polygon's
        cut = np.flatnonzero(~inside[todo] & (most >= floor - _SLACK))
        if len(cut):
            share[todo[cut]] = clipped_area(c[todo[cut]], v[cut]) / size[cut]
        return share


def clipped_area(polygons: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Per ``k``: the area of simple polygon ``polygons[k]`` (``(n, m, 2)`` vertices, convex or
    not) inside box ``boxes[k]`` (xyxy). Sutherland–Hodgman against the box's four sides, all
    polygons at once, then the shoelace formula: what shapely's intersection and area give (to
    the last few bits), without building a geometry a pair (10 µs each through GEOS).

    >>> clipped_area(np.array([[[0, 0], [4, 0], [4, 4], [0, 4.0]]]), np.array([[2, 1, 9, 3.0]]))
    array([4.])
    """
    x, y = polygons[..., 0].astype(np.float64), polygons[..., 1].astype(np.float64)
    count = np.full(len(x), x.shape[1])
    for axis, side, bound in (
        (0, 1, boxes[:, 0]),
        (0, -1, boxes[:, 2]),
        (1, 1, boxes[:, 1]),
        (1, -1, boxes[:, 3]),
    ):
        x, y, count = _clip_side(x, y, count, axis, side, bound)
    m = x.shape[1]
    if m < 3:
        return np.zeros(len(x))
    k = np.arange(m)
    nxt = np.where(k[None, :] + 1 < count[:, None], k[None, :] + 1, 0)
    live = k[None, :] < count[:, None]
    xn, yn = np.take_along_axis(x, nxt, axis=1), np.take_along_axis(y, nxt, axis=1)
    twice = np.where(live, x * yn - xn * y, 0.0).sum(axis=1)
    return np.where(count >= 3, np.abs(twice) / 2, 0.0)


def _clip_side(
    x: np.ndarray, y: np.ndarray, count: np.ndarray, axis: int, side: int, bound: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Sutherland–Hodgman step: the part of each polygon where ``side * (coordinate -
    bound) >= 0``; each edge S→E gives its crossing point (when it crosses) and E (when inside)."""
    n, m = x.shape
    if m == 0:
        return x, y, count
    k = np.arange(m)
    live = k[None, :] < count[:, None]
    prev = np.where(k[None, :] == 0, np.maximum(count[:, None] - 1, 0), k[None, :] - 1)
    ex, ey = x, y
    sx, sy = np.take_along_axis(x, prev, axis=1), np.take_along_axis(y, prev, axis=1)
    b = bound[:, None]
    e_in = side * ((ex if axis == 0 else ey) - b) >= 0
    s_in = side * ((sx if axis == 0 else sy) - b) >= 0
    crosses = live & (e_in != s_in)
    with np.errstate(divide="ignore", invalid="ignore"):
        if axis == 0:
            t = (b - sx) / (ex - sx)
            ix, iy = np.broadcast_to(b, x.shape), sy + t * (ey - sy)
        else:
            t = (b - sy) / (ey - sy)
            ix, iy = sx + t * (ex - sx), np.broadcast_to(b, x.shape)
    # slots 2k (the crossing) and 2k + 1 (E), kept in order
    keep = np.stack([crosses, live & e_in], axis=2).reshape(n, 2 * m)
    px = np.stack([ix, ex], axis=2).reshape(n, 2 * m)
    py = np.stack([iy, ey], axis=2).reshape(n, 2 * m)
    at = np.cumsum(keep, axis=1) - 1  # each kept point's place in its row
    new_count = at[:, -1] + 1
    width = int(new_count.max()) if n else 0
    rows, cols = np.nonzero(keep)
    out_x, out_y = np.zeros((n, width)), np.zeros((n, width))
    out_x[rows, at[rows, cols]] = px[rows, cols]
    out_y[rows, at[rows, cols]] = py[rows, cols]
    return out_x, out_y, new_count
