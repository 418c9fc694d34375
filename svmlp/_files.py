"""Files from data that is hostile until checked: regular files only, bounded reads, links kept
inside the data set, and outputs written whole or not at all.

- :func:`open_regular` opens without blocking (a FIFO at an image path would otherwise hang the
  reader forever) and refuses anything but a regular file (``/dev/zero`` would never end).
- :func:`read_file` reads exactly the size the file had when opened, optionally up to a limit.
- :class:`LinkGuard` refuses a file reached through a symbolic link that leads out of the data
  set's folders (an "image" linked to ``/etc/hostname`` must not be copied into an output, a
  "label" linked to ``/etc/passwd`` must not be quoted in an error).
- :func:`write_atomic` writes a temporary file beside the target and renames it into place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from svmlp.errors import AnnotationError, SvmlpError, UsageError

__all__ = [
    "LinkGuard",
    "NotRegularFileError",
    "copy_regular",
    "file_kind",
    "make_folders",
    "open_regular",
    "open_regular_file",
    "read_file",
    "remove_tree",
    "replaced_atomically",
    "walk",
    "within",
    "write_atomic",
]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both absolute, normalised the same way)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


class NotRegularFileError(OSError):
    """The path exists but is not a regular file (a folder, FIFO, device, socket)."""


def _open_checked(path: str | os.PathLike[str], follow: bool) -> tuple[int, os.stat_result]:
    flags = os.O_RDONLY | _O_NONBLOCK | _O_CLOEXEC | (0 if follow else _O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise NotRegularFileError(errno.ELOOP, "a symbolic link, not followed", os.fspath(path)) from None
        if exc.errno in (errno.ENXIO, errno.EISDIR):  # a socket, a folder (on some systems)
            with contextlib.suppress(OSError):
                kind = file_kind(os.stat(path).st_mode)
                raise NotRegularFileError(exc.errno, kind, os.fspath(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, file_kind(st.st_mode), os.fspath(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def open_regular(path: str | os.PathLike[str], *, follow: bool = True) -> int:
    """A read-only descriptor of ``path``, which must be a regular file.

    Opens with ``O_NONBLOCK`` so a FIFO cannot block, then checks the kind of what was opened (no
    race with a swapped path). ``follow=False`` refuses a symbolic link as the last component
    (``O_NOFOLLOW``). Raises ``FileNotFoundError``, ``PermissionError`` or
    :class:`NotRegularFileError` (an ``OSError`` whose ``strerror`` says what the file is).
    """
    return _open_checked(path, follow)[0]


def open_regular_file(path: str | os.PathLike[str], *, follow: bool = True) -> BinaryIO:
    """:func:`open_regular` as a buffered binary file object (what Pillow's ``Image.open`` takes)."""
    return os.fdopen(open_regular(path, follow=follow), "rb")


def read_file(
    path: str | os.PathLike[str],
    *,
    limit: int | None = None,
    follow: bool = True,
    error: type[SvmlpError] = AnnotationError,
    what: str = "file",
) -> bytes:
    """The bytes of the regular file ``path`` (its size when opened, never more), or ``error``
    naming it: missing, not readable, not a regular file, or larger than ``limit`` bytes."""
    name = os.fspath(path)
    try:
        fd, st = _open_checked(path, follow)
    except NotRegularFileError as exc:
        raise error(
            f"{name}: is {exc.strerror}, not a regular {what}; svmlp reads regular files only"
        ) from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        size = st.st_size
        if limit is not None and size > limit:
            raise error(
                f"{name}: is {size} bytes, more than the {limit} a {what} may have; is it the right file?"
            )
        parts, left = [], size
        while left > 0 and (block := os.read(fd, left)):  # one read for most files
            parts.append(block)
            left -= len(block)
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    except MemoryError:  # a sparse file of 64 GB costs a few kB on disk
        raise error(f"{name}: {size} bytes, too large to read into memory; is it the right file?") from None
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class LinkGuard:
    """Refuses files reached through a symbolic link that leads out of ``roots`` (real paths).

    A file that is not a link, in a folder that lies inside the roots, costs one ``lstat``; each
    folder is resolved once. With no roots (a data set built in memory) nothing is refused.
    """

    def __init__(self, roots: Iterable[str | os.PathLike[str]]) -> None:
        self.roots = tuple(sorted({os.path.realpath(os.fspath(r)) for r in roots}))
        self._folders: dict[str, bool] = {}

    def _inside(self, real: str) -> bool:
        return any(within(real, r) for r in self.roots)

    def outside(self, path: str | os.PathLike[str]) -> str | None:
        """The real path ``path`` leads to when that lies outside the roots, else None.

        A missing file is not refused here (the caller reports it as missing)."""
        if not self.roots:
            return None
        name = os.fspath(path)
        try:
            st = os.lstat(name)
        except OSError:
            return None
        if not stat.S_ISLNK(st.st_mode):
            folder = os.path.dirname(name) or "."
            ok = self._folders.get(folder)
            if ok is None:
                ok = self._folders[folder] = self._inside(os.path.realpath(folder))
            if ok:
                return None
        real = os.path.realpath(name)
        return None if self._inside(real) else real

    def check(
        self, path: str | os.PathLike[str], *, error: type[SvmlpError] = AnnotationError, what: str = "file"
    ) -> None:
        """Raise ``error`` naming the link when ``path`` leads out of the data set."""
        real = self.outside(path)
        if real is not None:
            raise error(
                f"{os.fspath(path)}: this {what} is a symbolic link (or lies in a linked folder) leading to "
                f"{real}, outside the data set; svmlp does not follow links out of the data set "
                "(copy the file in, or read the folder it points to)"
            )


def copy_regular(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Copy the regular file ``src`` to the new file ``dst`` (never an existing one): the bytes it
    had when opened, with ``sendfile`` where the kernel has it."""
    fd_in = open_regular(src)
    try:
        size = os.fstat(fd_in).st_size
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666)
        try:
            offset = 0
            try:
                while offset < size:
                    sent = os.sendfile(fd_out, fd_in, offset, min(size - offset, 1 << 30))
                    if not sent:
                        break
                    offset += sent
            except (AttributeError, OSError) as exc:  # no sendfile here, or not for this file system
                if isinstance(exc, OSError) and exc.errno not in (
                    errno.EINVAL,
                    errno.ENOSYS,
                    errno.EOPNOTSUPP,
                ):
                    raise
                os.lseek(fd_in, offset, os.SEEK_SET)
                while offset < size and (block := os.read(fd_in, min(size - offset, 1 << 20))):
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd_out, view) :]
                    offset += len(block)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


@contextlib.contextmanager
def replaced_atomically(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A new temporary file beside ``path`` (created exclusively: a link planted there is never
    followed) to write into; renamed over ``path`` when the block ends, removed if it fails."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise UsageError(f"{name}: is a folder; give a file name for the output")
    parent = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(parent):
        raise UsageError(f"{name}: its folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(name)}.", suffix=".svmlp-tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the output should look like any new file
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def walk(
    top: str | os.PathLike[str], onerror: Callable[[OSError], None] | None = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top)`` top-down, links to folders not followed, without recursion: Python 3.11's
    recurses once a level, so a tree a thousand folders deep would end in a RecursionError."""
    stack = [os.fspath(top)]
    while stack:
        path = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as exc:
            if onerror is not None:
                onerror(exc)
            continue
        dirs: list[str] = []
        files: list[str] = []
        for e in entries:
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(e.name)
        yield path, dirs, files
        stack.extend(os.path.join(path, d) for d in reversed(dirs))  # in the order the caller left


def make_folders(path: str | os.PathLike[str]) -> None:
    """``os.makedirs(path, exist_ok=True)`` without recursion (it recurses once a level)."""
    missing = []
    folder = os.path.abspath(os.fspath(path))
    while not os.path.isdir(folder):
        missing.append(folder)
        up = os.path.dirname(folder)
        if up == folder:
            break
        folder = up
    for f in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(f)
    if not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", os.fspath(path))


def remove_tree(path: str | os.PathLike[str]) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` without recursion (a tree a thousand folders
    deep would end it in a RecursionError, leaving the tree); links are removed, never followed."""
    top = os.fspath(path)
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            os.unlink(top)
            return
    except OSError:
        return
    folders = []
    for dirpath, _, filenames in walk(top):
        folders.append(dirpath)
        for name in filenames:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(dirpath, name))
    for folder in reversed(folders):  # deepest first: each is empty by then
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file beside it, renamed.

    A folder at ``path`` or a missing parent folder is a :class:`UsageError`; on any failure
    (a full disk, Ctrl-C) the temporary file is removed and ``path`` is left as it was.
    """
    with replaced_atomically(path) as fh:
        fh.write(data)
