"""Photometric jitter: boxes and links are untouched, only pixels change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image, ImageEnhance

from svmlp.errors import UsageError
from svmlp.torch.canvas import Canvas
from svmlp.torch.sample import Sample

__all__ = ["ColorJitter", "RandomHSV"]


class RandomHSV:
    """Multiply hue, saturation and value by random gains in 1 ± (``h``, ``s``, ``v``), as YOLO
    trainers do (hue wraps around), through one lookup table per channel."""

    def __init__(self, h: float = 0.015, s: float = 0.7, v: float = 0.4) -> None:
        self.gains = np.array([h, s, v], dtype=np.float64)

    def __call__(self, sample: Sample) -> Sample:
        r = sample.rng.uniform(-1, 1, 3) * self.gains + 1
        if np.allclose(r, 1):
            return sample
        if isinstance(sample.image, Canvas):
            return _with_image(sample, sample.image.coloured(r.tolist()))
        x = np.arange(256, dtype=np.float64)
        luts = [
            np.mod(x * r[0], 256).astype(np.uint8),
            np.clip(x * r[1], 0, 255).astype(np.uint8),
            np.clip(x * r[2], 0, 255).astype(np.uint8),
        ]
        hsv = np.asarray(Image.fromarray(sample.image).convert("HSV"))
        out = np.stack([luts[k][hsv[..., k]] for k in range(3)], axis=-1)
        h, w = out.shape[:2]
        rgb = np.asarray(Image.frombytes("HSV", (w, h), out.tobytes()).convert("RGB"))
        return _with_image(sample, rgb)

    def __repr__(self) -> str:
        return f"RandomHSV(h={self.gains[0]}, s={self.gains[1]}, v={self.gains[2]})"


class ColorJitter:
    """Brightness, contrast and saturation each scaled by a factor in 1 ± the given amount, in a
    random order (pillow's ImageEnhance, no torchvision needed)."""

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2) -> None:
        self.amounts = (
            (ImageEnhance.Brightness, float(brightness)),
            (ImageEnhance.Contrast, float(contrast)),
            (ImageEnhance.Color, float(saturation)),
        )

    def __call__(self, sample: Sample) -> Sample:
        if isinstance(sample.image, Canvas):
            raise UsageError("ColorJitter has no device version; use RandomHSV in a device pipeline")
        rng = sample.rng
        image = Image.fromarray(sample.image)
        for k in rng.permutation(3).tolist():
            enhancer, amount = self.amounts[k]
            factor = rng.uniform(1 - amount, 1 + amount)
            if amount > 0:
                image = enhancer(image).enhance(factor)
        return _with_image(sample, np.asarray(image))

    def __repr__(self) -> str:
        b, c, s = (a for _, a in self.amounts)
        return f"ColorJitter(brightness={b}, contrast={c}, saturation={s})"


def _with_image(sample: Sample, image: np.ndarray | Canvas) -> Sample:
    return replace(sample, image=image)
