"""Image sizes and EXIF orientation from file headers, without decoding pixels."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from svmlp._files import NotRegularFileError, open_regular_file
from svmlp._pool import map_threads
from svmlp.model.tables import ORIENTATION_SWAPS

__all__ = ["HeaderInfo", "read_header", "read_headers"]

_ORIENTATION_TAG = 0x0112
_LIMIT_LIFTED = threading.Lock()


@dataclass(frozen=True)
class HeaderInfo:
    """What an image file's header says; ``error`` is set (and sizes 0) when it could not be read."""

    width: int
    height: int
    orientation: int
    error: str | None = None

    @property
    def displayed(self) -> tuple[int, int]:
        """Width and height after applying the EXIF orientation."""
        turned = self.orientation in ORIENTATION_SWAPS
        return (self.height, self.width) if turned else (self.width, self.height)


def read_header(path: str | os.PathLike[str]) -> HeaderInfo:
    """Size and EXIF orientation (1 when absent) of one image, from its header only.

    >>> read_header("/no/such.jpg").error
    'missing'
    """
    from PIL import Image, UnidentifiedImageError

    try:
        try:
            return _open(path)
        except Image.DecompressionBombError:
            # a huge aerial photo, not an attack: only its header is read, so lift the limit
            with _LIMIT_LIFTED:
                limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    return _open(path)
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
    except FileNotFoundError:
        return HeaderInfo(0, 0, 0, "missing")
    except NotRegularFileError as exc:
        return HeaderInfo(0, 0, 0, f"{exc.strerror}, not a regular file")
    except UnidentifiedImageError:
        return HeaderInfo(0, 0, 0, "not an image")
    except (OSError, SyntaxError, ValueError) as exc:  # PIL raises SyntaxError for some broken headers
        return HeaderInfo(0, 0, 0, f"unreadable ({exc})")


def _open(path: str | os.PathLike[str]) -> HeaderInfo:
    from PIL import Image

    with open_regular_file(path) as fh, Image.open(fh) as im:
        width, height = im.size
        orientation = 1
        # EXIF sits in the header of these; a PNG's may follow the pixels, and asking Pillow
        # for it there decodes the whole image: only an eXIf chunk before the pixels counts
        if im.format in ("JPEG", "MPO", "TIFF", "WEBP") or "exif" in im.info:
            value = im.getexif().get(_ORIENTATION_TAG, 1)
            orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
        return HeaderInfo(width, height, orientation)


def read_headers(paths: Sequence[str | os.PathLike[str] | None], *, threads: int = 8) -> list[HeaderInfo]:
    """:func:`read_header` for many files; threads overlap the file-system latency."""

    def one(p: str | os.PathLike[str] | None) -> HeaderInfo:
        return HeaderInfo(0, 0, 0, "missing") if p is None else read_header(p)

    # Pillow warns of broken EXIF blocks and odd headers; the size is what counts here. The filter
    # is set by this thread around the pool (catch_warnings in the workers would race).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.filterwarnings("ignore", message=".*(EXIF|exif|Image size).*")
        return map_threads(
            one, paths, threads=threads if len(paths) >= 64 else 1, progress="reading image headers"
        )


def header_columns(infos: Sequence[HeaderInfo]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header width, height and orientation as columns for an :class:`~svmlp.model.ImageTable`."""
    n = len(infos)
    return (
        np.fromiter((i.width for i in infos), np.int64, n),
        np.fromiter((i.height for i in infos), np.int64, n),
        np.fromiter((i.orientation for i in infos), np.int8, n),
    )
