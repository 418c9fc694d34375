"""COCO object detection: ``annotations/instances_<split>.json`` beside ``images/<split>/``.

Reads the usual layouts too: ``train2017/`` beside ``annotations/instances_train2017.json``
(cocodataset.org, mmdetection) and Roboflow's ``<split>/_annotations.coco.json``. Ids are kept
as they are. Extra keys carry what COCO cannot say and other COCO tools ignore: ``parent_id``
and ``link_score`` on a plate, ``role`` on a category, ``labelled: false`` on an image that was
never annotated, plate ``text``/``corners`` and VOC flags.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError
from svmlp.formats import _cocoencode, _cocojson
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split, list_files, paused_gc, read_bytes
from svmlp.formats._peek import HEAD, head_of, json_shape, kind_of_json
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._schema_check import validate_document
from svmlp.formats._sidecar import SIDECAR_NAME
from svmlp.formats._survey import refuse_foreign
from svmlp.imageinfo import PendingHeaders
from svmlp.model import BoxTable, Category, Dataset, ImageTable, Inputs, concat_tables, sort_splits
from svmlp.model.paths import check_destinations, check_file_names, check_split_name, names_ok
from svmlp.model.strictness import STRICT, Findings

__all__ = ["LOOKS_FOR", "NAME", "PRIORITY", "ROUND_TRIP", "image_destination", "read", "sniff", "write"]

NAME = "coco"
#: asked last: a stray *.json is the weakest of the strong signs (a VOC or YOLO folder may hold one)
PRIORITY = 40
LOOKS_FOR = "COCO *.json"
#: lossless: ``bbox`` written exactly, with ``xyxy`` beside it where [x, y, w, h] cannot hold it
ROUND_TRIP = RoundTrip(tolerance=0.0)
_EXPECTED = "a COCO data set (a JSON object with `images` and `annotations`)"
_SKIP_PREFIXES = ("captions_", "person_keypoints_", "panoptic_", "image_info_", "stuff_")


def _is_candidate(p: Path) -> bool:
    return _is_candidate_name(p.name)


def _is_candidate_name(name: str) -> bool:
    return (
        name.endswith(".json")
        and not name.startswith(_SKIP_PREFIXES)
        and name != SIDECAR_NAME
        and not name.endswith(".svmlp.json")
    )


def sniff(path: Path) -> Sniff | None:
    """A ``.json`` file holding a COCO object (``images``, ``annotations``, ``categories``), or a
    folder with one in ``annotations/``, in itself or as Roboflow's ``<split>/_annotations.coco.json``.
    JSON that is surely something else (LabelMe, Label Studio, a results list) does not count; JSON
    cut off before a telling key, or malformed, does (the reader then says what is wrong)."""
    if path.is_file():
        if path.suffix != ".json":
            return None
        shape = json_shape(head := _cocojson.json_head(path))  # an unreadable file is an error
        kind = kind_of_json(head)
        if shape.top != "{" or kind not in ("coco", "coco?"):
            return None
        return Sniff(_why("a .json file", kind))
    for folder, where in ((path / "annotations", "annotations/ holds"), (path, "it holds")):
        found = _first_coco(_names(folder, _is_candidate_name)[:_SNIFF_FILES], folder)
        if found is not None:
            return Sniff(_why(f"{where} {found[0]}", found[1]))
    for split in _names(path, lambda n: not n.startswith("."), folders=True):
        found = _first_coco(["_annotations.coco.json"], path / split)
        if found is not None:
            return Sniff(_why(f"its split folders hold {found[0]} (Roboflow)", found[1]))
    return None


#: candidate files looked into per place before a folder is given up on
_SNIFF_FILES = 8


def _names(folder: Path, keep: Callable[[str], bool], *, folders: bool = False) -> list[str]:
    """Sorted names of the files (or folders) in ``folder`` that ``keep``; [] when unlistable.
    Names, not paths: a folder of 100 000 files is listed in milliseconds."""
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if keep(e.name) and e.is_dir() == folders)
    except OSError:
        return []


def _first_coco(names: list[str], folder: Path) -> tuple[str, str] | None:
    """The first of ``names`` in ``folder`` that holds a COCO object, or may; else None."""
    for name in names:
        kind = kind_of_json(head_of(folder / name)) if (folder / name).exists() else ""
        if kind in ("coco", "coco?"):
            return name, kind
    return None


def _why(what: str, kind: str) -> str:
    if kind == "coco":
        return f"{what}, a JSON object with images/annotations/categories"
    return f"{what}, JSON that may be COCO (cut off or malformed before a telling key)"


def find_files(path: Path, *, native: bool = False) -> list[tuple[Path, str]]:
    """The annotation files under ``path`` and the split each one holds."""
    if path.is_file():
        return [(path, _split_of(path, single=True))]
    if not path.is_dir():
        raise AnnotationError(f"{path}: no such file or folder")
    accept = (lambda p: p.name.endswith(".svmlp.json")) if native else _is_candidate
    for folder in (path / "annotations", path):
        files = [p for p in list_files(folder, (".json",)) if accept(p)] if folder.is_dir() else []
        if files:
            break
    else:
        # split folders (Roboflow); not hidden ones such as a download's .svmlp/
        subs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        files = [f for sub in subs for f in list_files(sub, (".json",)) if accept(f)]
    if not files:
        kind = "native SVMLP (*.svmlp.json)" if native else "COCO (*.json)"
        raise AnnotationError(
            f"{path}: found no {kind} annotation file here, in annotations/ or in a split folder"
        )
    guard = LinkGuard([path])
    for f in files:  # a "label file" linked to /etc/passwd must not be read, let alone quoted
        guard.check(f, what="annotation file")
    found = [(f, _split_of(f, single=len(files) == 1)) for f in files]
    if len({s for _, s in found}) < len(found):  # val2014 and val2017: keep the names whole
        found = [(f, _split_of(f, single=False, infer=False)) for f in files]
    return found


def _split_of(f: Path, *, single: bool, infer: bool = True) -> str:
    stem = f.name.removesuffix(".json").removesuffix(".svmlp").removesuffix(".coco")
    if stem in ("_annotations", "annotations"):
        return (infer_split(f.parent.name) if infer else None) or f.parent.name
    bare = stem.removeprefix("instances_") or stem
    guess = infer_split(stem) if infer else None
    return guess or (DEFAULT_SPLIT if single and bare == stem else bare)


def _image_root(f: Path, split: str, file_names: Sequence[str]) -> Path | None:
    """The folder the split's ``file_name`` values are relative to."""
    base = _base(f)
    dir_split = f.stem.removeprefix("instances_")
    cands = [
        base / "images" / dir_split,
        base / "images" / split,
        base / dir_split,
        base / split,
        f.parent,
        base / "images",
        base / "data",
        base,
    ]
    unique = list(dict.fromkeys(cands))
    probes = [str(n) for n in file_names[:3]]
    check_file_names(probes, where=str(f))  # before they are joined to any folder
    for c in unique:
        if probes and any((c / p).is_file() for p in probes):
            return c
    return next((c for c in unique if c.is_dir() and c != base and c != f.parent), None)


def read_files(
    files: list[tuple[Path, str]],
    *,
    native: bool,
    probe: bool,
    given: Path | None = None,
    findings: Findings = STRICT,
) -> Dataset:
    """Several COCO-style files, one split each, as one data set (``native``: each is checked
    against the native schema). Of several files found in a folder, JSON that is surely not a
    COCO data set (a ``stats.json``, a results list, a Label Studio export) is skipped with a note;
    a file given by name, or the only one, is read and refused by name."""
    files, notes = (files, []) if native or len(files) < 2 else _coco_only(files)
    with contextlib.ExitStack() as children:
        return _read_files(files, notes, native, probe, given, findings, children)


def _read_files(
    files: list[tuple[Path, str]],
    notes: list[str],
    native: bool,
    probe: bool,
    given: Path | None,
    findings: Findings,
    children: contextlib.ExitStack,
) -> Dataset:
    parts, roots = [], {}
    seen: dict[str, Path] = {}
    headers: list[PendingHeaders | None] = []
    for f, split in files:
        data = read_bytes(f)
        # LabelMe, Label Studio, a results list: said by name, not as a schema error deep in the file
        refuse_foreign(f, kind_of_json(data[:HEAD]), "a native SVMLP file" if native else _EXPECTED)
        with paused_gc():
            decoded: _cocojson._File | _cocojson._FileRaw
            if native:
                decoded = validate_document(f, data, findings=findings)
                split = str(decoded.svmlp["split"])  # type: ignore[index]
            else:
                decoded = _cocojson.decode(f, data)
                split = decoded.svmlp_split or split  # what svmlp wrote wins over the file name
            check_split_name(split, where=str(f))
            if split in seen:
                raise AnnotationError(
                    f"{f}: holds split {split!r} as {seen[split]} does; keep one file per split"
                )
            seen[split] = f
            names = [im.file_name for im in decoded.images]
            root = _image_root(f, split, names)
            # the headers are read (by a child process, where one may be forked) while the
            # annotations become columns; names that would escape are refused below, unread
            pending = None
            if probe and root is not None and names_ok(names):
                folder = os.fspath(root)
                pending = children.enter_context(PendingHeaders([os.path.join(folder, n) for n in names]))
            headers.append(pending)
            segmentation = b'"segmentation"' in data
            del data  # a big file's annotations hold on to it only until they are decoded
            part = _cocojson.part_from_file(decoded, f, split, segmentation=segmentation, findings=findings)
            del decoded
        parts.append(part)
        if root is not None:
            roots[split] = root
    categories = _merge_categories([(f, p.categories) for (f, _), p in zip(files, parts)])
    images, boxes = _merge_parts(parts, categories)
    source = files[0][0] if len(files) == 1 else files[0][0].parent
    inputs = Inputs.of(
        files=[f for f, _ in files],
        folders=[source, *(_base(f) for f, _ in files), *(f.parent for f, _ in files), *roots.values()],
        bounds=[given] if given is not None and given.is_dir() else [_base(f) for f, _ in files],
    )
    ds = Dataset(
        categories,
        images,
        boxes,
        roots=roots,
        info=parts[0].info if parts else {},
        notes=notes,
        source=source,
        inputs=inputs,
        findings=findings,
    )
    if probe and roots and len(ds.images):
        columns = []
        for part, pending in zip(parts, headers):
            if pending is None:
                n = len(part.images)
                columns.append((np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int8)))
            else:
                columns.append(pending.columns())
        im = ds.images
        im.header_width, im.header_height, im.orientation = (np.concatenate(c) for c in zip(*columns))
    return ds


def _coco_only(files: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str]], list[str]]:
    """The files that may be COCO data sets, and a note for each JSON file skipped; all of them
    when none may be (the reader then says what the first one is)."""
    from svmlp.formats._survey import VERDICTS

    kinds = [kind_of_json(_cocojson.json_head(f)) for f, _ in files]
    keep = [fs for fs, k in zip(files, kinds) if k in ("coco", "coco?")]
    if not keep or len(keep) == len(files):
        return files, []
    notes = [
        f"{f}: not a COCO data set ({VERDICTS[k].verdict if k in VERDICTS else k}); skipped"
        for (f, _), k in zip(files, kinds)
        if k not in ("coco", "coco?")
    ]
    return keep, notes


def _base(f: Path) -> Path:
    """The folder a COCO file's data set lives in: above ``annotations/``, else its own."""
    return f.parent.parent if f.parent.name == "annotations" else f.parent


def _merge_categories(per_file: list[tuple[Path, list[Category]]]) -> list[Category]:
    merged: dict[int, Category] = {}
    for f, cats in per_file:
        for c in cats:
            known = merged.setdefault(c.id, c)
            if known.name != c.name:
                raise AnnotationError(
                    f"{f}: category id {c.id} is {c.name!r} here but {known.name!r} in another split's file"
                )
    return list(merged.values())


def _merge_parts(parts: list[_cocojson.CocoPart], categories: list[Category]) -> tuple[ImageTable, BoxTable]:
    ids = np.array([c.id for c in categories], dtype=np.int64)
    image_offset, box_offset = 0, 0
    box_tables = []
    for part in parts:
        b = part.boxes
        local_ids = np.array([c.id for c in part.categories], dtype=np.int64)
        order = np.argsort(ids)
        b.category = order[np.searchsorted(ids[order], local_ids[b.category])] if len(b) else b.category
        b.image = b.image + image_offset
        b.parent = np.where(b.parent >= 0, b.parent + box_offset, -1)
        box_tables.append(b)
        image_offset += len(part.images)
        box_offset += len(b)
    images = (
        concat_tables([p.images for p in parts]) if parts else ImageTable.build(id=[], file_name=[], split=[])
    )
    boxes = concat_tables(box_tables) if box_tables else BoxTable.empty()
    return images, boxes


def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a COCO file, or every split file under a folder.

    ``probe`` reads each present image's header, so that stored sizes that disagree with the
    real image can be reported (nothing is changed). ``findings``: strict (the default) or
    lenient reading (:class:`~svmlp.model.strictness.Findings`).
    """
    files = find_files(Path(path))
    return read_files(files, native=False, probe=probe, given=Path(path), findings=findings)


def image_destination(split: str, file_name: str) -> str:
    """Where an image goes in the written layout, relative to the output folder."""
    return f"images/{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``annotations/instances_<split>.json`` for every split; returns notes for the summary."""
    splits = sort_splits(ds.images.split.tolist())
    check_destinations(out, [f"annotations/instances_{split}.json" for split in splits])
    # every COCO reader joins file_name to its image folder, images/<split>/ here: a split or file
    # name that climbs out is refused too, though this writer joins neither itself
    check_destinations(out, [*(f"images/{split}" for split in splits), *ds.images.file_name.tolist()])
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in splits:
        (out / "annotations" / f"instances_{split}.json").write_bytes(
            _cocoencode.encode(ds, split, native=False)
        )
    return []
