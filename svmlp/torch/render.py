"""Draw a batch of :class:`~svmlp.torch.canvas.Canvas` plans on the training device.

:func:`plan_batch` turns the canvases of one batch (made in a DataLoader worker) into a few
tensors: the decoded images, uint8, padded into one block, and for every output image up to
``L`` layers (which image, the map from output pixels to its pixels, the rectangle it shows in)
plus the HSV gains. :func:`render` draws them: each output pixel samples its layer's image
bilinearly at the point its centre maps to (the image's edge pixels repeat past its border), shows
``fill`` where no layer reaches, and the colour change follows. Three ways, same pixels:

- ``"batched"``: every layer of every image at once, a fixed number of kernels a batch (GPUs);
- ``"regions"``: image by image, each layer over the rectangle it covers only, the colour change
  over the pixels drawn (CPUs without numba: work in proportion to the pixels, buffers reused);
- ``"fused"``: ``"regions"`` compiled with numba into one pass per pixel
  (:mod:`svmlp.torch._fused`; CPUs, where numba is installed: about three times as fast).

Layers rotated or sheared (``RandomAffine(degrees=...)``) carry their clips as maps too and are
drawn with a per-pixel test.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from svmlp.errors import UsageError
from svmlp.torch.canvas import Canvas, Clip, affine_inverse, split_clips
from svmlp.torch.hsv import Planes, hsv_gain, hsv_gain_

__all__ = ["Plan", "has_numba", "plan_batch", "render"]


@dataclass
class Plan:
    """One batch's canvases as tensors (see the module's note). ``clips`` hold the rotated or
    sheared clips: B×L×C×2×3 maps and B×L×C×4 rectangles (C may be 0)."""

    sources: torch.Tensor  # N×H×W×3 uint8 (as decoded), each image at the top left
    source_size: torch.Tensor  # N×2 (width, height) int64
    layer: torch.Tensor  # B×L int64, index into sources, -1 for none
    inverse: torch.Tensor  # B×L×2×3 float64: output pixels -> source pixels
    rect: torch.Tensor  # B×L×4 float64: the output rectangle each layer shows in
    clip_map: torch.Tensor  # B×L×C×2×3
    clip_rect: torch.Tensor  # B×L×C×4
    gains: torch.Tensor  # B×3 float64 (hue, saturation, value); ones for no change
    coloured: torch.Tensor  # B bool
    lit: torch.Tensor  # B×4: where the colour change applies (straight lit clips)
    lit_map: torch.Tensor  # B×C'×2×3 (rotated lit clips)
    lit_rect: torch.Tensor  # B×C'×4
    size: tuple[int, int]  # output (height, width)
    fill: int

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> Plan:
        """This plan's tensors on ``device``."""
        return self._with(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Plan:
        """Pinned copies (a DataLoader with ``pin_memory=True`` calls this)."""
        return self._with(torch.Tensor.pin_memory)

    def _with(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Plan:
        """This plan with ``fn`` applied to each tensor (sizes and fill as they are)."""
        new: dict[str, Any] = {
            f.name: fn(v) for f in fields(self) if isinstance(v := getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **new)

    def __len__(self) -> int:
        return int(self.layer.shape[0])


_FAR = 1e18  # a rectangle bound that never clips


def _split_clips(clips: Sequence[Clip]) -> tuple[tuple[float, ...], tuple[Clip, ...]]:
    """:func:`~svmlp.torch.canvas.split_clips`, no straight clip being a rectangle that never clips."""
    rect, other = split_clips(clips)
    return (rect if rect is not None else (-_FAR, -_FAR, _FAR, _FAR)), other


def plan_batch(canvases: Sequence[Canvas], images: Sequence[np.ndarray]) -> Plan:
    """The tensors that draw ``canvases`` (layer sources index ``images``, H×W×3 uint8)."""
    if not canvases:
        raise UsageError("plan_batch: empty batch")
    fills = {c.fill for c in canvases if c.fill is not None} or {114}  # 114: collate_batched's padding
    if len(fills) > 1:
        raise UsageError(f"the device pipeline draws one fill colour a batch; this one has {sorted(fills)}")
    b = len(canvases)
    h = max(c.height for c in canvases)
    w = max(c.width for c in canvases)
    n_layers = max(1, max(len(c.layers) for c in canvases))
    split = [[_split_clips(la.clips) for la in c.layers] for c in canvases]
    n_clips = max([len(o) for per in split for _, o in per] + [0])
    lit_split = [_split_clips(c.lit) for c in canvases]
    n_lit = max([len(o) for _, o in lit_split] + [0])

    layer = np.full((b, n_layers), -1, dtype=np.int64)
    inverse = np.zeros((b, n_layers, 2, 3))
    rect = np.zeros((b, n_layers, 4))
    clip_map = np.zeros((b, n_layers, n_clips, 2, 3))
    clip_rect = np.tile(np.array([-_FAR, -_FAR, _FAR, _FAR]), (b, n_layers, n_clips, 1))
    gains = np.ones((b, 3))
    coloured = np.zeros(b, dtype=bool)
    lit = np.tile(np.array([-_FAR, -_FAR, _FAR, _FAR]), (b, 1))
    lit_map = np.zeros((b, n_lit, 2, 3))
    lit_rect = np.tile(np.array([-_FAR, -_FAR, _FAR, _FAR]), (b, n_lit, 1))
    for i, canvas in enumerate(canvases):
        for j, (la, (r, other)) in enumerate(zip(canvas.layers, split[i], strict=True)):
            layer[i, j] = la.source
            inverse[i, j] = affine_inverse(la.matrix)[:2]
            rect[i, j] = r
            for k, c in enumerate(other):
                clip_map[i, j, k] = c.frame[:2]
                clip_rect[i, j, k] = c.rect
        if canvas.gains is not None:
            gains[i], coloured[i] = canvas.gains, True
            r, other = lit_split[i]
            lit[i] = r
            for k, c in enumerate(other):
                lit_map[i, k], lit_rect[i, k] = c.frame[:2], c.rect
        # output images smaller than the batch's are padded at the right and bottom with fill,
        # which moves no box (as collate_batched does); only their own area is drawn
        lit[i] = np.clip(lit[i], 0, [canvas.width, canvas.height] * 2)
        rect[i] = np.clip(rect[i], 0, [canvas.width, canvas.height] * 2)
    hs = max([im.shape[0] for im in images] + [1])
    ws = max([im.shape[1] for im in images] + [1])
    block = np.zeros((len(images), hs, ws, 3), dtype=np.uint8)  # one storage: one shared-memory block
    for k, im in enumerate(images):
        block[k, : im.shape[0], : im.shape[1]] = im
    sizes = np.array([[im.shape[1], im.shape[0]] for im in images], dtype=np.int64).reshape(-1, 2)
    t = torch.from_numpy
    return Plan(
        sources=torch.from_numpy(block),
        source_size=t(sizes),
        layer=t(layer),
        inverse=t(inverse),
        rect=t(rect),
        clip_map=t(clip_map),
        clip_rect=t(clip_rect),
        gains=t(gains),
        coloured=t(coloured),
        lit=t(lit),
        lit_map=t(lit_map),
        lit_rect=t(lit_rect),
        size=(h, w),
        fill=int(fills.pop()),
    )


@functools.cache
def has_numba() -> bool:
    """Whether numba is installed (``how="fused"`` needs it; nothing is imported to find out)."""
    return importlib.util.find_spec("numba") is not None


def _pixel_centres(n: int, start: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(start, start + n, dtype=like.dtype, device=like.device) + 0.5


def _inside(x: torch.Tensor, y: torch.Tensor, rect: torch.Tensor) -> torch.Tensor:
    return (x >= rect[..., 0]) & (x < rect[..., 2]) & (y >= rect[..., 1]) & (y < rect[..., 3])


def _in_clips(x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor, rects: torch.Tensor) -> torch.Tensor:
    """Points (x, y) (broadcast) inside every clip (maps …×C×2×3, rects …×C×4)."""
    ok = torch.ones(torch.broadcast_shapes(x.shape, y.shape), dtype=torch.bool, device=x.device)
    for k in range(maps.shape[-3]):
        m, r = maps[..., k, :, :], rects[..., k, :]
        u = m[..., 0, 0, None, None] * x + m[..., 0, 1, None, None] * y + m[..., 0, 2, None, None]
        v = m[..., 1, 0, None, None] * x + m[..., 1, 1, None, None] * y + m[..., 1, 2, None, None]
        ok = ok & _inside(u, v, r[..., None, None, :])  # per image: broadcast to B×H×W
    return ok


def _grid(
    inv: torch.Tensor, x: torch.Tensor, y: torch.Tensor, size: torch.Tensor, pad: tuple[int, int]
) -> torch.Tensor:
    """grid_sample coordinates of output points (x, y) in a source of ``size`` (w, h, …×2) held in
    a block of ``pad`` (w, h): its centre-of-edge pixels repeat past its border."""
    u = inv[..., 0, 0, None, None] * x + inv[..., 0, 1, None, None] * y + inv[..., 0, 2, None, None]
    v = inv[..., 1, 0, None, None] * x + inv[..., 1, 1, None, None] * y + inv[..., 1, 2, None, None]
    w, h = size[..., 0, None, None].to(u.dtype), size[..., 1, None, None].to(u.dtype)
    u = torch.minimum(torch.maximum(u, torch.full_like(u, 0.5)), w - 0.5)
    v = torch.minimum(torch.maximum(v, torch.full_like(v, 0.5)), h - 0.5)
    return torch.stack([u * (2.0 / pad[0]) - 1, v * (2.0 / pad[1]) - 1], dim=-1)


def render(
    plan: Plan,
    *,
    dtype: torch.dtype = torch.float32,
    how: Literal["auto", "batched", "regions", "fused"] = "auto",
    colour: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The B×3×H×W images ``plan`` describes, on the plan's device: floating ``dtype`` in [0, 1]
    (what a model takes), or ``torch.uint8`` (0…255, rounded). ``how``: see the module's note;
    ``"auto"`` is ``"batched"`` on a GPU; on a CPU ``"fused"`` where numba is installed (and
    neither ``colour`` nor float64 is asked for), ``"regions"`` otherwise. ``colour``: a function that
    does what :func:`~svmlp.torch.hsv.hsv_gain` does (a ``torch.compile`` of it, say).

    >>> import numpy as np, torch
    >>> from svmlp.torch.canvas import Canvas
    >>> flipped = Canvas.of(0, 2, 1).moved(np.array([[-1.0, 0, 2], [0, 1, 0], [0, 0, 1]]), (2, 1))
    >>> image = np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)     # red, blue
    >>> render(plan_batch([flipped], [image]), dtype=torch.uint8)[0, :, 0].T.tolist()
    [[0, 0, 255], [255, 0, 0]]
    """
    # sampled and coloured in float32 (float64 if asked): a half-precision grid would move
    # pixels by up to 2 px at 640; only the result takes ``dtype``
    work = torch.float64 if dtype == torch.float64 else torch.float32
    if how == "auto":
        if plan.sources.device.type != "cpu":
            how = "batched"
        else:
            fused = has_numba() and colour is None and work == torch.float32
            how = "fused" if fused else "regions"
    if how == "batched":
        out = _batched(plan, work, colour or hsv_gain)
    elif how == "regions":
        out = _regions(plan, work, colour)
    elif how == "fused":
        if not has_numba():
            raise UsageError("render: how='fused' needs numba (pip install numba, or svmlp[torch])")
        if plan.sources.device.type != "cpu":
            raise UsageError(f"render: how='fused' draws on the CPU; this plan is on {plan.sources.device}")
        from svmlp.torch import _fused  # numba's import and the kernels' load: only when drawn so

        out = _fused.draw(plan, torch.empty((len(plan), 3, *plan.size), dtype=torch.float32)).to(work)
    else:
        raise UsageError(f"render: how must be 'auto', 'batched', 'regions' or 'fused', not {how!r}")
    if dtype == torch.uint8:
        return out.mul_(255).round_().to(torch.uint8)
    return out.to(dtype)


def _batched(
    plan: Plan, dtype: torch.dtype, colour: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    b = len(plan)
    h, w = plan.size
    dev = plan.sources.device
    f64 = torch.float64 if dev.type != "mps" else torch.float32
    x = _pixel_centres(w, 0, torch.empty(0, dtype=f64, device=dev)).reshape(1, 1, w)
    y = _pixel_centres(h, 0, torch.empty(0, dtype=f64, device=dev)).reshape(1, h, 1)
    pad = (int(plan.sources.shape[2]), int(plan.sources.shape[1]))
    fill = plan.fill / 255.0
    out = torch.full((b, 3, h, w), fill, dtype=dtype, device=dev)
    # once, however many layers use each image; N×3×H×W as grid_sample takes it (laid out so
    # while still uint8: a quarter of the bytes to move)
    sources = plan.sources.permute(0, 3, 1, 2).contiguous().to(dtype).div_(255)
    for k in range(plan.layer.shape[1]):
        src = plan.layer[:, k]
        use = src >= 0
        if not bool(use.any()):
            continue
        idx = src.clamp(min=0)
        shows = _inside(x, y, plan.rect[:, k, None, None, :]) & use[:, None, None]
        if plan.clip_map.shape[2]:
            shows &= _in_clips(x, y, plan.clip_map[:, k], plan.clip_rect[:, k])
        grid = _grid(plan.inverse[:, k], x, y, plan.source_size[idx], pad).to(dtype)
        drawn = F.grid_sample(sources[idx], grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = torch.where(shows[:, None], drawn, out)
    if bool(plan.coloured.any()):
        lit = _inside(x, y, plan.lit[:, None, None, :]) & plan.coloured[:, None, None]
        if plan.lit_map.shape[1]:
            lit &= _in_clips(x, y, plan.lit_map, plan.lit_rect)
        out = torch.where(lit[:, None], colour(out, plan.gains), out)
    return out


def _span(lo: float, hi: float, n: int) -> tuple[int, int]:
    """Pixels whose centres lie in [lo, hi), within 0…n."""
    a = min(max(int(np.ceil(lo - 0.5)), 0), n)
    b = min(max(int(np.ceil(hi - 0.5)), a), n)
    return a, b


def _sample(
    source: torch.Tensor,
    size: Sequence[int],
    inv: Sequence[Sequence[float]],
    xs: tuple[int, int],
    ys: tuple[int, int],
    dtype: torch.dtype,
) -> torch.Tensor:
    """Source ``source`` (H×W×3 uint8, its image ``size`` (w, h) at the top left) sampled at the
    centres of output pixels xs × ys through ``inv`` (2×3), edge pixels repeating: 3×h×w in [0, 1]."""
    sw, sh = size
    (a, b, c), (d, e, f) = inv
    x = torch.arange(xs[0], xs[1], dtype=torch.float64) + 0.5
    y = torch.arange(ys[0], ys[1], dtype=torch.float64) + 0.5
    straight = b == 0 and d == 0
    if straight:  # u depends on x alone, v on y alone: 1-D, spread over the grid below
        u = (a * x + c).clamp_(0.5, sw - 0.5)
        v = (e * y + f).clamp_(0.5, sh - 0.5)
    else:
        u = (a * x[None, :] + b * y[:, None] + c).clamp_(0.5, sw - 0.5)
        v = (d * x[None, :] + e * y[:, None] + f).clamp_(0.5, sh - 0.5)
    umin, umax, vmin, vmax = float(u.min()), float(u.max()), float(v.min()), float(v.max())
    # only the part of the source the pixels reach is converted to floating point
    x0, x1 = max(int(np.floor(umin - 0.5)), 0), min(int(np.ceil(umax + 0.5)), sw)
    y0, y1 = max(int(np.floor(vmin - 0.5)), 0), min(int(np.ceil(vmax + 0.5)), sh)
    crop = source[y0:y1, x0:x1].permute(2, 0, 1)[None].to(dtype)
    cw, ch = x1 - x0, y1 - y0
    grid = torch.empty((1, ys[1] - ys[0], xs[1] - xs[0], 2), dtype=dtype, device=source.device)
    gu = ((u - x0) * (2.0 / cw) - 1).to(dtype=dtype, device=source.device)
    gv = ((v - y0) * (2.0 / ch) - 1).to(dtype=dtype, device=source.device)
    if straight:
        grid[0, :, :, 0] = gu[None, :]
        grid[0, :, :, 1] = gv[:, None]
    else:
        grid[0, :, :, 0] = gu
        grid[0, :, :, 1] = gv
    drawn = F.grid_sample(crop, grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    return drawn.mul_(1.0 / 255.0)


def _regions(
    plan: Plan, dtype: torch.dtype, colour: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
) -> torch.Tensor:
    b = len(plan)
    h, w = plan.size
    dev = plan.sources.device
    out = torch.empty((b, 3, h, w), dtype=dtype, device=dev)
    layer = plan.layer.tolist()
    rects = plan.rect.tolist()
    inverse = plan.inverse.tolist()
    lits = plan.lit.tolist()
    sizes = plan.source_size.tolist()
    coloured = plan.coloured.tolist()
    gains = plan.gains.tolist()
    rotated, lit_rotated = plan.clip_map.shape[2] > 0, plan.lit_map.shape[1] > 0
    work = Planes()
    f64 = torch.empty(0, dtype=torch.float64, device=dev)
    for i in range(b):
        out[i].fill_(plan.fill / 255.0)
        for k, src in enumerate(layer[i]):
            if src < 0:
                continue
            xs, ys = _span(rects[i][k][0], rects[i][k][2], w), _span(rects[i][k][1], rects[i][k][3], h)
            if xs[1] <= xs[0] or ys[1] <= ys[0]:
                continue
            drawn = _sample(plan.sources[src], sizes[src], inverse[i][k], xs, ys, dtype)
            region = out[i, :, ys[0] : ys[1], xs[0] : xs[1]]
            if rotated:
                x = _pixel_centres(xs[1] - xs[0], xs[0], f64).reshape(1, -1)
                y = _pixel_centres(ys[1] - ys[0], ys[0], f64).reshape(-1, 1)
                region.copy_(
                    torch.where(_in_clips(x, y, plan.clip_map[i, k], plan.clip_rect[i, k]), drawn, region)
                )
            else:
                region.copy_(drawn)
        if not coloured[i]:
            continue
        # the colour change takes what was drawn before it, fill included: the lit rectangle
        xs, ys = _span(lits[i][0], lits[i][2], w), _span(lits[i][1], lits[i][3], h)
        if xs[1] <= xs[0] or ys[1] <= ys[0]:
            continue
        region = out[i, :, ys[0] : ys[1], xs[0] : xs[1]]
        if lit_rotated:
            x = _pixel_centres(xs[1] - xs[0], xs[0], f64).reshape(1, -1)
            y = _pixel_centres(ys[1] - ys[0], ys[0], f64).reshape(-1, 1)
            lit = _in_clips(x, y, plan.lit_map[i], plan.lit_rect[i])
            region.copy_(torch.where(lit, hsv_gain(region, plan.gains[i]), region))
        elif colour is not None:
            region.copy_(colour(region, plan.gains[i]))
        else:
            hsv_gain_(region, gains[i], work)
    return out
