"""Read every image file once: is it there, does it decode, how big is it, what does it look like.

One pass per image gives the integrity checks (missing, undecodable, stored size ≠ real size) and
the split-hygiene checks (sha256 of the bytes for identical files, a 64-bit perceptual hash of the
pixels for near-duplicates). Decoding releases the GIL, so a thread pool spreads it over the cores.

Only regular files are read (a FIFO at an image path would block the scan forever, an image linked
to ``/dev/zero`` never end), streamed, never held whole; what is not one is a finding. Everything
Pillow and numpy can say about a broken file is in the finding, so their warnings are kept off
stderr while the scan runs (:func:`quiet_images`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from svmlp._files import NotRegularFileError, open_regular_file
from svmlp._pool import map_threads
from svmlp.model import Dataset

__all__ = ["MAX_IMAGE_BYTES", "ImageScan", "phash", "quiet_images", "scan_images"]

_ORIENTATION_TAG = 0x0112
#: an image file larger than this is a finding, not read: no image Pillow decodes within its
#: decompression-bomb limit (179 million pixels) is this large, and a sparse file of a terabyte
#: would otherwise be hashed for hours
MAX_IMAGE_BYTES = 2 << 30
_CHUNK = 1 << 20


@dataclass
class ImageScan:
    """Per image row: ``state`` "ok" | "missing" | "undecodable" | "unknown" (no folder for its split)."""

    state: np.ndarray
    error: list[str]
    width: np.ndarray  # as displayed (EXIF orientation applied); 0 when not read
    height: np.ndarray
    orientation: np.ndarray
    sha256: list[str]
    phash: np.ndarray  # uint64; 0 when not computed
    has_hash: np.ndarray


_N = 32
_DCT = np.cos(np.pi * (2 * np.arange(_N)[None, :] + 1) * np.arange(_N)[:, None] / (2 * _N))


def phash(gray: np.ndarray) -> int:
    """A 64-bit perceptual hash of a 32×32 grayscale thumbnail: the signs, against their median, of
    the 8×8 lowest frequencies of its DCT (the DC term left out, bit 0 kept 0). Robust to resizing,
    re-encoding, brightness and blur; half the bits are set on any picture, so large flat areas
    (sky, road) do not make unrelated scenes look alike, as they do with a difference hash."""
    low = (_DCT @ gray @ _DCT.T)[:8, :8].ravel()[1:]
    bits = np.concatenate([[False], low > np.median(low)])
    return int(np.packbits(bits).view(">u8")[0])


@contextlib.contextmanager
def quiet_images() -> Iterator[None]:
    """Keep Pillow's warnings (a corrupt EXIF block, a truncated read, a decompression bomb) off
    stderr while images are scanned: the scan reports those files itself.

    Enter it in the thread that starts the scan's thread pool and leave it once the pool is done:
    ``warnings.catch_warnings`` swaps the process-wide filter list, which is safe when one thread
    enters and leaves it and the pool's threads only read the filters (numpy's warnings are kept
    off with ``np.errstate``, which is per thread, in the workers themselves).
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        yield


def _sha256(fh: BinaryIO, size: int) -> str:
    """The sha256 of the first ``size`` bytes of ``fh`` (its size when opened), read in pieces."""
    h, left = hashlib.sha256(), size
    while left > 0 and (piece := fh.read(min(left, _CHUNK))):
        h.update(piece)
        left -= len(piece)
    return h.hexdigest()


def _one(path: Path | None, decode: bool) -> tuple[str, str, int, int, int, str, int | None]:
    if path is None:
        return "unknown", "no image folder is known for its split", 0, 0, 0, "", None
    try:
        fh = open_regular_file(path)  # without blocking: a FIFO is refused, not waited on
    except FileNotFoundError:
        return "missing", f"not found at {path}", 0, 0, 0, "", None
    except NotRegularFileError as exc:
        why = f"{path} is {exc.strerror}, not a regular file; svmlp reads regular files only"
        return "undecodable", why, 0, 0, 0, "", None
    except OSError as exc:
        return "missing", f"cannot read {path} ({exc.strerror or exc})", 0, 0, 0, "", None
    with fh, np.errstate(all="ignore"):
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_IMAGE_BYTES:
            why = f"{path} is {size} bytes, more than the {MAX_IMAGE_BYTES} bytes an image file may have"
            return "undecodable", why, 0, 0, 0, "", None
        try:
            digest = _sha256(fh, size)
        except OSError as exc:
            return "missing", f"cannot read {path} ({exc.strerror or exc})", 0, 0, 0, "", None
        return _decode(fh, decode, digest)


def _decode(fh: BinaryIO, decode: bool, digest: str) -> tuple[str, str, int, int, int, str, int | None]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        fh.seek(0)
        with Image.open(fh) as im:
            orientation = (
                int(im.getexif().get(_ORIENTATION_TAG, 1))
                if im.format in ("JPEG", "MPO", "WEBP", "TIFF")
                else 1
            )
            if not decode and im.format == "JPEG":
                im.draft("L", (64, 64))  # a reduced decode is plenty for the hash
            im.load()
            w, h = im.size if orientation not in (5, 6, 7, 8) else im.size[::-1]
            if not decode:  # a draft decode shrinks the image: the size is the header's
                fh.seek(0)
                with Image.open(fh) as head:
                    w, h = head.size if orientation not in (5, 6, 7, 8) else head.size[::-1]
            small = ImageOps.exif_transpose(im).convert("L").resize((_N, _N), Image.Resampling.BILINEAR)
            return "ok", "", w, h, orientation, digest, phash(np.asarray(small, dtype=np.float64))
    except UnidentifiedImageError:  # its message names the file object, not the file
        return "undecodable", "not an image Pillow can read", 0, 0, 0, digest, None
    except Exception as exc:  # Pillow's decoders raise many types on broken files
        return "undecodable", f"{type(exc).__name__}: {exc}", 0, 0, 0, digest, None


def scan_images(ds: Dataset, *, decode: bool = True, threads: int | None = None) -> ImageScan:
    """Scan every image of ``ds`` (``decode=False``: a reduced decode, no truncation check)."""
    from PIL import ImageFile

    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set: truncated images would pass")
    paths = [ds.image_path(i) for i in range(len(ds.images))]
    with quiet_images():
        rows = map_threads(
            lambda p: _one(p, decode),
            paths,
            threads=threads or min(8, os.cpu_count() or 2),
            progress="scanning images",
        )
    n = len(rows)
    return ImageScan(
        state=np.array([r[0] for r in rows], dtype="U11") if n else np.zeros(0, "U11"),
        error=[r[1] for r in rows],
        width=np.array([r[2] for r in rows], dtype=np.int64),
        height=np.array([r[3] for r in rows], dtype=np.int64),
        orientation=np.array([r[4] for r in rows], dtype=np.int8),
        sha256=[r[5] for r in rows],
        phash=np.array([r[6] or 0 for r in rows], dtype=np.uint64),
        has_hash=np.array([r[6] is not None for r in rows], dtype=bool),
    )
