"""Random geometry: an affine warp (rotate, scale, shear, translate) and a zoom-crop.

A box that leaves the picture, or keeps less than ``min_visible`` of its area or ``min_size``
pixels of width or height in view, is dropped; a plate whose vehicle is dropped loses its link.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from svmlp.torch.canvas import Canvas
from svmlp.torch.sample import Sample, warp_boxes
from svmlp.torch.transforms.geometry import _pair, warp

__all__ = ["RandomAffine", "RandomZoomCrop"]


def _span(value: float | tuple[float, float], centre: float = 0.0) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return centre - float(value), centre + float(value)
    lo, hi = value
    return float(lo), float(hi)


class RandomAffine:
    """Rotate by up to ``degrees``, scale by a factor in ``scale``, shear by up to ``shear``
    degrees and move by up to ``translate`` of the output size, about the image centre; the output
    is ``size`` (default: the input's size), filled with ``fill`` where the picture does not reach.

    >>> import numpy as np; from svmlp.torch.sample import Sample
    >>> s = Sample(np.zeros((100, 100, 3), np.uint8), np.array([[40., 40, 60, 60]]),
    ...            np.array([0]), np.array([-1]), np.array([False]))
    >>> RandomAffine(scale=(2, 2), translate=0)(s).boxes.tolist()
    [[30.0, 30.0, 70.0, 70.0]]
    """

    def __init__(
        self,
        *,
        degrees: float | tuple[float, float] = 0.0,
        translate: float = 0.1,
        scale: float | tuple[float, float] = (0.5, 1.5),
        shear: float | tuple[float, float] = 0.0,
        size: int | tuple[int, int] | None = None,
        fill: int = 114,
        min_visible: float = 0.3,
        min_size: float = 2.0,
    ) -> None:
        self.degrees = _span(degrees)
        self.scale = _span(scale, 1.0)
        self.shear = _span(shear)
        self.translate = float(translate)
        self.size = None if size is None else _pair(size)
        self.fill, self.min_visible, self.min_size = int(fill), float(min_visible), float(min_size)

    def matrix(
        self, rng: np.random.Generator, size_in: tuple[int, int], size_out: tuple[int, int]
    ) -> np.ndarray:
        """The 3×3 map this transform draws from ``rng`` (input pixels → output pixels)."""
        (w, h), (ow, oh) = size_in, size_out
        a = math.radians(rng.uniform(*self.degrees))
        s = rng.uniform(*self.scale)
        shx, shy = (math.tan(math.radians(rng.uniform(*self.shear))) for _ in range(2))
        tx, ty = rng.uniform(-self.translate, self.translate, 2) * (ow, oh)
        centre = np.array([[1.0, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
        rotate = np.array(
            [[s * math.cos(a), -s * math.sin(a), 0], [s * math.sin(a), s * math.cos(a), 0], [0, 0, 1]]
        )
        shear = np.array([[1.0, shx, 0], [shy, 1, 0], [0, 0, 1]])
        place = np.array([[1.0, 0, ow / 2 + tx], [0, 1, oh / 2 + ty], [0, 0, 1]])
        return place @ shear @ rotate @ centre

    def __call__(self, sample: Sample) -> Sample:
        size = self.size or sample.size
        m = self.matrix(sample.rng, sample.size, size)
        return warp(sample, m, size, fill=self.fill, min_visible=self.min_visible, min_size=self.min_size)

    def __repr__(self) -> str:
        return (
            f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
            f"shear={self.shear}, size={self.size}, min_visible={self.min_visible})"
        )


class RandomZoomCrop:
    """Crop a random region of ``area`` share of the image and aspect ratio in ``ratio`` (as a
    share of the image's own aspect), and resize it to ``size`` (default: the input's size)."""

    def __init__(
        self,
        *,
        area: tuple[float, float] = (0.3, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        size: int | tuple[int, int] | None = None,
        min_visible: float = 0.3,
        min_size: float = 2.0,
    ) -> None:
        self.area, self.ratio = (float(area[0]), float(area[1])), (float(ratio[0]), float(ratio[1]))
        self.size = None if size is None else _pair(size)
        self.min_visible, self.min_size = float(min_visible), float(min_size)

    def __call__(self, sample: Sample) -> Sample:
        w, h = sample.size
        rng = sample.rng
        share = rng.uniform(*self.area)
        aspect = math.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        cw = min(w, w * math.sqrt(share * aspect))
        ch = min(h, h * math.sqrt(share / aspect))
        x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        ow, oh = self.size or (w, h)
        m = np.array([[ow / cw, 0, -x0 * ow / cw], [0, oh / ch, -y0 * oh / ch], [0, 0, 1]])
        if isinstance(sample.image, Canvas):
            lazy = sample.image.moved(m, (ow, oh))
            return warp_boxes(sample, m, lazy, min_visible=self.min_visible, min_size=self.min_size)
        image = Image.fromarray(sample.image).resize(
            (ow, oh), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch)
        )
        return warp_boxes(sample, m, np.asarray(image), min_visible=self.min_visible, min_size=self.min_size)

    def __repr__(self) -> str:
        return f"RandomZoomCrop(area={self.area}, ratio={self.ratio}, size={self.size})"
