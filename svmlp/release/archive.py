"""Safe unpacking of release archives: tar (every compression Python reads) and zip.

Mirrors may be hostile or broken, so nothing here trusts an archive. Every member's path is checked
before anything is written; links must stay inside the folder; devices and other special members are
refused; the bytes actually written are counted against a cap; a truncated or corrupt archive is an
:class:`~svmlp.errors.ArchiveError`. Files are written by this module, streaming, never by
``tarfile.extract*`` (whose ``filter=`` argument is missing from some 3.10 and 3.11 releases).
"""

from __future__ import annotations

import contextlib
import functools
import lzma
import os
import re
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from svmlp._files import NotRegularFileError, open_regular_file
from svmlp.errors import ArchiveError, OutputExistsError

__all__ = ["archive_format", "safe_extract"]

_T = TypeVar("_T")
_CHUNK = 1 << 20
# a zip symlink's target is its data; anything longer than a path can be is not a link
_LINK_TARGET_LIMIT = 4096
_MAGIC = (
    (0, b"\x1f\x8b", "tar"),  # gzip
    (0, b"BZh", "tar"),  # bzip2
    (0, b"\xfd7zXZ\x00", "tar"),  # xz
    (0, b"\x28\xb5\x2f\xfd", "tar"),  # zstd: tarfile reads it from Python 3.14 on
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),  # an empty zip is only its end record
    (257, b"ustar", "tar"),  # POSIX and GNU plain tar
)
_DRIVE = re.compile(r"[A-Za-z]:")
# tarfile folds pax and GNU long-name headers into the next member; a volume label ('V') is all
# that can still show up, and none of them is a file
_TAR_METADATA = {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, b"V"}
_TAR_METADATA |= {tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
# what reading a broken archive raises, from tarfile, zipfile or a decompressor (gzip's BadGzipFile
# and bz2's "Invalid data stream" are OSErrors); writing is kept outside these guards, so a full
# disk stays an OSError
_CORRUPT: tuple[type[Exception], ...] = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    ValueError,
)
_CORRUPT += (NotImplementedError,)  # zipfile, for a compression method it does not know
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_FIX = "the archive is broken or hostile: fetch it again, from another mirror if it persists"


def archive_format(path: Path) -> str | None:
    """``'tar'`` or ``'zip'`` from the file's first bytes (its magic number), or None.

    Compressed files (gzip, bzip2, xz, zstd) count as tar: a release never ships a lone one.

    >>> archive_format(Path(__file__)) is None
    True
    """
    with _open_archive(path) as f:
        head = f.read(512)
    for offset, magic, kind in _MAGIC:
        if head.startswith(magic, offset):
            return kind
    return None


def safe_extract(archive: Path, folder: Path, *, max_bytes: int | None = None) -> list[str]:
    """Unpack ``archive`` into the existing, empty ``folder``; return the files written.

    The result lists posix paths relative to ``folder`` of the regular files (hard links
    included), in archive order. Raises :class:`ArchiveError`, naming the archive and the member,
    for an absolute path or a ``..`` component, a link leading outside the folder (or a hard link to
    a file not unpacked before it), anything written through a symlink, a device, FIFO or other
    special member, a name that collides with one written before, more than ``max_bytes`` bytes
    written (counted as written: a zip bomb stops at the cap), an encrypted zip member, a truncated
    or corrupt archive, and a file that is neither tar nor zip. On error what was written so far
    (at most ``max_bytes``) stays in ``folder``; :func:`install_archive` removes it.

    >>> safe_extract(Path("svmlp-1.0.tar.gz"), Path("empty"), max_bytes=2**31)  # doctest: +SKIP
    ['svmlp-1.0/annotations/train.json', 'svmlp-1.0/images/0001.jpg', ...]
    """
    archive, folder = Path(archive), Path(folder)
    with os.scandir(folder) as entries:
        if next(entries, None) is not None:
            raise OutputExistsError(f"{folder} is not empty; archives are unpacked only into an empty folder")
    kind = archive_format(archive)
    if kind is None:
        raise ArchiveError(f"{archive}: neither a tar nor a zip archive (no known magic number); {_FIX}")
    unpacker = _Unpacker(archive, folder, max_bytes)
    with _open_archive(archive) as fileobj:
        (_unpack_tar if kind == "tar" else _unpack_zip)(unpacker, fileobj)
    return unpacker.files


def _open_archive(path: Path) -> IO[bytes]:
    """The archive, which must be a regular file: a FIFO would block the read, a device never end."""
    try:
        return open_regular_file(path)
    except NotRegularFileError as exc:
        raise ArchiveError(f"{path}: is {exc.strerror}, not an archive file") from None


class _StrictTarInfo(tarfile.TarInfo):
    """A header reader that makes a broken header an error.

    tarfile ends the member list quietly at a truncated, empty or invalid header after the first
    member, so a tar cut at a block boundary would unpack "successfully" with files missing.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> _StrictTarInfo:
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]  # the zero block that ends a complete archive
            raise
        except tarfile.HeaderError as exc:
            raise tarfile.ReadError(f"bad header at byte {tar.offset}: {exc}") from None


def _unpack_tar(unpacker: _Unpacker, fileobj: IO[bytes]) -> None:
    tar = unpacker.guard(functools.partial(tarfile.open, fileobj=fileobj, mode="r:*", tarinfo=_StrictTarInfo))
    with tar:
        for member in unpacker.each(iter(tar)):
            _tar_member(unpacker, tar, member)


def _tar_member(unpacker: _Unpacker, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    name = member.name
    if member.type in _TAR_METADATA:
        return
    if member.isreg():
        stream = unpacker.guard(lambda: tar.extractfile(member), name)
        assert stream is not None  # extractfile gives None only for links and specials
        with stream:
            unpacker.add_file(name, stream, member.mode, member.mtime)
    elif member.isdir():
        unpacker.add_dir(name)
    elif member.issym():
        unpacker.add_symlink(name, member.linkname)
    elif member.islnk():
        unpacker.add_hardlink(name, member.linkname, member.mode, member.mtime)
    elif member.ischr() or member.isblk():
        raise unpacker.error(name, "is a character or block device")
    elif member.isfifo():
        raise unpacker.error(name, "is a FIFO (named pipe)")
    else:
        raise unpacker.error(name, f"is a special member of tar type {member.type!r}")


def _unpack_zip(unpacker: _Unpacker, fileobj: IO[bytes]) -> None:
    zf = unpacker.guard(lambda: zipfile.ZipFile(fileobj))
    with zf:
        for info in zf.infolist():
            _zip_member(unpacker, zf, info)


def _zip_member(unpacker: _Unpacker, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    name = info.filename
    mode = info.external_attr >> 16  # Unix st_mode; 0 from tools that do not record one
    kind = stat.S_IFMT(mode)
    if info.flag_bits & 0x1:
        raise unpacker.error(name, "is encrypted; release archives must not be")
    if kind == stat.S_IFLNK:
        unpacker.add_symlink(name, _zip_link_target(unpacker, zf, info))
    elif kind == stat.S_IFDIR or name.endswith(("/", "\\")):
        unpacker.add_dir(name)
    elif kind in (0, stat.S_IFREG):
        with unpacker.guard(lambda: zf.open(info), name) as stream:
            unpacker.add_file(name, stream, mode, _zip_mtime(info))
    else:
        raise unpacker.error(name, f"is a special file (mode {mode:o}): a device, FIFO or socket")


def _zip_link_target(unpacker: _Unpacker, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    def read() -> bytes:
        with zf.open(info) as stream:
            return stream.read(_LINK_TARGET_LIMIT + 1)

    data = unpacker.guard(read, info.filename)
    if len(data) > _LINK_TARGET_LIMIT:
        raise unpacker.error(info.filename, f"is a symlink whose target is over {_LINK_TARGET_LIMIT} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise unpacker.error(info.filename, "is a symlink whose target is not UTF-8 text") from None


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))  # zip times are local times
    except (OverflowError, ValueError):
        return None


def _parts(name: str) -> tuple[list[str], str | None]:
    """The components of a member name or link target, and what is wrong with it (None: nothing)."""
    text = name.replace("\\", "/")  # Windows tools write backslashes, and Windows obeys them
    if text.startswith("/") or _DRIVE.match(text):
        return [], "is an absolute path"
    if "\x00" in text:
        return [], "holds a NUL byte"
    parts = [part for part in text.split("/") if part not in ("", ".")]
    return parts, "has a '..' component" if ".." in parts else None


class _Unpacker:
    """Writes checked members into one folder.

    It remembers everything it made, so checks are dictionary look-ups (no disk access, O(depth) a
    member) and exact: the folder was empty and nothing is ever written through a symlink.
    """

    def __init__(self, archive: Path, folder: Path, max_bytes: int | None) -> None:
        self.archive = archive
        self.root = os.fspath(folder)
        self.max_bytes = max_bytes
        self.written = 0
        self.kinds: dict[str, str] = {}  # relative path -> "dir", "file" or "link"
        # paths that a link's target goes through: a link made there later would change where
        # the earlier link leads, after it was checked
        self.through: set[str] = set()
        self.files: list[str] = []

    def error(self, name: str, reason: str) -> ArchiveError:
        return ArchiveError(f"{self.archive}: member {name!r} {reason}; refused to unpack it, {_FIX}")

    def on_disk(self, name: str, rel: str) -> ArchiveError:
        # the checks above exclude this, but for a case- or normalisation-insensitive file system
        return self.error(name, f"collides with {rel!r} on disk (a case-insensitive file system?)")

    def guard(self, call: Callable[[], _T], name: str | None = None) -> _T:
        """``call()``, with a read failure of the archive turned into an ArchiveError."""
        try:
            return call()
        except _CORRUPT as exc:
            at = f" at member {name!r}" if name is not None else ""
            raise ArchiveError(
                f"{self.archive}: truncated or corrupt{at} ({type(exc).__name__}: {exc}); {_FIX}"
            ) from exc

    def each(self, items: Iterator[_T]) -> Iterator[_T]:
        while (item := self.guard(lambda: next(items, None))) is not None:
            yield item

    def claim(self, name: str, kind: str) -> str:
        """The checked relative path for a new member, with its parent folders made."""
        parts, problem = _parts(name)
        if problem:
            raise self.error(name, problem)
        if not parts:
            raise self.error(name, "has an empty name")
        rel = "/".join(parts)
        old = self.kinds.get(rel)
        if old is not None and not old == kind == "dir":
            raise self.error(name, f"collides with the {old} {rel!r} unpacked before it")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            held = self.kinds.get(prefix)
            if held == "link":
                raise self.error(name, f"would be written through the symlink {prefix!r}")
            if held == "file":
                raise self.error(name, f"collides with the file {prefix!r} unpacked before it")
            if held is None:
                self.make_dir(name, prefix)
        return rel

    def make_dir(self, name: str, rel: str) -> None:
        try:
            os.mkdir(os.path.join(self.root, rel), 0o755)
        except FileExistsError:
            raise self.on_disk(name, rel) from None
        self.kinds[rel] = "dir"

    def add_dir(self, name: str) -> None:
        parts, problem = _parts(name)
        if not parts and not problem:
            return  # './': the folder itself
        rel = self.claim(name, "dir")
        if rel not in self.kinds:
            self.make_dir(name, rel)

    def add_file(self, name: str, stream: IO[bytes], mode: int, mtime: float | None) -> None:
        rel = self.claim(name, "file")
        self.write(name, rel, stream, mode, mtime)
        self.files.append(rel)

    def write(self, name: str, rel: str, stream: IO[bytes], mode: int, mtime: float | None) -> None:
        path = os.path.join(self.root, rel)
        try:
            fd = os.open(path, _CREATE, 0o644 | (mode & 0o111))
        except FileExistsError:
            raise self.on_disk(name, rel) from None
        self.kinds[rel] = "file"
        with os.fdopen(fd, "wb") as out:
            while chunk := self.guard(lambda: stream.read(_CHUNK), name):
                self.count(name, len(chunk))
                out.write(chunk)
        if mtime is not None:
            # a nonsense time in a header is no reason to refuse the file
            with contextlib.suppress(OverflowError, ValueError, OSError):
                os.utime(path, (mtime, mtime))

    def count(self, name: str, size: int) -> None:
        """Book ``size`` more bytes, refusing them (before they are written) past the cap."""
        if self.max_bytes is not None and self.written + size > self.max_bytes:
            raise self.error(
                name,
                f"takes the unpacked size past {self.max_bytes} bytes, the most its manifest allows "
                "(a decompression bomb?)",
            )
        self.written += size

    def add_symlink(self, name: str, target: str) -> None:
        rel = self.claim(name, "link")
        if rel in self.through:
            raise self.error(name, "is a symlink on the way to an earlier link's target")
        text = target.replace("\\", "/")
        self.check_link(name, rel, target, text)
        try:
            os.symlink(text, os.path.join(self.root, rel))
        except FileExistsError:
            raise self.on_disk(name, rel) from None
        self.kinds[rel] = "link"

    def check_link(self, name: str, rel: str, target: str, text: str) -> None:
        """Refuse a symlink target that leads outside the folder, walking it as the OS will."""
        if not text or text.startswith("/") or _DRIVE.match(text) or "\x00" in text:
            raise self.error(name, f"is a symlink to {target!r}, outside the folder")
        steps = [part for part in text.split("/") if part not in ("", ".")]
        stack = rel.split("/")[:-1]
        walked: list[str] = []
        for index, step in enumerate(steps):
            if step != "..":
                stack.append(step)
            elif stack:
                stack.pop()
            else:
                raise self.error(name, f"is a symlink to {target!r}, which leads outside the folder")
            # every step but the last must be a real folder, or '..' would not mean what it says
            if index < len(steps) - 1:
                here = "/".join(stack)
                if self.kinds.get(here) == "link" or here == rel:
                    raise self.error(
                        name, f"is a symlink to {target!r}, which goes through the symlink {here!r}"
                    )
                walked.append(here)
        self.through.update(walked)

    def add_hardlink(self, name: str, target: str, mode: int, mtime: float | None) -> None:
        parts, problem = _parts(target)
        source = "/".join(parts)
        if problem or self.kinds.get(source) != "file":
            raise self.error(
                name, f"is a hard link to {target!r}, not to a file unpacked before it in the folder"
            )
        rel = self.claim(name, "file")
        try:
            os.link(os.path.join(self.root, source), os.path.join(self.root, rel), follow_symlinks=False)
            self.kinds[rel] = "file"
        except FileExistsError:
            raise self.on_disk(name, rel) from None
        except OSError:  # FAT and exFAT drives have no hard links: copy, counting the bytes again
            with open(os.path.join(self.root, source), "rb") as stream:
                self.write(name, rel, stream, mode, mtime)
        self.files.append(rel)
