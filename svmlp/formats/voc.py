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
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from svmlp.errors import AnnotationError, UsageError, where
from svmlp.formats import _sidecar
from svmlp.formats._builder import BoxBuilder
from svmlp.formats._layout import DEFAULT_SPLIT, IMAGE_SUFFIXES
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import Category, Dataset, ImageTable, categories_from_names, sort_splits

__all__ = ["NAME", "image_destination", "read", "write"]

NAME = "voc"
UNLISTED_SPLIT = "unlisted"
_FLAGS = ("difficult", "truncated", "occluded")


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
    lists = {p.stem: p for p in sorted(sets.glob("*.txt")) if "_" not in p.stem}
    if "trainval" in lists and "train" in lists and "val" in lists:
        del lists["trainval"]  # the union of the two; keeping it would put images in two splits
    out = {}
    for split, p in lists.items():
        entries = []
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                entries.append((line, lineno))  # the whole line: file names may hold spaces
        out[split] = entries
    return out


def _find_image(folder: Path | None, stem: str) -> str | None:
    if folder is None:
        return None
    for suffix in (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"):
        if (folder / f"{stem}{suffix}").is_file():
            return f"{stem}{suffix}"
    for cand in sorted(folder.glob(f"{Path(stem).name}.*")):
        if cand.suffix.lower() in IMAGE_SUFFIXES:
            return (Path(stem).parent / cand.name).as_posix()
    return None


def _number(el: ET.Element | None, tag: str, path: Path, what: str) -> float | None:
    node = el.find(tag) if el is not None else None
    if node is None or node.text is None or not node.text.strip():
        return None
    try:
        return float(node.text)
    except ValueError:
        raise AnnotationError(f"{path}: {what} <{tag}> is {node.text.strip()!r}, expected a number") from None


class _Parsed:
    __slots__ = ("file_name", "width", "height", "image_id", "names", "xyxy", "extras", "crowd")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.xyxy: list[tuple[float, float, float, float]] = []
        self.extras: list[dict[str, Any]] = []
        self.crowd: list[bool] = []
        self.image_id: int | None = None


def _parse_xml(path: Path, rel_stem: str, images: Path | None, origin: int) -> _Parsed:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise AnnotationError(
            f"{where(path, exc.position[0])}: malformed XML ({exc.msg if hasattr(exc, 'msg') else exc})"
        ) from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror})") from None
    if root.tag != "annotation":
        raise AnnotationError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    out = _Parsed()
    fname = (root.findtext("filename") or "").strip()
    folder = Path(rel_stem).parent
    if fname:
        out.file_name = (folder / Path(fname.replace("\\", "/")).name).as_posix()
    else:
        out.file_name = _find_image(images, rel_stem) or f"{rel_stem}.jpg"
    size = root.find("size")
    w, h = _number(size, "width", path, "<size>"), _number(size, "height", path, "<size>")
    out.width, out.height = int(w or 0), int(h or 0)
    if out.width < 0 or out.height < 0:
        raise AnnotationError(f"{path}: negative <size> {out.width}x{out.height}")
    svm = root.find("svmlp")
    if svm is not None and svm.get("id") is not None:
        out.image_id = int(svm.get("id", "0"))
    for k, obj in enumerate(root.iterfind("object"), 1):
        _parse_object(obj, path, k, origin, out)
    return out


def _parse_object(obj: ET.Element, path: Path, k: int, origin: int, out: _Parsed) -> None:
    name = (obj.findtext("name") or "").strip()
    if not name:
        raise AnnotationError(f"{path}: object {k} has no <name>")
    box = obj.find("bndbox")
    if box is None:
        raise AnnotationError(f"{path}: object {k} ({name}) has no <bndbox>")
    vals = [_number(box, t, path, f"object {k} ({name})") for t in ("xmin", "ymin", "xmax", "ymax")]
    if any(v is None for v in vals):
        raise AnnotationError(f"{path}: object {k} ({name}) <bndbox> lacks one of xmin, ymin, xmax, ymax")
    x0, y0, x1, y1 = vals[0] - origin, vals[1] - origin, vals[2], vals[3]  # type: ignore[operator]
    if not all(np.isfinite((x0, y0, x1, y1))) or x1 < x0 or y1 < y0:
        raise AnnotationError(
            f"{path}: object {k} ({name}) has box {vals}; expected finite xmin <= xmax, ymin <= ymax"
        )
    extra: dict[str, Any] = {}
    for flag in _FLAGS:
        v = _number(obj, flag, path, f"object {k} ({name})")
        if v is not None:
            extra[flag] = int(v != 0)
    svm = obj.find("svmlp")
    crowd = False
    if svm is not None:
        crowd = svm.get("crowd") == "1"
        extra.update(_svmlp_attributes(svm, path, k))
        if crowd:
            extra.pop("difficult", None)
            if svm.get("difficult") is not None:
                extra["difficult"] = int(svm.get("difficult", "0"))
    out.names.append(name)
    out.xyxy.append((x0, y0, x1, y1))
    out.extras.append(extra)
    out.crowd.append(crowd)


def _svmlp_attributes(svm: ET.Element, path: Path, k: int) -> dict[str, Any]:
    a = svm.attrib
    try:
        extra: dict[str, Any] = {}
        if "id" in a:
            extra["id"] = int(a["id"])
        if "parent" in a:
            extra["parent_id"] = int(a["parent"])
        if "score" in a:
            extra["link_score"] = float(a["score"])
        if "area" in a:
            extra["area"] = float(a["area"])
        plate: dict[str, Any] = {}
        if "text" in a:
            plate["text"] = a["text"]
        if "corners" in a:
            plate["corners"] = np.array(a["corners"].split(), dtype=float).reshape(4, 2).tolist()
        if plate:
            extra["plate"] = plate
    except ValueError as exc:
        raise AnnotationError(f"{path}: object {k} has a malformed <svmlp> element ({exc})") from None
    return extra


def read(path: str | Path, *, origin: int = 1, probe: bool = True) -> Dataset:
    """Read a VOC devkit folder (or a flat folder of VOC XML files)."""
    if origin not in (0, 1):
        raise UsageError(f"VOC origin must be 0 or 1, not {origin!r}")
    base, ann_dir, img_dir, sets = _layout(Path(path))
    side = _sidecar.load(base, NAME)
    known = side.by_key() if side else {}
    xmls = {p.relative_to(ann_dir).with_suffix("").as_posix(): p for p in sorted(ann_dir.rglob("*.xml"))}
    lists = _split_lists(sets)
    if not xmls and not any(lists.values()):
        raise AnnotationError(f"{ann_dir}: no VOC annotation files (*.xml) and no ImageSets/Main lists found")
    split_of = _assign_splits(xmls, lists, sets)
    parsed = {stem: _parse_xml(p, stem, img_dir, origin) for stem, p in xmls.items()}
    categories = side.category_list(base / _sidecar.SIDECAR_NAME) if side else _categories_from(parsed, base)
    records = _records(parsed, split_of, known, img_dir, sets)
    return _assemble(categories, records, known, img_dir, probe, base, side.info if side else {})


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


def _categories_from(parsed: dict[str, _Parsed], base: Path) -> list[Category]:
    labelmap = base / "labelmap.txt"
    order: list[str] = []
    if labelmap.is_file():
        for line in labelmap.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                order.append(line.split(":")[0].strip())
    seen = set(order)
    extra = sorted({n for p in parsed.values() for n in p.names} - seen)
    return list(categories_from_names(order + extra, start=1))


def _records(
    parsed: dict[str, _Parsed],
    split_of: dict[str, str],
    known: dict[tuple[str, str], Any],
    img_dir: Path | None,
    sets: Path | None,
) -> list[tuple[str, str, _Parsed | None]]:
    """(split, file name, parsed XML or None for an unlabelled image) per image, in split order."""
    by_stem = {(s, Path(k).with_suffix("").as_posix()): e for (s, k), e in known.items()}
    records = []
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
    records: list[tuple[str, str, _Parsed | None]],
    known: dict[tuple[str, str], Any],
    img_dir: Path | None,
    probe: bool,
    base: Path,
    info: dict[str, Any],
) -> Dataset:
    cat_row = {c.name: k for k, c in enumerate(categories)}
    n = len(records)
    headers = read_headers([img_dir / name if img_dir else None for _, name, _ in records]) if probe else None
    builder = BoxBuilder()
    ids, widths, heights = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i, (split, name, p) in enumerate(records):
        entry = known.get((split, name))
        w, h = (p.width, p.height) if p is not None else (0, 0)
        if not w and entry is not None:
            w, h = entry.width, entry.height
        if not w and headers and headers[i].error is None:
            w, h = headers[i].displayed
        widths[i], heights[i] = w, h
        ids[i] = p.image_id if p is not None and p.image_id is not None else (entry.id if entry else i + 1)
        if p is None or not p.names:
            continue
        unknown = [nm for nm in p.names if nm not in cat_row]
        if unknown:
            raise AnnotationError(
                f"{name}: class {unknown[0]!r} is not among the categories of svmlp.sidecar.json"
            )
        kept = {a["id"]: a for a in entry.annotations} if entry is not None else {}
        for e in p.extras:  # what the sidecar kept for a box (its segmentation)
            e.update({k: v for k, v in kept.get(e.get("id"), {}).items() if k != "id"})
        box_ids = np.array([e.pop("id", -1) for e in p.extras], dtype=np.int64)
        builder.add(
            i,
            np.array([cat_row[nm] for nm in p.names]),
            np.array(p.xyxy),
            box_ids,
            iscrowd=np.array(p.crowd),
            extras=p.extras,
            source=name,
        )
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    images = ImageTable.build(
        id=ids,
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
    return Dataset(categories, images, builder.build(), roots=roots, info=info, source=base)


# -- writing ------------------------------------------------------------------------------------


def image_destination(split: str, file_name: str) -> str:
    return f"JPEGImages/{file_name}"


def _check_writable(ds: Dataset) -> None:
    seen: dict[str, tuple[str, str]] = {}
    for split, name in zip(ds.images.split.tolist(), ds.images.file_name.tolist()):
        stem = Path(name).with_suffix("").as_posix()
        if stem in seen:
            other_split, other = seen[stem]
            if other == name:
                what = f"image {name!r} is in split {other_split} and in split {split}"
            else:
                what = f"images {other!r} ({other_split}) and {name!r} ({split}) would share Annotations/{stem}.xml"
            raise AnnotationError(
                f"{what}; VOC keeps every split's images in one folder, so names must differ"
            )
        seen[stem] = (split, name)


def _svmlp_attrs(ds: Dataset) -> list[str]:
    """The ``<svmlp .../>`` attributes of every box, built column by column."""
    b = ds.boxes
    attrs = [[f'id="{v}"'] for v in b.id.tolist()]
    ids = b.id.tolist()
    scores = b.link_score.tolist()
    for r, p in zip(np.flatnonzero(b.parent >= 0).tolist(), b.parent[b.parent >= 0].tolist()):
        attrs[r].append(f'parent="{ids[p]}"')
        if scores[r] == scores[r]:
            attrs[r].append(f'score="{scores[r]!r}"')
    difficult = b.difficult.tolist()
    for r in np.flatnonzero(b.iscrowd).tolist():
        attrs[r].append('crowd="1"')
        if difficult[r] >= 0:
            attrs[r].append(f'difficult="{difficult[r]}"')
    area = b.area.tolist()
    for r in np.flatnonzero(~np.isnan(b.area)).tolist():
        attrs[r].append(f'area="{area[r]!r}"')
    if b.text is not None:
        for r in np.flatnonzero(b.text != "").tolist():
            attrs[r].append(f"text={quoteattr(str(b.text[r]))}")
    if b.corners is not None:
        have = np.flatnonzero(~np.isnan(b.corners).any(axis=(1, 2)))
        for r, pts in zip(have.tolist(), b.corners[have].reshape(-1, 8).tolist()):
            attrs[r].append('corners="' + " ".join(map(repr, pts)) + '"')
    return [" ".join(a) for a in attrs]


def _objects_xml(ds: Dataset) -> list[str]:
    """Every box as an ``<object>`` element, in box order."""
    b = ds.boxes
    names = [escape(c.name) for c in ds.categories]
    # 1-based inclusive pixel indices; numpy's round is Python's (half to even)
    ints = np.round(b.xyxy).astype(np.int64) + np.array([1, 1, 0, 0])
    difficult = np.where(b.iscrowd, 1, np.maximum(b.difficult, 0)).tolist()
    optional = {
        k: [f"<{k}>{v}</{k}>" if v >= 0 else "" for v in getattr(b, k).tolist()] for k in ("truncated", "occluded")
    }
    return [
        f"<object><name>{names[c]}</name><pose>Unspecified</pose>{t}<difficult>{d}</difficult>{o}"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>"
        f"<svmlp {a}/></object>"
        for c, t, d, o, (x0, y0, x1, y1), a in zip(
            b.category.tolist(), optional["truncated"], difficult, optional["occluded"], ints.tolist(), _svmlp_attrs(ds)
        )
    ]


def write(ds: Dataset, out: Path) -> list[str]:
    """Write one XML per labelled image, the split lists, and the sidecar."""
    _check_writable(ds)
    b, im = ds.boxes, ds.images
    objects = _objects_xml(ds)
    (out / "Annotations").mkdir(parents=True)
    (out / "ImageSets" / "Main").mkdir(parents=True)
    (out / "JPEGImages").mkdir()
    lists: dict[str, list[str]] = defaultdict(list)
    off = ds.offsets.tolist()
    made: set[str] = set()
    annotations = str(out / "Annotations")
    for i, (name, split, id_, w, h, labelled) in enumerate(
        zip(im.file_name.tolist(), im.split.tolist(), im.id.tolist(), im.width.tolist(), im.height.tolist(),
            im.labelled.tolist())
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
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(dst, "wb") as fh:
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
