"""Read DOTA label files: the split folders, their rows, and the sidecar where it still holds."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, where
from svmlp.formats._builder import BoxBuilder, number_missing
from svmlp.formats._layout import CONFIG_LIMIT, is_image, read_text, walk_files
from svmlp.formats._sidecar import SidecarImage
from svmlp.formats._yolo_read import MAX_ROW
from svmlp.formats._yolo_side import STALE_NOTE, apply_entry, shape_extra, unchanged
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import Category, ImageTable
from svmlp.model.paths import check_split_name
from svmlp.model.strictness import Findings
from svmlp.model.tables import MAX_COORD

__all__ = ["LABELS", "DotaRead", "Part", "find_parts", "parse_rows", "read_parts", "token_of"]

LABELS = "labelTxt"


def token_of(name: str) -> str:
    """A class name as a DOTA row can hold it: white space runs turned into ``-``.

    >>> token_of("licence plate"), token_of("small-vehicle")
    ('licence-plate', 'small-vehicle')
    """
    return "-".join(name.split()) or "-"


@dataclass
class Part:
    """One split: its folder, its image and label folders, and its image files."""

    split: str
    root: Path
    images: Path
    labels: Path
    files: list[Path] = field(default_factory=list)


def find_parts(folder: Path, *, single_split: str, known: dict[tuple[str, str], SidecarImage]) -> list[Part]:
    """``folder`` itself when it holds ``labelTxt/`` (or only ``images/``), else its split
    folders holding either; plus the splits only the sidecar knows."""
    if (folder / LABELS).is_dir():
        parts = [Part(single_split, folder, folder / "images", folder / LABELS)]
    else:
        try:
            subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError as exc:
            raise AnnotationError(f"{folder}: cannot list this folder ({exc.strerror or exc})") from None
        parts = [
            Part(check_split_name(p.name, where=str(folder)), p, p / "images", p / LABELS)
            for p in subs
            if _holds_folder(p, LABELS) or _holds_folder(p, "images")
        ]
        if not parts and (folder / "images").is_dir():
            parts = [Part(single_split, folder, folder / "images", folder / LABELS)]
    for split in sorted({s for s, _ in known} - {p.split for p in parts}):
        parts.append(Part(split, folder / split, folder / split / "images", folder / split / LABELS))
    for part in parts:
        part.files = walk_files(part.images, match=is_image) if part.images.is_dir() else []
    return parts


def _holds_folder(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` is a folder; a folder svmlp may not look into is an error naming
    it, never a raw ``PermissionError`` (nor silently no split)."""
    try:
        return (folder / name).is_dir()
    except OSError as exc:
        raise AnnotationError(
            f"{folder}: cannot look into this folder ({exc.strerror or exc}); svmlp would otherwise "
            "read the data set as if it had no split there"
        ) from None


def parse_rows(text: str, path: Path | str) -> tuple[list[str], list[list[float]], list[int], list[int]]:
    """Class names, the 8 corner coordinates, the difficulty and the line number of each row."""
    names: list[str] = []
    points: list[list[float]] = []
    difficult: list[int] = []
    lines: list[int] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_ROW:
            raise AnnotationError(
                f"{where(path, lineno)}: a row of {len(line)} characters; a DOTA row has 10 values"
            )
        tok = line.split()
        if not tok or (not names and len(tok) < 9 and ":" in tok[0]):  # imagesource:..., gsd:...
            continue
        if len(tok) not in (9, 10):
            raise AnnotationError(
                f"{where(path, lineno)}: {len(tok)} values; expected x1 y1 x2 y2 x3 y3 x4 y4 class difficulty "
                "(the difficulty may be left out)"
            )
        try:
            xy = [float(t) for t in tok[:8]]
        except ValueError:
            raise AnnotationError(
                f"{where(path, lineno)}: expected 8 coordinates, then the class and the difficulty; "
                f"found {line.strip()[:200]!r}"
            ) from None
        if not all(abs(v) <= MAX_COORD for v in xy):
            raise AnnotationError(
                f"{where(path, lineno)}: coordinates must be finite and within ±{MAX_COORD:.0f} px"
            )
        level = tok[9] if len(tok) == 10 else "0"
        if not (level.isascii() and level.isdigit() and len(level) < 4):
            raise AnnotationError(f"{where(path, lineno)}: difficulty {level[:40]!r} is not 0 or 1")
        names.append(tok[8])
        points.append(xy)
        difficult.append(int(int(level) > 0))
        lines.append(lineno)
    return names, points, difficult, lines


def _read_label(label: Path, guard: LinkGuard) -> str | None:
    try:
        mode = os.stat(label).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # no permission: an error, never "this image has no labels"
        raise AnnotationError(f"{label}: cannot read this label file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        return None
    guard.check(label, what="label file")
    return read_text(label, limit=CONFIG_LIMIT, what="label file")


@dataclass
class DotaRead:
    images: ImageTable
    builder: BoxBuilder
    #: the class names the rows use, sorted (the categories when there is no sidecar)
    names: list[str]
    notes: list[str]


def _records(
    parts: list[Part], known: dict[tuple[str, str], SidecarImage]
) -> list[tuple[str, str, Path, Path]]:
    """(split, key, image, label file) of every image on disk and every image only the sidecar knows."""
    out = []
    for part in parts:
        for p in part.files:
            key = p.relative_to(part.images).as_posix()
            out.append((part.split, key, p, part.labels / Path(key).with_suffix(".txt")))
    seen = {(s, k) for s, k, _, _ in out}
    by_split = {p.split: p for p in parts}
    for split, key in known:
        if (split, key) not in seen:
            part = by_split[split]
            out.append((split, key, part.images / key, part.labels / Path(key).with_suffix(".txt")))
    return out


def read_parts(
    parts: list[Part],
    categories: list[Category] | None,
    known: dict[tuple[str, str], SidecarImage],
    *,
    probe: bool,
    guard: LinkGuard,
    sidecar: Path,
    findings: Findings,
) -> DotaRead:
    """Every image and label row of ``parts``; ``categories`` from the sidecar, or None (the
    class names of the rows, sorted)."""
    records = _records(parts, known)
    n = len(records)
    texts: dict[int, str] = {}
    label_files = [""] * n
    for i, (_, _, _, label) in enumerate(records):
        text = _read_label(label, guard)
        if text is not None:
            texts[i], label_files[i] = text, str(label)
    claimed = {Path(label_files[i]) for i in texts}
    for part in parts:
        for txt in walk_files(part.labels, (".txt",)) if part.labels.is_dir() else []:
            if txt not in claimed:
                findings.complain(
                    "orphan_label",
                    f"{txt}: label file has no image (looked for an image of the same stem in {part.images})",
                )
    rows = {i: parse_rows(texts[i], label_files[i]) for i in sorted(texts)}
    names = sorted({name for r in rows.values() for name in r[0]})
    builder = BoxBuilder()
    notes = _boxes(rows, records, texts, label_files, names, categories, known, builder, sidecar)
    images = _image_table(records, known, texts, label_files, probe)
    return DotaRead(images, builder, names, notes + _unlabelled_parts(parts, records, texts, known))


def _class_rows(
    rows: dict[int, tuple[list[str], list[list[float]], list[int], list[int]]],
    label_files: list[str],
    names: list[str],
    categories: list[Category] | None,
) -> list[int]:
    if categories is None:
        lookup = {name: k for k, name in enumerate(names)}
    else:
        lookup = {token_of(c.name): k for k, c in enumerate(categories)}
        lookup.update({c.name: k for k, c in enumerate(categories)})
    out = []
    for i, (found, _, _, lines) in rows.items():
        for name, line in zip(found, lines):
            if name not in lookup:
                raise AnnotationError(
                    f"{where(label_files[i], line)}: class {name[:80]!r} is not one of the data set's classes "
                    "(svmlp.sidecar.json lists them); fix the row or delete the sidecar"
                )
            out.append(lookup[name])
    return out


def _boxes(
    rows: dict[int, tuple[list[str], list[list[float]], list[int], list[int]]],
    records: list[tuple[str, str, Path, Path]],
    texts: dict[int, str],
    label_files: list[str],
    names: list[str],
    categories: list[Category] | None,
    known: dict[tuple[str, str], SidecarImage],
    builder: BoxBuilder,
    sidecar: Path,
) -> list[str]:
    """Add every row to ``builder``; where the sidecar still holds, its record of the image."""
    counts = [len(r[0]) for r in rows.values()]
    with_labels = list(rows)
    cls = np.array(_class_rows(rows, label_files, names, categories), dtype=np.int64)
    corners = np.array([p for r in rows.values() for p in r[1]], dtype=np.float64).reshape(-1, 4, 2)
    xyxy = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    flags = np.full((len(cls), 3), -1, dtype=np.int8)
    flags[:, 0] = [d for r in rows.values() for d in r[2]]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
    row_image = np.repeat(np.array(with_labels, dtype=np.int64), counts)
    position = np.arange(len(cls), dtype=np.float64) - np.repeat(np.array(starts[:-1], np.float64), counts)
    box_ids = np.full(len(cls), -1, dtype=np.int64)
    extras = {r: shape_extra(corners[r]) for r in range(len(cls))}
    cat_row = {c.id: k for k, c in enumerate(categories or [])}
    stale = 0
    for k, i in enumerate(with_labels):
        entry = known.get(records[i][:2])
        if entry is None:
            continue
        lo, hi = starts[k], starts[k + 1]
        classes = [c for _, c in entry.rows]
        if not (unchanged(entry, None, texts[i], hi - lo) and all(0 <= c < len(cat_row) for c in classes)):
            stale += 1
            continue
        cls[lo:hi], flags[lo:hi] = classes, -1  # the sidecar's record is the whole truth here
        apply_entry(
            entry,
            i,
            lo,
            hi,
            box_ids=box_ids,
            position=position,
            extras=extras,
            xyxy=xyxy,
            cat_row=cat_row,
            builder=builder,
            label=Path(label_files[i]),
        )
    builder.add(
        row_image, cls, xyxy, box_ids, extras=extras, position=position, flags=flags, source=str(sidecar)
    )
    return [STALE_NOTE.format(stale)] if stale else []


def _image_table(
    records: list[tuple[str, str, Path, Path]],
    known: dict[tuple[str, str], SidecarImage],
    texts: dict[int, str],
    label_files: list[str],
    probe: bool,
) -> ImageTable:
    """Sizes as the sidecar stored them, else from the image headers (DOTA stores none)."""
    entries = [known.get((s, k)) for s, k, _, _ in records]
    need = [probe or e is None or not e.width for e in entries]
    headers = read_headers([r[2] if need[i] else None for i, r in enumerate(records)]) if any(need) else None
    sizes = np.zeros((len(records), 2), dtype=np.int64)
    for i, e in enumerate(entries):
        if e is not None and e.width:
            sizes[i] = (e.width, e.height)
        elif headers is not None and headers[i].error is None:
            sizes[i] = headers[i].displayed
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    return ImageTable.build(
        id=number_missing(np.array([e.id if e else -1 for e in entries], dtype=np.int64)),
        file_name=[k for _, k, _, _ in records],
        split=[s for s, _, _, _ in records] or np.zeros(0, "U1"),
        width=sizes[:, 0],
        height=sizes[:, 1],
        labelled=[i in texts for i in range(len(records))],
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=label_files,
    )


def _unlabelled_parts(
    parts: list[Part],
    records: list[tuple[str, str, Path, Path]],
    texts: dict[int, str],
    known: dict[tuple[str, str], SidecarImage],
) -> list[str]:
    """A note for each split with images on disk none of which has a label file, unless the
    sidecar says they were written unlabelled: never a silent set of unlabelled images."""
    notes = []
    for part in parts:
        mine = [i for i, r in enumerate(records) if r[0] == part.split]
        if not part.files or any(i in texts for i in mine):
            continue
        if known and all((e := known.get(records[i][:2])) is not None and not e.labelled for i in mine):
            continue
        notes.append(
            f"{part.images}: none of its {len(part.files)} image(s) has a label file (looked for "
            f"{records[mine[0]][3]} and the same for each image in {part.labels}); read as unlabelled images"
        )
    return notes
