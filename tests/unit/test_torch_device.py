"""The device pipeline: canvases, rendering, DeviceAugment through a DataLoader on real photos.

test_torch_transforms runs every transform test through both pipelines; this file holds what is
the device pipeline's own: the two ways of drawing agree, the colour change matches pillow's HSV,
and a DataLoader batch carries the very targets the per-sample transforms give.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from device_helpers import on_device  # noqa: E402

from svmlp.errors import UsageError  # noqa: E402
from svmlp.torch import SVMLPDataset  # noqa: E402
from svmlp.torch import render as render_module  # noqa: E402
from svmlp.torch import transforms as T  # noqa: E402
from svmlp.torch.canvas import Canvas, affine_inverse  # noqa: E402
from svmlp.torch.device import DeviceAugment, DeviceBatch  # noqa: E402
from svmlp.torch.hsv import hsv_gain, hsv_gain_  # noqa: E402
from svmlp.torch.render import has_numba, plan_batch, render  # noqa: E402
from svmlp.torch.sample import Sample  # noqa: E402


def _smooth(w: int, h: int, seed: int) -> np.ndarray:
    small = np.random.default_rng(seed).integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def _pictures(seed: int) -> list[Sample]:
    out = []
    for k, (w, h) in enumerate([(640, 360), (480, 640), (640, 427), (300, 200)]):
        boxes = np.array([[10, 10, w / 2, h / 2], [w / 4, h / 4, w / 3, h / 3], [w / 2, h / 3, w - 5, h - 5]])
        out.append(
            Sample(
                _smooth(w, h, 10 * seed + k),
                boxes,
                np.arange(3) + 10 * k,
                np.array([-1, 0, -1]),
                np.zeros(3, bool),
                rng=np.random.default_rng(seed),
            )
        )
    return out


# at 640, the size the pictures are loaded at (SVMLPDataset decodes at the pipeline's load size):
# the device pipeline samples once, without the per-sample pipeline's antialiasing, so a large
# downscale of a detailed picture is where the two differ most
PRESETS = {
    "train_preset": T.train_preset(640),
    "no mosaic": T.train_preset(640, mosaic=0.0),
    "rotated": T.train_preset(640, degrees=25, scale=(0.6, 1.2)),
    "zoom-crop and flip": T.Compose([T.RandomZoomCrop(size=320), T.RandomHSV(), T.HorizontalFlip(1.0)]),
}


def _both(transform: T.Compose, seed: int) -> tuple[Sample, Sample, list[np.ndarray], Canvas]:
    pics = _pictures(seed)
    cpu = [replace(p, rng=np.random.default_rng(seed)) for p in pics]
    cpu[0].draw = lambda rng: cpu[int(rng.integers(4))]
    lazy = [
        replace(p, image=Canvas.of(k, *p.size), rng=np.random.default_rng(seed)) for k, p in enumerate(pics)
    ]
    lazy[0].draw = lambda rng: lazy[int(rng.integers(4))]
    a, b = transform(cpu[0]), transform(lazy[0])
    return a, b, [p.image for p in pics], b.image  # type: ignore[return-value]


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("seed", range(4))
def test_device_targets_are_the_cpu_ones_and_pixels_close(name: str, seed: int) -> None:
    a, b, images, canvas = _both(PRESETS[name], seed)
    for key in ("boxes", "labels", "parent", "iscrowd", "matrix"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    plan = plan_batch([canvas], images)
    regions = render(plan, dtype=torch.uint8, how="regions")[0].permute(1, 2, 0).numpy().astype(int)
    batched = render(plan, dtype=torch.uint8, how="batched")[0].permute(1, 2, 0).numpy().astype(int)
    # the two ways draw the same pixels (a rounding step apart; a pixel may sit on the hue seam,
    # where a multiplied hue jumps)
    apart = np.abs(regions - batched).max(axis=2)
    assert (apart > 1).mean() < 1e-4
    if has_numba():  # and the compiled CPU drawing: float rounding apart
        fused = render(plan, how="fused")
        assert torch.allclose(fused, render(plan, how="regions"), atol=1e-4, rtol=0)
    # and what the per-sample pipeline draws, up to the resampling and pillow's 8-bit HSV
    diff = np.abs(regions - a.image.astype(int))
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 16, (diff.mean(), np.percentile(diff, 99))


def test_hsv_gain_is_pillows_hsv_in_floating_point() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    assert torch.equal(
        (hsv_gain(x, torch.ones(3)) * 255).round().to(torch.uint8), x.mul(255).round().to(torch.uint8)
    )
    for gains in ([1.01, 1.3, 0.8], [0.99, 0.4, 1.35], [1.2, 1.0, 1.0]):
        lut = np.arange(256, dtype=np.float64)
        luts = [
            np.mod(lut * gains[0], 256).astype(np.uint8),
            np.clip(lut * gains[1], 0, 255).astype(np.uint8),
            np.clip(lut * gains[2], 0, 255).astype(np.uint8),
        ]
        hsv = np.asarray(Image.fromarray(rgb).convert("HSV"))
        moved = np.stack([luts[k][hsv[..., k]] for k in range(3)], axis=-1)
        ref = np.asarray(Image.frombytes("HSV", (64, 64), moved.tobytes()).convert("RGB")).astype(int)
        got = hsv_gain(x, torch.tensor(gains)).mul(255).round().permute(1, 2, 0).numpy().astype(int)
        diff = np.abs(got - ref)
        assert diff.mean() < 2.5 and np.percentile(diff, 95) <= 6, (gains, diff.mean())
        # in place, with numbers: the same values
        assert torch.allclose(hsv_gain_(x.clone(), gains), hsv_gain(x, torch.tensor(gains)), atol=1e-6)
    # a batch takes one row of gains an image
    two = torch.stack([x, x.flip(1)])
    g = torch.tensor([[1.01, 1.3, 0.8], [0.99, 0.4, 1.35]])
    assert torch.allclose(hsv_gain(two, g)[1], hsv_gain(x.flip(1), g[1]), atol=1e-6)


def _batch_of(transform: T.Compose, seeds: range) -> tuple[list[Sample], DeviceAugment]:
    """Pictures of several seeds as one batch (partners drawn from it), planned."""
    pics = [p for seed in seeds for p in _pictures(seed)[:2]]
    return pics, DeviceAugment(transform)


@pytest.mark.parametrize(
    "transform",
    [
        T.train_preset(160, degrees=25, scale=(0.6, 1.2)),
        T.Compose([T.RandomHSV(), T.RandomAffine(degrees=30)]),
    ],
)
def test_batched_and_regions_draw_the_same_batch(transform: T.Compose) -> None:
    """Several images a batch, rotated layers and clips, the colour change inside or outside a
    later move: both ways draw the same pixels (one rounding step at most)."""
    pics, aug = _batch_of(transform, range(3))
    batch = aug.collate([replace(p, meta={"index": k, "frame": p.size}) for k, p in enumerate(pics)])
    regions = render(batch.plan, dtype=torch.uint8, how="regions").int()
    batched = render(batch.plan, dtype=torch.uint8, how="batched").int()
    assert batched.shape == regions.shape and len(batched) == len(pics)
    apart = (regions - batched).abs()
    assert int(apart.max()) <= 2 and float((apart > 1).float().mean()) < 1e-4
    if has_numba():
        fused = render(batch.plan, how="fused")
        assert torch.allclose(fused, render(batch.plan, how="regions"), atol=1e-4, rtol=0)


def test_hsv_gain_near_ties_and_pure_colours() -> None:
    """Channels a rounding error apart (a yellow plate after resampling) keep their hue; pure
    red stays red under a hue gain, as pillow's HSV keeps it."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 64, 64, generator=g) * 0.5 + 0.4
    yellow = torch.cat([base + torch.randn(1, 64, 64, generator=g) * 1e-6, base, base * 0.2])
    for fn in (lambda x, k: hsv_gain(x, torch.tensor(k)), lambda x, k: hsv_gain_(x.clone(), k)):
        assert torch.allclose(fn(yellow, [1.0, 1.0, 1.0]), yellow, atol=1e-5)
        red = torch.tensor([1.0, 0.0, 0.0]).reshape(3, 1, 1).expand(3, 4, 4).contiguous()
        assert torch.allclose(fn(red, [1.015, 1.0, 1.0]), red, atol=1e-6)
    orange = torch.tensor([[[1.0]], [[0.5]], [[0.0]]])
    assert torch.allclose(
        hsv_gain(orange, torch.tensor([1.0, 0.5, 1.0])).flatten(), torch.tensor([1.0, 0.75, 0.5])
    )


def test_one_other_fill_colour_and_half_precision_output() -> None:
    pics = _pictures(1)
    t = T.Compose([T.RandomAffine(fill=0, scale=(0.5, 0.5)), T.Letterbox(96, fill=0)])
    lazy = on_device(t, replace(pics[0], rng=np.random.default_rng(3)))
    cpu = t(replace(pics[0], rng=np.random.default_rng(3)))
    assert np.array_equal(lazy.boxes, cpu.boxes)
    assert (lazy.image[:5] == 0).all() and (cpu.image[:5] == 0).all()  # padded with 0, not 114
    with pytest.raises(UsageError, match="one fill colour"):
        on_device(T.Compose([T.RandomAffine(fill=0), T.Letterbox(96)]), replace(pics[0]))
    canvas = t(replace(pics[0], image=Canvas.of(0, *pics[0].size), rng=np.random.default_rng(3))).image
    plan = plan_batch([canvas], [pics[0].image])  # type: ignore[list-item]
    half = render(plan, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and torch.equal(half, render(plan).to(torch.bfloat16))


def test_canvas_geometry() -> None:
    m = np.array([[0.5, 0.2, 3.0], [-0.1, 1.5, -7.0], [0, 0, 1]])
    assert np.allclose(affine_inverse(m) @ m, np.eye(3))
    with pytest.raises(ValueError):
        affine_inverse(np.array([[1.0, 2, 0], [2, 4, 0], [0, 0, 1]]))
    c = Canvas.of(0, 100, 50).moved(np.array([[1.0, 0, 200], [0, 1, 0], [0, 0, 1]]), (100, 50))
    assert c.layers == ()  # moved out of the picture: nothing left to draw
    with pytest.raises(UsageError, match="one RandomHSV"):
        Canvas.of(0, 10, 10).coloured((1, 1, 1)).coloured((1, 1, 1))
    with pytest.raises(UsageError, match="after a RandomHSV"):
        Canvas.tiled((10, 10), [(Canvas.of(0, 10, 10).coloured((1, 1, 1)), (0, 0), (0, 0, 10, 10))], fill=114)
    with pytest.raises(UsageError, match="one fill colour"):
        Canvas.of(0, 10, 10).moved(np.eye(3), (10, 10), fill=0).moved(np.eye(3), (10, 10), fill=114)


def test_refusals() -> None:
    s = Sample(
        np.zeros((20, 20, 3), np.uint8),
        np.zeros((0, 4)),
        np.zeros(0, int),
        np.zeros(0, int),
        np.zeros(0, bool),
    )
    with pytest.raises(UsageError, match="ColorJitter has no device version"):
        on_device(T.ColorJitter(), s)
    aug = DeviceAugment(T.train_preset(32))
    with pytest.raises(UsageError, match="empty batch"):
        aug.collate([])
    with pytest.raises(UsageError, match="SVMLPDataset whose transforms"):
        aug.collate([(torch.zeros(3, 4, 4), {})])  # type: ignore[list-item]

    def pixels_please(sample: Sample) -> Sample:  # a user's transform that reads pixels
        return replace(sample, image=sample.image[::-1])  # type: ignore[index]

    with pytest.raises(UsageError, match="has no device version"):
        DeviceAugment(T.Compose([pixels_please])).collate([replace(s, meta={"index": 0, "frame": (20, 20)})])
    with pytest.raises(UsageError, match="how must be"):
        render(plan_batch([Canvas.of(0, 20, 20)], [s.image]), how="sideways")  # type: ignore[arg-type]


def test_fused_needs_numba_and_a_cpu_and_auto_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without numba, "auto" draws with the torch ops (the same pixels) and "fused" is refused
    with a line that says what to install."""
    pics = _pictures(2)
    preset = T.train_preset(96, mosaic=0.0, degrees=10)
    canvas = preset(replace(pics[0], image=Canvas.of(0, *pics[0].size))).image
    plan = plan_batch([canvas], [pics[0].image])  # type: ignore[list-item]
    auto = render(plan)
    monkeypatch.setattr(render_module, "has_numba", lambda: False)
    without = render(plan)
    assert torch.allclose(auto, without, atol=1e-4, rtol=0)
    with pytest.raises(UsageError, match="needs numba"):
        render(plan, how="fused")
    monkeypatch.undo()
    if has_numba() and torch.cuda.is_available():
        with pytest.raises(UsageError, match="draws on the CPU"):
            render(plan.to("cuda"), how="fused")


@pytest.mark.skipif(not has_numba(), reason="numba is not installed")
def test_fused_edges_flips_and_small_sources() -> None:
    """The compiled drawing at the awkward places: a one-pixel source, sources flipped both ways,
    a map that lands past every edge (edge pixels repeat), a layer only partly in the picture,
    and images of different sizes padded in one batch. Checked against the torch ops."""
    rng = np.random.default_rng(5)
    images = [
        rng.integers(0, 256, (1, 1, 3), dtype=np.uint8),
        rng.integers(0, 256, (7, 5, 3), dtype=np.uint8),
        rng.integers(0, 256, (40, 64, 3), dtype=np.uint8),
    ]
    flip_x = np.array([[-1.0, 0, 30], [0, 1, 0], [0, 0, 1]])
    flip_y = np.array([[1.3, 0, -4], [0, -0.7, 25], [0, 0, 1]])
    far = np.array([[2.0, 0, -100], [0, 2.0, -100], [0, 0, 1]])
    canvases = [
        Canvas.of(0, 1, 1).moved(np.array([[12.0, 0, 0], [0, 9, 0], [0, 0, 1]]), (12, 9)),
        Canvas.of(1, 5, 7).moved(flip_x, (30, 20)),
        Canvas.of(2, 64, 40).moved(flip_y, (33, 21)).coloured((1.02, 1.4, 0.7)),
        Canvas.of(2, 64, 40).moved(far, (50, 24)),
    ]
    plan = plan_batch(canvases, images)
    fused = render(plan, how="fused")
    assert fused.shape == (4, 3, 24, 50)
    assert torch.allclose(fused, render(plan, how="regions"), atol=1e-4, rtol=0)
    assert torch.allclose(fused, render(plan, how="batched"), atol=1e-4, rtol=0)
    # the one-pixel source fills its 12×9 canvas with its colour; the rest is padding
    assert torch.allclose(
        fused[0, :, :9, :12], torch.from_numpy(images[0][0, 0] / 255).float()[:, None, None]
    )
    assert torch.allclose(fused[0, :, 9:], torch.tensor(114 / 255))


@pytest.mark.skipif(not has_numba(), reason="numba is not installed")
def test_fused_exact_quarter_turns_and_an_empty_plan() -> None:
    """Turns of exactly 90°, 180° and 270° (a cosine of 6e-17, not 0: clip lines nearly along
    the rows, whose crossings rounding moves by tens of pixels), as clips of the picture and as
    the region a colour change lights: the compiled drawing finds every pixel the torch ops
    draw. And a plan with no picture at all is drawn as fill."""
    rng = np.random.default_rng(0)
    for deg in (90, 180, 270, -90):
        a = np.radians(deg)
        turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])
        for (w, h), (ow, oh) in [((5, 5), (64, 40)), ((21, 13), (41, 80)), ((310, 247), (323, 323))]:
            m = np.array([[1, 0, ow / 2], [0, 1, oh / 2], [0, 0, 1.0]]) @ turn
            m = m @ np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1.0]])
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            turned = Canvas.of(0, w, h).moved(m, (ow, oh))
            lit = Canvas.of(0, w, h).coloured((1.0, 1.0, 0.5)).moved(m, (ow, oh))
            for canvas in (turned, lit):
                plan = plan_batch([canvas], [image])
                assert torch.allclose(
                    render(plan, how="fused"), render(plan, how="regions"), atol=1e-4, rtol=0
                ), (
                    deg,
                    (w, h),
                    canvas.gains,
                )
    empty = plan_batch([Canvas.tiled((6, 4), [], fill=7)], [])
    assert torch.equal(render(empty, how="fused"), render(empty, how="regions"))
    assert torch.allclose(render(empty, how="fused"), torch.tensor(7 / 255))


@pytest.mark.parametrize("workers", [0, 2])
def test_device_augment_through_a_dataloader_on_real_photos(plates_dir: Path, workers: int) -> None:
    aug = DeviceAugment(T.train_preset(256))
    ds = SVMLPDataset(plates_dir, split="train", transforms=aug, seed=7)
    ds.set_epoch(3)
    loader = torch.utils.data.DataLoader(ds, batch_size=6, num_workers=workers, collate_fn=aug.collate)
    batches = 0
    for k, batch in enumerate(loader):
        assert isinstance(batch, DeviceBatch) and len(batch) == 6
        images, rows, infos = aug(batch, "cpu")
        assert images.shape == (6, 3, 256, 256) and images.dtype == torch.float32
        assert float(images.min()) >= 0 and float(images.max()) <= 1
        u8, _, _ = aug(batch, dtype=torch.uint8)
        assert torch.equal(u8, images.mul(255).round().to(torch.uint8))
        # the targets: what the per-sample transforms give the same samples, partners from the batch
        raw = [ds[i] for i in range(6 * k, 6 * k + 6)]

        def partner(rng: np.random.Generator, raw: list[Sample] = raw) -> Sample:
            return raw[int(rng.integers(6))]

        replay = [replace(s, draw=partner) for s in raw]
        fresh = [ds[i] for i in range(6 * k, 6 * k + 6)]  # the same generators, unspent
        replay = [replace(r, rng=f.rng) for r, f in zip(replay, fresh, strict=True)]
        expected = [aug.transforms(s) for s in replay]
        got = rows.numpy()
        for b, e in enumerate(expected):
            mine = got[got[:, 0] == b]
            keep = ~e.iscrowd
            assert np.allclose(mine[:, 2:6], e.boxes[keep], atol=1e-4)
            assert np.array_equal(mine[:, 1], e.labels[keep])
            assert infos[b]["size"].tolist() == [256, 256]
            assert np.allclose(infos[b]["matrix"].numpy(), e.matrix)
        # parents point at a box of the same image
        linked = got[:, 6] >= 0
        assert (got[got[linked, 6].astype(int), 0] == got[linked, 0]).all()
        batches += 1
        if batches == 2:
            break
    assert batches == 2
