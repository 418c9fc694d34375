"""Names from data that become parts of paths, and the paths a data set was read from.

**One rule for every name a file can put into a path** — split names, image file names, sidecar
entries, a manifest's ``unpack_to``: text, not empty, no control character (a newline would break
every list file), no backslash (svmlp takes ``/`` as the only separator), not absolute, no ``..``,
``.`` or empty part, no part over :data:`NAME_MAX` bytes and no more than :data:`PATH_MAX` bytes in
all; a split name is a single part. Readers call it where a name comes in, before it is joined to a
folder, and the model checks every name again when a :class:`~svmlp.model.Dataset` is built, so a
name that passed is safe to join under any output folder. Writers check what they join on top
(defence in depth, :func:`check_destinations`).

:class:`Inputs` records what a reader read (files, folders it listed, folders it walked), so that
no output ever replaces, holds or lands inside them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from svmlp._files import within
from svmlp.errors import AnnotationError

__all__ = [
    "NAME_MAX",
    "PATH_MAX",
    "Inputs",
    "category_problem",
    "check_category_name",
    "check_destinations",
    "check_file_name",
    "check_file_names",
    "check_split_name",
    "names_ok",
    "path_problem",
]

#: bytes in one path component (ext4, XFS, btrfs, APFS; NTFS counts 255 UTF-16 units)
NAME_MAX = 255
#: bytes in a whole relative path (Linux's PATH_MAX)
PATH_MAX = 4096

# C0 and C1 controls, DEL, the separators str.splitlines() breaks lines at, and the two
# non-characters XML cannot hold
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
_DRIVE = re.compile(r"[A-Za-z]:")
# the fast path checks names joined into one block, "\n" before and after each
_ASCII_ALLOWED = bytes(range(0x20, 0x7F)).replace(b"\\", b"") + b"\n"
_CONTROL_OR_BACKSLASH = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff\\\\]")
_BAD_JOINS = (
    b"\n/",
    b"//",
    b"/\n",
    b"\n\n",
    b"/./",
    b"/../",
    b"\n./",
    b"\n../",
    b"/.\n",
    b"/..\n",
    b"\n.\n",
    b"\n..\n",
)
_DRIVE_BLOCK = re.compile(b"\n[A-Za-z]:")


def path_problem(name: object, *, single: bool = False) -> str | None:
    """What is wrong with ``name`` as a relative path under an output folder, or None.

    ``single``: it must be one folder or file name (a split name), with no ``/``.

    >>> path_problem("train/a.jpg"), path_problem("../x.jpg"), path_problem("a/b", single=True)
    (None, "climbs out with '..'", "holds '/'; it must be a single folder name")
    """
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if not name:
        return "is empty"
    if m := _CONTROL.search(name):
        return f"holds the control character {m.group()!r}"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    if "\\" in name:
        return "holds a backslash (svmlp takes '/' as the only separator; written on Windows?)"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a Windows drive (an absolute path there)"
    parts = name.split("/")
    if ".." in parts:
        return "climbs out with '..'"
    if single and "/" in name:
        return "holds '/'; it must be a single folder name"
    if "." in parts or "" in parts:
        return "is '.'" if name == "." else "has an empty or '.' part"
    if any(len(p.encode("utf-8")) > NAME_MAX for p in parts):
        return f"has a part longer than {NAME_MAX} bytes, the file system's limit"
    if size > PATH_MAX:
        return f"is longer than {PATH_MAX} bytes"
    return None


def _fail(what: str, name: object, problem: str, where: str | None) -> AnnotationError:
    shown = repr(name) if len(repr(name)) <= 120 else repr(name)[:100] + "…"
    prefix = f"{where}: " if where else ""
    return AnnotationError(
        f"{prefix}{what} {shown} {problem}; svmlp only takes names that stay inside their folder"
    )


def check_split_name(name: object, *, where: str | None = None) -> str:
    """``name`` if it is a safe split name (one folder name), else :class:`AnnotationError`."""
    problem = path_problem(name, single=True)
    if problem is not None:
        raise _fail("split name", name, problem, where)
    return name  # type: ignore[return-value]


def check_file_name(name: object, *, where: str | None = None, what: str = "image file name") -> str:
    """``name`` if it is a safe relative path, else :class:`AnnotationError` naming it."""
    problem = path_problem(name)
    if problem is not None:
        raise _fail(what, name, problem, where)
    return name  # type: ignore[return-value]


def names_ok(names: Sequence[str]) -> bool:
    """Whether every name passes, decided on all names joined into one block: substring tests and
    a byte filter in C, so a million names take well under a second."""
    if not names:
        return True
    try:
        block = "\n" + "\n".join(names) + "\n"
    except TypeError:  # something that is not text
        return False
    if block.count("\n") != len(names) + 1:  # a name holds a newline
        return False
    ascii_only = block.isascii()
    if ascii_only:
        data = block.encode("ascii")
        if data.translate(None, _ASCII_ALLOWED):  # a control character or a backslash
            return False
    else:
        if _CONTROL_OR_BACKSLASH.search(block):
            return False
        try:
            data = block.encode("utf-8")
        except UnicodeEncodeError:
            return False
    if any(bad in data for bad in _BAD_JOINS) or (b":" in data and _DRIVE_BLOCK.search(data)):
        return False
    if max(map(len, names)) * (1 if ascii_only else 4) <= NAME_MAX:
        return True  # no part, and no name, can be too long
    codes = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(codes == 10)
    seps = np.flatnonzero((codes == 10) | (codes == 47))
    return bool((np.diff(seps) - 1).max() <= NAME_MAX and (np.diff(newlines) - 1).max() <= PATH_MAX)


def check_file_names(
    names: Iterable[str], *, where: str | None = None, what: str = "image file name"
) -> None:
    """:func:`check_file_name` for many names at once (about 50 ns a name when all pass)."""
    names = list(names)
    if names_ok(names):
        return
    for name in names:
        check_file_name(name, where=where, what=what)


def check_destinations(root: str | os.PathLike[str], relative: Iterable[str]) -> None:
    """Refuse any destination that would not land inside ``root`` (a writer's last check).

    The names were checked when read; this guards the writer's own joins (``images/<split>/``,
    ``labels/``), so that no bug can ever write outside the output folder.
    """
    check_file_names(relative, where=f"{os.fspath(root)}: refusing to write", what="path")


def category_problem(name: object) -> str | None:
    """What is wrong with ``name`` as a class name, or None: text, no control characters (XML and
    the label list files cannot hold them), valid Unicode."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not text"
    if m := _CONTROL.search(name):
        return f"holds the control character {m.group()!r}"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


def check_category_name(name: object, *, where: str | None = None) -> str:
    problem = category_problem(name)
    if problem is not None:
        prefix = f"{where}: " if where else ""
        shown = repr(name) if len(repr(name)) <= 120 else repr(name)[:100] + "…"
        raise AnnotationError(f"{prefix}class name {shown} {problem}")
    return name  # type: ignore[return-value]


# -- what a reader read ---------------------------------------------------------------------


def _real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


@dataclass(frozen=True)
class Inputs:
    """The files and folders a data set was read from, as real (resolved) paths.

    ``files`` were read; ``trees`` were walked with everything below them (label folders, image
    folders searched for images); ``folders`` were listed or had files read from them by name
    (an image root, the folder holding ``annotations/``). No output may be any of them or hold
    one, no output folder may lie inside a tree (the next read would take it for data), and no
    report may lie anywhere inside them.

    ``bounds`` are the data set's own folders: the one it was given as (or the one holding the
    file given) and any folder its configuration names outside that one. A file reached through
    a symbolic link — of the file or of any folder above it — must lie inside them; folders found
    by convention (``labels/``, ``images/train``, ``Annotations/``) do not widen them, so a label
    folder that is a link to elsewhere is refused, not trusted.
    """

    files: frozenset[str] = frozenset()
    trees: frozenset[str] = frozenset()
    folders: frozenset[str] = frozenset()
    bounds: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        files: Iterable[str | os.PathLike[str] | None] = (),
        trees: Iterable[str | os.PathLike[str] | None] = (),
        folders: Iterable[str | os.PathLike[str] | None] = (),
        bounds: Iterable[str | os.PathLike[str] | None] = (),
    ) -> Inputs:
        def real(paths: Iterable[str | os.PathLike[str] | None]) -> frozenset[str]:
            return frozenset(_real(p) for p in paths if p is not None)

        return cls(real(files), real(trees), real(folders), real(bounds))

    def __or__(self, other: Inputs) -> Inputs:
        return Inputs(
            self.files | other.files,
            self.trees | other.trees,
            self.folders | other.folders,
            self.bounds | other.bounds,
        )

    def __bool__(self) -> bool:
        return bool(self.files or self.trees or self.folders)

    @property
    def roots(self) -> tuple[str, ...]:
        """The folders a link inside the data set may point into: :attr:`bounds`, or for a data set
        whose reader gave none (built in memory), every folder read and the folders of its files."""
        if self.bounds:
            return tuple(sorted(self.bounds))
        return tuple(sorted(self.trees | self.folders | {os.path.dirname(f) for f in self.files}))

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether the real path of ``path`` lies inside one of :attr:`roots`."""
        real = _real(path)
        return any(within(real, r) for r in self.roots)

    def output_conflict(self, out: str | os.PathLike[str]) -> str | None:
        """Why ``out`` may not be an output folder (it is, holds, or lies in what was read), or None."""
        target = _real(out)
        for p in sorted(self.files | self.trees | self.folders):
            if within(p, target):
                return f"holds {p}, which the data set was read from"
        for p in sorted(self.trees):
            if within(target, p):
                return f"lies inside {p}, which the data set was read from (the next read would take the output for data)"
        return None

    def report_conflict(self, path: str | os.PathLike[str]) -> str | None:
        """Why a report may not be written to ``path`` (a file read, or inside a folder read), or None."""
        target = _real(path)
        if target in self.files:
            return "is a file the data set was read from"
        for p in sorted(self.trees | self.folders):
            if within(target, p):
                return f"lies inside {p}, which the data set was read from"
        for p in sorted(self.files):
            if within(p, target):
                return f"holds {p}, which the data set was read from"
        return None
