"""Pascal VOC, in the devkit layout: ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

Coordinates are integer pixel indices, 1-based and inclusive: written as
``xmin = round(x0) + 1``, ``xmax = round(x1)``; read as ``x0 = xmin - origin``, ``x1 = xmax``.
``origin=1`` is the devkit's convention; ``origin=0`` reads files whose numbers are 0-based
continuous coordinates (what labelformat and datumaro write). A flat folder of XML files (images
beside them) reads too. Plates stay ordinary top-level objects; each object's ``<svmlp>`` element
carries its id, its parent's id and the link score, which other VOC readers ignore.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from svmlp._files import LinkGuard, make_folders
from svmlp.errors import AnnotationError, UsageError, where
from svmlp.formats import _sidecar
from svmlp.formats._builder import BoxBuilder, number_missing
from svmlp.formats._layout import (
    CONFIG_LIMIT,
    DEFAULT_SPLIT,
    IMAGE_SUFFIXES,
    list_files,
    paused_gc,
    read_text,
    walk_files,
)
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._voc_parse import Parsed, coordinates, parse_file
from svmlp.formats._voc_write import check_writable, check_xml_text, objects_xml
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import BoxTable, Category, Dataset, ImageTable, Inputs, categories_from_names, sort_splits
from svmlp.model.paths import check_destinations, check_file_name, check_split_name, names_ok
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = ["LOOKS_FOR", "NAME", "PRIORITY", "ROUND_TRIP", "image_destination", "read", "sniff", "write"]

NAME = "voc"
#: after the native format, before YOLO and COCO: a devkit folder may hold a stray *.yaml or *.json
PRIORITY = 20
LOOKS_FOR = "VOC Annotations/"
#: whole pixels (±0.5 px); ``<difficult>`` is written on every object (devkit readers require it),
#: so an unspecified one may come back as 0; the ``<svmlp>`` element and the sidecar keep the rest
ROUND_TRIP = RoundTrip(tolerance=0.5, unset_as={"difficult": 0})
UNLISTED_SPLIT = "unlisted"
_CLASS_ROW = re.compile(r"^\S+\s+(-1|0|1)$")


def _layout(path: Path) -> tuple[Path, Path, Path | None, Path | None]:
    """(base, annotations folder, images folder, ImageSets/Main folder)."""
    if not path.is_dir():
        raise AnnotationError(f"{path}: no such folder")
    if not (path / "Annotations").is_dir():
        nested = [d for d in path.glob("VOC*") if (d / "Annotations").is_dir()]
        if len(nested) == 1:
            path = nested[0]
    if (path / "Annotations").is_dir():
        images = path / "JPEGImages" if (path / "JPEGImages").is_dir() else None
        sets = path / "ImageSets" / "Main"
        return path, path / "Annotations", images, sets if sets.is_dir() else None
    return path, path, path, None


def _split_lists(sets: Path | None) -> dict[str, list[tuple[str, int]]]:
    if sets is None:
        return {}
    out: dict[str, list[tuple[str, int]]] = {}
    guard = LinkGuard([sets.parent.parent])
    for p in list_files(sets, (".txt",)):
        guard.check(p, what="image set list")
        lines = [(ln.strip(), k) for k, ln in enumerate(read_text(p, what="image set list").splitlines(), 1)]
        entries = [(ln, k) for ln, k in lines if ln and not ln.startswith("#")]
        if "_" in p.stem and entries and _CLASS_ROW.match(entries[0][0]):
            continue  # a per-class list ("cat_train.txt": "2007_000001  1"), not a split
        check_split_name(p.stem, where=str(p))
        for stem, k in entries:  # each becomes a path: checked before it is joined to a folder
            check_file_name(stem, where=where(p, k), what="image set entry")
        out[p.stem] = entries  # the whole line: file names may hold spaces
    if "trainval" in out and "train" in out and "val" in out:
        del out["trainval"]  # the union of the two; keeping it would put images in two splits
    return out


def _find_image(folder: Path | None, stem: str) -> str | None:
    if folder is None:
        return None
    for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"):
        if (folder / f"{stem}{suffix}").is_file():
            return f"{stem}{suffix}"
    sub = Path(stem).parent
    prefix = f"{Path(stem).name}."
    for cand in list_files(folder / sub):  # no glob: a stem may hold "[" or "*"
        if cand.name.startswith(prefix) and cand.suffix.lower() in IMAGE_SUFFIXES:
            return (sub / cand.name).as_posix()
    return None


def sniff(path: Path) -> Sniff | None:
    """An ``.xml`` file, or a folder with ``Annotations/**/*.xml``, ``ImageSets/Main/`` or
    ``*.xml`` in it (an ``Annotations/`` folder alone is not enough: darknet exports have one)."""
    if path.is_file():
        return Sniff("an .xml file") if path.suffix == ".xml" else None
    if (path / "Annotations").is_dir() and next((path / "Annotations").rglob("*.xml"), None):
        return Sniff("Annotations/ holds *.xml files")
    if (path / "ImageSets" / "Main").is_dir():
        return Sniff("it holds ImageSets/Main/")
    if next(path.glob("*.xml"), None):
        return Sniff("it holds *.xml files")
    return None


@paused_gc()
def read(path: str | Path, *, origin: int = 1, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a VOC devkit folder (or a flat folder of VOC XML files); ``findings``: strict (the
    default) or lenient reading (:class:`~svmlp.model.strictness.Findings`)."""
    if origin not in (0, 1):
        raise UsageError(f"VOC origin must be 0 or 1, not {origin!r}")
    base, ann_dir, img_dir, sets = _layout(Path(path))
    side = _sidecar.load(base, NAME)
    known = side.by_key() if side else {}
    guard = LinkGuard([base])
    xmls = {}
    for p in walk_files(ann_dir, (".xml",)):
        guard.check(p, what="annotation file")  # a "label" linked to /etc/passwd is not read
        xmls[p.relative_to(ann_dir).with_suffix("").as_posix()] = p
    lists = _split_lists(sets)
    if not xmls and not any(lists.values()):
        raise AnnotationError(f"{ann_dir}: no VOC annotation files (*.xml) and no ImageSets/Main lists found")
    split_of = _assign_splits(xmls, lists, sets)
    parsed = {stem: parse_file(p, stem, lambda st: _find_image(img_dir, st)) for stem, p in xmls.items()}
    categories = side.category_list(base / _sidecar.SIDECAR_NAME) if side else _categories_from(parsed, base)
    records = _records(parsed, split_of, known, img_dir, sets)
    _check_record_names(records, sets)
    labelmap = base / "labelmap.txt"
    inputs = Inputs.of(
        files=[labelmap if labelmap.is_file() else None, base / _sidecar.SIDECAR_NAME if side else None],
        trees=[ann_dir],
        folders=[base, img_dir, sets],
        bounds=[base],
    )
    info = side.info if side else {}
    return _assemble(categories, records, known, img_dir, probe, base, info, origin, inputs, findings)


def _check_record_names(records: list[tuple[str, str, Parsed | None]], sets: Path | None) -> None:
    """Every image file name by the path rule before any is joined to the image folder; a bad one
    is reported with the file it came from."""
    names = [name for _, name, _ in records]
    if names_ok(names):
        return
    for split, name, p in records:
        origin = str(p.path) if p is not None else str(sets / f"{split}.txt" if sets else split)
        check_file_name(name, where=origin)


def _assign_splits(
    xmls: dict[str, Path], lists: dict[str, list[tuple[str, int]]], sets: Path | None
) -> dict[str, str]:
    split_of: dict[str, str] = {}
    for split in sort_splits(lists):
        entries = lists[split]
        for stem, lineno in entries:
            if stem in split_of and split_of[stem] != split:
                raise AnnotationError(
                    f"{where(sets / f'{split}.txt', lineno)}: {stem!r} is also listed in {split_of[stem]}.txt; "  # type: ignore[operator]
                    "an image belongs to one split"
                )
            split_of[stem] = split
    fallback = UNLISTED_SPLIT if lists else DEFAULT_SPLIT
    for stem in xmls:
        split_of.setdefault(stem, fallback)
    return split_of


def _categories_from(parsed: dict[str, Parsed], base: Path) -> list[Category]:
    labelmap = base / "labelmap.txt"
    order: list[str] = []
    if labelmap.is_file():
        for line in read_text(labelmap, limit=CONFIG_LIMIT, what="label map").splitlines():
            if line.strip() and not line.startswith("#"):
                order.append(line.split(":")[0].strip())
    seen = set(order)
    extra = sorted({n for p in parsed.values() for n in p.names} - seen)
    return list(categories_from_names(order + extra, start=1))


def _records(
    parsed: dict[str, Parsed],
    split_of: dict[str, str],
    known: dict[tuple[str, str], Any],
    img_dir: Path | None,
    sets: Path | None,
) -> list[tuple[str, str, Parsed | None]]:
    """(split, file name, parsed XML or None for an unlabelled image) per image, in split order."""
    by_stem = {(s, Path(k).with_suffix("").as_posix()): e for (s, k), e in known.items()}
    records: list[tuple[str, str, Parsed | None]] = []
    for stem, split in split_of.items():
        p = parsed.get(stem)
        if p is not None:
            records.append((split, p.file_name, p))
            continue
        entry = by_stem.get((split, stem))
        name = entry.file_name if entry else _find_image(img_dir, stem)
        if name is None:
            listed = sets / f"{split}.txt" if sets else split
            raise AnnotationError(f"{listed}: {stem!r} has neither an annotation file nor an image")
        records.append((split, name, None))
    return records


def _assemble(
    categories: list[Category],
    records: list[tuple[str, str, Parsed | None]],
    known: dict[tuple[str, str], Any],
    img_dir: Path | None,
    probe: bool,
    base: Path,
    info: dict[str, Any],
    origin: int,
    inputs: Inputs,
    findings: Findings,
) -> Dataset:
    n = len(records)
    headers = read_headers([img_dir / name if img_dir else None for _, name, _ in records]) if probe else None
    ids, widths, heights = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i, (split, name, p) in enumerate(records):
        entry = known.get((split, name))
        w, h = (p.width, p.height) if p is not None else (0, 0)
        if not w and entry is not None:
            w, h = entry.width, entry.height
        if not w and headers and headers[i].error is None:
            w, h = headers[i].displayed
        widths[i], heights[i] = w, h
        ids[i] = p.image_id if p is not None and p.image_id is not None else (entry.id if entry else -1)
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    images = ImageTable.build(
        id=number_missing(ids),  # images new since svmlp wrote the sidecar come after its ids
        file_name=[r[1] for r in records],
        split=[r[0] for r in records] or np.zeros(0, "U1"),
        width=widths,
        height=heights,
        labelled=[r[2] is not None for r in records],
        header_width=hw,
        header_height=hh,
        orientation=ho,
    )
    roots = {s: img_dir for s in set(images.split.tolist())} if img_dir else {}
    boxes = _boxes(categories, records, known, origin)
    return Dataset(
        categories, images, boxes, roots=roots, info=info, source=base, inputs=inputs, findings=findings
    )


def _boxes(
    categories: list[Category],
    records: list[tuple[str, str, Parsed | None]],
    known: dict[tuple[str, str], Any],
    origin: int,
) -> BoxTable:
    """Every object of every file in one batch: numbers converted at once, ids and links applied."""
    files = [(i, p) for i, (_, _, p) in enumerate(records) if p is not None and p.names]
    if not files:
        return BoxTable.empty()
    parsed = [p for _, p in files]
    xyxy = coordinates(parsed, origin)
    cat_row = {c.name.strip(): k for k, c in enumerate(categories)}  # VOC readers strip <name>
    names = [nm for p in parsed for nm in p.names]
    unknown = next((nm for nm in names if nm not in cat_row), None)
    if unknown is not None:
        p = next(p for p in parsed if unknown in p.names)
        raise AnnotationError(
            f"{p.path}: class {unknown!r} is not among the categories of svmlp.sidecar.json"
        )
    extras: dict[int, dict[str, Any]] = {}
    base = 0
    for i, p in files:
        entry = known.get(records[i][:2])
        kept = {a["id"]: a for a in entry.annotations} if entry is not None else {}
        for k, e in p.extras.items():  # with what the sidecar kept for the box (its segmentation)
            extras[base + k] = {**e, **{f: v for f, v in kept.get(e.get("id"), {}).items() if f != "id"}}
        base += len(p.names)
    ids = np.full(len(names), -1, dtype=np.int64)
    for r, e in list(extras.items()):
        if "id" in e:
            ids[r] = e.pop("id")
        if not e:
            del extras[r]
    builder = BoxBuilder()
    builder.add(
        np.repeat([i for i, _ in files], [len(p.names) for p in parsed]),
        np.array([cat_row[nm] for nm in names]),
        xyxy,
        ids,
        iscrowd=np.array([c for p in parsed for c in p.crowd], dtype=bool),
        flags=np.array([f for p in parsed for f in p.flags], dtype=np.int8),
        extras=extras,
        source=[str(p.path) for p in parsed for _ in p.names],
    )
    return builder.build()


# -- writing ------------------------------------------------------------------------------------


def image_destination(split: str, file_name: str) -> str:
    return f"JPEGImages/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    """Write one XML per labelled image, the split lists, and the sidecar."""
    check_writable(ds)
    b, im = ds.boxes, ds.images
    if not usable_boxes(b.xyxy).all():  # the model refuses such boxes; never cast one to an integer
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    check_destinations(out, [f"Annotations/{os.path.splitext(n)[0]}.xml" for n in im.file_name.tolist()])
    check_destinations(out, [f"ImageSets/Main/{s}.txt" for s in ds.splits])
    check_xml_text(ds)
    objects = objects_xml(ds)
    (out / "Annotations").mkdir(parents=True)
    (out / "ImageSets" / "Main").mkdir(parents=True)
    (out / "JPEGImages").mkdir()
    lists: dict[str, list[str]] = defaultdict(list)
    off = ds.offsets.tolist()
    made: set[str] = set()
    annotations = str(out / "Annotations")
    for i, (name, split, id_, w, h, labelled) in enumerate(
        zip(
            im.file_name.tolist(),
            im.split.tolist(),
            im.id.tolist(),
            im.width.tolist(),
            im.height.tolist(),
            im.labelled.tolist(),
        )
    ):
        stem = os.path.splitext(name)[0]
        lists[split].append(stem)
        if not labelled:
            continue
        size = f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>" if w else ""
        xml = (
            f"<annotation><folder>JPEGImages</folder><filename>{escape(name.rsplit('/', 1)[-1])}</filename>{size}"
            f'<segmented>0</segmented><svmlp id="{id_}"/>{"".join(objects[off[i] : off[i + 1]])}</annotation>\n'
        )
        dst = os.path.join(annotations, f"{stem}.xml")
        if (folder := os.path.dirname(dst)) not in made:
            make_folders(folder)
            made.add(folder)
        with open(dst, "xb") as fh:  # exclusive: two names one file system folds together never overwrite
            fh.write(xml.encode())
    for split in sort_splits(lists):
        (out / "ImageSets" / "Main" / f"{split}.txt").write_text(
            "".join(s + "\n" for s in lists[split]), encoding="utf-8"
        )
    _sidecar.save(ds, out, NAME, rows_of=None, carried=_sidecar.VOC_CARRIED)
    notes = []
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) written as difficult objects (marked crowd in <svmlp>)"
        )
    return notes
