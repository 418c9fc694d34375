"""Decode an image into the frame its annotations are drawn in, at the size training needs.

JPEGs much larger than needed decode at 1/2, 1/4 or 1/8 scale (pillow's draft mode: the DCT
skips the detail a downscale would throw away), then resize to the exact size. The EXIF
orientation is applied when the annotations are drawn on the displayed picture (the usual case,
and what the annotation size says); when the annotation size is the file's stored size instead,
the pixels are used as stored. Any other size is an error: boxes would land in the wrong place.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from svmlp._files import NotRegularFileError, open_regular_file
from svmlp.errors import ImageError
from svmlp.model.tables import ORIENTATION_SWAPS
from svmlp.torch.sample import resize_image

__all__ = ["decode", "load_size"]

_ORIENTATION_TAG = 0x0112
#: EXIF orientation → the pillow transpose that shows the picture upright
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: draft mode is used only when the decoded image may be at most this share of the stored one
DRAFT_BELOW = 0.5


def _quiet_exif() -> None:
    """Ignore the warnings Pillow gives (UserWarning, from its own modules) while it parses a broken
    EXIF block: decode handles that (no orientation, see :func:`_orientation`), so they are noise on
    a training run's stderr. A process-wide filter for those messages only, set at import and again
    by :func:`decode` should a ``warnings.catch_warnings`` block (pytest's, a caller's) have dropped
    it: ``catch_warnings`` around each decode would not be thread-safe, and decode runs in
    DataLoader workers and user threads alike."""
    warnings.filterwarnings(
        "ignore",
        message=r"(Possibly corrupt EXIF|Corrupt EXIF|Truncated File Read|Tag data larger than file|"
        r"Tag offset too large|Metadata Warning)",
        category=UserWarning,
        module=r"PIL\.",
    )


_quiet_exif()
_QUIET_EXIF = warnings.filters[0]


def load_size(frame: tuple[int, int], side: int | None) -> tuple[int, int]:
    """(width, height) of a ``frame``-sized image resized so its longer side is ``side``.

    >>> load_size((1920, 1080), 640)
    (640, 360)
    """
    w, h = frame
    if not side or w <= 0 or h <= 0:
        return w, h
    scale = side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def decode(
    path: str | os.PathLike[str],
    frame: tuple[int, int] = (0, 0),
    side: int | None = None,
) -> tuple[np.ndarray, tuple[int, int]]:
    """The RGB pixels (H×W×3 uint8) of ``path`` in the annotation frame, resized so the longer
    side is ``side`` (None: full size), and the frame's (width, height).

    ``frame`` is the size the annotations state ((0, 0) when unknown: the displayed size).
    Raises :class:`ImageError` naming the file when it is missing, not an image, truncated, or of
    a size that matches neither the displayed nor the stored picture.
    """
    path = Path(path)
    if _QUIET_EXIF not in warnings.filters:  # a membership test: no lock, nothing mutated
        _quiet_exif()
    try:
        # a regular file only (a FIFO would block forever, /dev/zero never end), opened without
        # blocking; Pillow reads no more than the file holds
        fh = open_regular_file(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: image file not found") from None
    except NotRegularFileError as exc:
        raise ImageError(
            f"{path}: is {exc.strerror}, not a regular file; svmlp reads regular files only"
        ) from None
    except OSError as exc:  # not readable, a name too long, a folder in the path that is a file...
        raise ImageError(f"{path}: cannot open the image ({exc.strerror or exc})") from None
    try:
        with fh, Image.open(fh) as im:
            stored = im.size
            orientation = _orientation(im)
            turned = orientation in ORIENTATION_SWAPS
            shown = (stored[1], stored[0]) if turned else stored
            if frame in ((0, 0), shown):
                frame, upright = shown, True
            elif frame == stored:
                upright = False  # labelled on the pixels as stored, EXIF ignored: keep them so
            else:
                raise ImageError(
                    f"{path}: the annotations are for a {frame[0]}×{frame[1]} image but the file is "
                    f"{shown[0]}×{shown[1]}; boxes would be misplaced (run svmlp audit)"
                )
            target = load_size(frame, side)
            if side and im.format == "JPEG" and max(target) <= DRAFT_BELOW * max(stored):
                f = max(target) / max(frame)
                im.draft("RGB", (math.ceil(stored[0] * f), math.ceil(stored[1] * f)))
            im.load()  # the decode; converting an RGB image would only copy it
            rgb = im if im.mode == "RGB" else im.convert("RGB")
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image pillow can read") from None
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,  # these three from some truncated or malformed files, besides OSError
        IndexError,
        struct.error,
        Image.DecompressionBombError,
    ) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{path}: cannot decode the image ({exc})") from None
    if upright and orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    return resize_image(np.asarray(rgb), target), frame


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block is no orientation, not an unreadable image
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1
