"""Put a data set's image files into a written layout: copy, hard-link, symlink, or leave out.

Only regular files are placed (a FIFO or a device at an image path is an error, never a hang or an
endless copy), and a file reached through a link that leads out of the data set's folders is
refused rather than copied (see :class:`svmlp._files.LinkGuard`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from svmlp._files import LinkGuard, copy_regular, file_kind, make_folders, within
from svmlp._pool import map_threads
from svmlp.errors import ImageError
from svmlp.model import Dataset
from svmlp.model.paths import check_destinations

__all__ = ["place_images"]


def _hardlink(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: fall back to a copy
        copy_regular(src, dst)


def _symlink(src: Path, dst: Path) -> None:
    os.symlink(os.path.realpath(src), dst)


_ACTIONS: dict[str, Callable[[Path, Path], object]] = {
    "copy": copy_regular,
    "hardlink": _hardlink,
    "symlink": _symlink,
}


def _missing(ds: Dataset, i: int, src: Path | None, why: str) -> ImageError:
    name = str(ds.images.file_name[i])
    looked = "no image folder was found for its split" if src is None else f"{why} {src}"
    return ImageError(
        f"image {name!r} (split {str(ds.images.split[i])}) is missing: {looked}; "
        "write labels only with --images none"
    )


def _source(ds: Dataset, i: int, guard: LinkGuard) -> Path:
    """Image ``i``'s file, checked: present, a regular file, not linked out of the data set."""
    src = ds.image_path(i)
    if src is None:
        raise _missing(ds, i, None, "")
    try:
        mode = os.stat(src).st_mode
    except FileNotFoundError:
        raise _missing(ds, i, src, "looked for") from None
    except OSError as exc:
        raise ImageError(f"{src}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise ImageError(f"{src}: is {file_kind(mode)}, not an image file; svmlp places regular files only")
    guard.check(src, error=ImageError, what="image")
    return src


def place_images(ds: Dataset, out: Path, destination: Callable[[str, str], str], mode: str) -> int:
    """Put every image at ``out / destination(split, file_name)``; returns how many were placed.

    ``mode`` is one of :data:`svmlp._formatnames.IMAGE_MODES` (checked by the caller). Every source image must exist
    as a regular file inside the data set: a missing one raises :class:`ImageError` naming it (use
    ``mode="none"`` to write labels only).
    """
    if mode == "none" or not len(ds.images):
        return 0
    guard = LinkGuard(ds.inputs.roots)
    splits, names = ds.images.split.tolist(), ds.images.file_name.tolist()
    rels = [destination(s, n) for s, n in zip(splits, names)]
    check_destinations(out, rels)
    jobs = [(_source(ds, i, guard), out / rel) for i, rel in enumerate(rels)]
    root = os.path.realpath(out)
    for parent in sorted({dst.parent for _, dst in jobs}):
        make_folders(parent)
        if not within(os.path.realpath(parent), root):  # defence in depth
            raise ImageError(f"{parent}: resolves outside the output folder {out}; nothing written")
    action = _ACTIONS[mode]
    map_threads(lambda job: action(*job), jobs, threads=4, progress=f"images ({mode})")
    return len(jobs)
