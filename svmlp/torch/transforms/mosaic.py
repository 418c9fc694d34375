"""Mosaic: four images around a random centre, the way YOLO trainers tile them.

The sample's own image takes the top-left quadrant and three others, drawn from the data set with
the sample's generator, the other three; each is scaled so its longer side is ``size``. Of the
2·size canvas, the central size×size window is kept. Boxes are clipped to their own picture's
part of the window and dropped below ``min_visible`` / ``min_size``; links stay within each
picture, so a plate's parent is always a box of the same picture. ``matrix`` (and ``meta``) stay
those of the sample's own image.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from svmlp.errors import UsageError
from svmlp.torch.canvas import Canvas
from svmlp.torch.sample import Sample, box_area
from svmlp.torch.transforms.geometry import scaled

__all__ = ["Mosaic"]


class Mosaic:
    """With probability ``p``, tile this image and three others into one ``size``×``size`` image."""

    def __init__(
        self, size: int, *, p: float = 1.0, fill: int = 114, min_visible: float = 0.3, min_size: float = 2.0
    ) -> None:
        self.size, self.p, self.fill = int(size), float(p), int(fill)
        self.min_visible, self.min_size = float(min_visible), float(min_size)
        self.load_size = self.size

    def __call__(self, sample: Sample) -> Sample:
        rng = sample.rng
        if rng.random() >= self.p:
            return sample
        if sample.draw is None:
            raise UsageError("Mosaic needs other images: use it in an SVMLPDataset's transforms")
        s = self.size
        xc, yc = rng.uniform(0.5 * s, 1.5 * s, 2)
        pieces = [sample] + [sample.draw(rng) for _ in range(3)]
        canvas = None if isinstance(sample.image, Canvas) else np.full((s, s, 3), self.fill, dtype=np.uint8)
        cells: list[tuple[Canvas, tuple[int, int], tuple[int, int, int, int]]] = []
        boxes: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        parents: list[np.ndarray] = []
        crowd: list[np.ndarray] = []
        matrix = sample.matrix
        for k, piece in enumerate(pieces):
            w, h = piece.size
            r = s / max(w, h)
            piece = scaled(piece, (max(1, round(w * r)), max(1, round(h * r))))
            w, h = piece.size
            # origin of the piece on the 2s canvas, then in the window that starts at s/2
            ox = (xc - w if k in (0, 2) else xc) - s / 2
            oy = (yc - h if k in (0, 1) else yc) - s / 2
            ox, oy = int(round(ox)), int(round(oy))
            x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + w, s), min(oy + h, s)
            pixels = piece.image
            if isinstance(pixels, Canvas):
                cells.append((pixels, (ox, oy), (x0, y0, max(x0, x1), max(y0, y1))))
            elif canvas is not None and x1 > x0 and y1 > y0:
                canvas[y0:y1, x0:x1] = pixels[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            own = np.clip(piece.boxes, 0, [w, h, w, h]) + [ox, oy, ox, oy]
            seen = np.clip(own, [x0, y0, x0, y0], [max(x0, x1), max(y0, y1)] * 2)
            area = box_area(own)
            share = np.divide(box_area(seen), area, out=np.zeros(len(own)), where=area > 0)
            wide = np.minimum(seen[:, 2] - seen[:, 0], seen[:, 3] - seen[:, 1])
            ok = (share >= max(self.min_visible, 1e-12)) & (wide >= max(self.min_size, 1e-9))
            kept = replace(piece, boxes=seen).keep(ok)
            parents.append(np.where(kept.parent >= 0, kept.parent + sum(len(b) for b in boxes), -1))
            boxes.append(kept.boxes)
            labels.append(kept.labels)
            crowd.append(kept.iscrowd)
            if k == 0:
                matrix = np.array([[1.0, 0, ox], [0, 1, oy], [0, 0, 1]]) @ piece.matrix
        return replace(
            sample,
            image=canvas if canvas is not None else Canvas.tiled((s, s), cells, fill=self.fill),
            boxes=np.concatenate(boxes).reshape(-1, 4),
            labels=np.concatenate(labels),
            parent=np.concatenate(parents).astype(np.int64),
            iscrowd=np.concatenate(crowd),
            matrix=matrix,
            meta={**sample.meta, "mosaic": [p.meta.get("index", -1) for p in pieces[1:]]},
        )

    def __repr__(self) -> str:
        return f"Mosaic({self.size}, p={self.p})"
