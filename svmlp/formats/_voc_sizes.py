"""The size each VOC image's boxes are measured against, when ``<size>`` and the image file disagree.

``<size>`` is often stale (an image re-encoded or resized after its XML was written, or a copy
whose XML kept the original's size). Where the image header was read and disagrees, the model
keeps the file's real size for the geometry, so that boxes are not called "past the border"
against a size the image does not have, and records the stated size in
``ImageTable.stored_width``/``stored_height``, which the audit reports as ``size_mismatch``. The
exception is the rule the YOLO writer follows too: boxes that reach past the file but fit the
stated size mean an image resized after labelling, and the stated size is then the right frame.
A size the file states in its stored orientation while EXIF turns it (stated = the header's raw
size) is kept as it is: the audit names the turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svmlp.model import BoxTable
from svmlp.model.tables import usable_boxes

__all__ = ["Frames", "frames"]


@dataclass
class Frames:
    width: np.ndarray
    height: np.ndarray
    #: the stated size where the real one replaced it (0 elsewhere); None when none was replaced
    stored_width: np.ndarray | None
    stored_height: np.ndarray | None
    notes: list[str]


def frames(
    stated: np.ndarray, shown: np.ndarray, raw: np.ndarray, boxes: BoxTable, label_files: list[str]
) -> Frames:
    """``stated``: (n, 2) sizes from the annotation files (0: none); ``shown``/``raw``: the header's
    size with and without the EXIF turn (0: not read)."""
    have = (shown > 0).all(axis=1)
    unknown = (stated <= 0).any(axis=1)
    differ = have & ~unknown & (stated != shown).any(axis=1) & (stated != raw).any(axis=1)
    resized = np.zeros(len(stated), dtype=bool)
    if differ.any() and len(boxes):
        rows = np.flatnonzero(differ[boxes.image] & usable_boxes(boxes.xyxy))
        reach = np.zeros((len(stated), 2))
        np.maximum.at(reach, boxes.image[rows], boxes.xyxy[rows, 2:])
        resized = differ & (reach > shown + 0.5).any(axis=1) & (reach <= stated + 0.5).all(axis=1)
    real = differ & ~resized
    size = np.where((real | (unknown & have))[:, None], shown, stated)
    notes = []
    for mask, what in (
        (
            real,
            "the <size> in their annotation file differs from the image file: the file's real size was "
            "kept for the boxes and the stated one recorded (svmlp audit lists them as size_mismatch)",
        ),
        (
            resized,
            "the <size> in their annotation file differs from the image file, and their boxes reach past "
            "the file but fit the stated size: resized after labelling? the stated size was kept",
        ),
    ):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            notes.append(
                f"{int(mask.sum())} image(s): {what} (e.g. {label_files[i]}: <size> "
                f"{int(stated[i, 0])}x{int(stated[i, 1])}, image {int(shown[i, 0])}x{int(shown[i, 1])})"
            )
    stored = np.where(real[:, None], stated, 0) if real.any() else None
    return Frames(
        width=size[:, 0].copy(),
        height=size[:, 1].copy(),
        stored_width=None if stored is None else stored[:, 0].copy(),
        stored_height=None if stored is None else stored[:, 1].copy(),
        notes=notes,
    )
