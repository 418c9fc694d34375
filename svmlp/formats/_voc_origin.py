"""Which origin a VOC set's numbers count from: the devkit's 1-based pixel indices, or the 0-based
continuous coordinates that labelformat, datumaro, LabelMe and Roboflow exports write.

In the devkit's convention ``xmin`` counts pixels from 1, so ``xmin = 0`` cannot happen there, and
decimals ("12.0", "12.5") are what the 0-based exporters write. The convention is never changed
silently: a set that shows a 0 and writes its numbers one way throughout is read 0-based, with a
note saying what was inferred; every other sign is a note naming ``--voc-origin 0``. An origin
given by the caller is used as given.
"""

from __future__ import annotations

import numpy as np

from svmlp.formats._voc_parse import Parsed

__all__ = ["choose_origin"]


def _zero_files(files: list[Parsed], vals: np.ndarray) -> np.ndarray:
    """Indices of the files with an object whose ``xmin`` or ``ymin`` lies in [0, 1)."""
    file_of = np.repeat(np.arange(len(files)), [len(p.names) for p in files])
    with np.errstate(invalid="ignore"):
        low = (vals[:, :2] >= 0) & (vals[:, :2] < 1)
    return np.unique(file_of[low.any(axis=1)])


def choose_origin(
    files: list[Parsed], vals: np.ndarray, *, given: int | None, svmlp_written: bool
) -> tuple[int, list[str]]:
    """The origin to read ``files`` with (``vals``: their numbers as written) and notes on why.

    Files svmlp wrote (``<svmlp id=...>`` at their root, or a sidecar beside them) are 1-based by
    construction: a box reaching a pixel past the left border is written ``xmin = 0`` there.
    """
    if given is not None or svmlp_written:
        return (1 if given is None else given), []
    foreign = [k for k, p in enumerate(files) if p.names and p.image_id is None]
    if not foreign:
        return 1, []
    is_foreign = np.zeros(len(files), dtype=bool)
    is_foreign[foreign] = True
    zero = [k for k in _zero_files(files, vals).tolist() if is_foreign[k]]
    decimal = [k for k in foreign if files[k].decimal]
    of = f"of {len(foreign)} annotation file(s)"
    if zero:
        eg = files[zero[0]].path
        if len(decimal) in (0, len(foreign)):
            return 0, [
                f"read as 0-based coordinates (inferred: {len(zero)} {of} have xmin or ymin 0, which the "
                f"devkit's 1-based pixel indices cannot hold, e.g. {eg}, and all write their numbers "
                "alike); pass --voc-origin 1 to read them 1-based"
            ]
        return 1, [
            f"{len(zero)} {of} have xmin or ymin 0, which the devkit's 1-based pixel indices cannot hold "
            f"(e.g. {eg}), but {len(decimal)} write decimals and {len(foreign) - len(decimal)} whole "
            "numbers (two tools?), so they were read 1-based; if they are 0-based, pass --voc-origin 0"
        ]
    if decimal:
        return 1, [
            f"{len(decimal)} {of} write coordinates as decimals (e.g. {files[decimal[0]].path}), as 0-based "
            "exporters (LabelMe, Roboflow, labelformat, datumaro) do; they were read with the devkit's "
            "1-based convention; if they are 0-based, pass --voc-origin 0"
        ]
    return 1, []
