"""The IoU family and the ICR loss: hand-computed values, gradients, bounds, dtypes, vectorisation."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from svmlp.train.losses import (  # noqa: E402
    ICR_MODES,
    IOU_KINDS,
    box_iou,
    box_iou_matrix,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
    icr_loss,
    iou_loss,
)

IOUS = {"iou": box_iou, "giou": generalized_box_iou, "diou": distance_box_iou, "ciou": complete_box_iou}
CAR = [0.0, 0.0, 100.0, 50.0]


def t(*boxes: list[float], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.tensor(boxes, dtype=dtype)


def _close(x: torch.Tensor, expected: list[float], tol: float = 1e-6) -> None:
    torch.testing.assert_close(x, torch.tensor(expected, dtype=x.dtype), rtol=0, atol=tol)


# --- the IoU family: values worked out by hand ------------------------------------------------------


def test_identical_boxes_score_one_in_every_kind() -> None:
    a = t([3.0, 4.0, 10.0, 20.0], [0.5, 0.5, 0.75, 2.0])
    for kind, fn in IOUS.items():
        _close(fn(a, a.clone()), [1.0, 1.0])
        _close(iou_loss(a, a.clone(), kind=kind, reduction="none"), [0.0, 0.0])


def test_hand_computed_values() -> None:
    a = t([0.0, 0, 2, 2], [0.0, 0, 1, 1], [0.0, 0, 1, 1], [0.0, 0, 4, 4])
    b = t([1.0, 1, 3, 3], [2.0, 0, 3, 1], [9.0, 9, 10, 10], [1.0, 1, 2, 2])
    # 1: inter 1, union 4+4−1 = 7, enclosing 3×3 = 9, centres (1,1),(2,2): ρ² = 2, c² = 9+9 = 18
    # 2: disjoint side by side: enclosing 3×1 = 3, union 2, ρ² = 4, c² = 3²+1² = 10
    # 3: far apart: enclosing 10×10 = 100, union 2, ρ² = 81+81, c² = 200
    # 4: b inside a: inter 1, union 16, enclosing = a, ρ² = 0.5, c² = 32
    _close(box_iou(a, b), [1 / 7, 0.0, 0.0, 1 / 16])
    _close(generalized_box_iou(a, b), [1 / 7 - 2 / 9, -1 / 3, -98 / 100, 1 / 16])
    _close(distance_box_iou(a, b), [1 / 7 - 2 / 18, -4 / 10, -162 / 200, 1 / 16 - 0.5 / 32])
    # same aspect ratios in every pair: v = 0, so CIoU = DIoU
    _close(complete_box_iou(a, b), [1 / 7 - 2 / 18, -4 / 10, -162 / 200, 1 / 16 - 0.5 / 32])


def test_ciou_aspect_term_by_hand() -> None:
    a, b = t([0.0, 0, 2, 1]), t([0.0, 0, 1, 1])
    # IoU 1/2, enclosing 2×1 (c² = 5), centres 0.5 apart: DIoU = 0.5 − 0.25/5 = 0.45
    # v = 4/π² (atan(1/1) − atan(2/1))², α = v / (1 − 0.5 + v)
    v = 4 / math.pi**2 * (math.atan(1.0) - math.atan(2.0)) ** 2
    expected = 0.45 - v / (0.5 + v) * v
    _close(complete_box_iou(a, b), [expected])
    _close(complete_box_iou(b, a), [expected])  # symmetric
    _close(distance_box_iou(a, b), [0.45])


def test_iou_matrix_is_every_pair() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = _random_boxes(7, g), _random_boxes(5, g)
    m = box_iou_matrix(a, b)
    assert m.shape == (7, 5)
    torch.testing.assert_close(m, box_iou(a[:, None].expand(7, 5, 4), b[None].expand(7, 5, 4)))
    _close(box_iou_matrix(t([0.0, 0, 2, 2]), t([0.0, 0, 2, 2], [1.0, 0, 3, 2]))[0], [1.0, 1 / 3])


def test_broadcasting_like_the_assigner() -> None:
    g = torch.Generator().manual_seed(2)
    gt, pred = _random_boxes(6, g).view(2, 3, 4), _random_boxes(8, g).view(2, 4, 4)
    grid = complete_box_iou(gt[:, :, None, :], pred[:, None, :, :])
    assert grid.shape == (2, 3, 4)
    torch.testing.assert_close(grid[1, 2, 3], complete_box_iou(gt[1, 2], pred[1, 3]))


def test_iou_loss_kinds_and_reductions() -> None:
    p, q = t([0.0, 0, 2, 2], [0.0, 0, 1, 1]), t([1.0, 1, 3, 3], [2.0, 0, 3, 1])
    for kind in IOU_KINDS:
        per_box = 1 - IOUS[kind](p, q)
        torch.testing.assert_close(iou_loss(p, q, kind=kind, reduction="none"), per_box)
        torch.testing.assert_close(iou_loss(p, q, kind=kind, reduction="sum"), per_box.sum())
        torch.testing.assert_close(iou_loss(p, q, kind=kind), per_box.mean())
    with pytest.raises(ValueError, match="ciou, diou, giou, iou"):
        iou_loss(p, q, kind="siou")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="none, mean, sum"):
        iou_loss(p, q, reduction="max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        box_iou(p[:, :3], q[:, :3])


# --- ICR: the modes' formulas ------------------------------------------------------------------------


def _with_share(r: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Plates 10×1 at the origin and vehicles covering the share ``r`` of them (left part)."""
    rs = torch.tensor(r, dtype=torch.float64)
    plate = torch.tensor([0.0, 0.0, 10.0, 1.0], dtype=torch.float64).expand(len(r), 4)
    car = torch.stack([torch.full_like(rs, -5), torch.full_like(rs, -5), 10 * rs, torch.full_like(rs, 5)], -1)
    return plate, car


def test_mode_formulas_at_known_shares() -> None:
    r = [1.0, 0.75, 0.5, 0.25, 0.0]
    plate, car = _with_share(r)
    rr = torch.tensor(r, dtype=torch.float64)
    cap = 10.0
    delta = 1 / math.expm1(cap)
    expected = {
        "inverse": cap * (1 - rr) / (1 + (cap + 1) * rr),
        "linear": 1 - rr,
        "log": -torch.log((rr + delta) / (1 + delta)),
    }
    for mode in ICR_MODES:
        got = icr_loss(plate, car, mode=mode, reduction="none", distance=False, cap=cap)
        torch.testing.assert_close(got, expected[mode])
    # at r = 0 the bounded modes reach the cap exactly, at r = 1 every mode is 0
    for mode in ("inverse", "log"):
        got = icr_loss(plate, car, mode=mode, reduction="none", distance=False, cap=cap)
        assert got[0] == 0 and abs(float(got[-1]) - cap) < 1e-9


def test_distance_term_by_hand() -> None:
    plates = t([150.0, 60, 170, 64], [90.0, 10, 130, 14], [95.0, 10, 115, 14])
    cars = torch.tensor(CAR).expand_as(plates)
    # 1: disjoint, r = 0: centre (160, 62), nearest car point (100, 50): d² = 60² + 12²;
    #    enclosing box 170×64
    # 2: r = 10/40: centre (110, 12) → (100, 12): d² = 10²; enclosing 130×50; weight 1 − r = 0.75
    # 3: r = 5/20, centre (105, 12) → (100, 12): d² = 5²; enclosing 115×50; weight 0.75
    expected = [3744 / (170**2 + 64**2), 0.75 * 100 / (130**2 + 50**2), 0.75 * 25 / (115**2 + 50**2)]
    for mode in ICR_MODES:
        with_d = icr_loss(plates, cars, mode=mode, reduction="none")
        without = icr_loss(plates, cars, mode=mode, reduction="none", distance=False)
        _close(with_d - without, expected)


def test_inverse_mode_tends_to_one_over_r() -> None:
    r = [0.8, 0.5, 0.25, 0.1]
    plate, car = _with_share(r)
    got = icr_loss(plate, car, reduction="none", distance=False, cap=1e7)
    torch.testing.assert_close(got, 1 / torch.tensor(r, dtype=torch.float64) - 1, rtol=1e-5, atol=0)


@pytest.mark.parametrize("distance", [True, False])
@pytest.mark.parametrize("mode", ICR_MODES)
def test_zero_inside(mode: str, distance: bool) -> None:
    g = torch.Generator().manual_seed(3)
    car = torch.tensor(CAR).expand(1000, 4)
    # random plates strictly inside, and a few touching the vehicle's edges from inside
    lo = torch.rand(1000, 2, generator=g) * torch.tensor([80.0, 40.0])
    size = torch.rand(1000, 2, generator=g) * (torch.tensor([100.0, 50.0]) - lo)
    plates = torch.cat([lo, lo + size], -1)
    plates[:4] = t([0.0, 0, 10, 5], [90.0, 45, 100, 50], [0.0, 0, 100, 50], [0.0, 20, 100, 30])
    plates.requires_grad_(True)
    pen = icr_loss(plates, car, mode=mode, distance=distance, reduction="none")
    assert torch.equal(pen, torch.zeros(1000))
    pen.sum().backward()
    assert torch.isfinite(plates.grad).all()


@pytest.mark.parametrize("distance", [True, False])
@pytest.mark.parametrize("mode", ICR_MODES)
def test_monotone_while_sliding_out(mode: str, distance: bool) -> None:
    x0 = torch.arange(40.0, 160.0, 0.25)
    plates = torch.stack([x0, torch.full_like(x0, 10), x0 + 20, torch.full_like(x0, 14)], -1)
    pen = icr_loss(
        plates, torch.tensor(CAR).expand_as(plates), mode=mode, distance=distance, reduction="none"
    )
    assert (pen.diff() >= 0).all(), "the penalty must not drop as the plate leaves its car"
    inside, partly = x0 <= 80, (x0 > 80) & (x0 < 100)
    assert (pen[inside] == 0).all() and (pen[~inside] > 0).all()
    # the share inside falls from 1 to 0 over this stretch: every mode rises strictly with it
    assert (pen[partly].diff() > 0).all()
    if distance:  # out of the car the pull keeps growing with the distance
        assert (pen[x0 >= 100].diff() > 0).all()


@pytest.mark.parametrize("mode", ICR_MODES)
def test_finite_and_bounded_at_zero_overlap(mode: str) -> None:
    cap = 10.0
    plates = t(
        [150.0, 10, 170, 14], [1e6, 1e6, 1e6 + 20, 1e6 + 4], [-300.0, -200, -280, -196]
    ).requires_grad_(True)
    cars = torch.tensor(CAR).expand_as(plates)
    ratio = icr_loss(plates, cars, mode=mode, distance=False, reduction="none", cap=cap)
    top = 1.0 if mode == "linear" else cap
    torch.testing.assert_close(ratio, torch.full((3,), top))
    pen = icr_loss(plates, cars, mode=mode, reduction="none", cap=cap)
    assert torch.isfinite(pen).all() and (pen > ratio).all() and (pen < top + 1).all()
    pen.sum().backward()
    assert torch.isfinite(plates.grad).all() and (plates.grad != 0).any()


@pytest.mark.parametrize("mode", ICR_MODES)
def test_descent_pulls_a_disjoint_plate_in_only_with_the_distance_term(mode: str) -> None:
    plate = t([150.0, 60, 170, 64]).requires_grad_(True)  # right of and below its car, not touching
    car = t(CAR)
    history = []
    for _ in range(10):
        pen = icr_loss(plate, car, mode=mode)
        history.append(pen.item())
        (grad,) = torch.autograd.grad(pen, plate)
        with torch.no_grad():
            plate -= 200.0 * grad
    assert all(b < a for a, b in zip(history, history[1:])), history
    # without it a plate that does not touch its car gets no gradient at all: r is 0 around it
    plate = t([150.0, 60, 170, 64]).requires_grad_(True)
    (grad,) = torch.autograd.grad(icr_loss(plate, car, mode=mode, distance=False), plate)
    assert torch.equal(grad, torch.zeros(1, 4))


# --- ICR: gradients --------------------------------------------------------------------------------


def _random_boxes(n: int, g: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    lo = torch.rand(n, 2, generator=g, dtype=torch.float64) * 20
    wh = 1 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 10
    return torch.cat([lo, lo + wh], -1).to(dtype)


def _overlapping_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 (prediction, vehicle) pairs that overlap partly, every edge ≥ 0.1 from the other
    box's edges (no min/max/clamp kink within gradcheck's step); about half the predictions have
    their centre outside the vehicle."""
    g = torch.Generator().manual_seed(seed)
    f = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    car = torch.cat([f(n, 2) * 10, 20 + f(n, 2) * 10], -1)  # x0, y0 in [0, 10), x1, y1 in [20, 30)
    size = 2 + f(n, 2) * 4
    # each axis: across the far edge (a share 0.15..0.85 outside) or well inside
    out = 0.15 + 0.7 * f(n, 2)
    cross = f(n, 2) < 0.6
    cross[:, 0] |= ~cross[:, 1]  # at least one axis crosses: none is contained
    # inside: at most 0.5 + 3 + 6 from the vehicle's near edge, which is over 10 from its far one
    lo = torch.where(cross, car[:, 2:] - size * (1 - out), car[:, :2] + 0.5 + f(n, 2) * 3)
    return torch.cat([lo, lo + size], -1).requires_grad_(True), car.requires_grad_(True)


@pytest.mark.parametrize("kind", ["iou", "giou", "diou"])
def test_gradcheck_iou(kind: str) -> None:
    p, v = _overlapping_pairs(12, seed=4)
    assert torch.autograd.gradcheck(IOUS[kind], (p, v))


def test_gradcheck_ciou_with_alpha_held_constant() -> None:
    p, v = _overlapping_pairs(12, seed=5)

    def aspect(b: torch.Tensor) -> torch.Tensor:
        return torch.atan((b[..., 2] - b[..., 0]) / (b[..., 3] - b[..., 1]))

    with torch.no_grad():
        v0 = 4 / math.pi**2 * (aspect(v) - aspect(p)) ** 2
        alpha0 = v0 / (1 - box_iou(p, v) + v0 + 1e-7)

    def frozen(p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        # CIoU's value, moved by the change of α alone: gradcheck's finite differences then see
        # DIoU − α0·v, whose derivative is what CIoU's backward must give (α is not differentiated)
        vv = 4 / math.pi**2 * (aspect(v) - aspect(p)) ** 2
        alpha = (vv / (1 - box_iou(p, v) + vv + 1e-7)).detach()
        return complete_box_iou(p, v) + (alpha - alpha0) * vv

    assert torch.autograd.gradcheck(frozen, (p, v))


@pytest.mark.parametrize("distance", [True, False])
@pytest.mark.parametrize("mode", ICR_MODES)
def test_gradcheck_icr(mode: str, distance: bool) -> None:
    p, v = _overlapping_pairs(16, seed=6)
    r = box_iou(p, v)  # sanity of the construction: every pair overlaps, none is contained
    assert (r > 0).all()
    assert (icr_loss(p, v, mode=mode, distance=False, reduction="none") > 0).all()
    fn = lambda p, v: icr_loss(p, v, mode=mode, distance=distance, reduction="none")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (p, v))


def test_gradcheck_distance_term_when_disjoint() -> None:
    p, v = _overlapping_pairs(8, seed=7)
    with torch.no_grad():
        p += 40.0  # every prediction now lies beyond its vehicle's far corner
    assert torch.autograd.gradcheck(lambda p, v: icr_loss(p, v, reduction="none"), (p, v))


# --- dtypes, degenerate boxes, errors -----------------------------------------------------------------

DEGENERATE_PRED = [
    [10.0, 10, 10, 10],  # a point inside its car
    [200.0, 10, 200, 10],  # a point outside
    [10.0, 10, 40, 10],  # a line inside
    [90.0, 10, 130, 10],  # a line across the edge
    [30.0, 20, 10, 25],  # x1 < x0: zero wide
    [20.0, 40, 600, 600],  # large: its fp16 area would overflow
]


def _degenerate() -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.tensor(DEGENERATE_PRED + [[10.0, 10, 20, 14]] * 2)
    v = torch.tensor([CAR] * 6 + [[50.0, 50, 50, 50], [60.0, 0, 0, 50]])  # a point car, an x1 < x0 car
    return p, v


@pytest.mark.parametrize("distance", [True, False])
@pytest.mark.parametrize("mode", ICR_MODES)
def test_degenerate_boxes_stay_finite(mode: str, distance: bool) -> None:
    p, v = _degenerate()
    p.requires_grad_(True)
    pen = icr_loss(p, v, mode=mode, distance=distance, reduction="none")
    assert torch.isfinite(pen).all()
    # a point or a line counts as inside or outside by its centre
    assert pen[0] == 0 and pen[2] == 0 and pen[1] >= (1.0 if mode == "linear" else 10.0)
    pen.sum().backward()
    assert torch.isfinite(p.grad).all()
    for fn in IOUS.values():
        q = p.detach().clone().requires_grad_(True)
        out = fn(q, v)
        out.sum().backward()
        assert torch.isfinite(out).all() and torch.isfinite(q.grad).all()


def test_inverted_box_is_a_zero_wide_one() -> None:
    inverted, flat = t([30.0, 20, 10, 25]), t([30.0, 20, 30, 25])
    car = t([0.0, 0, 20, 50])
    for mode in ICR_MODES:
        assert torch.equal(icr_loss(inverted, car, mode=mode), icr_loss(flat, car, mode=mode))
    for fn in IOUS.values():
        assert torch.equal(fn(inverted, car), fn(flat, car))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_and_autocast(dtype: torch.dtype) -> None:
    p, v = _degenerate()
    ph, vh = p.to(dtype).requires_grad_(True), v.to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for mode in ICR_MODES:
            pen = icr_loss(ph, vh, mode=mode, reduction="none")
            assert pen.dtype == torch.float32 and torch.isfinite(pen).all()
            # the same as float32 on the same (rounded) coordinates: nothing is computed in half
            torch.testing.assert_close(pen, icr_loss(ph.float(), vh.float(), mode=mode, reduction="none"))
            pen.sum().backward()
            assert torch.isfinite(ph.grad).all()
        for fn in IOUS.values():
            out = fn(ph, vh)
            assert out.dtype == torch.float32 and torch.isfinite(out).all()
        assert iou_loss(ph, vh).dtype == torch.float32


def test_reductions_and_empty_input() -> None:
    p, v = _overlapping_pairs(5, seed=8)
    per_box = icr_loss(p, v, reduction="none")
    assert per_box.shape == (5,)
    torch.testing.assert_close(icr_loss(p, v), per_box.mean())
    torch.testing.assert_close(icr_loss(p, v, reduction="sum"), per_box.sum())
    empty = torch.zeros(0, 4, requires_grad=True)
    for reduction in ("mean", "sum"):
        out = icr_loss(empty, torch.zeros(0, 4), reduction=reduction)
        assert out.shape == () and out.item() == 0.0 and out.requires_grad
        out.backward()  # the graph is kept: a batch without plates still trains
        out = iou_loss(empty, torch.zeros(0, 4), reduction=reduction)
        assert out.item() == 0.0 and out.requires_grad
    assert icr_loss(empty, torch.zeros(0, 4), reduction="none").shape == (0,)


def test_errors_name_the_choices() -> None:
    p = t([0.0, 0, 1, 1])
    with pytest.raises(ValueError, match="inverse, linear, log"):
        icr_loss(p, p, mode="square")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="none, mean, sum"):
        icr_loss(p, p, reduction="avg")  # type: ignore[arg-type]
    for cap in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="cap"):
            icr_loss(p, p, cap=cap)
    assert ICR_MODES == ("inverse", "linear", "log")


# --- vectorised: the batch is the boxes one at a time -----------------------------------------------

coord = st.floats(-50, 150, allow_nan=False, width=32)
box = st.tuples(coord, coord, st.floats(0, 60, width=32), st.floats(0, 30, width=32)).map(
    lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]]
)
raw_box = st.lists(coord, min_size=4, max_size=4)  # x1 < x0 and points included
pair = st.tuples(st.one_of(box, raw_box), st.one_of(box, raw_box))


@given(
    pairs=st.lists(pair, min_size=1, max_size=40),
    mode=st.sampled_from(ICR_MODES),
    distance=st.booleans(),
    cap=st.sampled_from([1.0, 10.0, 50.0]),
)
def test_batch_equals_one_box_at_a_time(pairs: list, mode: str, distance: bool, cap: float) -> None:
    p = torch.tensor([a for a, _ in pairs])
    v = torch.tensor([b for _, b in pairs])
    batch = icr_loss(p, v, mode=mode, distance=distance, cap=cap, reduction="none")
    one = torch.stack([icr_loss(p[i], v[i], mode=mode, distance=distance, cap=cap) for i in range(len(p))])
    # elementwise kernels may differ from their vectorised forms in the last bit (atan, log1p)
    torch.testing.assert_close(batch, one, rtol=1e-6, atol=1e-6)
    assert torch.isfinite(batch).all() and (batch >= 0).all() and (batch <= cap + 1).all()
    for fn in IOUS.values():
        many = fn(p, v)
        torch.testing.assert_close(
            many, torch.stack([fn(p[i], v[i]) for i in range(len(p))]), rtol=1e-6, atol=1e-6
        )
        # CIoU subtracts up to α·v = 1/2 more; DIoU of collinear points is −1 give or take rounding
        low = -1.5 if fn is complete_box_iou else -1.0
        assert ((many >= low - 1e-6) & (many <= 1)).all()


def test_a_hundred_thousand_boxes_in_one_call() -> None:
    """One vectorised call forward and backward, every mode: finite values and gradients, and the
    mean is the mean of the rows. How fast it is: ``scripts/bench_losses.py`` (not a test)."""
    g = torch.Generator().manual_seed(9)
    p, v = _random_boxes(100_000, g), _random_boxes(100_000, g)
    for mode in ICR_MODES:
        pred = p.clone().requires_grad_(True)
        rows = icr_loss(pred, v, mode=mode, reduction="none")
        assert rows.shape == (100_000,) and torch.isfinite(rows).all()
        mean = icr_loss(pred, v, mode=mode)
        torch.testing.assert_close(mean, rows.mean())
        mean.backward()
        assert pred.grad is not None and torch.isfinite(pred.grad).all()
    pred = p.clone().requires_grad_(True)
    iou_loss(pred, v).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


@pytest.mark.parametrize("mode", ICR_MODES)
@pytest.mark.parametrize("distance", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_ciou_and_icr_in_one_pass_is_the_two_losses(mode: str, distance: bool, dtype: torch.dtype) -> None:
    """The fused pass the detector's criterion uses: the same values (bit for bit) and gradients
    as complete_box_iou and icr_loss, on plates inside, across and outside their vehicles, zero
    width and inverted predictions, and a broadcast target."""
    from svmlp.train.losses import ciou_and_icr

    p, v = (x.detach() for x in _overlapping_pairs(300, seed=11))
    g = torch.Generator().manual_seed(12)
    target = p + torch.randn(p.shape, generator=g, dtype=p.dtype) * 3
    p = p.clone()
    p[0, 2] = p[0, 0]  # zero width
    p[1, 2] = p[1, 0] - 5  # inverted
    p[2] = v[2] + torch.tensor([500.0, 500.0, 520.0, 510.0])  # far outside
    a = p.to(dtype).clone().requires_grad_(True)
    b = p.to(dtype).clone().requires_grad_(True)
    box, icr = ciou_and_icr(a, target.to(dtype), v.to(dtype), mode=mode, distance=distance)  # type: ignore[arg-type]
    box_ref = 1 - complete_box_iou(b, target.to(dtype))
    icr_ref = icr_loss(b, v.to(dtype), mode=mode, distance=distance, reduction="none")  # type: ignore[arg-type]
    assert torch.equal(box, box_ref) and torch.equal(icr, icr_ref)
    (box.sum() + 2 * icr.sum()).backward()
    (box_ref.sum() + 2 * icr_ref.sum()).backward()
    assert a.grad is not None and b.grad is not None
    tol = 1e-2 if dtype == torch.float16 else 1e-4
    torch.testing.assert_close(a.grad, b.grad, rtol=tol, atol=tol)
    one = target[:1].to(dtype)  # one target for every prediction
    assert torch.equal(ciou_and_icr(a, one, v.to(dtype))[0], 1 - complete_box_iou(a, one))


def test_ciou_and_icr_refuses_what_icr_loss_refuses() -> None:
    from svmlp.train.losses import ciou_and_icr

    box = torch.tensor([[0.0, 0, 1, 1]])
    with pytest.raises(ValueError, match="unknown ICR mode"):
        ciou_and_icr(box, box, box, mode="square")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cap must be"):
        ciou_and_icr(box, box, box, cap=float("inf"))


def test_compiled_box_losses_equal_the_eager_pass() -> None:
    """--compile-loss: CIoU + ICR through torch.compile gives the eager pass's values and gradients."""
    from svmlp.torch._compile import Compiled
    from svmlp.train.losses import ciou_and_icr

    g = torch.Generator().manual_seed(5)
    fused = Compiled(ciou_and_icr, "test")
    for n in (7, 300):  # one compiled function, two sizes (dynamic shapes)
        v = torch.rand(n, 2, generator=g) * 100
        car = torch.cat([v, v + 60], 1)
        p = v + torch.rand(n, 2, generator=g) * 80
        pred = torch.cat([p, p + 12], 1).requires_grad_(True)
        truth = (pred.detach() + torch.randn(n, 4, generator=g)).clamp(min=0)
        a_box, a_icr = ciou_and_icr(pred, truth, car)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            b_box, b_icr = fused(pred, truth, car)
        if fused.failed:  # no C++ compiler on this machine: the fallback is tested below
            pytest.skip("torch.compile cannot build kernels on this machine")
        assert torch.allclose(a_box, b_box, atol=1e-5) and torch.allclose(a_icr, b_icr, atol=1e-5)
        (ga,) = torch.autograd.grad((a_box + a_icr).sum(), pred)
        (gb,) = torch.autograd.grad((b_box + b_icr).sum(), pred)
        assert torch.allclose(ga, gb, atol=1e-4)


def test_a_compiler_that_fails_falls_back_with_one_warning() -> None:
    from svmlp.torch._compile import Compiled

    def fn(x: torch.Tensor) -> torch.Tensor:
        return x + 1

    def no_compiler(graph: object, inputs: object) -> object:  # a backend that cannot build
        raise RuntimeError("no compiler here")

    c = Compiled(fn, "the test", backend=no_compiler)
    with pytest.warns(RuntimeWarning, match="the test: torch.compile failed"):
        assert c(torch.zeros(2)).tolist() == [1.0, 1.0]
    assert c.failed and c(torch.zeros(1)).tolist() == [1.0]  # no second warning, the plain function
    import pickle

    assert pickle.loads(pickle.dumps(Compiled(torch.neg, "x"))).compiled is None


def test_a_backward_that_fails_to_compile_falls_back_before_training_uses_it() -> None:
    """The backward graph compiles lazily (at loss.backward()); the first call tries it on copies."""
    from torch._dynamo.backends.common import aot_autograd

    from svmlp.torch._compile import Compiled
    from svmlp.train.losses import ciou_and_icr

    def no_backward(graph: object, inputs: object) -> object:
        raise RuntimeError("no backward compiler here")

    backend = aot_autograd(fw_compiler=lambda gm, inputs: gm, bw_compiler=no_backward)
    fused = Compiled(ciou_and_icr, "the box losses", backend=backend)
    pred = torch.tensor([[10.0, 10, 30, 20], [50, 50, 60, 58]], requires_grad=True)
    truth, car = torch.tensor([[11.0, 10, 31, 21], [50, 50, 61, 57]]), torch.tensor([[0.0, 0, 40, 40]] * 2)
    with pytest.warns(RuntimeWarning, match="the box losses: torch.compile failed"):
        box, icr = fused(pred, truth, car)
    assert fused.failed
    (box + icr).sum().backward()  # the eager pass: no compiler needed
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
