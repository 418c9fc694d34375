"""sha256 of files, fast: the digest every download and verify depends on."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["CHUNK", "Tick", "sha256_file"]

CHUNK = 2 << 20  # 1 to 4 MiB measured the same; smaller pieces cost more calls
PIPELINE_MIN = 4 * CHUNK  # smaller files are read whole: a reader thread would not pay for itself
Tick = Callable[[int], Any]


def sha256_file(path: str | os.PathLike[str], *, tick: Tick | None = None) -> str:
    """The hex sha256 of a file, streamed in ``CHUNK`` pieces; ``tick(n)`` after each piece.

    >>> import hashlib, tempfile
    >>> with tempfile.NamedTemporaryFile() as f:
    ...     _ = f.write(b"abc"); f.flush()
    ...     sha256_file(f.name) == hashlib.sha256(b"abc").hexdigest()
    True
    """
    tick = tick or (lambda n: None)
    with open(path, "rb", buffering=0) as fh:
        if os.fstat(fh.fileno()).st_size < PIPELINE_MIN:
            data = fh.read()
            tick(len(data))
            return hashlib.sha256(data).hexdigest()
        return _sha256_pipelined(fh, tick)


def _sha256_pipelined(fh: Any, tick: Tick) -> str:
    # a second thread reads the next chunk while this one hashes: both release the GIL, so a
    # big file hashes ~15% faster than reading and hashing in turn
    h, bufs, k = hashlib.sha256(), (bytearray(CHUNK), bytearray(CHUNK)), 0
    with ThreadPoolExecutor(1) as reader:
        n = fh.readinto(bufs[0])
        while n:
            pending = reader.submit(fh.readinto, bufs[1 - k])
            h.update(memoryview(bufs[k])[:n])
            tick(n)
            n, k = pending.result(), 1 - k
    return h.hexdigest()
