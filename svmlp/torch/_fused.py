"""Drawing a plan on a CPU in one pass per pixel, compiled with numba (imported only here, when
:func:`~svmlp.torch.render.render` draws with ``how="fused"``).

The torch paths spend dozens of passes over every image (the grid, the sample, the clips and
about forty for the colour change); here each layer is sampled straight into the output (a
straight map is separable: each source row is resampled along x once and shared by the output
rows that need it, then blended down), rotated clips become one run of pixels a row, and the
colour change is one vectorised loop a row. The arithmetic is the torch paths' (the sample
point, the edge rule, :func:`~svmlp.torch.hsv.hsv_gain`), in float32 like them: results agree
to float rounding (tested).

The compiled code is cached on disk by numba (beside this file, or in the user's cache folder
when the package's folder is read-only): the first call in a fresh install compiles for a few
seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numba
import numpy as np

if TYPE_CHECKING:
    import torch

    from svmlp.torch.render import Plan

__all__ = ["draw"]


def _compiler(**options: Any) -> Any:
    """numba's njit with the on-disk cache, or without it where numba finds no folder it may
    write (a read-only install without a home folder): then each process compiles once."""

    def jit(fn: Any) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, error_model="numpy", **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return numba.njit(cache=False, nogil=True, error_model="numpy", **options)(fn)

    return jit


_jit = _compiler()
_inline = _compiler(inline="always")


@_inline
def _clipped(x: float, y: float, maps: Any, rects: Any) -> bool:
    """Whether (x, y) lies inside every rotated clip (``maps`` C×2×3, ``rects`` C×4)."""
    for c in range(maps.shape[0]):
        u = maps[c, 0, 0] * x + maps[c, 0, 1] * y + maps[c, 0, 2]
        v = maps[c, 1, 0] * x + maps[c, 1, 1] * y + maps[c, 1, 2]
        if not (rects[c, 0] <= u < rects[c, 2] and rects[c, 1] <= v < rects[c, 3]):
            return False
    return True


@_jit
def _clip_span(maps: Any, rects: Any, yc: float, a: int, b: int) -> tuple[int, int]:
    """The pixels of row ``yc`` among a…b-1 inside every rotated clip: one run (each clip's
    test is monotone along the row, rounding included). Narrowed from the clip lines with a
    margin wider than the rounding of :func:`_clipped`'s sums can move a crossing, then trimmed
    with :func:`_clipped` itself, so that it agrees with it pixel for pixel. A line nearly along
    the row (a turn of exactly 90°, whose cosine is 6e-17, not 0) narrows nothing: the trim
    finds its crossing."""
    lo, hi = float(a), float(b)
    for c in range(maps.shape[0]):
        for k in range(2):
            p, q = maps[c, k, 0], maps[c, k, 1] * yc + maps[c, k, 2]
            r0, r1 = rects[c, k], rects[c, k + 2]
            if p == 0.0:
                if not r0 <= q < r1:
                    return a, a
                continue
            # how far rounding may move _clipped's value of p·x + m01·y + m02 (generously), and
            # so the crossing, in pixels; rectangle sides that never clip do not count
            size = abs(p) * (abs(a) + abs(b) + 1.0) + abs(maps[c, k, 1] * yc) + abs(maps[c, k, 2])
            # (render's sides that never clip are at 1e18)
            size += (abs(r0) if abs(r0) < 1e17 else 0.0) + (abs(r1) if abs(r1) < 1e17 else 0.0)
            pad = 2.0 + 1e-13 * size / abs(p)
            if not pad < 1e9:
                continue
            e0, e1 = (r0 - q) / p - 0.5, (r1 - q) / p - 0.5  # pixel indices where the line crosses
            lo, hi = max(lo, min(e0, e1) - pad), min(hi, max(e0, e1) + pad)
    lo, hi = min(max(lo, float(a)), float(b)), min(max(hi, float(a)), float(b))  # int() in range
    a2 = int(np.floor(lo))
    b2 = max(min(b, int(np.ceil(hi)) + 1), a2)  # never below a2: a2:b2 slices an empty run
    while a2 < b2 and not _clipped(a2 + 0.5, yc, maps, rects):
        a2 += 1
    while b2 > a2 and not _clipped(b2 - 0.5, yc, maps, rects):
        b2 -= 1
    return a2, b2


@_inline
def _frac(x: Any) -> Any:
    """``torch.frac``: x less its integer part (toward zero)."""
    return x - np.trunc(x)


@_jit
def _span(lo: float, hi: float, n: int) -> tuple[int, int]:
    """Pixels whose centres lie in [lo, hi), within 0…n."""
    a = min(max(int(np.ceil(lo - 0.5)), 0), n)
    return a, min(max(int(np.ceil(hi - 0.5)), a), n)


@_jit
def _paint_straight(out: Any, i: int, s: Any, sw: int, sh: int, m: Any, xs: Any, ys: Any) -> None:
    """Sample source ``s`` (H×3W uint8: rows of RGB pixels, its image sw×sh at the top left)
    through the straight map ``m`` (output pixel centre -> source point; u depends on x alone, v
    on y alone) into output pixels xs × ys of image ``i``, bilinearly, edge pixels repeating.
    Each source row is resampled along x once (the columns' taps once for all rows) and shared
    by the neighbouring output rows that need it, then blended down."""
    one = np.float32(1.0)
    scale = np.float32(1.0 / 255.0)
    n = xs[1] - xs[0]
    cx0 = np.empty(n, np.int32)
    cx1 = np.empty(n, np.int32)
    cfx = np.empty(n, np.float32)
    for j in range(n):
        u = min(max(m[0, 0] * (xs[0] + j + 0.5) + m[0, 2], 0.5), sw - 0.5) - 0.5
        x0 = int(u)
        cx0[j], cx1[j], cfx[j] = 3 * x0, 3 * min(x0 + 1, sw - 1), np.float32(u - x0)
    rows = np.empty((2, 3, n), np.float32)  # two source rows resampled along x, planar
    held = np.full(2, -1, np.int64)  # which source row each holds
    for y in range(ys[0], ys[1]):
        v = min(max(m[1, 1] * (y + 0.5) + m[1, 2], 0.5), sh - 0.5) - 0.5
        y0 = int(v)
        fy = np.float32(v - y0)
        y1 = min(y0 + 1, sh - 1)
        for want, other in ((y0, y1), (y1, y0)):
            if held[0] != want and held[1] != want:
                slot = 1 if held[0] == other else 0
                _along(s[want], cx0, cx1, cfx, rows[slot])
                held[slot] = want
        top, bottom = rows[0 if held[0] == y0 else 1], rows[0 if held[0] == y1 else 1]
        dr, dg, db = out[i, 0, y], out[i, 1, y], out[i, 2, y]
        x = xs[0]
        for j in range(n):
            dr[x + j] = (top[0, j] * (one - fy) + bottom[0, j] * fy) * scale
            dg[x + j] = (top[1, j] * (one - fy) + bottom[1, j] * fy) * scale
            db[x + j] = (top[2, j] * (one - fy) + bottom[2, j] * fy) * scale


@_jit
def _paint_turned(
    out: Any, i: int, s: Any, sw: int, sh: int, m: Any, xs: Any, ys: Any, maps: Any, rects: Any
) -> None:
    """:func:`_paint_straight` for a rotated or sheared map, or one with rotated clips
    (``maps``, ``rects``): each pixel its own point, over each row's run inside the clips;
    pixels outside keep what they hold."""
    one = np.float32(1.0)
    scale = np.float32(1.0 / 255.0)
    for y in range(ys[0], ys[1]):
        yc = y + 0.5
        xa, xb = xs
        if maps.shape[0]:
            xa, xb = _clip_span(maps, rects, yc, xa, xb)
        for x in range(xa, xb):
            xc = x + 0.5
            u = min(max(m[0, 0] * xc + m[0, 1] * yc + m[0, 2], 0.5), sw - 0.5) - 0.5
            v = min(max(m[1, 0] * xc + m[1, 1] * yc + m[1, 2], 0.5), sh - 0.5) - 0.5
            x0, y0 = int(u), int(v)
            a, b = 3 * x0, 3 * min(x0 + 1, sw - 1)
            y1 = min(y0 + 1, sh - 1)
            fx, fy = np.float32(u - x0), np.float32(v - y0)
            w00, w01 = (one - fx) * (one - fy) * scale, fx * (one - fy) * scale
            w10, w11 = (one - fx) * fy * scale, fx * fy * scale
            for c in range(3):  # indexing, not row views: a view a pixel costs reference counts
                out[i, c, y, x] = (
                    w00 * s[y0, a + c] + w01 * s[y0, b + c] + w10 * s[y1, a + c] + w11 * s[y1, b + c]
                )


@_jit
def _along(row: Any, cx0: Any, cx1: Any, cfx: Any, to: Any) -> None:
    """One source row (3W uint8, RGB pixels) sampled along x at the taps ``cx0``/``cx1`` (offsets
    of the pixels left and right of each point) with weights ``cfx``, into ``to`` (3×n planes)."""
    one = np.float32(1.0)
    for j in range(cx0.shape[0]):
        a, b, fx = cx0[j], cx1[j], cfx[j]
        to[0, j] = np.float32(row[a]) * (one - fx) + np.float32(row[b]) * fx
        to[1, j] = np.float32(row[a + 1]) * (one - fx) + np.float32(row[b + 1]) * fx
        to[2, j] = np.float32(row[a + 2]) * (one - fx) + np.float32(row[b + 2]) * fx


@_jit
def _colour(out: Any, i: int, gains: Any, xs: Any, ys: Any, maps: Any, rects: Any) -> None:
    """RandomHSV's change (hsv.hsv_gain's arithmetic) over pixels xs × ys of image ``i`` that lie
    inside the rotated clips ``maps`` / ``rects``, in place."""
    gh, gs, gv = np.float32(gains[i, 0]), np.float32(gains[i, 1]), np.float32(gains[i, 2])
    for y in range(ys[0], ys[1]):
        a, b = xs
        if maps.shape[0]:
            a, b = _clip_span(maps, rects, y + 0.5, a, b)
        _hsv_row(out[i, 0, y, a:b], out[i, 1, y, a:b], out[i, 2, y, a:b], gh, gs, gv)


@_jit
def _hsv_row(rr: Any, gg: Any, bb: Any, gh: Any, gs: Any, gv: Any) -> None:
    """:func:`~svmlp.torch.hsv.hsv_gain` of one row of pixels (float32 planes), in place, without
    branches (so that it vectorises)."""
    one, zero, two, three, six = np.float32(1), np.float32(0), np.float32(2), np.float32(3), np.float32(6)
    third, two_thirds, five_thirds = np.float32(1 / 3), np.float32(2 / 3), np.float32(5 / 3)
    tiny = np.float32(1e-12)
    for x in range(rr.shape[0]):
        r, g, b = rr[x], gg[x], bb[x]
        hi, lo = max(g, b), min(g, b)
        val, q = max(r, hi), min(r, hi)
        d = val - min(q, lo)
        t1 = one if g >= b else zero
        t2 = one if r >= hi else zero
        base = (two_thirds - t1) + t2 * (two * t1 - five_thirds)
        hue = _frac(abs((q - lo) / (six * d + tiny) + base) * gh)
        sat = min(max(d / (val + tiny) * gs, zero), one)
        val = min(max(val * gv, zero), one)
        vs = val * sat
        rr[x] = val - vs * min(max(two - abs(_frac(hue + one) * six - three), zero), one)
        gg[x] = val - vs * min(max(two - abs(_frac(hue + two_thirds) * six - three), zero), one)
        bb[x] = val - vs * min(max(two - abs(_frac(hue + third) * six - three), zero), one)


@_jit
def _draw(
    out: Any,
    sources: Any,
    sizes: Any,
    layer: Any,
    inverse: Any,
    rect: Any,
    clip_map: Any,
    clip_rect: Any,
    gains: Any,
    coloured: Any,
    lit: Any,
    lit_map: Any,
    lit_rect: Any,
    fill: float,
) -> None:
    b, _, h, w = out.shape
    fillf = np.float32(fill / 255.0)
    for i in range(b):
        out[i] = fillf
        for k in range(layer.shape[1]):  # in order: a later layer covers an earlier one
            src = layer[i, k]
            if src < 0:
                continue
            xs, ys = _span(rect[i, k, 0], rect[i, k, 2], w), _span(rect[i, k, 1], rect[i, k, 3], h)
            if xs[1] <= xs[0] or ys[1] <= ys[0]:
                continue
            m, sw, sh = inverse[i, k], sizes[src, 0], sizes[src, 1]
            if m[0, 1] == 0.0 and m[1, 0] == 0.0 and clip_map.shape[2] == 0:
                _paint_straight(out, i, sources[src], sw, sh, m, xs, ys)
            else:
                _paint_turned(out, i, sources[src], sw, sh, m, xs, ys, clip_map[i, k], clip_rect[i, k])
        if coloured[i]:
            xs, ys = _span(lit[i, 0], lit[i, 2], w), _span(lit[i, 1], lit[i, 3], h)
            _colour(out, i, gains, xs, ys, lit_map[i], lit_rect[i])


# the Plan's arrays _draw takes after the sources, in its order
_PLAN_ARRAYS = (
    *("source_size", "layer", "inverse", "rect", "clip_map", "clip_rect"),
    *("gains", "coloured", "lit", "lit_map", "lit_rect"),
)


def draw(plan: Plan, out: torch.Tensor) -> torch.Tensor:
    """Draw ``plan`` (on the CPU) into ``out`` (B×3×H×W float32, contiguous); returns ``out``."""
    n, h, w, _ = plan.sources.shape
    _draw(
        out.numpy(),
        plan.sources.numpy().reshape(n, h, w * 3),  # N×H×3W: rows of RGB pixels
        *(getattr(plan, k).numpy() for k in _PLAN_ARRAYS),
        float(plan.fill),
    )
    return out
