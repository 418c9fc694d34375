"""Read CVAT XML files into the model: the files of a folder, images, boxes, groups as links,
and the sidecar's record of each image where it still holds."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError
from svmlp.formats._builder import BoxBuilder, number_missing
from svmlp.formats._cvat_parse import XML_LIMIT, CvatFile, ShapeImage, extras_of, parse
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split, read_bytes
from svmlp.formats._peek import kind_of_file
from svmlp.formats._sidecar import SIDECAR_NAME, Sidecar
from svmlp.formats._yolo_side import STALE_NOTE, apply_entry, unchanged
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import BoxTable, Category, ImageTable, categories_from_names
from svmlp.model.strictness import Findings

__all__ = ["CvatRead", "find_files", "read_files"]

#: the most ``*.xml`` files of a folder looked into for a CVAT root
_PEEKS = 1000


def find_files(
    folder: Path, *, limit: int = 1000, any_main: bool = False, voc_wins: bool = False
) -> list[Path]:
    """``annotations.xml`` in ``folder`` when it is CVAT's (``any_main``: whatever it holds, for
    the reader to say what is wrong with it), else its ``*.xml`` files that are (``voc_wins``:
    none when a VOC file is among them, a VOC folder with a stray CVAT file)."""
    main = folder / "annotations.xml"
    if os.path.lexists(main) and (any_main or kind_of_file(main) == "cvat"):
        return [main]
    try:
        with os.scandir(folder) as entries:
            xml = sorted(e.name for e in entries if e.name.lower().endswith(".xml") and e.is_file())
    except OSError:
        return []
    found: list[Path] = []
    for name in xml[:_PEEKS]:  # a folder of thousands of VOC files is not opened file by file
        kind = kind_of_file(folder / name)
        if kind == "voc" and voc_wins:
            return []
        if kind == "cvat":
            found.append(folder / name)
            if len(found) == limit and not voc_wins:
                break
    return found


@dataclass
class CvatRead:
    categories: list[Category]
    images: ImageTable
    boxes: BoxTable
    roots: dict[str, Path]
    notes: list[str]


def _root_of(folder: Path, split: str) -> Path:
    for cand in (folder / "images" / split, folder / split, folder / "images"):
        if cand.is_dir():
            return cand
    return folder


def _categories(files: list[CvatFile], side: Sidecar | None, folder: Path) -> list[Category]:
    if side is not None:
        return side.category_list(folder / SIDECAR_NAME)
    names: list[str] = []
    for f in files:
        names += [n for n in f.labels if n not in names]
    for f in files:
        for im in f.images:
            names += [s.label for s in im.shapes if s.label not in names]
    return list(categories_from_names(names))


def _link(shapes: list[int], role: list[Any], ids: np.ndarray, extras: dict[int, dict[str, Any]]) -> bool:
    """Link a group's plates to its one vehicle; False when the group is not that shape."""
    parents = [r for r in shapes if role[r] == "parent"]
    children = [r for r in shapes if role[r] == "child"]
    if len(parents) != 1 or not children or len(parents) + len(children) != len(shapes):
        return False
    for r in children:
        extras.setdefault(r, {})["parent_id"] = int(ids[parents[0]])
    return True


def _unique(files: list[CvatFile], findings: Findings) -> list[tuple[CvatFile, ShapeImage]]:
    """Every ``<image>``; one that names an image (and subset) named before is a complaint, and
    left out when reading leniently."""
    seen: dict[tuple[str, str], Path] = {}
    out = []
    for f in files:
        for im in f.images:
            key = (im.split, im.name)
            if key in seen:
                findings.complain(
                    "duplicate_file",
                    f"{f.path}: <image name={im.name!r}> (subset {im.split}) is labelled twice "
                    f"(also in {seen[key].name}); keep one",
                )
                continue
            seen[key] = f.path
            out.append((f, im))
    return out


def read_files(
    paths: list[Path], side: Sidecar | None, *, probe: bool, guard: LinkGuard, findings: Findings
) -> CvatRead:
    folder = paths[0].parent
    files = []
    for p in paths:
        guard.check(p, what="annotation file")
        data = read_bytes(p, limit=XML_LIMIT, what="CVAT annotation file")
        files.append(parse(p, data, default_split=infer_split(p.stem) or DEFAULT_SPLIT))
    if all(not f.images for f in files) and any(f.tracks for f in files):
        raise AnnotationError(
            f"{files[0].path}: holds <track>s and no <image>: a 'CVAT for video' export; "
            "export the task as 'CVAT for images 1.1'"
        )
    categories = _categories(files, side, folder)
    lookup = {c.name: k for k, c in enumerate(categories)}
    role = [c.role for c in categories]
    records = _unique(files, findings)
    known = side.by_key() if side else {}
    rows_image: list[int] = []
    cls: list[int] = []
    xyxy: list[tuple[float, float, float, float]] = []
    flags: list[int] = []
    extras: dict[int, dict[str, Any]] = {}
    starts = [0]
    for i, (f, im) in enumerate(records):
        for s in im.shapes:
            if s.label not in lookup:
                raise AnnotationError(
                    f"{f.path}: <image name={im.name!r}>: label {s.label[:80]!r} is not one of the data set's "
                    f"classes ({SIDECAR_NAME} lists them); fix the shape or delete the sidecar"
                )
            if e := extras_of(s):
                extras[len(cls)] = e
            rows_image.append(i)
            cls.append(lookup[s.label])
            xyxy.append(s.xyxy)
            flags.append(s.occluded)
        starts.append(len(cls))
    n = len(cls)
    cls_a = np.array(cls, dtype=np.int64)
    xyxy_a = np.array(xyxy, dtype=np.float64).reshape(n, 4)
    flag_a = np.full((n, 3), -1, dtype=np.int8)
    flag_a[:, 2] = flags
    box_ids = np.full(n, -1, dtype=np.int64)
    position = np.arange(n, dtype=np.float64) - np.repeat(np.array(starts[:-1], np.float64), np.diff(starts))
    builder = BoxBuilder()
    cat_row = {c.id: k for k, c in enumerate(categories)}
    applied: set[int] = set()
    stale = 0
    for i, (f, im) in enumerate(records):
        entry = known.get((im.split, im.name))
        if entry is None:
            continue
        lo, hi = starts[i], starts[i + 1]
        classes = [c for _, c in entry.rows]
        if not (
            unchanged(entry, cls_a[lo:hi].tolist(), "", hi - lo)
            and all(0 <= c < len(cat_row) for c in classes)
        ):
            stale += 1
            continue
        applied.add(i)
        flag_a[lo:hi] = -1
        apply_entry(
            entry,
            i,
            lo,
            hi,
            box_ids=box_ids,
            position=position,
            extras=extras,
            xyxy=xyxy_a,
            cat_row=cat_row,
            builder=builder,
            label=f.path,
        )
    taken = set(box_ids[box_ids >= 0].tolist())
    for a in (a for e in known.values() for a in e.annotations if "bbox" in a):
        taken.add(int(a["id"]))
    missing = box_ids < 0
    start = max(taken, default=0) + 1
    box_ids[missing] = np.arange(start, start + int(missing.sum()))
    odd_groups = 0
    for i, (_, im) in enumerate(records):
        if i in applied:
            continue
        groups: dict[int, list[int]] = {}
        for k, s in enumerate(im.shapes):
            if s.group:
                groups.setdefault(s.group, []).append(starts[i] + k)
        odd_groups += sum(
            not _link(rows, [role[c] for c in cls], box_ids, extras) for rows in groups.values()
        )
    builder.add(
        np.array(rows_image, dtype=np.int64),
        cls_a,
        xyxy_a,
        box_ids,
        extras=extras,
        position=position,
        flags=flag_a,
        source=[str(records[rows_image[r]][0].path) for r in range(n)],
    )
    images, roots, renamed = _image_table(records, known, folder, probe)
    notes = _notes(files, odd_groups, stale)
    if renamed:
        notes.append(
            "CVAT subsets read as splits: " + ", ".join(f"{a} → {b}" for a, b in sorted(renamed.items()))
        )
    return CvatRead(categories, images, builder.build(), roots, notes)


#: CVAT project exports name their subsets as people type them (``Train``, ``Validation``)
_SUBSETS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val"}
_SUBSETS |= {"test": "test", "testing": "test"}


def _splits_of(subsets: list[str], written_by_svmlp: bool) -> dict[str, str]:
    """Subset → split: the usual spellings become ``train``/``val``/``test`` (what ultralytics and
    every other writer expect), unless svmlp wrote the file (its subsets are the splits) or two
    subsets would become one."""
    if written_by_svmlp:
        return {s: s for s in subsets}
    out = {s: _SUBSETS.get(s.lower(), s) for s in subsets}
    return out if len(set(out.values())) == len(out) else {s: s for s in subsets}


def _image_table(
    records: list[tuple[CvatFile, ShapeImage]], known: dict[Any, Any], folder: Path, probe: bool
) -> tuple[ImageTable, dict[str, Path], dict[str, str]]:
    splits = sorted({im.split for _, im in records})
    roots = {s: _root_of(folder, s) for s in splits}
    canon = _splits_of(splits, bool(known))
    entries = [known.get((im.split, im.name)) for _, im in records]
    xml_ids = [im.id for _, im in records]
    own = [i for i in xml_ids if i is not None]
    if len(set(own)) != len(own):  # per-subset numbering in project exports: ids repeat
        xml_ids = [None] * len(records)
    ids = np.array(
        [e.id if e is not None else (-1 if x is None else x) for e, x in zip(entries, xml_ids)],
        dtype=np.int64,
    )
    if len(set(ids[ids >= 0].tolist())) != int((ids >= 0).sum()):
        ids = np.array([e.id if e is not None else -1 for e in entries], dtype=np.int64)
    headers = read_headers([roots[im.split] / im.name for _, im in records]) if probe and records else None
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    table = ImageTable.build(
        id=number_missing(ids),
        file_name=[im.name for _, im in records],
        split=[canon[im.split] for _, im in records] or np.zeros(0, "U1"),
        width=[e.width if e is not None and e.width else im.width for e, (_, im) in zip(entries, records)],
        height=[
            e.height if e is not None and e.height else im.height for e, (_, im) in zip(entries, records)
        ],
        labelled=[e.labelled if e is not None else True for e in entries],
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=[str(f.path) for f, _ in records],
    )
    renamed = {a: b for a, b in canon.items() if a != b}
    return table, {canon[k]: v for k, v in roots.items()}, renamed


def _notes(files: list[CvatFile], odd_groups: int, stale: int) -> list[str]:
    notes = []
    skipped: Counter[str] = Counter()
    for f in files:
        skipped.update(f.skipped)
    if skipped:
        kinds = ", ".join(f"{n} {k}(s)" for k, n in sorted(skipped.items()))
        notes.append(f"left out shapes that are not boxes: {kinds}")
    tracks = sum(f.tracks for f in files)
    if tracks:
        notes.append(
            f"{tracks} <track>(s) left out: that is CVAT for video; export the task as "
            "'CVAT for images 1.1' to read its shapes frame by frame"
        )
    unlabelled = sum(f.unlabelled_shapes for f in files)
    if unlabelled:
        notes.append(f"{unlabelled} shape(s) with no label left out")
    if odd_groups:
        notes.append(
            f"{odd_groups} group(s) not read as links (a link group holds one vehicle and one or more plates only)"
        )
    if stale:
        notes.append(STALE_NOTE.format(stale).replace("label file(s)", "image(s) of the XML"))
    return notes
