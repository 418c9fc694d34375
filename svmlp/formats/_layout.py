"""Paths and folders shared by the format modules: split names, moved paths, atomic output."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath

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
    "resolve_moved",
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


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """A file's bytes, or an :class:`AnnotationError` naming it (a folder, no permission, gone)."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise AnnotationError(f"{os.fspath(path)}: cannot read ({exc.strerror or exc})") from None


def read_text(path: str | os.PathLike[str]) -> str:
    """A UTF-8 text file (a BOM is dropped), or an :class:`AnnotationError` naming it."""
    try:
        return read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"{os.fspath(path)}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


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


@contextlib.contextmanager
def atomic_output_dir(out: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    ``out`` must be missing or empty unless ``overwrite``. On any error the temporary folder is
    removed and ``out`` is left as it was: no half-written output.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out}: folder is not empty; pass --overwrite to replace it")
    parent = out.absolute().parent
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"{parent}: is a file, so it cannot hold the output folder")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".svmlp-tmp", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the output should look like any new folder
    try:
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".svmlp-old", dir=parent))
            os.replace(out, old / "x")
            try:
                os.replace(tmp, out)
            except BaseException:
                os.replace(old / "x", out)  # put the previous output back where it was
                shutil.rmtree(old, ignore_errors=True)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
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
