"""A cache of decoded, resized images on disk, memory-mapped, filled during the first epoch.

One flat uint8 file holds every image at its load size back to back (offsets known up front from
the annotation sizes), and a one-byte state per image says whether its slot is filled. DataLoader workers open the files themselves and write disjoint slots; a slot's
pixels are written before its state, so a reader never sees a half-written image. The key hashes
the load size and every image's path, size on disk and modification time: change any image and a
new cache is built beside the old one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

import numpy as np

from svmlp._files import file_kind
from svmlp.errors import UsageError

__all__ = ["ImageCache", "default_cache_dir"]

EMPTY, FILLED = 0, 1
_VERSION = b"svmlp-image-cache/1"
_FLAGS = os.O_RDWR | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def default_cache_dir() -> Path:
    """``$SVMLP_CACHE``, else ``$XDG_CACHE_HOME/svmlp``, else ``~/.cache/svmlp``."""
    if os.environ.get("SVMLP_CACHE"):
        return Path(os.environ["SVMLP_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "svmlp"


class ImageCache:
    """Slots for ``len(sizes)`` images of (width, height) ``sizes`` under ``folder``."""

    def __init__(self, folder: str | Path, paths: list[str], sizes: np.ndarray, side: int | None) -> None:
        digest = hashlib.sha256(_VERSION + str(side).encode())
        for p, (w, h) in zip(paths, sizes.tolist(), strict=True):
            try:
                st = os.stat(p)
                stamp = f"{st.st_size}:{st.st_mtime_ns}"
            except OSError:
                stamp = "missing"
            digest.update(f"\0{p}\0{w}x{h}\0{stamp}".encode())
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        key = digest.hexdigest()[:24]
        self.data_path = self.folder / f"images-{key}.u8"
        self.state_path = self.folder / f"images-{key}.state"
        self.sizes = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
        nbytes = self.sizes[:, 0] * self.sizes[:, 1] * 3
        self.offsets = np.concatenate([[0], np.cumsum(nbytes)]).astype(np.int64)
        for path, size in ((self.data_path, int(self.offsets[-1])), (self.state_path, len(self.sizes))):
            fd = _open_cache_file(path, create=True)
            try:
                if os.fstat(fd).st_size != size:  # not this cache's (a crash while making it): empty it
                    os.ftruncate(fd, 0)
                    os.ftruncate(fd, size)  # sparse: takes disk only as slots fill
            finally:
                os.close(fd)
        self._data: np.ndarray | None = None
        self._state: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return int(self.offsets[-1])

    def __getstate__(self) -> dict[str, object]:
        # each process maps the files itself (a mapping does not travel to a worker)
        return {**self.__dict__, "_data": None, "_state": None}

    def _open(self) -> None:
        if self._data is None:
            if self.nbytes == 0:  # nothing to map (no image, or only unknown sizes)
                self._data, self._state = np.zeros(0, np.uint8), np.zeros(len(self.sizes), np.uint8)
                return
            with os.fdopen(_open_cache_file(self.data_path), "r+b") as data:
                self._data = np.memmap(data, dtype=np.uint8, mode="r+", shape=(self.nbytes,))
            with os.fdopen(_open_cache_file(self.state_path), "r+b") as state:
                self._state = np.memmap(state, dtype=np.uint8, mode="r+", shape=(len(self.sizes),))

    def state(self, i: int) -> int:
        self._open()
        return int(self._state[i])  # type: ignore[index]

    def get(self, i: int) -> np.ndarray | None:
        """Image ``i`` (H×W×3 view of the mapped file), or None when not cached yet."""
        self._open()
        if self._state[i] != FILLED:  # type: ignore[index]
            return None
        w, h = self.sizes[i]
        return self._data[self.offsets[i] : self.offsets[i + 1]].reshape(h, w, 3)  # type: ignore[index]

    def put(self, i: int, image: np.ndarray) -> None:
        self._open()
        w, h = self.sizes[i]
        if image.shape != (h, w, 3):
            return  # a size the labels did not predict: not cached, decoded again next time
        self._data[self.offsets[i] : self.offsets[i + 1]] = image.reshape(-1)  # type: ignore[index]
        self._state[i] = FILLED  # type: ignore[index]

    def filled(self) -> int:
        self._open()
        return int(np.count_nonzero(self._state == FILLED))


def _open_cache_file(path: Path, *, create: bool = False) -> int:
    """A read-write descriptor of the cache file ``path``, a regular file (made when ``create``).

    Opened without blocking and without following a link: a FIFO left at the cache's name would
    hang every worker, and a link planted in a shared cache folder must not get its target
    truncated and overwritten. Anything but a regular file is a :class:`UsageError` naming it.
    """
    try:
        fd = os.open(path, _FLAGS | (os.O_CREAT if create else 0), 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = "is a symbolic link; svmlp does not follow links in its cache folder"
        else:
            why = f"cannot open it ({exc.strerror or exc})"
        raise UsageError(
            f"{path}: image cache file {why}; remove it or choose another cache folder"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        what = (
            file_kind(st.st_mode)
            if not stat.S_ISREG(st.st_mode)
            else "a file with another name too (a hard link)"
        )
        raise UsageError(
            f"{path}: image cache file is {what}, not a regular file of its own; "
            "remove it or choose another cache folder"
        )
    return fd
