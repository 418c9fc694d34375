"""The HSV colour change of :class:`~svmlp.torch.transforms.RandomHSV`, on tensors.

RandomHSV multiplies hue, saturation and value by three gains through pillow's 8-bit HSV. Here
the same change is worked out in floating point without branches, for a batch on a GPU
(:func:`hsv_gain`) or one image in place with reused planes on a CPU (:func:`hsv_gain_`, where
fresh planes cost page faults): the conversion to hue is the branch-free one of GPU shaders
(which channel is largest picks an offset of a third of a turn, and the sign of the other two's
difference), the way back is each channel's ramp over the hue circle.

>>> import torch
>>> x = torch.tensor([[[1.0]], [[0.5]], [[0.0]]])      # orange
>>> [round(v, 4) for v in hsv_gain(x, torch.tensor([1.0, 0.5, 1.0])).flatten().tolist()]  # half the saturation
[1.0, 0.75, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["Planes", "hsv_gain", "hsv_gain_"]

_HUE_OFFSETS = (1.0, 2.0 / 3.0, 1.0 / 3.0)


def hsv_gain(x: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """``x`` (…×3×H×W RGB in [0, 1]) with hue, saturation and value multiplied by ``gains`` (…×3,
    one row per image), hue wrapping around and the others clipped to [0, 1]."""
    g = gains.to(x.dtype).reshape(*gains.shape[:-1], 3, 1, 1)
    gh, gs, gv = g[..., 0:1, :, :], g[..., 1:2, :, :], g[..., 2:3, :, :]
    r, gr, b = x[..., 0:1, :, :], x[..., 1:2, :, :], x[..., 2:3, :, :]
    hi = torch.maximum(gr, b)
    lo = torch.minimum(gr, b)
    v = torch.maximum(r, hi)
    q = torch.minimum(r, hi)
    d = v - torch.minimum(q, lo)
    # hard steps: on a tie both sides give the same hue, so the choice there does not matter
    # (a steep ramp instead would mix the two sides' offsets into a wrong hue near ties)
    t1 = (gr >= b).to(x.dtype)
    t2 = (r >= hi).to(x.dtype)
    base = (2.0 / 3.0 - t1) + t2 * (2 * t1 - 5.0 / 3.0)
    hue = torch.frac(((q - lo) / (6 * d + 1e-12) + base).abs() * gh)
    sat = (d / (v + 1e-12) * gs).clamp(0, 1)
    val = (v * gv).clamp(0, 1)
    offsets = torch.tensor(_HUE_OFFSETS, dtype=x.dtype, device=x.device).reshape(3, 1, 1)
    ramp = (2 - (torch.frac(hue + offsets) * 6 - 3).abs()).clamp(0, 1)
    return val - (val * sat) * ramp


class Planes:
    """Work planes kept from image to image of one batch (a handful of sizes at most)."""

    def __init__(self) -> None:
        self.planes: dict[tuple[object, ...], list[torch.Tensor]] = {}

    def take(
        self, shape: tuple[int, ...], n: int, dtype: torch.dtype, device: torch.device
    ) -> list[torch.Tensor]:
        """``n`` planes of ``shape``, the same ones as the last call with these arguments."""
        key = (*shape, n, dtype, str(device))
        got = self.planes.get(key)
        if got is None:
            if len(self.planes) > 8:
                self.planes.clear()
            got = self.planes[key] = [torch.empty(shape, dtype=dtype, device=device) for _ in range(n)]
        return got


def hsv_gain_(x: torch.Tensor, gains: Sequence[float], planes: Planes | None = None) -> torch.Tensor:
    """:func:`hsv_gain` of one image (3×H×W, a view is fine) in place, ``gains`` as numbers: the
    same values, a third of the time on a CPU."""
    gh, gs, gv = (float(v) for v in gains)
    r, gr, b = x[0], x[1], x[2]
    work = planes or Planes()
    hi, lo, v, q, d, t1, t2, hue = work.take(tuple(x.shape[1:]), 8, x.dtype, x.device)
    (step,) = work.take(tuple(x.shape[1:]), 1, torch.bool, x.device)
    torch.maximum(gr, b, out=hi)
    torch.minimum(gr, b, out=lo)
    torch.maximum(r, hi, out=v)
    torch.minimum(r, hi, out=q)
    torch.minimum(q, lo, out=d)
    torch.sub(v, d, out=d)
    t1.copy_(torch.ge(gr, b, out=step))
    t2.copy_(torch.ge(r, hi, out=step))
    base = hi  # (2/3 - t1) + t2 (2 t1 - 5/3)
    torch.mul(t1, 2, out=base).sub_(5.0 / 3.0).mul_(t2).sub_(t1).add_(2.0 / 3.0)
    torch.mul(d, 6, out=hue).add_(1e-12)
    torch.sub(q, lo, out=t1).div_(hue)
    torch.add(t1, base, out=hue).abs_().mul_(gh).frac_()
    torch.add(v, 1e-12, out=t2)
    vs = d.div_(t2).mul_(gs).clamp_(0, 1)
    val = v.mul_(gv).clamp_(0, 1)
    vs.mul_(val)  # value × saturation: the spread between the largest and smallest channel
    low = torch.sub(val, vs, out=t2).sub_(vs)  # val - 2 vs
    offsets = torch.tensor(_HUE_OFFSETS, dtype=x.dtype, device=x.device).reshape(3, 1, 1)
    # each channel: val - vs * clamp(2 - |6 frac(hue + offset) - 3|, 0, 1)
    #             = (val - 2 vs) + vs * clamp(|6 frac(hue + offset) - 3|, 1, 2)
    torch.add(hue.unsqueeze(0), offsets, out=x).frac_().mul_(6).sub_(3).abs_().clamp_(1, 2)
    return torch.addcmul(low, x, vs, out=x)
