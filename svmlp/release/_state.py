"""An exclusive lock on a folder, so that two runs never write it at once; and the one way svmlp
opens the files it keeps in a release's state folder.

Anyone who could write the state folder before svmlp ran (or an earlier, hostile archive, were it
ever to reach it) may have left a symbolic link where svmlp keeps a file: ``x.part ->
~/.bashrc``. Opening that for appending, or truncating it, would change the file the link points
to. :func:`own_file` therefore removes whatever is not a plain file of svmlp's own (a link, a FIFO,
a device, a hard link shared with another name) and opens with ``O_NOFOLLOW``, so that even a link
planted in between is refused rather than followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from svmlp._files import read_file
from svmlp.errors import DownloadError, SvmlpError

__all__ = ["clear_path", "folder_lock", "own_file"]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def clear_path(path: Path) -> None:
    """Remove ``path`` when it is anything but a regular file with no other name: the link itself
    is removed, never what it points to. A folder there is an error (svmlp deletes no folder)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise DownloadError(
            f"{path}: is a folder where svmlp keeps a file of its own; remove it and run again"
        )
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        path.unlink()


def own_file(path: Path, flags: int, mode: int = 0o644) -> int:
    """A descriptor of svmlp's own file ``path`` (created if missing), never through a link.

    ``flags``: the access wanted (``os.O_RDWR | os.O_APPEND``...); ``O_CREAT`` is added."""
    clear_path(path)
    try:
        # O_NONBLOCK: a FIFO swapped in after the check must not block the open
        fd = os.open(path, flags | os.O_CREAT | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise DownloadError(
            f"{path}: a symbolic link appeared there while svmlp was replacing it; is another program "
            "writing this folder? svmlp did not follow it"
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(fd)
        raise DownloadError(
            f"{path}: is not a plain file of svmlp's own (something replaced it while svmlp was "
            "opening it); svmlp did not write to it"
        )
    if _O_NONBLOCK and hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


def _busy(folder: Path, path: Path) -> DownloadError:
    return DownloadError(
        f"{folder}: another svmlp download is writing this folder (it holds {path}); wait for it to finish"
    )


@contextlib.contextmanager
def folder_lock(path: Path, folder: Path) -> Iterator[None]:
    """Hold ``path`` for the block. ``flock`` where the file system has it (released even if the
    process dies); elsewhere a lock file made with O_EXCL that records the pid, taken over when
    that process is gone."""
    fh = os.fdopen(own_file(path, os.O_RDWR), "r+")  # held for the whole block
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
            # O_EXCL never follows a link: a planted one is an existing file, judged by _alive
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _O_CLOEXEC, 0o644)
            break
        except FileExistsError:
            if _alive(path):
                raise _busy(folder, path) from None
            path.unlink(missing_ok=True)  # its process is gone (or it is no pid file): a stale lock
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
        # a link, a FIFO (which would block a plain read) or a huge file is no lock of svmlp's
        pid = int(read_file(path, limit=64, follow=False, error=DownloadError).strip() or b"0")
    except (SvmlpError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OverflowError:  # no process has so large a number
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True
