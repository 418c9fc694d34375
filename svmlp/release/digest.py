"""sha256 of files, fast: the digest every download and verify depends on.

Files are opened with :func:`svmlp._files.open_regular`: a FIFO planted where a release file
should be cannot hang the reader, a link to ``/dev/zero`` cannot make it read forever, and no
more than the size the file had when it was opened is read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from svmlp._files import open_regular

__all__ = ["CHUNK", "Tick", "sha256_fd", "sha256_file"]

CHUNK = 2 << 20  # 1 to 4 MiB measured the same; smaller pieces cost more calls
PIPELINE_MIN = 4 * CHUNK  # smaller files are read whole: a reader thread would not pay for itself
Tick = Callable[[int], Any]


def sha256_file(path: str | os.PathLike[str], *, tick: Tick | None = None, follow: bool = True) -> str:
    """The hex sha256 of a regular file, streamed in ``CHUNK`` pieces; ``tick(n)`` after each piece.

    Raises ``OSError`` (:class:`svmlp._files.NotRegularFileError` for a FIFO, device or folder, and
    for a symbolic link when ``follow`` is False).

    >>> import hashlib, tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     sha256_file(f.name) == hashlib.sha256(b"abc").hexdigest()
    True
    """
    fd = open_regular(path, follow=follow)
    try:
        return sha256_fd(fd, tick=tick)
    finally:
        os.close(fd)


def sha256_fd(fd: int, *, tick: Tick | None = None) -> str:
    """The hex sha256 of the regular file open as ``fd``, read from where it stands up to the size
    the file has now (a file that grows while it is hashed cannot keep the reader going)."""
    tick = tick or (lambda n: None)
    with os.fdopen(fd, "rb", buffering=0, closefd=False) as fh:
        left = max(0, os.fstat(fd).st_size - fh.tell())
        if left < PIPELINE_MIN:
            data = fh.read(left)
            tick(len(data))
            return hashlib.sha256(data).hexdigest()
        return _sha256_pipelined(fh, left, tick)


def _sha256_pipelined(fh: Any, left: int, tick: Tick) -> str:
    # a second thread reads the next chunk while this one hashes: both release the GIL, so a
    # big file hashes ~15% faster than reading and hashing in turn
    h, bufs, k = hashlib.sha256(), (bytearray(CHUNK), bytearray(CHUNK)), 0

    def read(buf: bytearray, limit: int) -> int:
        if limit <= 0:
            return 0
        return fh.readinto(memoryview(buf)[:limit]) or 0

    with ThreadPoolExecutor(1) as reader:
        n = read(bufs[0], min(CHUNK, left))
        while n:
            left -= n
            pending = reader.submit(read, bufs[1 - k], min(CHUNK, left))
            h.update(memoryview(bufs[k])[:n])
            tick(n)
            n, k = pending.result(), 1 - k
    return h.hexdigest()
