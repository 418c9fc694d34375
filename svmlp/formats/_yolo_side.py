"""The sidecar's record of a label-row file (YOLO, YOLO-OBB, DOTA), applied where it still holds.

Beside label files that hold one row per box, svmlp writes a sidecar entry per image: the box id
and class of each row, a digest of the file, and what a row cannot hold (links, plate text and
corners, flags, segmentation, crowd boxes, and the box itself where the row is an oriented
shape). Where the file is still what svmlp wrote, that record is the truth for the image's boxes;
where it was edited, the rows are read as they now are and the record is dropped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard, open_regular_file
from svmlp.formats._builder import BoxBuilder
from svmlp.formats._sidecar import SIDECAR_NAME, SidecarImage, label_digest

__all__ = ["STALE_NOTE", "apply_entry", "shape_extra", "sidecar_format", "unchanged"]

_FORMAT = re.compile(rb'"format"\s*:\s*"([a-z0-9-]{1,32})"')

#: the note for label files edited since svmlp wrote them (``{}``: how many)
STALE_NOTE = "{} label file(s) changed since svmlp wrote them; their box ids and links were not restored"


def sidecar_format(folder: Path) -> str | None:
    """The format the sidecar in ``folder`` was written for, from the first bytes of the file
    (svmlp writes ``format`` second), or None: no sidecar, or one this cannot tell (a link out of
    the folder, not a regular file, another shape); the reader then says what is wrong with it."""
    path = folder / SIDECAR_NAME
    if not os.path.lexists(path) or LinkGuard([folder]).outside(path) is not None:
        return None
    try:
        with open_regular_file(path) as fh:
            head = fh.read(256)
    except OSError:
        return None
    found = _FORMAT.search(head)
    return found.group(1).decode() if found else None


def unchanged(entry: SidecarImage, classes: list[int] | None, text: str, rows: int) -> bool:
    """Whether the label file is still what svmlp wrote: as many rows as recorded, and its digest
    (or, for a sidecar written without digests, its classes) the same."""
    if len(entry.rows) != rows:
        return False
    if entry.digest:
        return entry.digest == label_digest(text.encode())
    return classes is not None and [c for _, c in entry.rows] == classes


def shape_extra(points: np.ndarray) -> dict[str, Any]:
    """What a row's points (``k × 2``, absolute pixels) become besides its enclosing box: four
    points are the box's ``corners`` (an oriented box, a plate's quadrilateral); any other
    number a COCO polygon ``segmentation``.

    >>> shape_extra(np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.0]]))
    {'segmentation': [[0.0, 0.0, 4.0, 0.0, 2.0, 3.0]]}
    """
    if len(points) == 4:
        return {"plate": {"corners": points.tolist()}}
    return {"segmentation": [points.ravel().tolist()]}


def apply_entry(
    entry: SidecarImage,
    i: int,
    lo: int,
    hi: int,
    *,
    box_ids: np.ndarray,
    position: np.ndarray,
    extras: dict[int, dict[str, Any]],
    xyxy: np.ndarray,
    cat_row: dict[int, int],
    builder: BoxBuilder,
    label: Path,
) -> None:
    """Image ``i``'s sidecar entry over its label rows ``lo:hi``: their box ids, their extras (in
    place of what the rows themselves said: an oriented row written for a box with no corners
    gives none), a box the row could not hold, and the image's crowd boxes in place."""
    box_ids[lo:hi] = [b for b, _ in entry.rows]
    if extras:
        for r in range(lo, hi):
            extras.pop(r, None)
    if not entry.annotations:
        return
    row_of = {int(b): lo + k for k, b in enumerate(box_ids[lo:hi].tolist())}
    crowd = [a for a in entry.annotations if "bbox" in a]
    for a in entry.annotations:
        if "bbox" not in a and a["id"] in row_of:
            r = row_of[a["id"]]
            extras[r] = a
            if a.get("xyxy") is not None:
                xyxy[r] = a["xyxy"]
    if not crowd:
        return
    n = hi - lo + len(crowd)
    slots = [a.get("position", n) for a in crowd]
    free = [p for p in range(n + len(crowd)) if p not in set(slots)]
    position[lo:hi] = free[: hi - lo]
    boxes = np.array([a.get("xyxy") or _corners(a["bbox"]) for a in crowd], dtype=np.float64)
    builder.add(
        i,
        np.array([cat_row[a["category_id"]] for a in crowd]),
        boxes,
        np.array([a["id"] for a in crowd]),
        iscrowd=np.array([bool(a.get("iscrowd", 1)) for a in crowd]),
        extras=crowd,
        position=np.array(slots, dtype=np.float64),
        source=label,
    )


def _corners(bbox: list[float]) -> list[float]:
    x, y, w, h = bbox
    return [x, y, x + w, y + h]
