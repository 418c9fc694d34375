"""Run a transform through the device pipeline (plan, then render) on one sample, for tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from svmlp.torch.canvas import Canvas
from svmlp.torch.render import has_numba, plan_batch, render
from svmlp.torch.sample import Sample


def on_device(transform: Callable[[Sample], Sample], sample: Sample, how: str = "regions") -> Sample:
    """``transform(sample)`` with the pixels drawn by :func:`svmlp.torch.render.render`: every
    image the sample (or a mosaic partner it draws) holds becomes a canvas layer's source. Drawn
    ``how``; where numba is installed the compiled CPU drawing (``"fused"``) draws it too and must
    agree to a rounding step."""
    images: list[np.ndarray] = []

    def lazy(s: Sample) -> Sample:
        images.append(np.asarray(s.image))
        draw = s.draw
        return replace(
            s,
            image=Canvas.of(len(images) - 1, s.size[0], s.size[1]),
            draw=None if draw is None else (lambda rng: lazy(draw(rng))),
        )

    out = transform(lazy(sample))
    assert isinstance(out.image, Canvas), "the transform drew pixels on a canvas sample"
    plan = plan_batch([out.image], images)
    w, h = out.size
    drawn = render(plan, dtype=torch.uint8, how=how)  # type: ignore[arg-type]
    if has_numba() and how != "fused":
        apart = (render(plan, dtype=torch.uint8, how="fused").int() - drawn.int()).abs().amax(dim=1)
        # a rounding step; with a hue gain a pixel on the seam at red (where the multiplied hue
        # jumps) may go either way on a float's last bit
        seam = float((apart > 1).float().mean()) if bool(plan.coloured.any()) else 0.0
        assert int(apart.max()) <= 1 or seam <= 0.01, f"the fused drawing differs: {int(apart.max())}, {seam}"
    pixels = drawn[0, :, :h, :w].permute(1, 2, 0).numpy()
    return replace(out, image=np.ascontiguousarray(pixels))
