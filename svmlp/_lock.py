"""An exclusive lock on a folder, so that two runs never write it at once."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from svmlp.errors import DownloadError

__all__ = ["folder_lock"]


def _busy(folder: Path, path: Path) -> DownloadError:
    return DownloadError(
        f"{folder}: another svmlp download is writing this folder (it holds {path}); wait for it to finish"
    )


@contextlib.contextmanager
def folder_lock(path: Path, folder: Path) -> Iterator[None]:
    """Hold ``path`` for the block. ``flock`` where the file system has it (released even if the
    process dies); elsewhere a lock file made with O_EXCL that records the pid, taken over when
    that process is gone."""
    fh = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(folder, path) from None
        except (ImportError, OSError):  # Windows, or a network file system without flock
            with _pid_lock(path.with_name(path.name + ".pid"), folder):
                yield
            return
        yield
    finally:
        fh.close()


@contextlib.contextmanager
def _pid_lock(path: Path, folder: Path) -> Iterator[None]:
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            if _alive(path):
                raise _busy(folder, path) from None
            path.unlink(missing_ok=True)  # its process is gone: a stale lock
    else:
        raise _busy(folder, path)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(path: Path) -> bool:
    try:
        pid = int(path.read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
