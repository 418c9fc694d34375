"""Image sizes and EXIF orientation from file headers, without decoding pixels."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from svmlp import _imagehead
from svmlp._files import NotRegularFileError, open_regular
from svmlp._pool import map_threads
from svmlp._progress import stage

if TYPE_CHECKING:
    import numpy as np

__all__ = ["HeaderInfo", "PendingHeaders", "read_header", "read_headers"]

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
        from svmlp.model.tables import ORIENTATION_SWAPS

        turned = self.orientation in ORIENTATION_SWAPS
        return (self.height, self.width) if turned else (self.width, self.height)


def read_header(path: str | os.PathLike[str]) -> HeaderInfo:
    """Size and EXIF orientation (1 when absent) of one image, from its header only.

    >>> read_header("/no/such.jpg").error
    'missing'
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return HeaderInfo(0, 0, 0, "missing")
    except NotRegularFileError as exc:
        return HeaderInfo(0, 0, 0, f"{exc.strerror}, not a regular file")
    except OSError as exc:
        return HeaderInfo(0, 0, 0, f"unreadable ({exc.strerror or exc})")
    try:
        try:
            fast = _imagehead.parse(fd)  # plain JPEGs and PNGs, without Pillow
        except OSError as exc:
            return HeaderInfo(0, 0, 0, f"unreadable ({exc.strerror or exc})")
        if fast is not None:
            return HeaderInfo(*fast)
        os.lseek(fd, 0, os.SEEK_SET)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return _pillow(fh)
    finally:
        os.close(fd)


def _pillow(fh: BinaryIO) -> HeaderInfo:
    from PIL import Image, UnidentifiedImageError

    try:
        try:
            return _open(fh)
        except Image.DecompressionBombError:
            # a huge aerial photo, not an attack: only its header is read, so lift the limit
            with _LIMIT_LIFTED:
                limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    fh.seek(0)
                    return _open(fh)
                finally:
                    Image.MAX_IMAGE_PIXELS = limit
    except UnidentifiedImageError:
        return HeaderInfo(0, 0, 0, "not an image")
    except (MemoryError, RecursionError):
        raise
    except (
        Exception
    ) as exc:  # Pillow's plugins raise many types on broken headers (struct.error, EOFError...)
        return HeaderInfo(0, 0, 0, f"unreadable ({exc})")


def _open(fh: BinaryIO) -> HeaderInfo:
    from PIL import Image

    with Image.open(fh) as im:
        width, height = im.size
        orientation = 1
        # EXIF sits in the header of these; a PNG's may follow the pixels, and asking Pillow
        # for it there decodes the whole image: only an eXIf chunk before the pixels counts
        if im.format in ("JPEG", "MPO", "TIFF", "WEBP") or "exif" in im.info:
            value = im.getexif().get(_ORIENTATION_TAG, 1)
            orientation = value if isinstance(value, int) and 1 <= value <= 8 else 1
        return HeaderInfo(width, height, orientation)


#: image headers read before deciding whether threads help, and between progress updates
_CHUNK = 256
#: seconds a header read takes beyond which the disk is slow and threads overlap its latency
_SLOW = 250e-6


def read_headers(paths: Sequence[str | os.PathLike[str] | None], *, threads: int = 8) -> list[HeaderInfo]:
    """:func:`read_header` for many files, in order; threads overlap a slow file system's latency
    (used only when the first few reads show it is slow)."""

    def one(p: str | os.PathLike[str] | None) -> HeaderInfo:
        return HeaderInfo(0, 0, 0, "missing") if p is None else read_header(p)

    # Pillow warns of broken EXIF blocks and odd headers; the size is what counts here. The filter
    # is set by this thread around the pool (catch_warnings in the workers would race).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.filterwarnings("ignore", message=".*(EXIF|exif|Image size).*")
        started = time.perf_counter()
        with stage("reading image headers", len(paths)) as tick:
            # a header read is ~35 µs from the page cache: parsing it holds the GIL, so threads only
            # contend (8 threads took 3x as long as one). They pay off where the disk is slow (cold,
            # on a network): the first chunk, read in this thread, says which this is
            first = [one(p) for p in paths[:_CHUNK]]
            tick(len(first))
            rest = paths[_CHUNK:]
            per_item = (time.perf_counter() - started) / max(len(first), 1)
            if not rest or threads <= 1 or per_item < _SLOW:
                out = first
                for k in range(0, len(rest), _CHUNK):
                    out += [one(p) for p in rest[k : k + _CHUNK]]
                    tick(min(_CHUNK, len(rest) - k))
                return out
            chunks = [rest[k : k + _CHUNK // 8] for k in range(0, len(rest), _CHUNK // 8)]
            done = map_threads(lambda chunk: [one(p) for p in chunk], chunks, threads=threads)
            tick(len(rest))
            return first + [info for chunk in done for info in chunk]


def header_columns(infos: Sequence[HeaderInfo]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header width, height and orientation as columns for an :class:`~svmlp.model.ImageTable`."""
    import numpy as np

    n = len(infos)
    return (
        np.fromiter((i.width for i in infos), np.int64, n),
        np.fromiter((i.height for i in infos), np.int64, n),
        np.fromiter((i.orientation for i in infos), np.int8, n),
    )


#: images below which a worker process does not pay for itself
_WORKER_MIN = 2000
#: one answer per path: width, height (little-endian int64) and orientation (int8)
_RECORD = 17


class PendingHeaders:
    """:func:`header_columns` of :func:`read_headers` for ``paths``, read meanwhile by a worker
    process (``python -m svmlp._headworker``, which imports neither numpy nor the formats) while
    the caller goes on with other work; :meth:`columns` collects them, reading them here when
    there is no worker or it failed. A worker, not a fork: a forked child keeps every page the
    caller frees afterwards (the JSON text just decoded), a fresh process holds only the paths.
    Use as a context manager, so that a caller that raises stops the worker."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths
        self._worker: subprocess.Popen[bytes] | None = None
        if len(paths) >= _WORKER_MIN and (os.cpu_count() or 1) > 1 and _worker_allowed():
            self._worker = _start_worker(paths)

    def __enter__(self) -> PendingHeaders:
        return self

    def __exit__(self, *exc: object) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()
            _collect(worker)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Width, height and orientation of every path (0 where unreadable), in order."""
        import numpy as np

        n = len(self.paths)
        worker, self._worker = self._worker, None
        if worker is not None:
            data = _collect(worker)
            if worker.returncode == 0 and len(data) == _RECORD * n:
                return (
                    np.frombuffer(data, "<i8", n).astype(np.int64),
                    np.frombuffer(data, "<i8", n, 8 * n).astype(np.int64),
                    np.frombuffer(data, "i1", n, 16 * n).astype(np.int8),
                )
        return header_columns(read_headers(self.paths))


def _worker_allowed() -> bool:
    return bool(sys.executable) and os.environ.get("SVMLP_NO_WORKERS", "") in ("", "0")


def _start_worker(paths: Sequence[str]) -> subprocess.Popen[bytes] | None:
    """The worker, fed every path (NUL-separated) at once; None when it cannot start."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys; sys.path.insert(0, sys.argv[1]); from svmlp._headworker import main; main()"
    try:
        worker = subprocess.Popen(
            [sys.executable, "-c", code, package_parent],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    assert worker.stdin is not None
    try:
        with worker.stdin:
            worker.stdin.write(b"\0".join(os.fsencode(p) for p in paths))
    except OSError:  # it died already: read here instead
        worker.kill()
        _collect(worker)
        return None
    return worker


def _collect(worker: subprocess.Popen[bytes]) -> bytes:
    """What the worker wrote, once it has ended (its stdin is closed already)."""
    assert worker.stdout is not None
    with worker.stdout:
        data = worker.stdout.read()
    worker.wait()
    return data
