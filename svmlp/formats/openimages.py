"""Open Images (V4–V7) boxes (read only): ``annotations/*-annotations-bbox.csv`` and
``images/<split>/<ImageID>.jpg``.

A box file's rows are ``ImageID, Source, LabelName, Confidence, XMin, XMax, YMin, YMax,
IsOccluded, IsTruncated, IsGroupOf, IsDepiction, IsInside``; its name's prefix is the split
(``oidv6-train`` → train, ``validation`` → val, ``test``). Coordinates are shares of the image's
size: the size is ``annotations/images.meta`` (``ImageID height width`` per line) or else the
image's header. ``IsGroupOf`` makes a crowd box, ``IsOccluded``/``IsTruncated`` the flags. Class
names are the display names of ``*class-descriptions*.csv`` (the ``LabelName`` where none is
given); "Vehicle registration plate" is a plate and the vehicle classes (Car, Truck, Bus, Van,
Motorcycle, Taxi, Vehicle, Land vehicle) are vehicles by the alias table. Open Images has no
car→plate links. Images of ``images/<split>/`` with no box are unlabelled images.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from svmlp._files import LinkGuard, NotRegularFileError, open_regular
from svmlp.errors import AnnotationError, where
from svmlp.formats._bench import Frame, Region, build, refuse_write, split_of
from svmlp.formats._layout import is_image, list_files, paused_gc, read_text
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.imageinfo import read_headers
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

NAME = "openimages"
PRIORITY = 75
LOOKS_FOR = "Open Images *-annotations-bbox.csv"
ROUND_TRIP = RoundTrip()
WRITES = False

_LIMIT = 8 << 30
_COLUMNS = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")
_SUFFIX = "-annotations-bbox.csv"


def _box_files(path: Path) -> list[Path]:
    folder = path / "annotations" if (path / "annotations").is_dir() else path
    try:
        return list_files(folder, (_SUFFIX,))
    except AnnotationError:
        return []


def sniff(path: Path) -> Sniff | None:
    """A ``*-annotations-bbox.csv`` file, or a folder holding them (in ``annotations/``)."""
    if path.is_file():
        return Sniff("an Open Images *-annotations-bbox.csv") if path.name.endswith(_SUFFIX) else None
    if not path.is_dir():
        return None
    found = _box_files(path)
    if not found:
        return None
    return Sniff(f"{found[0].relative_to(path).as_posix()} is an Open Images box file")


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    raise refuse_write(NAME)


def _split(csv_path: Path) -> tuple[str, str]:
    """(split, its image folder's name) from ``oidv6-train-annotations-bbox.csv``."""
    stem = csv_path.name[: -len(_SUFFIX)]
    word = stem.split("-")[-1] if stem else "train"
    return split_of((word,)) or word, word


class _Bounded(io.RawIOBase):
    """At most ``left`` bytes of an open file descriptor (its size when it was opened)."""

    def __init__(self, fd: int, left: int) -> None:
        self._fd, self._left = fd, left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = os.read(self._fd, min(len(buffer), self._left)) if self._left > 0 else b""
        buffer[: len(chunk)] = chunk
        self._left -= len(chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


def _rows(file: Path) -> Iterator[tuple[int, list[str], dict[str, int]]]:
    """``(line, fields, column index)`` of each row, streamed: the train file is 2 GB."""
    try:
        fd = open_regular(file)
    except NotRegularFileError as exc:
        raise AnnotationError(f"{file}: is {exc.strerror}, not a regular Open Images CSV") from None
    except OSError as exc:
        raise AnnotationError(f"{file}: cannot read ({exc.strerror or exc})") from None
    size = os.fstat(fd).st_size
    raw = _Bounded(fd, size)
    if size > _LIMIT:
        raw.close()
        raise AnnotationError(f"{file}: is {size} bytes, more than the {_LIMIT} an Open Images CSV may have")
    line = 1
    with io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
            if header is None:
                raise AnnotationError(f"{file}: empty; expected a header {','.join(_COLUMNS)},…")
            missing = [c for c in _COLUMNS if c not in header]
            if missing:
                raise AnnotationError(f"{where(file, 1)}: no column {', '.join(missing)} in the header")
            index = {c: k for k, c in enumerate(header)}
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise AnnotationError(
                        f"{where(file, line)}: {len(row)} fields where the header has {len(header)}"
                    )
                yield line, row, index
        except csv.Error as exc:
            raise AnnotationError(f"{where(file, reader.line_num)}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise AnnotationError(f"{where(file, line)}: not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise AnnotationError(f"{file}: cannot read ({exc.strerror or exc})") from None


def _classes(folder: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    for f in list_files(folder, (".csv",)):
        if "class-descriptions" not in f.name or "boxable" in f.name and names:
            continue
        text = read_text(f, limit=64 << 20, what="Open Images class list")
        for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
            if len(row) >= 2 and row[0] != "LabelName" and row[1].strip():
                names.setdefault(row[0], row[1].strip())
            elif row and row[0] != "LabelName" and len(row) < 2:
                raise AnnotationError(f"{where(f, n)}: expected 'LabelName,DisplayName'")
    return names


def _meta(folder: Path) -> dict[str, tuple[int, int]]:
    path = folder / "images.meta"
    if not path.is_file():
        return {}
    out: dict[str, tuple[int, int]] = {}
    for n, line in enumerate(read_text(path, limit=1 << 30, what="images.meta").splitlines(), 1):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if len(f) != 3 or not (f[1].isdigit() and f[2].isdigit()):
            raise AnnotationError(f"{where(path, n)}: expected 'ImageID height width'")
        out[f[0]] = (int(f[2]), int(f[1]))
    return out


class _Row:
    """A CSV row's fields by column name."""

    __slots__ = ("_fields", "_index")

    def __init__(self, fields: list[str], index: dict[str, int]) -> None:
        self._fields, self._index = fields, index

    def __getitem__(self, column: str) -> str:
        return self._fields[self._index[column]]

    def get(self, column: str, default: str = "") -> str:
        k = self._index.get(column)
        return default if k is None else self._fields[k]


def _flag(value: str) -> int | None:
    return int(value) if value in ("0", "1") else None


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read an Open Images folder (holding ``annotations/`` and ``images/``)."""
    given = Path(path)
    if given.is_file():
        folder = given.parent.parent if given.parent.name == "annotations" else given.parent
        files = [given]
    elif given.is_dir():
        folder, files = given, _box_files(given)
    else:
        raise AnnotationError(f"{given}: no such file or folder")
    ann = folder / "annotations" if (folder / "annotations").is_dir() else folder
    if not files:
        raise AnnotationError(f"{given}: no Open Images *{_SUFFIX} here")
    guard = LinkGuard([folder])
    names, meta = _classes(ann), _meta(ann)
    frames: dict[tuple[str, str], Frame] = {}
    images_root = folder / "images"
    for file in files:
        guard.check(file, what="Open Images CSV")
        split, word = _split(file)
        root = images_root / word if (images_root / word).is_dir() else images_root / split
        present = {p.stem: p.name for p in list_files(root) if is_image(p)} if root.is_dir() else {}
        for line, fields, index in _rows(file):
            row = _Row(fields, index)
            image_id = row["ImageID"]
            if path_problem(f"{image_id}.jpg") is not None:
                raise AnnotationError(
                    f"{where(file, line)}: ImageID {image_id[:80]!r} is not a usable file name"
                )
            key = present.get(image_id, f"{image_id}.jpg")
            frame = frames.get((split, key))
            if frame is None:
                check_file_name(key, where=where(file, line))
                frame = frames[split, key] = Frame(
                    split, root, key, str(file), size=meta.get(image_id, (0, 0))
                )
            try:
                x0, x1, y0, y1 = (float(row[c]) for c in ("XMin", "XMax", "YMin", "YMax"))
            except ValueError:
                raise AnnotationError(f"{where(file, line)}: XMin/XMax/YMin/YMax must be numbers") from None
            if not all(math.isfinite(v) and -1 <= v <= 2 for v in (x0, x1, y0, y1)) or x1 < x0 or y1 < y0:
                raise AnnotationError(
                    f"{where(file, line)}: the box {x0}, {x1}, {y0}, {y1} is not shares of the image"
                )
            extra: dict[str, object] = {"iscrowd": row.get("IsGroupOf") == "1"}
            for flag, column in (("occluded", "IsOccluded"), ("truncated", "IsTruncated")):
                value = _flag(row.get(column, ""))
                if value is not None:
                    extra[flag] = value
            label = names.get(row["LabelName"], row["LabelName"])
            if not label.strip():
                raise AnnotationError(f"{where(file, line)}: no LabelName")
            frame.regions.append(Region(label, [x0, y0, x1, y1], extra))
        for stem, name in sorted(present.items()):
            if (split, name) not in frames:
                frames[split, name] = Frame(split, root, name, labelled=False, size=meta.get(stem, (0, 0)))
    visited = {f.root for f in frames.values()}
    for sub in sorted(images_root.iterdir()) if images_root.is_dir() else []:
        if sub.is_dir() and not sub.is_symlink() and sub not in visited and (named := split_of((sub.name,))):
            for p in list_files(sub):
                if is_image(p):
                    check_file_name(p.name, where=str(sub))
                    frames[named, p.name] = Frame(
                        named, sub, p.name, labelled=False, size=meta.get(p.stem, (0, 0))
                    )
    out = list(frames.values())
    _scale(out, guard, findings)
    return build(
        out,
        given=given,
        folder=folder,
        order=["Vehicle registration plate"],
        probe=probe,
        findings=findings,
        notes=[],
    )


def _scale(frames: list[Frame], guard: LinkGuard, findings: Findings) -> None:
    """Shares of the image to pixels: sizes from images.meta, else from the images' headers."""
    need = [f for f in frames if f.regions and min(f.size) <= 0]
    paths = [f.root / f.key if guard.outside(f.root / f.key) is None else None for f in need]
    for f, header in zip(need, read_headers(paths) if need else []):
        if header.error is None:
            f.size = header.displayed
    for f in frames:
        if not f.regions:
            continue
        w, h = f.size
        if min(w, h) <= 0:
            findings.complain(
                "image_size",
                f"{f.label}: no size for the image {f.key} (no images.meta line and no readable image); "
                "its boxes stay in shares of the image",
            )
            continue
        for r in f.regions:
            x0, y0, x1, y1 = r.xyxy
            r.xyxy = [x0 * w, y0 * h, x1 * w, y1 * h]
