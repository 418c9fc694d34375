"""Transforms: boxes follow the pixels, links follow the boxes, randomness follows the seed.

Each test runs twice: the per-sample pipeline (numpy and pillow, in the DataLoader's workers) and
the device pipeline (the same transforms on a canvas plan, drawn by svmlp.torch.render)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("torch")

from device_helpers import on_device  # noqa: E402

from svmlp.errors import UsageError  # noqa: E402
from svmlp.torch import transforms as T  # noqa: E402
from svmlp.torch.sample import Sample  # noqa: E402

PIPELINES = {"cpu": lambda t, s: t(s), "device": on_device}


@pytest.fixture(params=sorted(PIPELINES))
def run(request: pytest.FixtureRequest):  # noqa: ANN201 - (transform, sample) -> sample
    return PIPELINES[request.param]


def _painted(w: int, h: int, boxes: list[list[float]], seed: int = 0, paint: int | None = None) -> Sample:
    """A black image with box ``paint`` (default: every box) painted green, boxes on pixel edges.
    ``labels`` are the box numbers, so a test can tell which box is which after a transform."""
    image = np.zeros((h, w, 3), np.uint8)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        if paint is None or paint == k:
            image[int(y0) : int(y1), int(x0) : int(x1), 1] = 255
    n = len(boxes)
    return Sample(
        image=image,
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        labels=np.arange(n),
        parent=np.full(n, -1),
        iscrowd=np.zeros(n, bool),
        rng=np.random.default_rng(seed),
    )


def _paint_extent(s: Sample) -> np.ndarray | None:
    """The box around the painted pixels (half-lit or more), None when none is left."""
    ys, xs = np.nonzero(s.image[..., 1] >= 128)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


def _check_paint(
    transform: object,
    w: int,
    h: int,
    boxes: list[list[float]],
    seed: int = 0,
    tol: float = 2.0,
    run=PIPELINES["cpu"],  # noqa: ANN001
) -> Sample:
    """Run ``transform`` once per box with only that box painted (same seed, so the same draw):
    each kept box must enclose its paint tightly (``tol`` px). Returns the all-painted result."""
    for k in range(len(boxes)):
        out = run(transform, _painted(w, h, boxes, seed, paint=k))
        rows = np.flatnonzero(out.labels == k)
        if not len(rows):
            continue
        box = out.boxes[rows[0]]
        if min(box[2] - box[0], box[3] - box[1]) <= 4:
            continue  # a sliver: bilinear blending decides whether a pixel reaches half
        got = _paint_extent(out)
        assert got is not None and np.abs(got - box).max() <= tol, (k, got, box)
    return run(transform, _painted(w, h, boxes, seed))


def test_resize_letterbox_flip_move_boxes_with_the_pixels(run) -> None:  # noqa: ANN001
    boxes = [[10, 20, 60, 80], [120, 10, 190, 40]]
    for t in (T.Resize(100), T.Resize((300, 300)), T.Letterbox(160), T.Letterbox((300, 120), center=False)):
        _check_paint(t, 200, 100, boxes, run=run)
    out = _check_paint(T.HorizontalFlip(1.0), 200, 100, boxes, run=run)
    assert out.boxes.tolist() == [[140, 20, 190, 80], [10, 10, 80, 40]]


def test_letterbox_geometry_and_matrix(run) -> None:  # noqa: ANN001
    s = _painted(200, 100, [[10, 20, 60, 80]])
    out = run(T.Letterbox(100), s)
    assert out.size == (100, 100)
    assert out.boxes.tolist() == [[5.0, 35.0, 30.0, 65.0]]  # half size, 25 px of padding on top
    # the matrix maps the source boxes onto the output boxes, and its inverse maps back
    corners = np.c_[s.boxes.reshape(-1, 2), np.ones(2)] @ out.matrix.T
    assert np.allclose(corners[:, :2].reshape(-1, 4), out.boxes)
    back = np.c_[out.boxes.reshape(-1, 2), np.ones(2)] @ np.linalg.inv(out.matrix).T
    assert np.allclose(back[:, :2].reshape(-1, 4), s.boxes)


@pytest.mark.parametrize(
    "transform",
    [
        T.RandomAffine(scale=(0.6, 1.4), translate=0.2, min_visible=0.01, min_size=1),
        T.RandomAffine(scale=(1.5, 2.0), translate=0.3, size=(150, 90), min_visible=0.01, min_size=1),
        T.RandomZoomCrop(area=(0.3, 0.9), min_visible=0.01, min_size=1),
        T.RandomZoomCrop(size=(64, 64), min_visible=0.01, min_size=1),
    ],
)
@pytest.mark.parametrize("seed", range(6))
def test_random_geometry_moves_boxes_with_the_pixels(transform: object, seed: int, run) -> None:  # noqa: ANN001
    boxes = [[20, 20, 80, 90], [100, 30, 180, 70], [60, 95, 140, 115]]
    out = _check_paint(transform, 200, 120, boxes, seed, tol=2.5, run=run)
    w, h = out.size
    assert ((out.boxes >= 0) & (out.boxes <= [w, h, w, h])).all()


def test_rotation_keeps_the_paint_inside_the_box(run) -> None:  # noqa: ANN001
    s = _painted(200, 200, [[60, 70, 140, 130]], seed=3)
    out = run(T.RandomAffine(degrees=30, scale=(1, 1), translate=0, min_visible=0), s)
    x0, y0, x1, y1 = _paint_extent(out)
    bx0, by0, bx1, by1 = out.boxes[0]
    assert bx0 - 1 <= x0 and by0 - 1 <= y0 and x1 <= bx1 + 1 and y1 <= by1 + 1
    assert abs((x1 - x0) - (bx1 - bx0)) <= 3  # the box is the rotated rectangle's hull


def test_a_dropped_vehicle_unlinks_its_plates() -> None:
    s = _painted(200, 100, [[0, 0, 60, 60], [20, 40, 40, 50], [120, 20, 190, 90], [150, 70, 170, 80]])
    s.parent[:] = [-1, 0, -1, 2]
    s.matrix = np.eye(3)
    # move everything 100 px left: the first car leaves the picture, its plate stays... partly
    out = T.RandomAffine(scale=(1, 1), translate=0, min_visible=0.3)
    m = np.array([[1.0, 0, -100], [0, 1, 0], [0, 0, 1]])
    from svmlp.torch.transforms.geometry import warp

    moved = warp(s, m, (200, 100), min_visible=0.3)
    assert moved.labels.tolist() == [2, 3] and moved.parent.tolist() == [-1, 0]
    keep_plate = s.keep(np.array([False, True, True, True]))
    assert keep_plate.parent.tolist() == [-1, -1, 1]
    assert repr(out).startswith("RandomAffine(")


def test_hsv_and_colour_jitter_change_pixels_not_boxes(run) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    s = _painted(64, 48, [[5, 5, 30, 30]])
    s.image = rng.integers(0, 255, s.image.shape, dtype=np.uint8)
    jitter = [T.ColorJitter(0.4, 0.4, 0.4)] if run is PIPELINES["cpu"] else []  # no device version
    for t in (T.RandomHSV(0.1, 0.7, 0.4), *jitter):
        out = run(t, s)
        assert out.image.shape == s.image.shape and out.image.dtype == np.uint8
        assert not np.array_equal(out.image, s.image)
        assert np.array_equal(out.boxes, s.boxes) and np.array_equal(out.parent, s.parent)


def test_same_seed_same_result_other_seed_other_result(run) -> None:  # noqa: ANN001
    t = T.train_preset(96, mosaic=0.0, degrees=10)
    boxes = [[10, 10, 50, 40], [60, 20, 90, 60]]
    a, b, c = (run(t, _painted(100, 80, boxes, seed)) for seed in (5, 5, 6))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert not np.array_equal(a.image, c.image)


def _random_sample(draw: st.DrawFn, rng_seed: int) -> Sample:
    w, h = draw(st.integers(8, 120)), draw(st.integers(8, 120))
    n = draw(st.integers(0, 8))
    # inside the picture, as SVMLPDataset hands them over (it clips what a label puts past the border)
    coords = draw(st.lists(st.tuples(*[st.floats(0, 1)] * 4), min_size=n, max_size=n))
    boxes = np.array([[min(a, c) * w, min(b, d) * h, max(a, c) * w, max(b, d) * h] for a, b, c, d in coords])
    is_car = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    cars = np.flatnonzero(is_car)
    parent = np.full(n, -1)
    for k in np.flatnonzero(~is_car):
        if len(cars) and draw(st.booleans()):
            parent[k] = cars[draw(st.integers(0, len(cars) - 1))]
    image = np.random.default_rng(rng_seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return Sample(
        image,
        boxes.reshape(-1, 4),
        np.arange(n),
        parent,
        np.zeros(n, bool),
        rng=np.random.default_rng(rng_seed),
    )


_TRANSFORMS = st.one_of(
    st.builds(T.Resize, st.integers(4, 90)),
    st.builds(T.Letterbox, st.integers(4, 90)),
    st.builds(T.HorizontalFlip, st.floats(0, 1)),
    st.builds(
        T.RandomAffine,
        degrees=st.floats(0, 180),
        translate=st.floats(0, 0.5),
        scale=st.tuples(st.floats(0.1, 1), st.floats(1, 3)),
        shear=st.floats(0, 20),
        min_visible=st.floats(0, 1),
        min_size=st.floats(0, 4),
    ),
    st.builds(
        T.RandomZoomCrop, area=st.tuples(st.floats(0.05, 0.5), st.floats(0.5, 1)), min_visible=st.floats(0, 1)
    ),
    st.builds(T.RandomHSV, st.floats(0, 0.5), st.floats(0, 1), st.floats(0, 1)),
    st.builds(T.Mosaic, st.integers(8, 96), p=st.floats(0, 1), min_visible=st.floats(0, 1)),
)


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
@given(st.data(), st.lists(_TRANSFORMS, min_size=1, max_size=4), st.integers(0, 2**31))
def test_every_transform_keeps_targets_valid(
    pipeline: str, data: st.DataObject, transforms: list[object], seed: int
) -> None:
    sample = _random_sample(data.draw, seed)
    others = [_random_sample(data.draw, seed + k) for k in range(1, 4)]
    origin = {0: sample.parent.copy()}  # per sample: original parents, by label (= original row)
    for k, o in enumerate(others, start=1):
        o.labels = o.labels + 100 * k  # tell the pictures' boxes apart
        origin[k] = o.parent.copy()
    twin, twins = copy.deepcopy(sample), copy.deepcopy(others)  # the same inputs, generators included
    sample.draw = lambda rng: others[int(rng.integers(3))]
    twin.draw = lambda rng: twins[int(rng.integers(3))]
    if pipeline == "device":
        try:
            out = on_device(T.Compose(transforms), sample)  # type: ignore[arg-type]
        except UsageError as exc:  # one colour change, and no mosaic after it
            assert _device_may_refuse(transforms), exc
            return
        # the device pipeline's targets are the per-sample pipeline's, to the bit
        cpu = T.Compose(transforms)(twin)  # type: ignore[arg-type]
        assert out.size == cpu.size
        for key in ("boxes", "labels", "parent", "iscrowd", "matrix"):
            assert np.array_equal(getattr(out, key), getattr(cpu, key)), key
    else:
        out = T.Compose(transforms)(sample)  # type: ignore[arg-type]
    w, h = out.size
    n = len(out.boxes)
    assert out.image.dtype == np.uint8 and out.image.shape == (h, w, 3)
    assert out.boxes.shape == (n, 4) and np.isfinite(out.boxes).all()
    assert ((out.boxes >= 0) & (out.boxes <= [w, h, w, h])).all()
    assert (out.boxes[:, 2] >= out.boxes[:, 0]).all() and (out.boxes[:, 3] >= out.boxes[:, 1]).all()
    assert len(out.labels) == len(out.parent) == len(out.iscrowd) == n
    assert np.isfinite(out.matrix).all()
    # links: a box's parent is the box that was its parent, or −1 when that one was dropped
    for row in range(n):
        pic, own = divmod(int(out.labels[row]), 100)
        was = origin[pic][own]
        p = int(out.parent[row])
        if p >= 0:
            assert 0 <= p < n and p != row and divmod(int(out.labels[p]), 100) == (pic, was)
        else:
            alive = {divmod(int(v), 100) for v in out.labels}
            assert was < 0 or (pic, was) not in alive or pic > 0  # a drawn picture may appear twice


def _device_may_refuse(transforms: list[object]) -> bool:
    """The device pipeline takes one colour change, and no mosaic after it."""
    hsv = [k for k, t in enumerate(transforms) if isinstance(t, T.RandomHSV)]
    mosaic = [k for k, t in enumerate(transforms) if isinstance(t, T.Mosaic)]
    return len(hsv) > 1 or bool(hsv and mosaic and max(mosaic) > min(hsv))


def test_mosaic_needs_a_data_set() -> None:
    s = _painted(50, 50, [[1, 1, 10, 10]])
    with pytest.raises(UsageError, match="Mosaic needs other images"):
        T.Mosaic(64)(s)


def test_mosaic_tiles_four_pictures_and_keeps_their_links(run) -> None:  # noqa: ANN001
    pics = [_painted(100, 60, [[10, 10, 90, 50], [40, 35, 60, 45]], seed=k) for k in range(4)]
    for k, p in enumerate(pics):
        p.labels = p.labels + 10 * k
        p.parent = np.array([-1, 0])
    rest = iter(pics[1:])
    pics[0].draw = lambda rng: next(rest)
    out = run(T.Mosaic(100, min_visible=0.0, min_size=0.5), pics[0])
    assert out.size == (100, 100)
    assert out.meta["mosaic"] == [-1, -1, -1]
    for row, p in enumerate(out.parent.tolist()):
        if p >= 0:
            assert out.labels[p] // 10 == out.labels[row] // 10 and out.labels[p] % 10 == 0
    assert len({int(v) // 10 for v in out.labels}) >= 2


def test_presets_and_load_size() -> None:
    assert T.train_preset(640).load_size == 640
    assert T.eval_preset(320).load_size == 320
    assert T.Compose([T.HorizontalFlip(), T.Resize(256)]).load_size == 256
    assert T.Compose([T.HorizontalFlip()]).load_size is None
    assert "Mosaic(640" in repr(T.train_preset(640))


@pytest.mark.parametrize(
    "scale,shift", [(0.5, (10.3, -7.6)), (1.37, (-40.2, 12.9)), (1.0, (0.0, 0.0)), (0.9, (500.0, 0.0))]
)
def test_the_fast_scale_and_move_path_matches_the_general_warp(
    scale: float, shift: tuple[float, float]
) -> None:
    from svmlp.torch.transforms import geometry

    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((160, 120), Image.Resampling.BICUBIC))
    s = Sample(smooth, np.array([[20.0, 30, 90, 100]]), np.array([0]), np.array([-1]), np.array([False]))
    m = np.array([[scale, 0, shift[0]], [0, scale, shift[1]], [0, 0, 1]])
    fast = geometry.warp(s, m, (150, 110))
    general = geometry.warp(
        s, fast.matrix @ np.linalg.inv(s.matrix) + [[0, 1e-12, 0], [0, 0, 0], [0, 0, 0]], (150, 110)
    )
    assert np.abs(fast.matrix - m).max() < 1.0  # snapped to whole pixels, no further
    inside = general.image != 114
    if inside.any():
        assert np.abs(fast.image.astype(int) - general.image.astype(int))[inside].mean() < 6
    else:  # moved out of the picture: nothing lands, no box stays
        assert (fast.image == 114).all() and len(fast.boxes) == 0
    assert np.allclose(fast.boxes, general.boxes, atol=1e-6)
