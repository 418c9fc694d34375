"""Pascal VOC: ``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt`` (the devkit), and
the layouts people have (:mod:`~svmlp.formats._voc_layout`): ``VOCdevkit/VOC2007/`` nested,
Kaggle's ``annotations/`` beside ``images/``, Roboflow's split folders, a flat folder of XML files.

Coordinates are integer pixel indices, 1-based and inclusive: written as
``xmin = round(x0) + 1``, ``xmax = round(x1)``; read as ``x0 = xmin - origin``, ``x1 = xmax``.
``origin=1`` is the devkit's convention; ``origin=0`` reads files whose numbers are 0-based
continuous coordinates (what labelformat, datumaro and Roboflow write); left out, it is 1 unless
the files show they are 0-based (:mod:`~svmlp.formats._voc_origin`, with a note). Stale
``<filename>`` and ``<size>`` are repaired by rule and said (:mod:`~svmlp.formats._voc_images`,
:mod:`~svmlp.formats._voc_sizes`); images with no XML file are unlabelled images. Plates stay
ordinary top-level objects; each object's ``<svmlp>`` element carries its id, its parent's id and
the link score, which other VOC readers ignore.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, UsageError
from svmlp.formats import _sidecar
from svmlp.formats._builder import BoxBuilder, number_missing
from svmlp.formats._layout import CONFIG_LIMIT, DEFAULT_SPLIT, paused_gc, read_text, walk_files
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._voc_images import UNLISTED_SPLIT, Key, Record, assign_splits, name_images, unlabelled
from svmlp.formats._voc_images import records as part_records
from svmlp.formats._voc_layout import ImageIndex, Part, find_layout, sniff_reason, split_lists
from svmlp.formats._voc_origin import choose_origin
from svmlp.formats._voc_parse import Parsed, coordinates, parse_file, values
from svmlp.formats._voc_sizes import frames
from svmlp.formats._voc_write import check_writable, check_xml_text, write_tree
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import BoxTable, Category, Dataset, ImageTable, Inputs, categories_from_names
from svmlp.model.paths import check_destinations, check_file_name, names_ok
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import ORIENTATION_SWAPS, usable_boxes

__all__ = [
    "LOOKS_FOR",
    "NAME",
    "PRIORITY",
    "ROUND_TRIP",
    "UNLISTED_SPLIT",
    "image_destination",
    "read",
    "sniff",
    "write",
]

NAME = "voc"
#: after the native format, before YOLO and COCO: a devkit folder may hold a stray *.yaml or *.json
PRIORITY = 20
LOOKS_FOR = "VOC Annotations/"
#: whole pixels (±0.5 px); ``<difficult>`` and ``<truncated>`` are written on every object (devkit
#: readers int() both), so an unspecified difficult may come back as 0 (an unspecified truncated is
#: marked in ``<svmlp>``); the ``<svmlp>`` element and the sidecar keep the rest
ROUND_TRIP = RoundTrip(tolerance=0.5, unset_as={"difficult": 0})


def sniff(path: Path) -> Sniff | None:
    """An ``.xml`` file, or a folder with VOC files in one of the layouts
    :mod:`~svmlp.formats._voc_layout` knows: ``Annotations/**/*.xml`` (either case), ``ImageSets/Main/``,
    ``*.xml``, a ``VOC2007/`` or ``VOCdevkit/`` tree, or split folders holding VOC files (an
    ``Annotations/`` folder without XML files is not enough: darknet exports have one)."""
    if path.is_file():
        return Sniff("an .xml file") if path.suffix == ".xml" else None
    why = sniff_reason(path)
    return Sniff(why) if why else None


@paused_gc()
def read(
    path: str | Path, *, origin: int | None = None, probe: bool = True, findings: Findings = STRICT
) -> Dataset:
    """Read a VOC devkit folder, Kaggle's ``annotations/`` + ``images/``, Roboflow's split folders or
    a flat folder of VOC XML files.

    ``origin``: 1 (the devkit's 1-based pixel indices) or 0 (0-based continuous coordinates); left
    out, 1 unless the files show they are 0-based (a note says what was inferred). ``findings``:
    strict (the default) or lenient reading (:class:`~svmlp.model.strictness.Findings`).
    """
    if origin not in (None, 0, 1):
        raise UsageError(f"VOC origin must be 0 or 1, not {origin!r}")
    given = Path(path)
    layout = find_layout(given)
    base = layout.base
    side = _sidecar.load(base, NAME)
    # svmlp writes one tree, never split folders: a sidecar speaks for a single part
    known = side.by_key() if side and len(layout.parts) == 1 else {}
    notes: list[str] = []
    records: list[Record] = []
    sharing: dict[Path | None, list[int]] = {}  # parts by image folder: their files are named together
    for k, part in enumerate(layout.parts):
        sharing.setdefault(part.images, []).append(k)
    for folder, ks in sharing.items():
        found, found_notes = _read_parts(
            [(k, layout.parts[k]) for k in ks], ImageIndex(folder), known, given, findings
        )
        records += found
        notes += found_notes
    if not records:
        where_ = layout.parts[0].annotations or base
        raise AnnotationError(f"{where_}: no VOC annotation files (*.xml) and no ImageSets/Main lists found")
    parsed = [r.parsed for r in records if r.parsed is not None]
    categories = (
        side.category_list(base / _sidecar.SIDECAR_NAME) if side else _categories_from(parsed, base, given)
    )
    _check_record_names(records)
    files_read = [p.parsed for p in records if p.parsed is not None and p.parsed.names]
    vals = values(files_read)
    written = side is not None
    origin, origin_notes = choose_origin(files_read, vals, given=origin, svmlp_written=written)
    labelmap = base / "labelmap.txt"
    inputs = Inputs.of(
        files=[labelmap if _has_file(labelmap) else None, base / _sidecar.SIDECAR_NAME if side else None],
        trees=[*(pt.annotations for pt in layout.parts), *(pt.images for pt in layout.parts)],
        folders=[base, *(pt.sets for pt in layout.parts)],
        bounds=[given],
    )
    boxes = _boxes(categories, records, known, coordinates(files_read, origin, vals))
    ds = _assemble(
        categories, records, boxes, known, probe, side.info if side else {}, inputs, findings, base
    )
    ds.notes = [*origin_notes, *notes, *ds.notes]
    return ds


def _read_parts(
    parts: list[tuple[int, Part]],
    index: ImageIndex,
    known: dict[tuple[str, str], Any],
    given: Path,
    findings: Findings,
) -> tuple[list[Record], list[str]]:
    """The images of the parts that share ``index``'s image folder, and notes: their XML files
    named together (two files of two splits may name one image), then the folder's images that
    no file labels, as unlabelled images."""
    files: dict[Key, Parsed] = {}
    split_of: dict[Key, str] = {}
    each = []
    listed = False
    for k, part in parts:
        xmls, lists = _part_files(part, given)
        listed |= bool(lists)
        splits = assign_splits(xmls, lists, part)
        parsed = {stem: parse_file(p) for stem, p in xmls.items()}
        files.update({(k, stem): p for stem, p in parsed.items()})
        split_of.update({(k, stem): splits[stem] for stem in parsed})
        each.append((part, parsed, splits))
    notes = name_images(files, index, split_of, findings)
    found = [r for part, parsed, splits in each for r in part_records(part, parsed, splits, known, index)]
    if not found:
        return [], []
    if len(parts) == 1:
        split = parts[0][1].split or (UNLISTED_SPLIT if listed else DEFAULT_SPLIT)
    else:  # several splits' files label images of one folder: an unlabelled one is in none of them
        split = UNLISTED_SPLIT
    extra, extra_notes = unlabelled(index, {r.file_name for r in found}, split, parts[0][1])
    return found + extra, notes + extra_notes


def _part_files(part: Part, given: Path) -> tuple[dict[str, Path], dict[str, list[tuple[str, int]]]]:
    """The part's XML files by stem (relative to its annotation folder) and its split lists."""
    guard = LinkGuard([given])
    xmls = {}
    if part.annotations is not None:
        for p in walk_files(part.annotations, (".xml",)):
            guard.check(p, what="annotation file")  # a "label" linked to /etc/passwd is not read
            xmls[p.relative_to(part.annotations).with_suffix("").as_posix()] = p
    return xmls, split_lists(part.sets, given)


def _check_record_names(records: list[Record]) -> None:
    """Every image file name by the path rule before any is joined to the image folder; a bad one
    is reported with the file it came from."""
    names = [r.file_name for r in records]
    if names_ok(names):
        return
    for r in records:
        sets = r.part.sets
        origin = (
            str(r.parsed.path) if r.parsed is not None else str(sets / f"{r.split}.txt" if sets else r.split)
        )
        check_file_name(r.file_name, where=origin)


def _has_file(path: Path) -> bool:
    """Whether something that is not a folder is at ``path`` (a FIFO or a dangling link too: the
    read says what is wrong with it, rather than svmlp going on as if it were not there)."""
    return os.path.lexists(path) and not path.is_dir()


def _categories_from(parsed: list[Parsed], base: Path, given: Path) -> list[Category]:
    labelmap = base / "labelmap.txt"
    order: list[str] = []
    if _has_file(labelmap):
        LinkGuard([given]).check(labelmap, what="label map")  # its lines become class names, quoted
        for line in read_text(labelmap, limit=CONFIG_LIMIT, what="label map").splitlines():
            if line.strip() and not line.startswith("#"):
                order.append(line.split(":")[0].strip())
    seen = set(order)
    extra = sorted({n for p in parsed for n in p.names} - seen)
    return list(categories_from_names(order + extra, start=1))


def _assemble(
    categories: list[Category],
    records: list[Record],
    boxes: BoxTable,
    known: dict[tuple[str, str], Any],
    probe: bool,
    info: dict[str, Any],
    inputs: Inputs,
    findings: Findings,
    base: Path,
) -> Dataset:
    n = len(records)
    paths = [r.part.images / r.file_name if r.part.images else None for r in records]
    headers = read_headers(paths) if probe else None
    ids, stated = np.full(n, -1, np.int64), np.zeros((n, 2), np.int64)
    for i, r in enumerate(records):
        entry = known.get((r.split, r.file_name))
        p = r.parsed
        w, h = (p.width, p.height) if p is not None else (0, 0)
        if not w and entry is not None:
            w, h = entry.width, entry.height
        stated[i] = w, h
        if p is not None and p.image_id is not None:
            ids[i] = p.image_id
        elif entry is not None:
            ids[i] = entry.id
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    label_files = [str(r.parsed.path) if r.parsed is not None else "" for r in records]
    raw = np.stack([hw, hh], axis=1) if hw is not None and hh is not None else np.zeros((n, 2), np.int64)
    turned = np.isin(ho, ORIENTATION_SWAPS) if ho is not None else np.zeros(n, dtype=bool)
    frame = frames(stated, np.where(turned[:, None], raw[:, ::-1], raw), raw, boxes, label_files)
    images = ImageTable.build(
        id=number_missing(ids),  # images new since svmlp wrote the sidecar come after its ids
        file_name=[r.file_name for r in records],
        split=[r.split for r in records] or np.zeros(0, "U1"),
        width=frame.width,
        height=frame.height,
        labelled=[r.parsed is not None for r in records],
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=label_files,
        stored_width=frame.stored_width,
        stored_height=frame.stored_height,
    )
    roots = {r.split: r.part.images for r in records if r.part.images is not None}
    ds = Dataset(
        categories, images, boxes, roots=roots, info=info, source=base, inputs=inputs, findings=findings
    )
    ds.notes.extend(frame.notes)
    return ds


def _boxes(
    categories: list[Category], records: list[Record], known: dict[tuple[str, str], Any], xyxy: np.ndarray
) -> BoxTable:
    """Every object of every file in one batch (``xyxy``: their coordinates, converted at once), ids
    and links applied."""
    files = [(i, r.parsed) for i, r in enumerate(records) if r.parsed is not None and r.parsed.names]
    if not files:
        return BoxTable.empty()
    parsed = [p for _, p in files]
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
        entry = known.get((records[i].split, records[i].file_name))
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


#: where :func:`write` puts the tree: ``plain`` at the top of the output, ``devkit`` as
#: ``VOCdevkit/VOC2007/`` (the path torchvision's ``VOCDetection`` and the devkit's scripts expect)
LAYOUTS = {"plain": "", "devkit": "VOCdevkit/VOC2007/"}


def _prefix(layout: str) -> str:
    if layout not in LAYOUTS:
        raise UsageError(f"VOC layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[layout]


def image_destination(split: str, file_name: str, *, layout: str = "plain") -> str:
    return f"{_prefix(layout)}JPEGImages/{file_name}"


def write(ds: Dataset, out: Path, *, layout: str = "plain") -> list[str]:
    """Write one XML per labelled image, the split lists (labelled images only; ``trainval.txt``
    beside ``train.txt`` and ``val.txt``), and the sidecar, which keeps the unlabelled images.
    ``layout="devkit"`` puts it all under ``VOCdevkit/VOC2007/``."""
    prefix = _prefix(layout)
    check_writable(ds)
    if not usable_boxes(ds.boxes.xyxy).all():  # the model refuses such boxes; never cast one to an integer
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    names = ds.images.file_name.tolist()
    check_destinations(out, [f"{prefix}Annotations/{os.path.splitext(n)[0]}.xml" for n in names])
    check_destinations(out, [f"{prefix}ImageSets/Main/{s}.txt" for s in [*ds.splits, "trainval"]])
    check_xml_text(ds)
    root = out / prefix if prefix else out
    notes = write_tree(ds, root)
    _sidecar.save(ds, root, NAME, rows_of=None, carried=_sidecar.VOC_CARRIED)
    return notes
