"""Label Studio: a project's JSON export (a list of tasks), and its JSON-MIN export.

A task holds ``data.image`` (Label Studio's ``/data/upload/N/`` and ``/data/local-files/?d=``
prefixes are dropped; the image is looked up beside the JSON, in ``images/<split>/`` or
``images/``) and ``annotations[].result`` (the first annotation not cancelled; a task with none
takes its first prediction). Regions are in percent of ``original_width``/``original_height``:

- ``rectanglelabels``: ``x, y, width, height``; a ``rotation`` (degrees, about the top-left
  corner) gives the rotated rectangle's ``corners`` and their enclosing box as ``xyxy``;
- ``polygonlabels``: ``points``; their enclosing box, four points the box's ``corners``, more a
  COCO polygon ``segmentation``;
- ``relation`` (``from_id``/``to_id``): a car→plate link when one end is a vehicle and the other
  a plate (roles from :mod:`svmlp.model.categories`); other relations are left out (noted);
- ``textarea`` whose ``id`` (or ``parentID``) is a plate region's: the plate's text.

JSON-MIN (flat dicts with ``image`` and ``label: [{x, y, width, height, rotation,
rectanglelabels, original_width, original_height}]``) is read the same way. The split is
``train`` unless the file's name says (``val.json``); a folder is read as its ``*.json`` files.

Written: ``<split>.json`` per split, an import file of tasks (``data.image`` as
``/data/local-files/?d=images/<split>/<name>``, one annotation each; rectangles with ids
``b<box id>``, ``relation`` results for links, ``textarea`` results for plate text) with the
images in ``images/<split>/``, and svmlp's sidecar (ids, categories, sizes, flags, corners,
crowd boxes, a box the percent values do not give back exactly), so a round trip is exact.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import msgspec
import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, ImageError, where
from svmlp.formats import _sidecar
from svmlp.formats._builder import BoxBuilder, number_missing, probed_sizes, region_rows
from svmlp.formats._cocojson import Side
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split, list_files, paused_gc
from svmlp.formats._peek import head_of, json_shape, kind_of_json
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._tooljson import as_str, decode_json, finite
from svmlp.formats._xmltext import quoteattr
from svmlp.formats._yolo_side import STALE_NOTE, apply_entry, shape_extra, sidecar_format
from svmlp.model import Category, Dataset, ImageTable, Inputs, categories_from_names
from svmlp.model.audit_marks import map_audit
from svmlp.model.categories import role_for
from svmlp.model.paths import check_destinations, check_file_name, check_split_name
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = ["LOOKS_FOR", "NAME", "PRIORITY", "ROUND_TRIP", "image_destination", "read", "sniff", "write"]

NAME = "label-studio"
#: before VOC (20) and COCO (40): an export is found beside its labelling configs (``*.xml``
#: with a ``<View>`` root), which VOC's sniff would otherwise take and refuse; the sniff asks for
#: a ``.json`` list of tasks, which no other format's file is
PRIORITY = 18
LOOKS_FOR = "Label Studio JSON"
#: percent values written with ``repr``; a box they do not give back exactly is kept in the sidecar
ROUND_TRIP = RoundTrip(tolerance=0.0)

_GEOMETRY = ("rectanglelabels", "polygonlabels")
#: per-region answers kept as the region's ``attributes`` (keyed by the control's ``from_name``)
_ANSWERS = ("choices", "number", "rating")
#: the per-region TextArea the writer puts audit findings in (not plate text)
AUDIT_CONTROL = "audit"
_PREFIXES = ("/data/local-files/?d=", "data/local-files/?d=")


class _Value(msgspec.Struct):
    x: float | None = None
    y: float | None = None
    width: float | None = None
    height: float | None = None
    rotation: float = 0.0
    points: list[tuple[float, float]] | None = None
    rectanglelabels: list[str] | None = None
    polygonlabels: list[str] | None = None
    text: list[str] | str | None = None
    choices: list[str] | None = None
    number: float | None = None
    rating: float | None = None
    original_width: Side | None = None
    original_height: Side | None = None


class _Result(msgspec.Struct):
    type: str = ""
    id: str | int | None = None
    from_name: str | None = None
    value: _Value | None = None
    original_width: Side | None = None
    original_height: Side | None = None
    from_id: str | int | None = None
    to_id: str | int | None = None
    parentID: str | int | None = None  # noqa: N815 (Label Studio's key)


class _Annotation(msgspec.Struct):
    result: list[_Result] = []
    was_cancelled: bool = False


class _Task(msgspec.Struct):
    data: dict[str, Any] = {}
    annotations: list[_Annotation] = []
    predictions: list[_Annotation] = []
    id: Any = None
    image: str | None = None  # JSON-MIN
    label: list[_Value] | None = None  # JSON-MIN


def _is_ls(path: Path) -> bool:
    head = head_of(path)
    if head is None:
        return False
    if kind_of_json(head) == "label_studio":
        return True
    shape = json_shape(head)
    return shape.top == "[" and "image" in shape.inner and "label" in shape.inner  # JSON-MIN


def _json_files(folder: Path) -> list[Path]:
    try:
        return [p for p in list_files(folder, (".json",)) if p.name != _sidecar.SIDECAR_NAME]
    except AnnotationError:
        return []


def sniff(path: Path) -> Sniff | None:
    """A ``.json`` list of tasks (``annotations``/``predictions``, or JSON-MIN's ``image`` and
    ``label``), or a folder holding one."""
    if path.is_file():
        return (
            Sniff("a .json list of Label Studio tasks") if path.suffix == ".json" and _is_ls(path) else None
        )
    if not path.is_dir():
        return None
    if sidecar_format(path) == NAME:
        return Sniff(f"it holds svmlp's {NAME} sidecar")
    found = next((p for p in _json_files(path)[:16] if _is_ls(p)), None)
    return Sniff(f"it holds {found.name}, a list of Label Studio tasks") if found else None


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


# ---------------------------------------------------------------------------------------- reading


def _image_name(raw: str) -> str:
    """``data.image`` without Label Studio's prefixes (a URL's path, unquoted)."""
    s = raw.strip()
    for prefix in _PREFIXES:
        if s.startswith(prefix):
            return unquote(s[len(prefix) :]).lstrip("/")
    if "://" in s:
        s = urlparse(s).path
    s = unquote(s)
    if s.startswith("/data/upload/"):
        s = s[len("/data/upload/") :].split("/", 1)[-1]
    return s.lstrip("/")


def _locate(name: str, folder: Path, split: str) -> tuple[str, Path]:
    """(file name, image folder) of an image named ``name`` beside the JSON in ``folder``."""
    for sub in (f"images/{split}/", "images/"):
        if name.startswith(sub):
            return name[len(sub) :], folder / sub
    for root in (folder / "images" / split, folder / "images", folder):
        if root.is_dir() and (root / name).is_file():
            return name, root
    base = name.rsplit("/", 1)[-1]
    for root in (folder / "images" / split, folder / "images", folder):
        if base != name and (root / base).is_file():
            return base, root
        if "-" in base and (root / base.split("-", 1)[1]).is_file():  # /data/upload/N/<hash>-name
            return base.split("-", 1)[1], root
    return name, folder


def _rotated(x: float, y: float, w: float, h: float, degrees: float) -> list[list[float]]:
    """The corners of a ``w × h`` rectangle turned by ``degrees`` (clockwise on screen) about its
    top-left corner ``(x, y)``."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return [[x, y], [x + w * c, y + w * s], [x + w * c - h * s, y + w * s + h * c], [x - h * s, y + h * c]]


def px(percent: float, side: int) -> float:
    """A percent value of ``side`` in pixels (the one formula both ways, so values round-trip)."""
    return percent * side / 100


def _region(
    v: _Value, kind: str, size: tuple[int, int], path: Path, at: str
) -> tuple[str | None, list[float], dict[str, Any] | None]:
    """(label, xyxy, extra) of one region."""
    w, h = size
    labels = v.rectanglelabels if kind == "rectanglelabels" else v.polygonlabels
    label = labels[0] if labels else None
    if w <= 0 or h <= 0:
        raise AnnotationError(f"{where(path, at=at)}: a region but no original_width/original_height")
    if kind == "polygonlabels":
        if not v.points or len(v.points) < 3:
            raise AnnotationError(f"{where(path, at=at)}.value.points: a polygon needs at least 3 points")
        pts = np.array([[px(a, w), px(b, h)] for a, b in v.points], dtype=np.float64)
        finite(pts.ravel().tolist(), path, f"{at}.value.points")
        return label, [*pts.min(axis=0).tolist(), *pts.max(axis=0).tolist()], shape_extra(pts)
    if v.x is None or v.y is None or v.width is None or v.height is None:
        raise AnnotationError(f"{where(path, at=at)}.value: a rectangle needs x, y, width and height")
    x, y, bw, bh = finite([px(v.x, w), px(v.y, h), px(v.width, w), px(v.height, h)], path, f"{at}.value")
    if not math.isfinite(v.rotation):
        raise AnnotationError(f"{where(path, at=at)}.value.rotation: not a finite number")
    if v.rotation % 360 == 0:
        return label, [x, y, x + bw, y + bh], None
    corners = np.array(_rotated(x, y, bw, bh, v.rotation))
    return label, [*corners.min(axis=0).tolist(), *corners.max(axis=0).tolist()], shape_extra(corners)


class _Split:
    """One file's tasks, as rows for the image table and the box builder."""

    def __init__(self, split: str, path: Path) -> None:
        self.split, self.path = split, path
        self.names: list[str] = []
        self.roots: list[Path] = []
        self.ids: list[int] = []
        self.sizes: list[tuple[int, int]] = []
        self.labelled: list[bool] = []
        #: per image: (region id, label, xyxy, extra) of each region, in file order
        self.regions: list[list[tuple[str | None, str, list[float], dict[str, Any]]]] = []
        self.digests: list[str] = []
        self.notes: list[str] = []
        #: result types that are not regions svmlp reads (keypoints, brushes …), with counts
        self.skipped: dict[str, int] = {}


def _chosen(task: _Task) -> tuple[list[_Result] | None, int, str]:
    """The results read for a task, how many annotations it has, and where they are."""
    kept = [k for k, a in enumerate(task.annotations) if not a.was_cancelled]
    if kept:
        return task.annotations[kept[0]].result, len(kept), f"annotations[{kept[0]}].result"
    if task.predictions:
        return task.predictions[0].result, 1, "predictions[0].result"
    return None, 0, ""


def _read_task(task: _Task, k: int, part: _Split, folder: Path, findings: Findings) -> None:
    path, at = part.path, f"$[{k}]"
    if task.label is not None or task.image is not None:  # JSON-MIN
        raw = task.image
        results: list[_Result] | None = [
            _Result(type="polygonlabels" if v.points is not None else "rectanglelabels", value=v)
            for v in task.label or []
        ]
        where_results, many = "label", 1
    else:
        raw = task.data.get("image")
        results, many, where_results = _chosen(task)
        if not isinstance(raw, str):
            raise AnnotationError(f"{where(path, at=at + '.data.image')}: expected the image's path or URL")
    if not isinstance(raw, str) or not raw.strip():
        raise AnnotationError(f"{where(path, at=at + '.image')}: expected the image's path or URL")
    name, root = _locate(_image_name(raw), folder, part.split)
    check_file_name(name, where=where(path, at=at))
    if many > 1:
        part.notes.append(f"{where(path, at=at)}: {many} annotations; read the first")
    size = (0, 0)
    for r in results or []:
        w = r.original_width or (r.value.original_width if r.value else None) or 0
        h = r.original_height or (r.value.original_height if r.value else None) or 0
        if w > 0 and h > 0:
            size = (w, h)
            break
    regions: list[tuple[str | None, str, list[float], dict[str, Any]]] = []
    texts: dict[str, str] = {}
    answers: dict[str, dict[str, str | int | float]] = {}
    relations: list[tuple[str | None, str | None, str]] = []
    for j, r in enumerate(results or []):
        rat = f"{at}.{where_results}[{j}]"
        if r.type in _GEOMETRY:
            if r.value is None:
                raise AnnotationError(f"{where(path, at=rat)}: a region with no value")
            label, xyxy, extra = _region(r.value, r.type, size, path, rat)
            if label is None:
                findings.complain("bad_region", f"{where(path, at=rat)}: a region with no label; left out")
                continue
            regions.append((as_str(r.id), label, xyxy, extra or {}))
        elif r.type in _ANSWERS and r.value is not None:
            target = as_str(r.parentID) or as_str(r.id)
            answer = _answer(r.type, r.value)
            if target is not None and answer is not None:
                answers.setdefault(target, {})[r.from_name or r.type] = answer
        elif r.type == "textarea" and r.from_name == AUDIT_CONTROL:
            continue  # svmlp's own findings, written for the annotator
        elif r.type == "textarea" and r.value is not None:
            target = as_str(r.parentID) or as_str(r.id)
            text = r.value.text
            text = " ".join(text) if isinstance(text, list) else (text or "")
            if target is not None and text:
                texts[target] = text
        elif r.type == "relation":
            relations.append((as_str(r.from_id), as_str(r.to_id), rat))
        elif r.type:
            part.skipped[r.type] = part.skipped.get(r.type, 0) + 1
    row_of = {rid: n for n, (rid, _, _, _) in enumerate(regions) if rid is not None}
    for rid, text in texts.items():
        if rid in row_of:
            regions[row_of[rid]][3].setdefault("plate", {})["text"] = text
    for rid, given in answers.items():
        if rid in row_of:
            regions[row_of[rid]][3]["attributes"] = given
        else:  # a whole-image answer (a task's choices): not a box's
            part.skipped["whole-image answer(s)"] = part.skipped.get("whole-image answer(s)", 0) + 1
    _links(relations, regions, row_of, part, findings)
    part.names.append(name)
    part.roots.append(root)
    part.ids.append(
        task.id if isinstance(task.id, int) and not isinstance(task.id, bool) and 0 <= task.id < 2**63 else -1
    )
    part.sizes.append(size)
    part.labelled.append(results is not None)
    part.regions.append(regions)
    part.digests.append(_sidecar.label_digest(msgspec.json.encode(results or [])))


def _answer(kind: str, v: _Value) -> str | int | float | None:
    """A per-region answer as one value: the choice (several joined by ", "), the number."""
    if kind == "choices":
        return ", ".join(str(c) for c in v.choices or [])[:4096] or None
    value = v.number if kind == "number" else v.rating
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else float(value)


def _links(
    relations: list[tuple[str | None, str | None, str]],
    regions: list[tuple[str | None, str, list[float], dict[str, Any]]],
    row_of: dict[str, int],
    part: _Split,
    findings: Findings,
) -> None:
    other = 0
    for a, b, rat in relations:
        if a not in row_of or b not in row_of:
            findings.complain(
                "bad_link",
                f"{where(part.path, at=rat)}: a relation {a!r} → {b!r} names a region that is not there",
            )
            continue
        ra, rb = row_of[a], row_of[b]  # type: ignore[index]
        roles = (role_for(regions[ra][1]), role_for(regions[rb][1]))
        if roles == ("child", "parent"):
            ra, rb = rb, ra
        elif roles != ("parent", "child"):
            other += 1
            continue
        plate = regions[rb][3]
        if "parent" in plate:
            findings.complain(
                "bad_link", f"{where(part.path, at=rat)}: plate {regions[rb][0]!r} is linked to two vehicles"
            )
            continue
        plate["parent"] = ra
    if other:
        part.notes.append(f"{part.path}: {other} relation(s) not between a vehicle and a plate left out")


def _files(path: Path, folder: Path, known: set[str]) -> list[tuple[str, Path]]:
    """Each export file and its split: the one its name says (a split svmlp's sidecar lists, or
    ``train``, ``val``, …), else, of several files, its name; one file is ``train``."""
    if path.is_dir():
        files = _json_files(path)
        if not files:
            raise AnnotationError(f"{path}: no Label Studio *.json export here")
    else:
        files = [path]
    out: list[tuple[str, Path]] = []
    seen: dict[str, Path] = {}
    for f in files:
        named = f.stem if f.stem in known else infer_split(f.stem)
        split = check_split_name(named or (f.stem if len(files) > 1 else DEFAULT_SPLIT), where=str(f))
        if split in seen:
            raise AnnotationError(
                f"{f}: holds split {split!r} as {seen[split].name} does; name the files train.json, val.json, …"
            )
        seen[split] = f
        out.append((split, f))
    return out


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a Label Studio export (a file, or a folder of one per split); ``findings``: strict
    (the default) or lenient reading."""
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    guard = LinkGuard([folder])
    side = _sidecar.load(folder, NAME) if sidecar_format(folder) == NAME else None
    known = side.by_key() if side else {}
    files = _files(Path(path), folder, {s for s, _ in known})
    parts: list[_Split] = []
    for split, f in files:
        guard.check(f, what="Label Studio export")
        tasks = decode_json(f, list[_Task], what="Label Studio export")
        part = _Split(split, f)
        for k, task in enumerate(tasks):
            _read_task(task, k, part, folder, findings)
        parts.append(part)
    categories: list[Category] | None = side.category_list(folder / _sidecar.SIDECAR_NAME) if side else None
    names = sorted({r[1] for p in parts for rs in p.regions for r in rs})
    if categories is None:
        categories = list(categories_from_names(names))
    lookup = {c.name: k for k, c in enumerate(categories)}
    for p in parts:
        for rs in p.regions:
            for r in rs:
                if r[1] not in lookup:
                    raise AnnotationError(
                        f"{p.path}: class {r[1][:80]!r} is not one of the data set's classes "
                        f"({_sidecar.SIDECAR_NAME} lists them); fix the region or delete the sidecar"
                    )
    images, builder, notes, roots = _build(parts, known, lookup, categories, probe, guard, folder)
    return Dataset(
        categories,
        images,
        builder.build(),
        roots=roots,
        info=side.info if side else {},
        notes=notes,
        source=folder if Path(path).is_dir() else Path(path),
        inputs=Inputs.of(
            files=[f for _, f in files] + ([folder / _sidecar.SIDECAR_NAME] if side else []),
            folders=[folder],
            trees=[folder / "images"],
            bounds=[folder],
        ),
        findings=findings,
    )


def _build(
    parts: list[_Split],
    known: dict[tuple[str, str], _sidecar.SidecarImage],
    lookup: dict[str, int],
    categories: list[Category],
    probe: bool,
    guard: LinkGuard,
    folder: Path,
) -> tuple[ImageTable, BoxBuilder, list[str], dict[str, Path]]:
    builder = BoxBuilder()
    cat_row = {c.id: k for k, c in enumerate(categories)}
    notes: list[str] = []
    roots: dict[str, Path] = {}
    split_col: list[str] = []
    names: list[str] = []
    ids: list[int] = []
    sizes: list[tuple[int, int]] = []
    labelled: list[bool] = []
    files: list[Path] = []
    label_files: list[str] = []
    stale = 0
    next_id = 1 + max((b for e in known.values() for b, _ in e.rows), default=0)
    for p in parts:
        notes += p.notes
        if p.skipped:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(p.skipped.items()))
            notes.append(f"{p.path}: results that are not boxes left out: {kinds}")
        common = {r for r in p.roots}
        roots[p.split] = next(iter(common)) if len(common) == 1 else folder
        for i, name in enumerate(p.names):
            if roots[p.split] != p.roots[i]:
                name = os.path.relpath(p.roots[i] / name, roots[p.split]).replace(os.sep, "/")
                check_file_name(name, where=str(p.path))
            row = len(names)
            entry = known.get((p.split, name))
            n = len(p.regions[i])
            regions = [(label, xyxy, extra) for _, label, xyxy, extra in p.regions[i]]
            cls, xyxy, box_ids, extras, _ = region_rows(regions, lookup, next_id)
            next_id += n
            position = np.arange(n, dtype=np.float64)
            width, height = p.sizes[i]
            image_id = p.ids[i]
            if entry is not None:
                classes = [c for _, c in entry.rows]
                ok = len(entry.rows) == n and entry.digest == p.digests[i]
                if ok and all(0 <= c < len(categories) for c in classes):
                    cls[:] = classes
                    apply_entry(
                        entry,
                        row,
                        0,
                        n,
                        box_ids=box_ids,
                        position=position,
                        extras=extras,
                        xyxy=xyxy,
                        cat_row=cat_row,
                        builder=builder,
                        label=p.path,
                    )
                else:
                    stale += 1
                image_id = entry.id
                if entry.width:
                    width, height = entry.width, entry.height
            builder.add(row, cls, xyxy, box_ids, extras=extras, position=position, source=str(p.path))
            split_col.append(p.split)
            names.append(name)
            ids.append(image_id)
            sizes.append((width, height))
            labelled.append(p.labelled[i])
            files.append(roots[p.split] / name)
            label_files.append(str(p.path))
    paths = [f if guard.outside(f) is None else None for f in files]
    size, (hw, hh, ho) = probed_sizes(paths, sizes, probe)
    images = ImageTable.build(
        id=number_missing(np.array(ids, dtype=np.int64)),
        file_name=names,
        split=split_col or np.zeros(0, "U1"),
        width=size[:, 0],
        height=size[:, 1],
        labelled=labelled,
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=label_files,
    )
    return images, builder, notes + ([STALE_NOTE.format(stale)] if stale else []), roots


# ---------------------------------------------------------------------------------------- writing


def _pct(v: float, side: int) -> float:
    return v / side * 100


#: the labelling configuration written beside the tasks (the project's "Labeling Interface")
CONFIG = "label_config.xml"
_RESERVED = {"image", "label", "text", AUDIT_CONTROL, "audit_findings"}


def _control(name: str) -> str:
    """The control name of an attribute: itself, unless it is one of the config's own."""
    return f"attr_{name}" if name in _RESERVED else name


def _answers(ds: Dataset, rows: list[int]) -> dict[str, list[str] | None]:
    """Per attribute written: its choices (texts and true/false, in first-seen order), or None
    for a number."""
    out: dict[str, list[str] | None] = {}
    if ds.boxes.attributes is None:
        return out
    extra = ds.boxes.attributes.tolist()
    for r in rows:
        for k, v in (extra[r] or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.setdefault(k, None)
                continue
            known = out.setdefault(k, [])
            if known is None:  # numbers and texts under one name: a choice of texts
                known = out[k] = []
            text = _answer_text(v)
            if text not in known:
                known.append(text)
    return out


def _answer_text(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _proposals(
    proposed: list[tuple[str, list[float], str]], w: int, h: int, names: list[str], ds: Dataset, i: int
) -> list[dict[str, Any]]:
    """An audit's proposed boxes of image ``i`` (``[x, y, w, h]`` pixels) as prediction regions,
    labelled with the class of the image's box nearest to each."""
    b = ds.boxes
    lo, hi = int(ds.offsets[i]), int(ds.offsets[i + 1])
    out = []
    for k, (check, (x, y, bw, bh), _) in enumerate(proposed):
        if hi > lo:
            centre = np.array([x + bw / 2, y + bh / 2])
            mids = (b.xyxy[lo:hi, :2] + b.xyxy[lo:hi, 2:]) / 2
            label = names[int(b.category[lo + int(np.argmin(((mids - centre) ** 2).sum(axis=1)))])]
        else:
            label = names[0]
        value = {
            "x": _pct(x, w),
            "y": _pct(y, h),
            "width": _pct(bw, w),
            "height": _pct(bh, h),
            "rotation": 0,
            "rectanglelabels": [label],
        }
        out.append(
            {
                "id": f"p{i}_{k}",
                "from_name": "label",
                "to_name": "image",
                "original_width": w,
                "original_height": h,
                "type": "rectanglelabels",
                "value": value,
                "meta": {"text": [check]},
            }
        )
    return out


def label_config(names: list[str], answers: dict[str, list[str] | None], *, text: bool, audit: bool) -> str:
    """A Label Studio labelling configuration for what :func:`write` puts in the tasks."""
    q = quoteattr
    parts = ['<View>\n  <Image name="image" value="$image" zoom="true"/>\n']
    if audit:
        parts.append('  <Header value="svmlp audit"/>\n  <Text name="audit_findings" value="$audit"/>\n')
    parts.append('  <RectangleLabels name="label" toName="image">\n')
    parts += [f"    <Label value={q(n)}/>\n" for n in names]
    parts.append("  </RectangleLabels>\n")
    if text:
        parts.append(
            '  <TextArea name="text" toName="image" perRegion="true" editable="true" '
            'maxSubmissions="1" placeholder="plate text"/>\n'
        )
    for name, choices in answers.items():
        c = q(_control(name))
        if choices is None:
            parts.append(f'  <Number name={c} toName="image" perRegion="true"/>\n')
            continue
        parts.append(f'  <Choices name={c} toName="image" perRegion="true" choice="single">\n')
        parts += [f"    <Choice value={q(v)}/>\n" for v in choices]
        parts.append("  </Choices>\n")
    if audit:
        parts.append(
            f'  <TextArea name="{AUDIT_CONTROL}" toName="image" perRegion="true" editable="false"/>\n'
        )
    parts.append("</View>\n")
    return "".join(parts)


def write(ds: Dataset, out: Path, *, audit: Any = None) -> list[str]:
    """Write ``<split>.json`` (Label Studio tasks) for every split, ``label_config.xml`` (the
    labelling configuration to paste into the project) and the sidecar. ``audit``: an audit
    report (its JSON file, its dict, or the report) whose findings go to the annotator: each
    image's as the task's ``audit`` text, each box's as a read-only per-region text, each proposed
    box as a prediction the annotator can accept."""
    im, b = ds.images, ds.boxes
    if not usable_boxes(b.xyxy).all():
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    rels = [f"{s}.json" for s in ds.splits]
    if _sidecar.SIDECAR_NAME in rels:
        raise AnnotationError(
            f"a split named {_sidecar.SIDECAR_NAME[:-5]!r} would overwrite the sidecar; rename it"
        )
    images = [image_destination(s, n) for s, n in zip(im.split.tolist(), im.file_name.tolist())]
    check_destinations(out, [*rels, CONFIG, *(f"images/{s}" for s in ds.splits), *images])
    marks, notes = map_audit(ds, audit) if audit is not None else (None, [])
    names = [c.name for c in ds.categories]
    extra = b.attributes.tolist() if b.attributes is not None else None
    offsets = ds.offsets.tolist()
    xyxy, ids, cats = b.xyxy.tolist(), b.id.tolist(), b.category.tolist()
    parent, crowd = b.parent.tolist(), b.iscrowd.tolist()
    text = b.text.tolist() if b.text is not None else None
    rows_of: dict[int, list[int]] = {}
    digests: dict[int, str] = {}
    inexact: list[int] = []
    answers = _answers(ds, [r for r in range(len(b)) if not crowd[r]])
    tasks: dict[str, list[dict[str, Any]]] = {s: [] for s in ds.splits}
    for i, (split, name, image_id, w, h, lab) in enumerate(
        zip(
            im.split.tolist(),
            im.file_name.tolist(),
            im.id.tolist(),
            im.width.tolist(),
            im.height.tolist(),
            im.labelled.tolist(),
        )
    ):
        rows = [r for r in range(offsets[i], offsets[i + 1]) if not crowd[r]]
        if rows and (w <= 0 or h <= 0):
            raise ImageError(
                f"image {name!r} (split {split}): size unknown (the source stored none and the image was not "
                "found); Label Studio keeps regions in percent of it"
            )
        results: list[dict[str, Any]] = []
        for r in rows:
            x0, y0, x1, y1 = xyxy[r]
            x, y, bw, bh = _pct(x0, w), _pct(y0, h), _pct(x1 - x0, w), _pct(y1 - y0, h)
            value = {
                "x": x,
                "y": y,
                "width": bw,
                "height": bh,
                "rotation": 0,
                "rectanglelabels": [names[cats[r]]],
            }
            bx, by = px(x, w), px(y, h)
            if [bx, by, bx + px(bw, w), by + px(bh, h)] != xyxy[r]:
                inexact.append(r)
            rid = f"b{ids[r]}"
            common = {
                "id": rid,
                "from_name": "label",
                "to_name": "image",
                "original_width": w,
                "original_height": h,
            }
            results.append({**common, "type": "rectanglelabels", "image_rotation": 0, "value": value})
            if text is not None and text[r]:
                results.append(
                    {**common, "from_name": "text", "type": "textarea", "value": {"text": [text[r]]}}
                )
            for k, v in ((extra[r] or {}) if extra is not None else {}).items():
                kind, said = (
                    ("number", {"number": v})
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and answers[k] is None
                    else ("choices", {"choices": [_answer_text(v)]})
                )
                results.append({**common, "from_name": _control(k), "type": kind, "value": said})
            if marks is not None and marks.box_messages.get(r):
                found = {"text": list(marks.box_messages[r])}
                results.append({**common, "from_name": AUDIT_CONTROL, "type": "textarea", "value": found})
        for r in rows:
            if parent[r] >= 0 and not crowd[parent[r]]:
                results.append(
                    {
                        "from_id": f"b{ids[parent[r]]}",
                        "to_id": f"b{ids[r]}",
                        "type": "relation",
                        "direction": "right",
                    }
                )
        task: dict[str, Any] = {
            "id": image_id,
            "data": {"image": "/data/local-files/?d=" + quote(f"images/{split}/{name}", safe="/")},
            "annotations": [{"result": results}] if lab else [],
        }
        if marks is not None:
            task["data"]["audit"] = "\n".join(marks.image_messages.get(i, [])) or "no findings"
            proposed = marks.proposed.get(i, []) if lab else []
            if proposed:
                task["predictions"] = [
                    {"model_version": "svmlp audit", "result": _proposals(proposed, w, h, names, ds, i)}
                ]
        tasks[split].append(task)
        rows_of[i] = rows
        digests[i] = _sidecar.label_digest(msgspec.json.encode(msgspec.convert(results, list[_Result])))
    for split, rel in zip(ds.splits, rels):
        (out / rel).write_bytes(msgspec.json.encode(tasks[split]))
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
    config = label_config(names, answers, text=text is not None and bool(any(text)), audit=marks is not None)
    (out / CONFIG).write_text(config, encoding="utf-8")
    _sidecar.save(
        ds, out, NAME, rows_of=rows_of, carried=_sidecar.YOLO_CARRIED, digests=digests, exact=inexact
    )
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) left out of the tasks (kept in {_sidecar.SIDECAR_NAME})"
        )
    return notes
