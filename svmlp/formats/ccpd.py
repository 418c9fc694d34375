"""CCPD, the Chinese City Parking Dataset (read only): the annotation is the image's file name.

``<area>-<tilt>-<x1>&<y1>_<x2>&<y2>-<four vertices>-<p0>_<p1>_…-<brightness>-<blur>.jpg``: the
plate's box (left-up and right-bottom corners), its four vertices (CCPD lists them from the
right-bottom one: right-bottom, left-bottom, left-top, right-top; svmlp keeps ``corners`` from
the left-top one, clockwise: left-top, right-top, right-bottom, left-bottom) and its characters
as indices: the first into the province table, the second into the alphabet table, the rest
(five, or six on CCPD-Green's plates) into the ``ads`` table; ``O`` means no character. The
lists ``splits/train.txt``, ``val.txt`` and ``test.txt`` (also ``split/``) name the images of
each split (paths relative to the data set's folder); without them a folder's name gives the
split (``ccpd_base`` → train, the other ``ccpd_*`` sub-sets → test, ``train``/``val``/``test``).
Plates only: no vehicles. An image whose name holds no annotation (``ccpd_np``) is unlabelled.
"""

from __future__ import annotations

import os
from pathlib import Path

from svmlp.errors import AnnotationError, where
from svmlp.formats._bench import Frame, Region, build, refuse_write, split_of
from svmlp.formats._layout import DEFAULT_SPLIT, is_image, paused_gc, read_text, walk_files
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.model import Dataset
from svmlp.model.paths import check_file_name, path_problem
from svmlp.model.strictness import STRICT, Findings

__all__ = [
    "LOOKS_FOR",
    "NAME",
    "PRIORITY",
    "ROUND_TRIP",
    "WRITES",
    "image_destination",
    "read",
    "sniff",
    "write",
]

NAME = "ccpd"
PRIORITY = 78
LOOKS_FOR = "CCPD <area>-<tilt>-<box>-….jpg"
ROUND_TRIP = RoundTrip()
WRITES = False

PROVINCES = tuple("皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新警学O")
ALPHABETS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZO")
ADS = tuple("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789O")

_SPLIT_FILES = {"train.txt": "train", "val.txt": "val", "test.txt": "test"}


def _points(field: str, n: int) -> list[list[float]] | None:
    pts = field.split("_")
    if len(pts) != n:
        return None
    out = []
    for p in pts:
        xy = p.split("&")
        if len(xy) != 2 or not all(v.isdigit() and len(v) < 9 for v in xy):
            return None
        out.append([float(xy[0]), float(xy[1])])
    return out


def _looks_annotated(name: str) -> bool:
    fields = Path(name).stem.split("-")
    return len(fields) == 7 and _points(fields[2], 2) is not None


def _plate(name: str, at: str) -> Region | None:
    """The plate of an image named ``name``; None when the name holds no annotation."""
    fields = Path(name).stem.split("-")
    if len(fields) != 7:
        return None
    box, quad = _points(fields[2], 2), _points(fields[3], 4)
    chars = fields[4].split("_")
    if box is None or quad is None or not all(c.isdigit() and len(c) < 4 for c in chars) or len(chars) < 2:
        raise AnnotationError(
            f"{at}: not a CCPD name (area-tilt-x1&y1_x2&y2-four vertices-characters-brightness-blur)"
        )
    index = [int(c) for c in chars]
    tables = [PROVINCES, ALPHABETS, *([ADS] * (len(index) - 2))]
    if any(i >= len(t) for i, t in zip(index, tables)):
        raise AnnotationError(f"{at}: a character index beyond CCPD's tables ({fields[4]})")
    text = "".join(t[i] for i, t in zip(index, tables) if t[i] != "O")
    (x0, y0), (x1, y1) = box
    if x1 < x0 or y1 < y0:
        raise AnnotationError(f"{at}: the box's right-bottom corner lies left of or above its left-up one")
    rb, lb, lt, rt = quad
    return Region("plate", [x0, y0, x1, y1], {"plate": {"text": text, "corners": [lt, rt, rb, lb]}})


def sniff(path: Path) -> Sniff | None:
    """An image named the CCPD way, or a folder holding such images (or CCPD's split lists)."""
    if path.is_file():
        return (
            Sniff("a CCPD image name (area-tilt-box-…)")
            if is_image(path) and _looks_annotated(path.name)
            else None
        )
    if not path.is_dir():
        return None
    try:
        with_names = [p for p in walk_files(path, match=is_image)[:8] if _looks_annotated(p.name)]
    except AnnotationError:
        return None
    if with_names:
        return Sniff(f"{with_names[0].relative_to(path).as_posix()} is named the CCPD way")
    return None


def image_destination(split: str, file_name: str) -> str:
    return f"{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    raise refuse_write(NAME)


def _folder_split(parts: tuple[str, ...]) -> str:
    for part in parts:
        low = part.lower()
        if low == "ccpd_base":
            return "train"
        if low.startswith("ccpd_"):
            return "test"
    return split_of(parts) or DEFAULT_SPLIT


def _listed(folder: Path) -> dict[str, tuple[str, str]]:
    """Image path → (split, where it is listed), from ``splits/*.txt``."""
    out: dict[str, tuple[str, str]] = {}
    for sub in ("splits", "split"):
        for name, split in _SPLIT_FILES.items():
            path = folder / sub / name
            if not os.path.lexists(path):
                continue  # anything else there (a folder, a FIFO) is refused by the read
            for n, line in enumerate(
                read_text(path, limit=256 << 20, what="CCPD split list").splitlines(), 1
            ):
                rel = line.strip().replace("\\", "/")
                if not rel:
                    continue
                if path_problem(rel) is not None:
                    raise AnnotationError(f"{where(path, n)}: {rel[:80]!r} is not a path inside the data set")
                out.setdefault(rel, (split, where(path, n)))
    return out


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a CCPD folder (or one image of it)."""
    given = Path(path)
    if given.is_file():
        folder, pictures, listed = given.parent, [given], {}
    elif given.is_dir():
        folder = given
        pictures = walk_files(given, match=is_image)
        listed = _listed(given)
    else:
        raise AnnotationError(f"{given}: no such file or folder")
    frames: list[Frame] = []
    on_disk = {p.relative_to(folder).as_posix(): p for p in pictures}
    keys = list(listed) if listed else sorted(on_disk)
    for key in keys:
        if listed:
            split, at = listed[key]
        else:
            split, at = _folder_split(Path(key).parts[:-1] or (folder.name,)), str(folder / key)
        check_file_name(key, where=at)
        plate = _plate(Path(key).name, at)
        frames.append(Frame(split, folder, key, "", [plate] if plate else [], labelled=plate is not None))
    if not any(f.regions for f in frames):
        raise AnnotationError(
            f"{given}: no image named the CCPD way (area-tilt-box-vertices-characters-…) here"
        )
    notes = []
    if listed and len(on_disk) > len(set(on_disk) & set(listed)):
        notes.append(f"{len(set(on_disk) - set(listed))} image(s) in no split list left out")
    return build(
        frames, given=given, folder=folder, order=["plate"], probe=probe, findings=findings, notes=notes
    )
