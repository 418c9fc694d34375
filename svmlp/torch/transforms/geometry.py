"""Deterministic geometry: resize, letterbox, flip; and the affine warp the random ones share."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from svmlp.torch.canvas import Canvas
from svmlp.torch.sample import Sample, resize_image, warp_boxes

__all__ = ["HorizontalFlip", "Letterbox", "Resize", "scaled", "warp"]


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) of an int (a square) or a (width, height) pair."""
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    w, h = size
    return int(w), int(h)


def scaled(sample: Sample, size: tuple[int, int]) -> Sample:
    """``sample`` resized to ``size`` (width, height), boxes and matrix along."""
    w, h = sample.size
    if (w, h) == size:
        return sample
    m = np.diag([size[0] / w, size[1] / h, 1.0])
    if isinstance(sample.image, Canvas):
        return warp_boxes(sample, m, sample.image.moved(m, size))
    return warp_boxes(sample, m, resize_image(sample.image, size))


def warp(
    sample: Sample,
    matrix: np.ndarray,
    size: tuple[int, int],
    *,
    fill: int = 114,
    min_visible: float = 0.0,
    min_size: float = 0.0,
) -> Sample:
    """``sample`` moved by the affine ``matrix`` (3×3, input → output pixels) onto a ``size``
    canvas filled with ``fill`` where no input pixel lands.

    A matrix that only scales and moves (no rotation, shear or mirror) takes a fast path: the
    visible part of the image is cropped and resized (torch's antialiased kernel) and pasted,
    with the scale and offset snapped to whole output pixels; the boxes follow the snapped matrix,
    so pixels and boxes still agree exactly.
    """
    pixels = sample.image
    straight = matrix[0, 1] == 0 and matrix[1, 0] == 0 and matrix[0, 0] > 0 and matrix[1, 1] > 0
    if isinstance(pixels, Canvas):  # the same (snapped) matrix as the pixels would take: the same boxes
        m = _snap(matrix, sample.size, size)[0] if straight else matrix
        return warp_boxes(
            sample, m, pixels.moved(m, size, fill=fill), min_visible=min_visible, min_size=min_size
        )
    if straight:
        fast = _scale_and_move(sample, matrix, size, fill)
        if fast is not None:
            image, snapped = fast
            return warp_boxes(sample, snapped, image, min_visible=min_visible, min_size=min_size)
    # pillow maps each output point back through these coefficients in continuous coordinates
    # (it samples at pixel centres itself), the same convention as the boxes
    coeffs = tuple(float(v) for v in np.linalg.inv(matrix)[:2].reshape(-1))
    warped = Image.fromarray(pixels).transform(
        size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=(fill,) * 3
    )
    return warp_boxes(sample, matrix, np.asarray(warped), min_visible=min_visible, min_size=min_size)


def _axis(scale: float, shift: float, n_in: int, n_out: int) -> tuple[int, int, int, int] | None:
    """Along one axis: the input span [a, b) whose image lands in the output, the output start
    ``o`` of that span and its resized length ``m`` (None when nothing lands)."""
    a = max(0, math.floor(-shift / scale))
    b = min(n_in, math.ceil((n_out - shift) / scale))
    if b <= a:
        return None
    return a, b, round(scale * a + shift), max(1, round(scale * (b - a)))


_Axes = tuple[tuple[int, int, int, int], tuple[int, int, int, int]]


def _snap(
    matrix: np.ndarray, size_in: tuple[int, int], size: tuple[int, int]
) -> tuple[np.ndarray, _Axes | None]:
    """A scale-and-move ``matrix`` with its scale and offset snapped to whole output pixels, and
    the input span and output place along each axis (None when nothing lands: ``matrix`` as is)."""
    (w, h), (ow, oh) = size_in, size
    xs = _axis(float(matrix[0, 0]), float(matrix[0, 2]), w, ow)
    ys = _axis(float(matrix[1, 1]), float(matrix[1, 2]), h, oh)
    if xs is None or ys is None:
        return matrix, None
    (xa, xb, xo, xm), (ya, yb, yo, ym) = xs, ys
    sx, sy = xm / (xb - xa), ym / (yb - ya)
    return np.array([[sx, 0, xo - sx * xa], [0, sy, yo - sy * ya], [0, 0, 1.0]]), (xs, ys)


def _scale_and_move(
    sample: Sample, matrix: np.ndarray, size: tuple[int, int], fill: int
) -> tuple[np.ndarray, np.ndarray] | None:
    ow, oh = size
    canvas = np.full((oh, ow, 3), fill, dtype=np.uint8)
    snapped, axes = _snap(matrix, sample.size, size)
    if axes is None:
        return canvas, matrix  # nothing of the picture lands in the output
    (xa, xb, xo, xm), (ya, yb, yo, ym) = axes
    part = resize_image(np.ascontiguousarray(np.asarray(sample.image)[ya:yb, xa:xb]), (xm, ym))
    # paste what falls inside the canvas
    x0, y0, x1, y1 = max(xo, 0), max(yo, 0), min(xo + xm, ow), min(yo + ym, oh)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = part[y0 - yo : y1 - yo, x0 - xo : x1 - xo]
    return canvas, snapped


class Resize:
    """Resize so the longer side is ``size`` (an int), or to exactly ``(width, height)``.

    >>> import numpy as np; from svmlp.torch.sample import Sample
    >>> s = Sample(np.zeros((100, 200, 3), np.uint8), np.array([[0., 0, 100, 50]]),
    ...            np.array([0]), np.array([-1]), np.array([False]))
    >>> Resize(100)(s).boxes.tolist()
    [[0.0, 0.0, 50.0, 25.0]]
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = size
        self.load_size = int(size) if isinstance(size, (int, np.integer)) else None

    def __call__(self, sample: Sample) -> Sample:
        w, h = sample.size
        if self.load_size is not None:
            r = self.load_size / max(w, h)
            return scaled(sample, (max(1, round(w * r)), max(1, round(h * r))))
        return scaled(sample, _pair(self.size))

    def __repr__(self) -> str:
        return f"Resize({self.size!r})"


class Letterbox:
    """Resize keeping the aspect ratio to fit ``size`` (an int: a square, or (width, height)),
    then pad with ``fill`` to exactly that size: centred, or at the right and bottom."""

    def __init__(self, size: int | tuple[int, int], *, fill: int = 114, center: bool = True) -> None:
        self.size, self.fill, self.center = _pair(size), int(fill), center
        self.load_size = max(self.size)

    def __call__(self, sample: Sample) -> Sample:
        (tw, th), (w, h) = self.size, sample.size
        r = min(tw / w, th / h)
        sample = scaled(sample, (min(tw, max(1, round(w * r))), min(th, max(1, round(h * r)))))
        w, h = sample.size
        if (w, h) == (tw, th):
            return sample
        left, top = ((tw - w) // 2, (th - h) // 2) if self.center else (0, 0)
        m = np.array([[1.0, 0, left], [0, 1, top], [0, 0, 1]])
        if isinstance(sample.image, Canvas):
            return warp_boxes(sample, m, sample.image.moved(m, (tw, th), fill=self.fill))
        canvas = np.full((th, tw, 3), self.fill, dtype=np.uint8)
        canvas[top : top + h, left : left + w] = sample.image
        return warp_boxes(sample, m, canvas)

    def __repr__(self) -> str:
        return f"Letterbox({self.size!r}, fill={self.fill}, center={self.center})"


class HorizontalFlip:
    """Mirror left to right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = float(p)

    def __call__(self, sample: Sample) -> Sample:
        if sample.rng.random() >= self.p:
            return sample
        w, _ = sample.size
        m = np.array([[-1.0, 0, w], [0, 1, 0], [0, 0, 1]])
        if isinstance(sample.image, Canvas):
            return warp_boxes(sample, m, sample.image.moved(m, sample.size))
        return warp_boxes(sample, m, np.ascontiguousarray(sample.image[:, ::-1]))

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"
