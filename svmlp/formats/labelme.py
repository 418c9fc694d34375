"""LabelMe: one ``.json`` per image, beside it (or in a folder of its own).

A file holds ``imagePath`` (relative to the JSON; where it does not lead to an image inside the
split's folder, the image of the JSON's stem beside it is taken, as for VOC's stale file names),
``imageWidth``/``imageHeight`` (the frame the points are in), ``imageData`` (never decoded) and
``shapes``: ``rectangle`` (two corner points) and ``polygon`` (its enclosing box; four points are
the box's ``corners``, more a COCO polygon ``segmentation``); other shape types are left out
(noted). A ``group_id`` shared by one vehicle and one or more plates links them (roles from
:mod:`svmlp.model.categories`); any other group is left unlinked (noted). A plate's
``description`` is its text; a shape's ``flags`` (name → true/false) are the box's
``attributes``. Split folders (``train/``, ``val/``, also under ``images/``) are the
splits, else everything is ``train``; images with no JSON are unlabelled images.

Written: ``images/<split>/<stem>.json`` beside each labelled image, boxes as ``rectangle``
shapes, a box with corners as a four-point ``polygon``, links as ``group_id`` (one per vehicle
with plates), plate text as the shape's ``description``, true/false attributes as ``flags``;
svmlp's sidecar keeps ids, categories,
sizes, flags, crowd boxes and a box its corners do not give, so a round trip is exact.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, where
from svmlp.formats import _sidecar
from svmlp.formats._builder import BoxBuilder, number_missing, probed_sizes, region_rows
from svmlp.formats._cocojson import Side
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split, is_image, list_files, paused_gc, walk_files
from svmlp.formats._peek import head_of, kind_of_json
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._tooljson import decode_json, finite
from svmlp.formats._yolo_side import STALE_NOTE, apply_entry, shape_extra, sidecar_format
from svmlp.model import Category, Dataset, ImageTable, Inputs, categories_from_names
from svmlp.model.categories import role_for
from svmlp.model.paths import check_destinations, check_file_name, check_split_name, path_problem
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = ["LOOKS_FOR", "NAME", "PRIORITY", "ROUND_TRIP", "image_destination", "read", "sniff", "write"]

NAME = "labelme"
#: after COCO (40): COCO's sniff never takes LabelMe JSON (it checks the shape), and a folder
#: holding a COCO file beside LabelMe files is read as the COCO data set it names
PRIORITY = 42
LOOKS_FOR = "LabelMe *.json"
#: points written with ``repr``; ids, links and the rest in the sidecar
ROUND_TRIP = RoundTrip(tolerance=0.0)

_VERSION = "5.4.1"
_SNIFF_FILES = 4


class _Shape(msgspec.Struct):
    label: str
    points: list[tuple[float, float]]
    group_id: int | None = None
    shape_type: str | None = "polygon"
    description: str | None = None
    flags: dict[str, bool] | None = None


class _File(msgspec.Struct):
    shapes: list[_Shape]  # required: a .json without it is not a LabelMe file
    imagePath: str | None = None  # noqa: N815 (LabelMe's keys)
    imageWidth: Side | None = None  # noqa: N815
    imageHeight: Side | None = None  # noqa: N815


def _is_labelme(path: Path) -> bool:
    return path.suffix == ".json" and kind_of_json(head_of(path)) == "labelme"


def _jsons(folder: Path) -> list[Path]:
    try:
        return [p for p in list_files(folder, (".json",)) if p.name != _sidecar.SIDECAR_NAME]
    except AnnotationError:
        return []


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                folder / e.name
                for e in entries
                if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
            )
    except OSError:
        return []


def sniff(path: Path) -> Sniff | None:
    """A LabelMe ``.json`` file (``shapes``, ``imagePath``), or a folder holding them (itself,
    its split folders, or ``images/<split>/``)."""
    if path.is_file():
        return Sniff("a LabelMe .json file (`shapes`)") if _is_labelme(path) else None
    if not path.is_dir():
        return None
    if sidecar_format(path) == NAME:
        return Sniff(f"it holds svmlp's {NAME} sidecar")
    places = [path, *_subfolders(path)]
    if (path / "images").is_dir():
        places += _subfolders(path / "images")
    for place in places[:16]:
        found = next((p for p in _jsons(place)[:_SNIFF_FILES] if _is_labelme(p)), None)
        if found is not None:
            return Sniff(f"{found.relative_to(path).as_posix()} is LabelMe JSON (`shapes`)")
    return None


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


# ---------------------------------------------------------------------------------------- reading


@dataclass
class _Part:
    split: str
    root: Path
    jsons: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    #: read only the images a JSON names (one LabelMe file given, not its folder)
    only_claimed: bool = False


def _parts(folder: Path, known: dict[tuple[str, str], _sidecar.SidecarImage]) -> list[_Part]:
    base = folder / "images" if (folder / "images").is_dir() else folder
    named = {s for s, _ in known}
    splits = [p for p in _subfolders(base) if p.name in named or infer_split(p.name) == p.name.lower()]
    if splits:
        parts = [_Part(check_split_name(p.name, where=str(folder)), p) for p in splits]
    else:
        parts = [_Part(infer_split(folder.name) or DEFAULT_SPLIT, base)]
    for split in sorted({s for s, _ in known} - {p.split for p in parts}):
        parts.append(_Part(split, base / split))
    for part in parts:
        if part.root.is_dir():
            part.jsons = [p for p in walk_files(part.root, (".json",)) if p.name != _sidecar.SIDECAR_NAME]
            part.images = walk_files(part.root, match=is_image)
    return parts


def _image_key(doc: _File, js: Path, root: Path, images: set[str], findings: Findings) -> str:
    """The image of ``js``, as a path relative to the split's folder ``root``."""
    here = js.parent.relative_to(root).as_posix()
    here = "" if here == "." else here
    stem = js.stem
    wanted: str | None = None
    if doc.imagePath:
        joined = posixpath.normpath(posixpath.join(here, doc.imagePath.replace("\\", "/")))
        if path_problem(joined) is None:
            wanted = joined
            if joined in images:
                return joined
    beside = sorted(k for k in images if posixpath.dirname(k) == here and Path(k).stem == stem)
    if beside:
        return beside[0]
    if wanted is not None:
        return wanted  # the image is missing: its size is the JSON's
    if doc.imagePath:
        findings.complain(
            "bad_path",
            f"{where(js, at='$.imagePath')}: {doc.imagePath[:120]!r} leads outside the data set and no image "
            f"named {stem}.* lies beside the file",
        )
    ext = Path(doc.imagePath or "x.jpg").suffix
    ext = ext if is_image(f"x{ext}") else ".jpg"
    return posixpath.join(here, f"{stem}{ext}")


@dataclass
class _Image:
    split: str
    key: str
    root: Path
    label: str = ""
    size: tuple[int, int] = (0, 0)
    #: (label, xyxy, extra) per shape read, in file order
    regions: list[tuple[str, list[float], dict[str, Any]]] = field(default_factory=list)
    digest: str = ""
    labelled: bool = False


def _shapes(doc: _File, js: Path, notes: list[str]) -> list[tuple[str, list[float], dict[str, Any]]]:
    out: list[tuple[str, list[float], dict[str, Any]]] = []
    groups: dict[int, list[int]] = {}
    skipped: dict[str, int] = {}
    for k, s in enumerate(doc.shapes):
        at = f"$.shapes[{k}]"
        kind = s.shape_type or "polygon"
        if kind not in ("rectangle", "polygon"):
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        need = 2 if kind == "rectangle" else 3
        if len(s.points) < need or (kind == "rectangle" and len(s.points) != 2):
            raise AnnotationError(f"{where(js, at=at + '.points')}: a {kind} has {len(s.points)} point(s)")
        pts = np.array(s.points, dtype=np.float64)
        finite(pts.ravel().tolist(), js, f"{at}.points")
        xyxy = [*pts.min(axis=0).tolist(), *pts.max(axis=0).tolist()]
        extra = shape_extra(pts) if kind == "polygon" else {}
        if s.description and role_for(s.label) == "child":
            extra.setdefault("plate", {})["text"] = s.description
        if s.flags:
            extra["attributes"] = {str(k)[:4096]: bool(v) for k, v in list(s.flags.items())[:256] if k}
        if s.group_id is not None:
            groups.setdefault(s.group_id, []).append(len(out))
        out.append((s.label, xyxy, extra))
    odd = 0
    for members in groups.values():
        roles = [role_for(out[m][0]) for m in members]
        if roles.count("parent") == 1 and roles.count("child") == len(roles) - 1 and len(roles) > 1:
            vehicle = members[roles.index("parent")]
            for m, role in zip(members, roles):
                if role == "child":
                    out[m][2]["parent"] = vehicle
        elif len(members) > 1:
            odd += 1
    if odd:
        notes.append(f"{js}: {odd} group(s) not one vehicle with its plates; left unlinked")
    for kind, n in sorted(skipped.items()):
        notes.append(f"{js}: {n} {kind} shape(s) left out (svmlp reads rectangles and polygons)")
    return out


def _read_images(
    parts: list[_Part], folder: Path, guard: LinkGuard, findings: Findings, notes: list[str]
) -> list[_Image]:
    out: list[_Image] = []
    for part in parts:
        keys = {p.relative_to(part.root).as_posix() for p in part.images}
        claimed: dict[str, Path] = {}
        for js in part.jsons:
            guard.check(js, what="LabelMe file")
            data_path = js
            doc = decode_json(data_path, _File, what="LabelMe file")
            key = _image_key(doc, js, part.root, keys, findings)
            check_file_name(key, where=str(js))
            if key in claimed:
                raise AnnotationError(
                    f"{js}: labels the image {key} that {claimed[key].name} labels too; keep one"
                )
            claimed[key] = js
            size = (doc.imageWidth or 0, doc.imageHeight or 0)
            im = _Image(part.split, key, part.root, str(js), size if min(size) > 0 else (0, 0), labelled=True)
            im.regions = _shapes(doc, js, notes)
            out.append(im)
        for key in [] if part.only_claimed else sorted(keys - set(claimed)):
            out.append(_Image(part.split, key, part.root))
    return out


def _digest(path: str) -> str:
    from svmlp.formats._layout import read_bytes

    return _sidecar.label_digest(read_bytes(path)) if path else ""


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a LabelMe folder (or one LabelMe file); ``findings``: strict (the default) or lenient."""
    given = Path(path)
    if given.is_file():
        folder = given.parent
        if given.suffix != ".json":
            raise AnnotationError(f"{given}: expected a LabelMe .json file or a folder of them")
        side = None
        pics = [p for p in list_files(folder) if is_image(p)]
        parts = [_Part(infer_split(folder.name) or DEFAULT_SPLIT, folder, [given], pics, only_claimed=True)]
    elif given.is_dir():
        folder = given
        side = _sidecar.load(folder, NAME) if sidecar_format(folder) == NAME else None
        parts = _parts(folder, side.by_key() if side else {})
    else:
        raise AnnotationError(f"{given}: no such file or folder")
    known = side.by_key() if side else {}
    guard = LinkGuard([folder])
    notes: list[str] = []
    images = _read_images(parts, folder, guard, findings, notes)
    if not any(p.jsons for p in parts) and not known:
        raise AnnotationError(f"{given}: no LabelMe *.json file here")
    seen = {(im.split, im.key) for im in images}
    roots = {p.split: p.root for p in parts}
    for (split, key), entry in known.items():
        if (split, key) not in seen:
            images.append(_Image(split, key, roots[split], labelled=entry.labelled))
    categories: list[Category] | None = side.category_list(folder / _sidecar.SIDECAR_NAME) if side else None
    if categories is None:
        categories = list(categories_from_names(sorted({r[0] for im in images for r in im.regions})))
    lookup = {c.name: k for k, c in enumerate(categories)}
    for im in images:
        for r in im.regions:
            if r[0] not in lookup:
                raise AnnotationError(
                    f"{im.label}: class {r[0][:80]!r} is not one of the data set's classes "
                    f"({_sidecar.SIDECAR_NAME} lists them); fix the shape or delete the sidecar"
                )
        if known.get((im.split, im.key)) is not None and im.label:
            im.digest = _digest(im.label)
    table, builder, more = _build(images, known, lookup, categories, probe, guard)
    return Dataset(
        categories,
        table,
        builder.build(),
        roots=roots,
        info=side.info if side else {},
        notes=notes + more,
        source=given,
        inputs=Inputs.of(
            files=[given] if given.is_file() else ([folder / _sidecar.SIDECAR_NAME] if side else []),
            trees=[p.root for p in parts] if given.is_dir() else [],
            folders=[folder],
            bounds=[folder],
        ),
        findings=findings,
    )


def _build(
    images: list[_Image],
    known: dict[tuple[str, str], _sidecar.SidecarImage],
    lookup: dict[str, int],
    categories: list[Category],
    probe: bool,
    guard: LinkGuard,
) -> tuple[ImageTable, BoxBuilder, list[str]]:
    builder = BoxBuilder()
    cat_row = {c.id: k for k, c in enumerate(categories)}
    next_id = 1 + max((b for e in known.values() for b, _ in e.rows), default=0)
    ids, sizes, stale = [], [], 0
    for row, im in enumerate(images):
        n = len(im.regions)
        cls, xyxy, box_ids, extras, _ = region_rows(im.regions, lookup, next_id)
        next_id += n
        position = np.arange(n, dtype=np.float64)
        entry = known.get((im.split, im.key))
        size, image_id = im.size, -1
        if entry is not None:
            classes = [c for _, c in entry.rows]
            fresh = (not im.label and not entry.labelled) or (entry.digest and entry.digest == im.digest)
            if fresh and len(entry.rows) == n and all(0 <= c < len(categories) for c in classes):
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
                    label=Path(im.label or im.key),
                )
            elif im.label:
                stale += 1
            image_id = entry.id
            if entry.width:
                size = (entry.width, entry.height)
        builder.add(row, cls, xyxy, box_ids, extras=extras, position=position, source=im.label)
        ids.append(image_id)
        sizes.append(size)
    paths = [f if guard.outside(f) is None else None for f in (im.root / im.key for im in images)]
    size_arr, (hw, hh, ho) = probed_sizes(paths, sizes, probe)
    table = ImageTable.build(
        id=number_missing(np.array(ids, dtype=np.int64)),
        file_name=[im.key for im in images],
        split=[im.split for im in images] or np.zeros(0, "U1"),
        width=size_arr[:, 0],
        height=size_arr[:, 1],
        labelled=[im.labelled for im in images],
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=[im.label for im in images],
    )
    return table, builder, [STALE_NOTE.format(stale)] if stale else []


# ---------------------------------------------------------------------------------------- writing


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``images/<split>/<stem>.json`` for every labelled image, and the sidecar."""
    im, b = ds.images, ds.boxes
    if not usable_boxes(b.xyxy).all():
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    labelled = np.flatnonzero(im.labelled).tolist()
    splits, names = im.split.tolist(), im.file_name.tolist()
    rels = [f"images/{splits[i]}/{os.path.splitext(names[i])[0]}.json" for i in labelled]
    seen: dict[str, str] = {}
    for i, rel in zip(labelled, rels):
        if rel in seen:
            raise AnnotationError(
                f"images {seen[rel]!r} and {names[i]!r} (split {splits[i]}) would share the LabelMe file {rel}; rename one"
            )
        seen[rel] = names[i]
    check_destinations(out, [*rels, *(f"images/{s}" for s in ds.splits)])
    for s in ds.splits:
        (out / "images" / s).mkdir(parents=True, exist_ok=True)
    cat_names = [c.name for c in ds.categories]
    offsets = ds.offsets.tolist()
    xyxy, cats, parent, crowd = b.xyxy.tolist(), b.category.tolist(), b.parent.tolist(), b.iscrowd.tolist()
    text = b.text.tolist() if b.text is not None else None
    extra = b.attributes.tolist() if b.attributes is not None else None
    shaped = np.zeros(len(b), dtype=bool) if b.corners is None else np.isfinite(b.corners).all(axis=(1, 2))
    corners = b.corners.tolist() if b.corners is not None else None
    widths, heights = im.width.tolist(), im.height.tolist()
    rows_of: dict[int, list[int]] = {}
    digests: dict[int, str] = {}
    inexact: list[int] = []
    for i, rel in zip(labelled, rels):
        rows = [r for r in range(offsets[i], offsets[i + 1]) if not crowd[r]]
        group: dict[int, int] = {}
        for r in rows:
            p = parent[r]
            if p >= 0 and not crowd[p] and p not in group:
                group[p] = len(group) + 1
        shapes = []
        for r in rows:
            gid = group.get(r) or (group.get(parent[r]) if parent[r] >= 0 else None)
            if shaped[r]:
                assert corners is not None
                pts, kind = corners[r], "polygon"
                c = np.asarray(pts)
                if [*c.min(axis=0).tolist(), *c.max(axis=0).tolist()] != xyxy[r]:
                    inexact.append(r)
            else:
                x0, y0, x1, y1 = xyxy[r]
                pts, kind = [[x0, y0], [x1, y1]], "rectangle"
            shapes.append(
                {
                    "label": cat_names[cats[r]],
                    "points": pts,
                    "group_id": gid,
                    "description": text[r] if text is not None else "",
                    "shape_type": kind,
                    "flags": {k: v for k, v in (extra[r] or {}).items() if isinstance(v, bool)}
                    if extra is not None
                    else {},
                }
            )
        doc = {
            "version": _VERSION,
            "flags": {},
            "shapes": shapes,
            "imagePath": posixpath.basename(names[i]),
            "imageData": None,
            "imageHeight": heights[i],
            "imageWidth": widths[i],
        }
        data = msgspec.json.encode(doc)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
        rows_of[i] = rows
        digests[i] = _sidecar.label_digest(data)
    _sidecar.save(
        ds, out, NAME, rows_of=rows_of, carried=_sidecar.YOLO_CARRIED, digests=digests, exact=inexact
    )
    notes = []
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) left out of the LabelMe files (kept in {_sidecar.SIDECAR_NAME})"
        )
    return notes
