"""A picture not drawn yet: what each pixel of a transformed image will show.

The device pipeline (:mod:`svmlp.torch.device`) runs the very transforms of
:mod:`svmlp.torch.transforms` on samples whose ``image`` is a :class:`Canvas` instead of pixels.
Every transform does its geometry as usual (the same code moves, clips and drops the boxes and
links, so targets are identical), but where it would touch pixels it records the step here: a
move (resize, warp, flip, letterbox), a tiling (mosaic) or a colour change (HSV). The result says,
for each output pixel, which decoded image it samples and where, and what colour change follows;
:mod:`svmlp.torch.render` draws that on the training device, a whole batch at a time.

A canvas is made of layers, one per decoded image it shows. A layer has the map from its image's
pixels to the canvas's pixels and the clips that bound it (rectangles in some frame: the image's
own bounds, a mosaic cell, ...). Outside every layer the canvas shows ``fill``; a colour change
applies to everything drawn so far, including that fill, and ``lit`` then bounds the part of the
canvas it applies to (a letterbox after it pads with plain ``fill``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from svmlp.errors import UsageError

__all__ = ["Canvas", "Clip", "Layer", "affine_inverse", "split_clips"]


@dataclass(frozen=True)
class Clip:
    """The canvas pixels ``p`` with ``frame @ p`` inside ``rect`` (x0, y0, x1, y1), half-open."""

    frame: np.ndarray  # 3×3: canvas pixels -> the frame the rectangle is drawn in
    rect: tuple[float, float, float, float]

    def moved(self, inverse: np.ndarray) -> Clip:
        """This clip on a canvas moved by the map whose inverse is ``inverse``."""
        return Clip(self.frame @ inverse, self.rect)

    @functools.cached_property
    def straight(self) -> bool:
        """True when the frame only scales (or mirrors) and moves: the clip is a canvas rectangle."""
        f = self.frame
        return bool(f[0, 1] == 0 and f[1, 0] == 0 and f[0, 0] and f[1, 1])

    def in_canvas(self) -> tuple[float, float, float, float]:
        """A straight clip as a rectangle of canvas pixels."""
        f = self.frame
        sx, sy, tx, ty = float(f[0, 0]), float(f[1, 1]), float(f[0, 2]), float(f[1, 2])
        x0, y0, x1, y1 = self.rect
        xa, xb = (x0 - tx) / sx, (x1 - tx) / sx
        ya, yb = (y0 - ty) / sy, (y1 - ty) / sy
        return min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)


def affine_inverse(m: np.ndarray) -> np.ndarray:
    """The inverse of a 3×3 affine map (last row 0 0 1), without a general solver."""
    a, b, c, d = float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1])
    det = a * d - b * c
    if det == 0:
        raise ValueError("the map is singular")
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    tx, ty = float(m[0, 2]), float(m[1, 2])
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)], [0.0, 0.0, 1.0]])


_EYE = np.eye(3)
_EYE.flags.writeable = False  # shared by every rectangle clip; frames are never changed in place


def _rect_clip(rect: Sequence[float]) -> Clip:
    x0, y0, x1, y1 = (float(v) for v in rect)
    return Clip(_EYE, (x0, y0, x1, y1))


def split_clips(clips: Sequence[Clip]) -> tuple[tuple[float, float, float, float] | None, tuple[Clip, ...]]:
    """The straight ones of ``clips`` intersected into one canvas rectangle (None when there is
    none; an empty intersection keeps x1 = x0 or y1 = y0), and the others."""
    straight = [c.in_canvas() for c in clips if c.straight]
    other = tuple(c for c in clips if not c.straight)
    if not straight:
        return None, other
    x0 = max(r[0] for r in straight)
    y0 = max(r[1] for r in straight)
    x1 = min(r[2] for r in straight)
    y1 = min(r[3] for r in straight)
    return (x0, y0, max(x0, x1), max(y0, y1)), other


def _merged(clips: Sequence[Clip]) -> tuple[Clip, ...]:
    """``clips`` with every straight one intersected into one canvas rectangle (kept first)."""
    rect, other = split_clips(clips)
    return other if rect is None else (_rect_clip(rect), *other)


@dataclass(frozen=True)
class Layer:
    """Decoded image ``source`` drawn on the canvas through ``matrix`` (3×3, its pixels -> the
    canvas's), where every one of ``clips`` holds."""

    source: int
    matrix: np.ndarray
    clips: tuple[Clip, ...]

    @property
    def empty(self) -> bool:
        """True when a straight clip leaves nothing of the layer."""
        return any(c.straight and (c.rect[2] <= c.rect[0] or c.rect[3] <= c.rect[1]) for c in self.clips)


@dataclass(frozen=True)
class Canvas:
    """A ``width``×``height`` picture described, not drawn (see the module's note).

    ``shape`` mirrors an image array's, so a :class:`~svmlp.torch.sample.Sample` holding a canvas
    reports its size as usual.
    """

    width: int
    height: int
    layers: tuple[Layer, ...]
    fill: int | None = None  # set by the first transform that pads; one value a pipeline
    gains: tuple[float, float, float] | None = None  # HSV gains, when a colour change was drawn
    lit: tuple[Clip, ...] = ()  # after a colour change: where it applies

    @classmethod
    def of(cls, source: int, width: int, height: int) -> Canvas:
        """Decoded image ``source`` (``width``×``height``) as it is.

        >>> Canvas.of(0, 640, 360).shape
        (360, 640, 3)
        """
        bounds = _rect_clip((0, 0, width, height))
        return cls(int(width), int(height), (Layer(int(source), np.eye(3), (bounds,)),))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(height, width, 3), as an image array's."""
        return self.height, self.width, 3

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.width, self.height

    def moved(self, matrix: np.ndarray, size: tuple[int, int], *, fill: int | None = None) -> Canvas:
        """This canvas moved by ``matrix`` (3×3, its pixels -> the new canvas's) onto a ``size``
        canvas (width, height), ``fill`` where nothing of it lands."""
        fill = self._same_fill(fill)
        m = np.asarray(matrix, dtype=np.float64)
        inv = affine_inverse(m)
        w, h = int(size[0]), int(size[1])
        # what lay outside this canvas stays outside: its bounds become a clip of every layer
        bounds = Clip(inv, (0.0, 0.0, float(self.width), float(self.height)))
        view = _rect_clip((0, 0, w, h))  # and what falls outside the new canvas is not drawn
        layers = tuple(
            Layer(
                layer.source, m @ layer.matrix, _merged([*(c.moved(inv) for c in layer.clips), bounds, view])
            )
            for layer in self.layers
        )
        lit = _merged([*(c.moved(inv) for c in self.lit), bounds]) if self.gains is not None else ()
        kept = tuple(la for la in layers if not la.empty)
        return replace(self, width=w, height=h, layers=kept, lit=lit, fill=fill)

    def coloured(self, gains: Sequence[float]) -> Canvas:
        """This canvas with its hue, saturation and value multiplied by ``gains`` (RandomHSV's)."""
        if self.gains is not None:
            raise UsageError("the device pipeline takes one RandomHSV; this pipeline has two")
        g = tuple(float(v) for v in gains)
        return replace(self, gains=(g[0], g[1], g[2]), lit=(_rect_clip((0, 0, self.width, self.height)),))

    @classmethod
    def tiled(
        cls,
        size: tuple[int, int],
        parts: Sequence[tuple[Canvas, tuple[int, int], tuple[int, int, int, int]]],
        *,
        fill: int,
    ) -> Canvas:
        """A ``size`` canvas filled with ``fill``, each part's canvas placed at its (x, y) offset and
        shown only inside its rectangle (x0, y0, x1, y1) of the new canvas (a mosaic)."""
        layers: list[Layer] = []
        for canvas, (ox, oy), rect in parts:
            if canvas.gains is not None:
                raise UsageError("the device pipeline cannot tile images after a RandomHSV; put Mosaic first")
            canvas._same_fill(fill)  # the part's own fill, if any, must be this one
            move = np.array([[1.0, 0, ox], [0, 1, oy], [0, 0, 1]])
            placed = canvas.moved(move, size)
            cell = _rect_clip(rect)
            layers += [
                la
                for la in (Layer(la.source, la.matrix, _merged([*la.clips, cell])) for la in placed.layers)
                if not la.empty
            ]
        return cls(int(size[0]), int(size[1]), tuple(layers), fill=int(fill))

    def _same_fill(self, fill: int | None) -> int | None:
        """The fill after a step that pads with ``fill`` (None: pads nothing)."""
        if fill is None:
            return self.fill
        if self.fill is not None and int(fill) != self.fill:
            raise UsageError(
                f"the device pipeline draws one fill colour; this pipeline uses {self.fill} and {int(fill)}"
            )
        return int(fill)
