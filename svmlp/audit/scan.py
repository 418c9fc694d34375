"""Read every image file once: is it there, does it decode, how big is it, what does it look like.

One pass per image gives the integrity checks (missing, undecodable, stored size ≠ real size) and
the split-hygiene checks (sha256 of the bytes for identical files, a 64-bit perceptual hash of the
pixels for near-duplicates). Decoding releases the GIL, so a thread pool spreads it over the cores.
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svmlp.model import Dataset

__all__ = ["ImageScan", "phash", "scan_images"]

_ORIENTATION_TAG = 0x0112


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


def _one(path: Path | None, decode: bool) -> tuple[str, str, int, int, int, str, int | None]:
    from PIL import Image, ImageOps

    if path is None:
        return "unknown", "no image folder is known for its split", 0, 0, 0, "", None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing", f"not found at {path}", 0, 0, 0, "", None
    except OSError as exc:
        return "missing", f"cannot read {path} ({exc.strerror or exc})", 0, 0, 0, "", None
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
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
                with Image.open(io.BytesIO(data)) as head:
                    w, h = head.size if orientation not in (5, 6, 7, 8) else head.size[::-1]
            small = ImageOps.exif_transpose(im).convert("L").resize((_N, _N), Image.Resampling.BILINEAR)
            return "ok", "", w, h, orientation, digest, phash(np.asarray(small, dtype=np.float64))
    except Exception as exc:  # Pillow's decoders raise many types on broken files
        return "undecodable", f"{type(exc).__name__}: {exc}", 0, 0, 0, digest, None


def scan_images(ds: Dataset, *, decode: bool = True, threads: int | None = None) -> ImageScan:
    """Scan every image of ``ds`` (``decode=False``: a reduced decode, no truncation check)."""
    from PIL import ImageFile

    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set: truncated images would pass")
    paths = [ds.image_path(i) for i in range(len(ds.images))]
    with ThreadPoolExecutor(threads or min(8, os.cpu_count() or 2)) as pool:
        rows = list(pool.map(lambda p: _one(p, decode), paths, chunksize=16))
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
