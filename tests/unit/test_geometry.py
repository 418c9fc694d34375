"""svmlp.model.geometry: hand-computed values, continuous coordinates, degenerate and broken boxes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from svmlp.model.geometry import (
    CornerShapes,
    area,
    intersection,
    iou,
    iou_matrix,
    share_inside,
    share_inside_matrix,
)

nan, inf = np.nan, np.inf


def box(*xyxy: float) -> np.ndarray:
    return np.array(xyxy, dtype=np.float64)


# -- hand-computed -------------------------------------------------------------------------------


def test_continuous_coordinates() -> None:
    # a box over pixel columns 0..9 is x0 = 0, x1 = 10: width 10, not 11
    assert area(box(0, 0, 10, 10)) == 100
    assert area(box(0, 0, 1, 1)) == 1
    # boxes that share an edge share no area, and no IoU
    assert intersection(box(0, 0, 10, 10), box(10, 0, 20, 10)) == 0
    assert iou(box(0, 0, 10, 10), box(10, 0, 20, 10)) == 0


def test_hand_computed_values() -> None:
    a, b = box(0, 0, 10, 10), box(5, 5, 20, 20)
    assert intersection(a, b) == 25
    assert iou(a, b) == pytest.approx(25 / (100 + 225 - 25))
    assert share_inside(a, b) == pytest.approx(0.25)
    assert share_inside(b, a) == pytest.approx(25 / 225)
    assert share_inside(box(2, 2, 4, 4), a) == 1.0  # wholly inside
    assert iou(a, a) == 1.0
    assert area(box(1.5, 2.5, 4, 3)) == pytest.approx(1.25)


def test_zero_area_and_inverted_boxes() -> None:
    a = box(0, 0, 10, 10)
    for flat in (box(3, 3, 3, 8), box(3, 3, 8, 3), box(5, 5, 5, 5)):
        assert area(flat) == 0 and intersection(flat, a) == 0 and iou(flat, a) == 0
        assert share_inside(flat, a) == 0  # a zero-area box is inside nothing: share 0
        assert share_inside(a, flat) == 0
    inverted = box(8, 8, 2, 2)  # x1 < x0 and y1 < y0: its signed area would be +36
    assert area(inverted) == 0 and iou(inverted, inverted) == 0 and share_inside(inverted, a) == 0


def test_nan_and_inf_do_not_raise_or_warn() -> None:
    a = box(0, 0, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(area(box(nan, 0, 10, 10)))
        assert iou(box(nan, 0, 10, 10), a) == 0 and iou(a, box(0, 0, nan, 10)) == 0
        assert share_inside(box(nan, 0, 10, 10), a) == 0  # the inner area is not a number
        assert np.isnan(share_inside(a, box(0, 0, nan, 10)))  # only the outer box is broken
        wide = box(0, 0, inf, 1)
        assert area(wide) == inf
        assert share_inside(box(0, 0, 1, 1), wide) == 1 and share_inside(wide, box(0, 0, 1, 1)) == 0
        assert iou(wide, box(0, 0, 1, 1)) == 0 and iou(wide, wide) == 0  # inf / inf counts as 0
        assert area(box(inf, 0, inf, 1)) != area(box(inf, 0, inf, 1))  # inf - inf: NaN, quietly


def test_matrices_are_every_pair_and_broadcasting_gives_the_same() -> None:
    a = np.array([[0, 0, 10, 10.0], [0, 0, 4, 4]])
    b = np.array([[5, 0, 20, 20.0], [0, 0, 1, 1], [0, 0, 10, 10]])
    s, m = share_inside_matrix(a, b), iou_matrix(a, b)
    assert s.shape == m.shape == (2, 3)
    assert np.allclose(s, [[0.5, 0.01, 1.0], [0.0, 1 / 16, 1.0]])
    assert np.array_equal(s, share_inside(a[:, None], b[None]))
    assert np.array_equal(m, iou(a[:, None], b[None]))
    assert m[0, 2] == 1.0 and m[1, 2] == pytest.approx(16 / 100)
    assert share_inside_matrix(np.zeros((0, 4)), b).shape == (0, 3)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)
    # element-wise: row k against row k
    assert np.allclose(iou(a, b[:2]), [m[0, 0], m[1, 1]])


def test_integer_input_and_dtypes() -> None:
    ints = np.array([[0, 0, 10, 10], [5, 0, 20, 20]])
    assert iou_matrix(ints, ints).dtype == np.float64
    assert share_inside(ints[0], ints[1]).dtype == np.float64
    assert share_inside(ints[0], ints[1]) == 0.5
    assert area(ints).tolist() == [100, 300]
    assert area(np.zeros((0, 4))).shape == (0,)


# -- against shapely -----------------------------------------------------------------------------

coord = st.integers(-40, 40).map(lambda k: k / 4)


@st.composite
def boxes(draw: st.DrawFn) -> np.ndarray:
    x0, y0 = draw(coord), draw(coord)
    return box(x0, y0, x0 + draw(st.integers(0, 80)) / 4, y0 + draw(st.integers(0, 80)) / 4)


@given(boxes(), boxes())
def test_agrees_with_shapely(a: np.ndarray, b: np.ndarray) -> None:
    pa, pb = shapely.box(*a), shapely.box(*b)
    inter = pa.intersection(pb).area
    assert area(a) == pytest.approx(pa.area, abs=1e-12)
    assert intersection(a, b) == pytest.approx(inter, abs=1e-12)
    union = pa.area + pb.area - inter
    assert iou(a, b) == pytest.approx(inter / union if union > 0 else 0.0, abs=1e-12)
    assert share_inside(a, b) == pytest.approx(inter / pa.area if pa.area > 0 else 0.0, abs=1e-12)
    assert 0 <= iou(a, b) <= 1 and 0 <= share_inside(a, b) <= 1
    assert iou(a, b) == iou(b, a)


# -- corner shapes -------------------------------------------------------------------------------

NO_CORNERS = [[nan, nan]] * 4


def test_corner_polygon_measures_where_valid_else_the_box() -> None:
    car = box(0, 0, 100, 100)
    xyxy = np.array([[60, 40, 140, 60.0]] * 4)  # each plate's box is half outside the car
    corners = np.array(
        [
            [[60, 40], [99, 45], [99, 55], [60, 60]],  # inside the car
            [[60, 40], [99, 60], [99, 40], [60, 60]],  # self-crossing: the box counts
            NO_CORNERS,  # none: the box counts
            [[60, 40], [60, 40], [60, 40], [60, 40]],  # zero area: the box counts
        ],
        dtype=np.float64,
    )
    rows = np.arange(4)
    shapes = CornerShapes(xyxy, corners, rows)
    assert shapes.share_inside(rows, np.repeat(car[None], 4, 0)).tolist() == [1.0, 0.5, 0.5, 0.5]
    # a row not asked about is measured by its box even when its corners are valid
    assert CornerShapes(xyxy, corners, np.array([2])).share_inside(rows[:1], car[None]).tolist() == [0.5]
    assert CornerShapes(xyxy, None, rows).share_inside(rows[:1], car[None]).tolist() == [0.5]


def test_corner_share_is_exact_at_and_above_the_floor() -> None:
    quad = [[80, 40], [125, 44], [118, 61], [83, 57]]
    xyxy, corners = np.array([[80, 40, 125, 61.0]]), np.array([quad], dtype=np.float64)
    poly = shapely.Polygon(quad)
    expect = poly.intersection(shapely.box(0, 0, 100, 100)).area / poly.area
    shapes, row, car = CornerShapes(xyxy, corners, np.array([0])), np.array([0]), box(0, 0, 100, 100)[None]
    for floor in (0.0, 0.3, expect):
        assert shapes.share_inside(row, car, floor=floor)[0] == pytest.approx(expect, rel=1e-12)
    assert shapes.share_inside(row, car, floor=0.99)[0] < 0.99  # below the floor: not clipped
    assert shapes.extent.tolist() == [[80, 40, 125, 61]]


def reference_share(xyxy: np.ndarray, corners: np.ndarray, outer: np.ndarray) -> float:
    """The share by its definition, with shapely: the polygon where valid, else the box."""
    poly = shapely.Polygon(corners) if np.isfinite(corners).all() else None
    if poly is None or not poly.is_valid or poly.area <= 0:
        poly = shapely.box(*xyxy)
    return poly.intersection(shapely.box(*outer)).area / poly.area if poly.area > 0 else 0.0


@st.composite
def shaped(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    # corners straying from the box's, some missing, some crossing or collapsing (the box counts)
    xyxy = draw(boxes())
    x0, y0, x1, y1 = xyxy
    quad = (
        np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        + np.array(draw(st.lists(st.integers(-24, 24), min_size=8, max_size=8))).reshape(4, 2) / 4
    )
    kind = draw(st.sampled_from(["quad", "none", "crossed", "point"]))
    if kind == "none":
        quad[:] = nan
    elif kind == "crossed":
        quad = quad[[0, 2, 1, 3]]
    elif kind == "point":
        quad[:] = quad[0]
    return xyxy, quad


@given(st.lists(shaped(), min_size=1, max_size=6), boxes(), st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
def test_corner_shares_match_shapely(plates: list, outer: np.ndarray, floor: float) -> None:
    xyxy = np.array([p[0] for p in plates])
    corners = np.array([p[1] for p in plates])
    rows = np.arange(len(plates))
    got = CornerShapes(xyxy, corners, rows).share_inside(
        rows, np.repeat(outer[None], len(rows), 0), floor=floor
    )
    for k in rows:
        want = reference_share(xyxy[k], corners[k], outer)
        if want >= floor:  # below the floor the share may read 0 (not clipped)
            assert got[k] == pytest.approx(want, abs=1e-12)
        else:
            assert got[k] < floor or got[k] == pytest.approx(want, abs=1e-12)


@given(
    st.integers(0, 40),
    st.sampled_from([1, 2, 3, 4, 8]),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["C", "F", "strided"]),
)
def test_rows_all_is_all_along_rows(n: int, k: int, seed: int, layout: str) -> None:
    from svmlp.model.tables import rows_all

    mask = np.random.default_rng(seed).random((2 * n, k)) < 0.8
    if layout == "F":
        mask = np.asfortranarray(mask)
    elif layout == "strided":
        mask = mask[::2]
    assert np.array_equal(rows_all(mask), mask.all(axis=1))


@given(st.integers(0, 30), st.integers(0, 2**32 - 1))
def test_corner_bounds_are_min_and_max(n: int, seed: int) -> None:
    from svmlp.model.geometry import corner_bounds

    c = np.random.default_rng(seed).normal(size=(n, 4, 2)) * 100
    if n:
        c[0, 2, 1] = np.nan  # a NaN corner makes its bounds NaN, as numpy's min and max do
    want = np.concatenate([c.min(axis=1), c.max(axis=1)], axis=1)
    assert np.array_equal(corner_bounds(c), want, equal_nan=True)


@given(st.integers(0, 2**32 - 1), st.booleans())
def test_clipped_area_is_shapelys(seed: int, concave: bool) -> None:
    """svmlp's own polygon ∩ box area (Sutherland–Hodgman, vectorised) against shapely's, on
    simple quadrilaterals convex and concave and boxes across, inside, around and apart."""
    from svmlp.model.geometry import clipped_area

    rng = np.random.default_rng(seed)
    n = 64
    angles = np.sort(rng.random((n, 4)) * 2 * np.pi, axis=1)
    radius = rng.random((n, 4)) * 5 + 0.5
    if concave:
        radius[:, 1] *= 0.2  # a dart
    centre = rng.random((n, 2)) * 20
    quads = np.stack(
        [centre[:, :1] + radius * np.cos(angles), centre[:, 1:] + radius * np.sin(angles)], axis=2
    )
    lo = rng.random((n, 2)) * 20
    boxes = np.concatenate([lo, lo + rng.random((n, 2)) * 12], axis=1)
    polys = shapely.polygons(quads)
    ok = shapely.is_valid(polys) & (shapely.area(polys) > 0)
    want = shapely.area(shapely.intersection(polys[ok], shapely.box(*boxes[ok].T)))
    got = clipped_area(quads[ok], boxes[ok])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@given(st.integers(0, 2**32 - 1))
def test_corner_polygon_areas_are_shapelys(seed: int) -> None:
    """The area CornerShapes gives each plate's corner polygon (0 when shapely finds it invalid):
    convex ones by the shoelace, the rest (darts, bow ties, collapsed) through shapely."""
    rng = np.random.default_rng(seed)
    n = 80
    corners = rng.normal(size=(n, 4, 2)) * 10  # many bow ties and darts
    angles = np.sort(rng.random((n // 2, 4)) * 2 * np.pi, axis=1)
    corners[: n // 2] = np.stack([np.cos(angles), np.sin(angles)], axis=2) * 7  # convex
    corners[n - 1] = [[0, 0], [1, 1], [2, 2], [3, 3]]  # collapsed onto a line
    corners[n - 2, 1] = corners[n - 2, 0]  # a repeated point
    xyxy = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    shapes = CornerShapes(xyxy, corners, np.arange(n))
    got = shapes._polygon_areas(np.arange(n))
    polys = shapely.polygons(corners)
    want = np.where(shapely.is_valid(polys), shapely.area(polys), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
