"""Accumulate boxes image by image (YOLO and VOC readers), then build one :class:`BoxTable`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import AnnotationError
from svmlp.model import BoxTable

__all__ = ["BoxBuilder"]


class BoxBuilder:
    """Boxes added per image as arrays; optional per-box extras (links, plate, flags) by row.

    Box ids left out are numbered after the largest id seen, in reading order. Parents are given
    as box ids (``parent_id`` in an extra) and resolved within the image at :meth:`build`.
    """

    def __init__(self) -> None:
        self._image: list[np.ndarray] = []
        self._category: list[np.ndarray] = []
        self._xyxy: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._crowd: list[np.ndarray] = []
        self._extras: dict[int, dict[str, Any]] = {}
        self._where: dict[int, str] = {}
        self.n = 0

    def add(
        self,
        image_row: int,
        category: np.ndarray,
        xyxy: np.ndarray,
        ids: np.ndarray | None = None,
        *,
        iscrowd: np.ndarray | None = None,
        extras: list[dict[str, Any] | None] | None = None,
        source: str | Path = "",
    ) -> None:
        k = len(category)
        if not k:
            return
        self._image.append(np.full(k, image_row, dtype=np.int64))
        self._category.append(np.asarray(category, dtype=np.int64))
        self._xyxy.append(np.asarray(xyxy, dtype=np.float64).reshape(k, 4))
        self._ids.append(np.full(k, -1, np.int64) if ids is None else np.asarray(ids, dtype=np.int64))
        self._crowd.append(np.zeros(k, bool) if iscrowd is None else np.asarray(iscrowd, dtype=bool))
        if extras:
            for j, extra in enumerate(extras):
                if extra:
                    self._extras[self.n + j] = extra
                    self._where[self.n + j] = str(source)
        self.n += k

    def build(self) -> BoxTable:
        if not self.n:
            return BoxTable.empty()
        image = np.concatenate(self._image)
        ids = np.concatenate(self._ids)
        missing = ids < 0
        if missing.any():
            start = max(int(ids.max()), 0) + 1
            ids[missing] = np.arange(start, start + int(missing.sum()))
        cols: dict[str, Any] = {
            "id": ids,
            "image": image,
            "category": np.concatenate(self._category),
            "xyxy": np.concatenate(self._xyxy),
            "iscrowd": np.concatenate(self._crowd),
        }
        if self._extras:
            cols.update(self._extra_columns(ids, image))
        return BoxTable.build(**cols)

    def _extra_columns(self, ids: np.ndarray, image: np.ndarray) -> dict[str, Any]:
        n = self.n
        parent = np.full(n, -1, np.int64)
        score = np.full(n, np.nan)
        area = np.full(n, np.nan)
        flags = {k: np.full(n, -1, np.int8) for k in ("difficult", "truncated", "occluded")}
        text = np.full(n, "", dtype=object)
        corners = np.full((n, 4, 2), np.nan)
        seg = np.full(n, None, dtype=object)
        used = set()
        lookup: dict[tuple[int, int], int] = {}
        linked_images = {int(image[r]) for r, e in self._extras.items() if e.get("parent_id") is not None}
        for r in np.flatnonzero(np.isin(image, list(linked_images))):
            lookup[(int(image[r]), int(ids[r]))] = int(r)
        for r, e in self._extras.items():
            if e.get("parent_id") is not None:
                p = lookup.get((int(image[r]), int(e["parent_id"])))
                if p is None:
                    raise AnnotationError(
                        f"{self._where[r]}: box id {int(ids[r])} has parent {e['parent_id']}, "
                        "which is not a box of the same image"
                    )
                parent[r] = p
                if e.get("link_score") is not None:
                    score[r] = float(e["link_score"])
            if e.get("area") is not None:
                area[r] = float(e["area"])
            for k in flags:
                if e.get(k) is not None:
                    flags[k][r] = int(bool(int(e[k])))
            plate = e.get("plate") or {}
            if plate.get("text"):
                text[r] = str(plate["text"])
                used.add("text")
            if plate.get("corners") is not None:
                corners[r] = np.asarray(plate["corners"], dtype=np.float64).reshape(4, 2)
                used.add("corners")
            if e.get("segmentation") is not None:
                seg[r] = e["segmentation"]
                used.add("segmentation")
        out: dict[str, Any] = {"parent": parent, "link_score": score, "area": area, **flags}
        if "text" in used:
            out["text"] = text.astype(str)
        if "corners" in used:
            out["corners"] = corners
        if "segmentation" in used:
            out["segmentation"] = seg
        return out
