"""Paths and folders shared by the format modules: split names, moved paths, atomic output."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

from svmlp._files import make_folders, read_file, remove_tree, walk
from svmlp.errors import AnnotationError, OutputExistsError, UsageError

__all__ = [
    "DEFAULT_SPLIT",
    "IMAGE_SUFFIXES",
    "atomic_output_dir",
    "paused_gc",
    "read_bytes",
    "read_text",
    "infer_split",
    "is_image",
    "list_files",
    "resolve_moved",
    "walk_files",
]

#: The split given to images whose source says nothing about splits.
DEFAULT_SPLIT = "train"

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".png",
        ".bmp",
        ".tif",
        ".tiff",
        ".webp",
        ".gif",
        ".jpe",
        ".jfif",
        ".pgm",
        ".ppm",
        ".mpo",
        ".dng",
    }
)

_KNOWN_SPLITS = {"train", "val", "valid", "validation", "test", "trainval", "minival", "dev", "eval"}
_PREFIXES = ("instances_", "person_keypoints_", "annotations_", "labels_", "svmlp_")


def read_bytes(path: str | os.PathLike[str], *, limit: int | None = None, what: str = "file") -> bytes:
    """A regular file's bytes (at most ``limit``), or an :class:`AnnotationError` naming it (a
    folder, a FIFO or device, no permission, gone, too large)."""
    return read_file(path, limit=limit, what=what)


def read_text(path: str | os.PathLike[str], *, limit: int | None = None, what: str = "file") -> str:
    """A UTF-8 text file (a BOM is dropped), or an :class:`AnnotationError` naming it."""
    try:
        return read_bytes(path, limit=limit, what=what).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{os.fspath(path)}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


#: the most a configuration or list file (data.yaml, obj.names, labelmap.txt) may hold
CONFIG_LIMIT = 64 << 20


def _listing_error(exc: OSError) -> AnnotationError:
    return AnnotationError(
        f"{exc.filename}: cannot list this folder ({exc.strerror or exc}); "
        "svmlp would otherwise read the data set as if it had no files there"
    )


def list_files(folder: Path, suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """The files (not folders) directly in ``folder`` whose name ends with one of ``suffixes``,
    sorted; a folder that cannot be listed is an :class:`AnnotationError` naming it, never an
    empty list. Entries that are neither files nor folders (FIFOs, devices) are included: the
    reader that opens them says what they are."""
    try:
        with os.scandir(folder) as entries:
            names = [
                e.name for e in entries if not e.is_dir() and (suffixes is None or e.name.endswith(suffixes))
            ]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _listing_error(exc) from None
    return [folder / n for n in sorted(names)]


def walk_files(
    folder: Path, suffixes: tuple[str, ...] | None = None, *, match: Callable[[str], bool] | None = None
) -> list[Path]:
    """:func:`list_files` for ``folder`` and every folder below it, in sorted order (folder by
    folder); links to folders are not followed."""

    def fail(exc: OSError) -> None:
        raise _listing_error(exc)

    found: list[Path] = []
    for dirpath, dirnames, filenames in walk(folder, onerror=fail):
        dirnames.sort()
        base = Path(dirpath)
        found.extend(
            base / f
            for f in sorted(filenames)
            if (suffixes is None or f.endswith(suffixes)) and (match is None or match(f))
        )
    return found


def is_image(path: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def infer_split(name: str) -> str | None:
    """The split a file or folder name stands for, if it clearly names one.

    >>> infer_split("instances_val2017"), infer_split("train"), infer_split("annotations")
    ('val', 'train', None)
    """
    stem = name.lower()
    for prefix in _PREFIXES:
        if stem.startswith(prefix):
            stem = stem[len(prefix) :]
    stem = re.sub(r"[_\-]?\d{2,4}$", "", stem)
    return stem if stem in _KNOWN_SPLITS else None


def _parts(text: str) -> tuple[str, ...]:
    """Path components, whether the text was written on Windows or POSIX."""
    if "\\" in text:
        return PureWindowsPath(text).parts
    return PurePosixPath(text).parts


def resolve_moved(text: str, base: Path) -> Path | None:
    """Find a path written on another machine or relative to another folder.

    Tries the path as given (relative to ``base`` when relative), then ever shorter tails of
    it under ``base``: ``/Users/x/thesis/train/images`` finds ``base/train/images``, and
    darknet's ``data/obj_train_data/1.jpg`` finds ``base/obj_train_data/1.jpg``.
    """
    text = text.strip()
    if not text:
        return None
    direct = Path(text)
    direct = direct if direct.is_absolute() else base / direct
    if "\\" not in text and direct.exists():
        return direct
    parts = [p for p in _parts(text) if p not in ("/", "\\", "", ".") and not p.endswith(":\\")]
    parts = [p for p in parts if p != ".."]
    for start in range(len(parts)):
        cand = base.joinpath(*parts[start:])
        if cand.exists():
            return cand
    return None


#: ``.<name>.<8 random characters>.svmlp-tmp`` (being written) or ``.svmlp-old`` (a replaced output
#: on its way out). The random part has no dot, so ``a``'s folders never match ``a.b``'s.
_WORK_FOLDER = r"\.{name}\.[a-z0-9_]{{8}}\.svmlp-(tmp|old)"


def _work_folder(parent: Path, name: str, kind: str) -> Path:
    """A new, empty ``.<name>.XXXXXXXX.svmlp-<kind>`` folder in ``parent``, with the permissions of
    any new folder (umask applied; mkdtemp's 0700 would carry over to the output)."""
    while True:
        path = parent / f".{name}.{os.urandom(4).hex()}.svmlp-{kind}"
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue


def _settle(folder: Path, out: Path) -> bool:
    """Remove a work folder of ``out``; a ``.svmlp-old`` one goes back to ``out`` instead when a
    run stopped between moving the previous output aside and moving the new one in. True when the
    previous output was put back."""
    kept = folder / "x"
    restored = False
    if folder.name.endswith(".svmlp-old") and not os.path.lexists(out) and os.path.lexists(kept):
        os.rename(kept, out)
        restored = True
    remove_tree(folder)
    return restored


def _leftovers(out: Path, parent: Path) -> list[str]:
    """The names of ``out``'s work folders in ``parent``."""
    pattern = re.compile(_WORK_FOLDER.format(name=re.escape(out.name)))
    try:
        entries = sorted(e.name for e in os.scandir(parent) if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    return [name for name in entries if pattern.fullmatch(name)]


def _sweep(out: Path, parent: Path, notes: list[str] | None) -> None:
    """Settle every work folder of ``out`` in ``parent``. Only safe under the output lock: then no
    other run is writing them, so each one is what a killed or interrupted run left behind."""
    for name in _leftovers(out, parent):
        folder = parent / name
        if _settle(folder, out):
            message = f"put back {out}, which an interrupted --overwrite run had moved to {folder}"
        else:
            message = f"removed a temporary folder left by an interrupted run: {folder}"
        if notes is not None:
            notes.append(message)


@contextlib.contextmanager
def _output_lock(out: Path, parent: Path) -> Iterator[bool]:
    """Hold ``.<name>.svmlp-lock`` beside ``out`` for the block; yields whether it is really held.

    ``flock``: the kernel lets go when the process dies, even by SIGKILL, so a lock is never
    stale. The file is removed on release, while still locked; a run that opened it just before
    then finds its locked file no longer at the path and opens the new one (without that check
    two runs could each lock a different file). Where there is no ``flock`` (Windows, some
    network file systems) the block runs unlocked: the final rename still never replaces files
    that appeared in the output.
    """
    path = parent / f".{out.name}.svmlp-lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield False
        return
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise UsageError(
                f"{parent}: cannot create files here ({exc.strerror or exc}); choose another output folder"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputExistsError(
                f"{out}: another svmlp run is writing this folder; wait for it or choose another output folder"
            ) from None
        except OSError:  # pragma: no cover - a file system without flock
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            yield False
            return
        try:
            held = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            held = False
        if held:
            break
        os.close(fd)  # the run before us removed it as we opened it: lock the file now there
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _replace_empty(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out`` if ``out`` is missing or an empty folder, checked by the rename
    itself: a file that appeared in ``out`` during the run is never replaced."""
    try:
        if (
            os.name == "nt"
        ):  # pragma: no cover - Windows' rename never replaces; rmdir only removes an empty folder
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(out)
        os.rename(tmp, out)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise OutputExistsError(
                f"{out}: files appeared in the folder while svmlp was writing; they were left alone and "
                "nothing was written; move them away or pass --overwrite"
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise OutputExistsError(
                f"{out}: exists and is not a folder (it appeared while svmlp was writing); "
                "choose another output path"
            ) from None
        raise


@contextlib.contextmanager
def atomic_output_dir(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    notes: list[str] | None = None,
    keep_leftovers: bool = False,
) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    ``out`` must be missing or empty unless ``overwrite``, when the run starts and again at the
    rename: files that appear in it meanwhile are left alone and the run fails. On any error or
    interrupt the temporary folder is removed and ``out`` is left as it was: no half-written
    output. The destination is locked for the whole run (``.<name>.svmlp-lock`` beside it, removed
    afterwards): a second run to it fails at once with :class:`OutputExistsError`. Work folders
    that a killed run left beside ``out`` are removed first, and a sentence saying so is appended
    to ``notes``; with ``keep_leftovers`` (``out`` lies inside a data set, whose own files could
    bear such names) they are only named, and only this run's work folders are ever touched.
    """
    out = Path(out)
    parent = out.absolute().parent
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another output path")
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{parent}: is a file, so it cannot hold the output folder")
    make_folders(parent)
    with _output_lock(out, parent) as locked:
        sweep = locked and not keep_leftovers
        if sweep:
            _sweep(out, parent, notes)
        elif notes is not None:
            notes.extend(
                f"left {parent / name} as it is (a work folder of an interrupted run? it lies inside the "
                "data set, so svmlp does not remove it)"
                for name in _leftovers(out, parent)
            )
        if out.exists() and not out.is_dir():
            raise OutputExistsError(f"{out}: exists and is not a folder; choose another output path")
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise OutputExistsError(f"{out}: folder is not empty; pass --overwrite to replace it")
        tmp: Path | None = None
        old: Path | None = None
        try:
            tmp = _work_folder(parent, out.name, "tmp")
            yield tmp
            if not overwrite:
                _replace_empty(tmp, out)
                return
            try:
                os.rename(tmp, out)  # missing or empty: nothing to move aside
            except OSError:
                if not out.is_dir():  # gone again (try once more), or a file appeared in its place
                    _replace_empty(tmp, out)
                    return
                old = _work_folder(parent, out.name, "old")  # a full folder, or a link to one
                os.rename(out, old / "x")
                os.rename(tmp, out)
                remove_tree(old)
        except BaseException:
            # by what is on disk, not by how far this got: an interrupt can land between any two
            # steps (even between mkdir and the assignment of tmp); under the lock every work
            # folder of out is this run's
            if sweep:
                _sweep(out, parent, None)
            else:
                for folder in (tmp, old):
                    if folder is not None:
                        _settle(folder, out)
            raise


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while millions of short-lived objects are made and dropped:
    the collector would walk them again and again for nothing (a third of a large read)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
