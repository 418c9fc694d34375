"""Put a data set's image files into a written layout: copy, hard-link, symlink, or leave out."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from svmlp.errors import ImageError
from svmlp.model import Dataset

__all__ = ["IMAGE_MODES", "place_images"]

IMAGE_MODES = ("copy", "hardlink", "symlink", "none")


def _hardlink(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: fall back to a copy
        shutil.copyfile(src, dst)


def _symlink(src: Path, dst: Path) -> None:
    os.symlink(src.resolve(), dst)


_ACTIONS: dict[str, Callable[[Path, Path], object]] = {
    "copy": shutil.copyfile,
    "hardlink": _hardlink,
    "symlink": _symlink,
}


def place_images(ds: Dataset, out: Path, destination: Callable[[str, str], str], mode: str) -> int:
    """Put every image at ``out / destination(split, file_name)``; returns how many were placed.

    ``mode`` is one of :data:`IMAGE_MODES` (checked by the caller). Every source image must exist: a missing one raises :class:`ImageError` naming it (use
    ``mode="none"`` to write labels only).
    """
    if mode == "none" or not len(ds.images):
        return 0
    jobs = []
    for i in range(len(ds.images)):
        src = ds.image_path(i)
        name = str(ds.images.file_name[i])
        if src is None or not src.is_file():
            looked = "no image folder was found for its split" if src is None else f"looked for {src}"
            raise ImageError(
                f"image {name!r} (split {str(ds.images.split[i])}) is missing: {looked}; "
                "write labels only with --images none"
            )
        dst = out / destination(str(ds.images.split[i]), name)
        jobs.append((src, dst))
    for parent in {dst.parent for _, dst in jobs}:
        parent.mkdir(parents=True, exist_ok=True)
    action = _ACTIONS[mode]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda job: action(*job), jobs))
    return len(jobs)
