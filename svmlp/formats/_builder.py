"""Accumulate boxes image by image (YOLO and VOC readers), then build one :class:`BoxTable`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import AnnotationError
from svmlp.model import BoxTable
from svmlp.model.tables import checked_attributes

__all__ = ["BoxBuilder", "number_missing", "probed_sizes", "region_rows"]

_FLAG_NAMES = ("difficult", "truncated", "occluded")


def number_missing(ids: np.ndarray) -> np.ndarray:
    """Ids given as −1 numbered after the largest id present, in order (in place; returned)."""
    missing = ids < 0
    if missing.any():
        start = max(int(ids.max()), 0) + 1
        ids[missing] = np.arange(start, start + int(missing.sum()))
    return ids


class BoxBuilder:
    """Boxes added as arrays (one image's, or a batch of many images'), with optional per-box
    extras (links, plate, flags) by row.

    Box ids left out are numbered after the largest id seen, in reading order. Within an image,
    boxes keep the order they were added in unless ``position`` says otherwise. Parents are given
    as box ids (``parent_id`` in an extra) and resolved within the image at :meth:`build`.
    """

    def __init__(self) -> None:
        self._image: list[np.ndarray] = []
        self._category: list[np.ndarray] = []
        self._xyxy: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._crowd: list[np.ndarray] = []
        self._position: list[np.ndarray] = []
        self._flags: list[np.ndarray] = []  # difficult, truncated, occluded: -1 unset
        self._extras: dict[int, dict[str, Any]] = {}
        self._where: dict[int, str] = {}
        self.n = 0

    def add(
        self,
        image_row: int | np.ndarray,
        category: np.ndarray,
        xyxy: np.ndarray,
        ids: np.ndarray | None = None,
        *,
        iscrowd: np.ndarray | None = None,
        extras: Sequence[dict[str, Any] | None] | dict[int, dict[str, Any]] | None = None,
        position: np.ndarray | None = None,
        flags: np.ndarray | None = None,
        source: str | Path | list[str] = "",
    ) -> None:
        """Add ``len(category)`` boxes; ``image_row`` is one image row or one per box;
        ``extras`` is a list aligned with the boxes or a dict from box to extra;
        ``position`` orders the boxes within their image (default: the order added);
        ``flags`` holds difficult, truncated, occluded per box (−1: unset; extras may override)."""
        k = len(category)
        if not k:
            return
        self._image.append(np.broadcast_to(np.asarray(image_row, dtype=np.int64), (k,)))
        self._category.append(np.asarray(category, dtype=np.int64))
        self._xyxy.append(np.asarray(xyxy, dtype=np.float64).reshape(k, 4))
        self._ids.append(np.full(k, -1, np.int64) if ids is None else np.asarray(ids, dtype=np.int64))
        self._crowd.append(np.zeros(k, bool) if iscrowd is None else np.asarray(iscrowd, dtype=bool))
        self._position.append(np.full(k, np.nan) if position is None else np.asarray(position, np.float64))
        self._flags.append(
            np.full((k, 3), -1, np.int8) if flags is None else np.asarray(flags, np.int8).reshape(k, 3)
        )
        items = extras.items() if isinstance(extras, dict) else enumerate(extras or ())
        for j, extra in items:
            if extra:
                self._extras[self.n + j] = extra
                self._where[self.n + j] = source[j] if isinstance(source, list) else str(source)
        self.n += k

    def _order(self) -> np.ndarray | None:
        """The permutation putting boxes in (image, position) order, or None when already so."""
        position = np.concatenate(self._position)
        if np.isnan(position).all():
            return None
        image = np.concatenate(self._image)
        added = np.arange(self.n, dtype=np.float64)
        return np.lexsort((added, np.where(np.isnan(position), added, position), image))

    def build(self) -> BoxTable:
        if not self.n:
            return BoxTable.empty()
        order = self._order()
        if order is not None:  # reorder every column and re-key the extras
            for name in ("_image", "_category", "_xyxy", "_ids", "_crowd", "_flags"):
                setattr(self, name, [np.concatenate(getattr(self, name))[order]])
            new_of_old = np.empty(self.n, dtype=np.int64)
            new_of_old[order] = np.arange(self.n)
            self._extras = {int(new_of_old[r]): e for r, e in self._extras.items()}
            self._where = {int(new_of_old[r]): w for r, w in self._where.items()}
        image = np.concatenate(self._image)
        ids = number_missing(np.concatenate(self._ids))
        cols: dict[str, Any] = {
            "id": ids,
            "image": image,
            "category": np.concatenate(self._category),
            "xyxy": np.concatenate(self._xyxy),
            "iscrowd": np.concatenate(self._crowd),
        }
        flags = np.concatenate(self._flags)
        for k, name in enumerate(_FLAG_NAMES):
            cols[name] = flags[:, k].copy()
        if self._extras:
            cols.update(self._extra_columns(ids, image, cols))
        return BoxTable.build(**cols)

    def _extra_columns(self, ids: np.ndarray, image: np.ndarray, cols: dict[str, Any]) -> dict[str, Any]:
        n = self.n
        parent = np.full(n, -1, np.int64)
        score = np.full(n, np.nan)
        area = np.full(n, np.nan)
        flags = {k: cols[k] for k in _FLAG_NAMES}
        text = np.full(n, "", dtype=object)
        corners = np.full((n, 4, 2), np.nan)
        seg = np.full(n, None, dtype=object)
        attrs = np.full(n, None, dtype=object)
        used = set()
        lookup: dict[tuple[int, int], int] = {}
        linked_images = {int(image[r]) for r, e in self._extras.items() if e.get("parent_id") is not None}
        for row in np.flatnonzero(np.isin(image, list(linked_images))):
            lookup[(int(image[row]), int(ids[row]))] = int(row)
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
            if e.get("attributes"):
                attrs[r] = checked_attributes(e["attributes"], self._where[r])
                used.add("attributes")
        out: dict[str, Any] = {"parent": parent, "link_score": score, "area": area, **flags}
        if "text" in used:
            out["text"] = text.astype(str)
        if "corners" in used:
            out["corners"] = corners
        if "segmentation" in used:
            out["segmentation"] = seg
        if "attributes" in used:
            out["attributes"] = attrs
        return out


def region_rows(
    regions: Sequence[tuple[str, Sequence[float], Mapping[str, Any]]], lookup: Mapping[str, int], next_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, dict[str, Any]], np.ndarray]:
    """One image's regions as read from a tool's file ((class name, xyxy, extra) each) as box rows:
    ``(class rows, xyxy, box ids from next_id, extras, crowd)``; an extra's ``parent`` (the index
    of the region's vehicle among them) becomes its ``parent_id``, its ``iscrowd`` the crowd flag."""
    n = len(regions)
    ids = np.arange(next_id, next_id + n, dtype=np.int64)
    extras: dict[int, dict[str, Any]] = {}
    crowd = np.zeros(n, dtype=bool)
    for k, (_, _, given) in enumerate(regions):
        extra = dict(given)
        if "parent" in extra:
            extra["parent_id"] = int(ids[extra.pop("parent")])
        crowd[k] = bool(extra.pop("iscrowd", False))
        if extra:
            extras[k] = extra
    cls = np.array([lookup[r[0]] for r in regions], dtype=np.int64)
    xyxy = np.array([r[1] for r in regions], dtype=np.float64).reshape(n, 4)
    return cls, xyxy, ids, extras, crowd


def probed_sizes(
    paths: Sequence[Any], sizes: Sequence[tuple[int, int]], probe: bool
) -> tuple[np.ndarray, tuple[Any, Any, Any]]:
    """Image sizes as stored, an unknown one (0) filled from the image's header; the headers are
    read when ``probe`` or when a size is unknown. Returns the sizes and the header columns
    (``(None, None, None)`` when no header was read)."""
    from svmlp.imageinfo import header_columns, read_headers

    out = np.array(sizes, dtype=np.int64).reshape(-1, 2)
    headers = read_headers(list(paths)) if probe or (out <= 0).any() else None
    if headers is None:
        return out, (None, None, None)
    for i, h in enumerate(headers):
        if out[i, 0] <= 0 and h.error is None:
            out[i] = h.displayed
    return out, header_columns(headers)
