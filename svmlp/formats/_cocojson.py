"""COCO-style JSON (COCO and the native SVMLP superset): decode one file to columns.

Decoding uses msgspec with typed structs: several times faster than ``json.load`` plus dict
walking, and its errors carry the JSON path of the offending value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter, is_not
from pathlib import Path
from typing import Annotated, Any

import msgspec
import numpy as np

from svmlp._files import open_regular_file
from svmlp._progress import stage
from svmlp.errors import AnnotationError, where
from svmlp.model import BoxTable, Category, ImageTable
from svmlp.model.categories import role_for
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import MAX_COORD, MAX_SIDE, checked_attributes, usable_boxes
from svmlp.model.validate import first_duplicate

__all__ = ["CocoPart", "Int64", "Side", "category_from", "decode", "json_head", "part_from_file"]

#: an id or flag: any integer the model's int64 columns can hold (2**63 and beyond is an error
#: naming its JSON path, not an OverflowError deep inside numpy)
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
#: an image width or height, up to the largest an image can be (negative ones are refused after)
Side = Annotated[int, msgspec.Meta(le=MAX_SIDE)]


class _Category(msgspec.Struct):
    id: Int64
    name: str
    supercategory: str = ""
    #: absent: from the alias table; null: explicitly none (a "truck" that carries no plates here)
    role: str | None | msgspec.UnsetType = msgspec.UNSET


def category_from(c: _Category, path: Path) -> Category:
    """A model category from a decoded one; a role left out is looked up in the alias table."""
    role = role_for(c.name) if c.role is msgspec.UNSET else c.role
    if role not in (None, "parent", "child"):
        raise AnnotationError(
            f"{path}: category {c.name!r} has role {role!r}; expected parent, child or null"
        )
    return Category(c.id, c.name, c.supercategory, role)  # type: ignore[arg-type]


class _Image(msgspec.Struct, gc=False):
    id: Int64
    file_name: str
    width: Side = 0
    height: Side = 0
    labelled: bool = True


class _Plate(msgspec.Struct, gc=False):
    text: str | None = None
    corners: list[tuple[float, float]] | None = None


_NAN = float("nan")


class _Annotation(msgspec.Struct, gc=False):
    # optional numbers default to the model's "absent" value (NaN, -1), so that one pass puts them
    # all in a record array; None comes only from an explicit JSON null
    id: Int64
    image_id: Int64
    category_id: Int64
    bbox: tuple[float, float, float, float]
    iscrowd: Int64 = 0
    area: float | None = _NAN
    segmentation: msgspec.Raw = msgspec.Raw(b"")  # a shared default: a factory costs 20% of decoding
    parent_id: Int64 | None = -1
    link_score: float | None = _NAN
    plate: _Plate | None = None
    difficult: Int64 | None = -1
    truncated: Int64 | None = -1
    occluded: Int64 | None = -1
    xyxy: tuple[float, float, float, float] | None = None
    #: a labelling tool's per-box attributes (CVAT's COCO export writes them here)
    attributes: dict[str, str | bool | int | float] | None = None


class _File(msgspec.Struct):
    images: list[_Image]
    annotations: list[_Annotation] = []
    categories: list[_Category] = []
    info: dict[str, Any] | None = None
    svmlp: dict[str, Any] | None = None
    svmlp_split: str | None = None  # the split of a COCO file svmlp wrote, whatever its name


class _FileRaw(msgspec.Struct):
    """A big file: as :class:`_File`, its annotations left as JSON text to decode a chunk at a time."""

    images: list[_Image]
    annotations: list[msgspec.Raw] = []
    categories: list[_Category] = []
    info: dict[str, Any] | None = None
    svmlp: dict[str, Any] | None = None
    svmlp_split: str | None = None


_DECODER = msgspec.json.Decoder(_File)
#: accepts what careless writers produce ("5" or 5.0 for an id); tried when the strict one fails
_LAX_DECODER = msgspec.json.Decoder(_File, strict=False)
_RAW_DECODER = msgspec.json.Decoder(_FileRaw)
_LAX_RAW_DECODER = msgspec.json.Decoder(_FileRaw, strict=False)
_CHUNK_DECODER = msgspec.json.Decoder(list[_Annotation])
_LAX_CHUNK_DECODER = msgspec.json.Decoder(list[_Annotation], strict=False)
#: a file larger than this decodes its annotations a chunk at a time: every decoded annotation is
#: a Python object of about 700 bytes (its box, its plate), so a 100 000-image file decoded whole
#: held 750 MB of them at once; in chunks, the columns are all that grows
CHUNKED_BYTES = 64 * 1024 * 1024
#: annotations decoded at a time in a big file
CHUNK = 50_000


def _line_of(data: bytes, message: str) -> int | None:
    """The line of a ``(byte N)`` position in a msgspec decode error."""
    if "(byte " not in message:
        return None
    try:
        offset = int(message.rsplit("(byte ", 1)[1].split(")")[0])
    except ValueError:
        return None
    return data.count(b"\n", 0, offset) + 1


def json_head(path: Path) -> bytes:
    """The first 4 KiB of a JSON file, enough to tell a native file from a COCO one (the native
    writer puts its ``"svmlp"`` key first)."""
    try:
        with open_regular_file(path) as fh:
            return fh.read(4096)
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from None


def decode(path: Path, data: bytes) -> _File | _FileRaw:
    """Parse one COCO-style file, raising :class:`AnnotationError` with its location (a file over
    :data:`CHUNKED_BYTES` keeps its annotations as text, decoded in chunks by :func:`part_from_file`)."""
    strict, lax = (_RAW_DECODER, _LAX_RAW_DECODER) if len(data) > CHUNKED_BYTES else (_DECODER, _LAX_DECODER)
    try:
        try:
            return strict.decode(data)  # type: ignore[no-any-return]  # strict typing decodes about 10% faster
        except msgspec.ValidationError:
            return lax.decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
        what = text.split(" - at `")[0]
        if at is None and data.lstrip()[:1] == b"[":
            what = "this is a list (a COCO results file?), expected a data set object with 'images'"
        raise AnnotationError(f"{where(path, at=at)}: {what}") from None
    except msgspec.DecodeError as exc:
        text = str(exc)
        raise AnnotationError(f"{where(path, _line_of(data, text))}: {text}") from None
    except RecursionError:
        raise AnnotationError(f"{path}: JSON nested too deeply to be a data set") from None


@dataclass
class CocoPart:
    """The columns of one COCO file (one split); box ``image``/``parent`` are local rows."""

    categories: list[Category]
    images: ImageTable
    boxes: BoxTable
    info: dict[str, Any]


def _index_of(keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``wanted`` in ``keys`` (unique), and a mask of those found."""
    if not len(keys):
        return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), bool)
    order = np.argsort(keys, kind="stable")
    pos = np.searchsorted(keys[order], wanted).clip(0, len(keys) - 1)
    found = keys[order][pos] == wanted
    return order[pos], found


def _duplicate(ids: np.ndarray) -> int | None:
    """The first id that occurs again, or None."""
    row = first_duplicate(ids)
    return None if row is None else int(ids[row])


def part_from_file(
    f: _File | _FileRaw, path: Path, split: str, *, segmentation: bool = True, findings: Findings = STRICT
) -> CocoPart:
    """Check one decoded file and turn it into columns (``segmentation``: False when the file's
    text holds no ``"segmentation"`` key, which skips looking; ``findings``: where duplicate ids
    and impossible boxes go when reading leniently)."""
    cats = [category_from(c, path) for c in f.categories]
    cat_ids = np.array([c.id for c in cats], dtype=np.int64)
    if (dup := _duplicate(cat_ids)) is not None:
        findings.complain("duplicate_id", f"{path}: category id {dup} appears twice in 'categories'")

    ims = f.images
    img_ids = np.fromiter((i.id for i in ims), np.int64, len(ims))
    if (dup := _duplicate(img_ids)) is not None:
        findings.complain("duplicate_id", f"{path}: image id {dup} appears twice in 'images'")
    sizes = np.array([(i.width, i.height) for i in ims], dtype=np.int64).reshape(-1, 2)
    if len(sizes) and sizes.min() < 0:
        row = int(np.flatnonzero(sizes.min(axis=1) < 0)[0])
        raise AnnotationError(
            f"{where(path, at=f'$.images[{row}]')}: negative width or height {sizes[row].tolist()}"
        )
    images = ImageTable.build(
        id=img_ids,
        file_name=[i.file_name for i in ims],
        split=split,
        width=sizes[:, 0],
        height=sizes[:, 1],
        labelled=np.fromiter((i.labelled for i in ims), bool, len(ims)),
        label_file=np.full(len(ims), str(path)),  # the file to fix, for the audit's findings
    )
    boxes = _boxes_from(_chunks(f, path), path, img_ids, cat_ids, segmentation, findings)
    return CocoPart(cats, images, boxes, dict(f.info or {}))


def _chunks(f: _File | _FileRaw, path: Path) -> Iterator[tuple[int, list[_Annotation]]]:
    """(row of the first, annotations) of the file, all at once or a chunk at a time; each
    chunk's text is dropped once decoded."""
    if isinstance(f, _File):
        yield 0, f.annotations
        return
    texts = f.annotations
    with stage("decoding annotations", len(texts), unit="box") as tick:
        yield from _decoded_chunks(texts, path, tick)


def _decoded_chunks(
    texts: list[msgspec.Raw], path: Path, tick: Callable[[int], None]
) -> Iterator[tuple[int, list[_Annotation]]]:
    for start in range(0, len(texts), CHUNK):
        data = b"[" + b",".join(texts[start : start + CHUNK]) + b"]"
        texts[start : start + CHUNK] = [_EMPTY] * len(texts[start : start + CHUNK])
        try:
            try:
                anns = _CHUNK_DECODER.decode(data)
            except msgspec.ValidationError:
                anns = _LAX_CHUNK_DECODER.decode(data)
        except msgspec.ValidationError as exc:  # "... - at `$[12].bbox`": row 12 of this chunk
            what, _, at = str(exc).partition(" - at `$[")
            row, _, rest = at.rstrip("`").partition("]")
            place = f"$.annotations[{start + int(row)}]{rest}" if row.isdigit() else "$.annotations"
            raise AnnotationError(f"{where(path, at=place)}: {what}") from None
        del data
        tick(len(anns))
        yield start, anns


_EMPTY = msgspec.Raw(b"")


_INT_FIELDS = ("id", "image_id", "category_id", "iscrowd", "parent_id", "difficult", "truncated", "occluded")
_FLOAT_FIELDS = ("area", "link_score")
_ABSENT = {
    "area": _NAN,
    "link_score": _NAN,
    "parent_id": -1,
    "difficult": -1,
    "truncated": -1,
    "occluded": -1,
}


def _optional(anns: list[_Annotation], name: str) -> list[Any] | None:
    """The values of a field that is usually absent, or None when no annotation has it."""
    values = list(map(attrgetter(name), anns))
    return None if values.count(None) == len(values) else values


def _column(anns: list[_Annotation], name: str, dtype: type) -> np.ndarray:
    values = map(attrgetter(name), anns)
    try:
        return np.fromiter(values, dtype, len(anns))
    except TypeError:  # an explicit null: the absent value
        absent = _ABSENT[name]
        return np.array([absent if v is None else v for v in map(attrgetter(name), anns)], dtype)


def _core(anns: list[_Annotation]) -> dict[str, np.ndarray]:
    """Every number of every annotation as columns: the hot loop of reading COCO, kept in C
    (``fromiter`` over ``attrgetter``, several fields a pass; a Python-level loop is twice as slow)."""
    n = len(anns)
    cols: dict[str, np.ndarray] = {}
    for fields, dtype in ((_INT_FIELDS, np.int64), (_FLOAT_FIELDS, np.float64)):
        try:
            flat = itertools.chain.from_iterable(map(attrgetter(*fields), anns))
            block = np.fromiter(flat, dtype, len(fields) * n).reshape(n, len(fields))
            cols.update(zip(fields, block.T.copy()))
        except TypeError:  # an explicit null somewhere: field by field, nulls as the absent value
            cols.update({k: _column(anns, k, dtype) for k in fields})
    flat = itertools.chain.from_iterable(map(attrgetter("bbox"), anns))
    cols["bbox"] = np.fromiter(flat, np.float64, 4 * n).reshape(-1, 4)
    return cols


class _Objects:
    """What a file's annotations hold beyond numbers, gathered chunk by chunk: ``(row, value)``
    pairs for the few boxes that have them."""

    def __init__(self) -> None:
        self.exact: list[tuple[int, Any]] = []
        self.text: list[tuple[int, str]] = []
        #: (rows, their corners as a k × 4 × 2 array) per chunk: a decoded point list is ~400 bytes
        self.corners: list[tuple[list[int], np.ndarray]] = []
        self.attributes: list[tuple[int, dict[str, Any]]] = []
        self.segmentation: list[tuple[int, msgspec.Raw]] = []

    def add(self, start: int, anns: list[_Annotation], has_seg: bool, path: Path) -> None:
        if (exact := _optional(anns, "xyxy")) is not None:
            self.exact += [(start + r, v) for r, v in enumerate(exact) if v is not None]
        if (plates := _optional(anns, "plate")) is not None:
            rows = np.flatnonzero(np.fromiter(map(is_not, plates, itertools.repeat(None)), bool, len(plates)))
            present = [plates[r] for r in rows.tolist()]
            for r, text in zip(rows.tolist(), map(attrgetter("text"), present)):
                if text is not None:
                    self.text.append((start + r, text))
            corners = list(map(attrgetter("corners"), present))
            have = np.fromiter(map(is_not, corners, itertools.repeat(None)), bool, len(corners))
            if have.any():
                points = list(itertools.compress(corners, have))
                sizes = np.fromiter(map(len, points), np.int64, len(points))
                if (sizes != 4).any():
                    k = int(np.flatnonzero(sizes != 4)[0])
                    r = start + int(rows[have][k])
                    raise AnnotationError(
                        f"{where(path, at=f'$.annotations[{r}].plate.corners')}: "
                        f"expected 4 [x, y] points, found {int(sizes[k])}"
                    )
                flat = itertools.chain.from_iterable(itertools.chain.from_iterable(points))
                values = np.fromiter(flat, np.float64, 8 * len(points)).reshape(-1, 4, 2)
                self.corners.append(((start + rows[have]).tolist(), values))
        if (attrs := _optional(anns, "attributes")) is not None:
            self.attributes += [(start + r, a) for r, a in enumerate(attrs) if a]
        if has_seg:
            seg = list(map(attrgetter("segmentation"), anns))
            if list(map(len, seg)).count(0) != len(seg):
                self.segmentation += [(start + r, v) for r, v in enumerate(seg) if len(v)]


def _boxes_from(
    chunks: Iterator[tuple[int, list[_Annotation]]],
    path: Path,
    img_ids: np.ndarray,
    cat_ids: np.ndarray,
    has_seg: bool,
    findings: Findings,
) -> BoxTable:
    parts: list[dict[str, np.ndarray]] = []
    objects = _Objects()
    for start, anns in chunks:
        parts.append(_core(anns))
        objects.add(start, anns, has_seg, path)
        del anns
    core = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if len(parts) > 1 else parts[0]
    del parts
    ids, xywh = core["id"], core["bbox"]
    if (dup := _duplicate(ids)) is not None:
        findings.complain("duplicate_id", f"{path}: annotation id {dup} appears twice in 'annotations'")
    with np.errstate(invalid="ignore"):
        bad_mask = ~usable_boxes(xywh) | (xywh[:, 2] < 0) | (xywh[:, 3] < 0)
    bad = np.flatnonzero(bad_mask)
    if len(bad) and findings.strict:  # read leniently, such boxes are the audit's to report, one by one
        r = int(bad[0])
        raise AnnotationError(
            f"{where(path, at=f'$.annotations[{r}].bbox')}: annotation id {int(ids[r])} has bbox "
            f"{xywh[r].tolist()}; expected finite [x, y, width, height] with width, height >= 0, "
            f"within ±{MAX_COORD:.0f} px"
        )
    image_row, found = _index_of(img_ids, core["image_id"])
    if not found.all():
        r = int(np.flatnonzero(~found)[0])
        raise AnnotationError(
            f"{path}: annotation id {int(ids[r])} refers to image id {int(core['image_id'][r])}, which is not in 'images'"
        )
    cat_row, found = _index_of(cat_ids, core["category_id"])
    if not found.all():
        r = int(np.flatnonzero(~found)[0])
        raise AnnotationError(
            f"{path}: annotation id {int(ids[r])} has category_id {int(core['category_id'][r])}, which is not in 'categories'"
        )
    xyxy = xywh.copy()
    xyxy[:, 2:] += xyxy[:, :2]
    if objects.exact:
        # boxes whose [x, y, w, h] cannot hold the corners exactly in floating point
        xyxy[[r for r, _ in objects.exact]] = np.array([v for _, v in objects.exact], dtype=np.float64)
    cols = _optional_columns(objects, path, core)
    return BoxTable.build(
        id=ids, image=image_row, category=cat_row, xyxy=xyxy, iscrowd=core["iscrowd"] != 0, **cols
    )


def _optional_columns(objects: _Objects, path: Path, core: dict[str, np.ndarray]) -> dict[str, Any]:
    ids, pid = core["id"], core["parent_id"]
    n = len(ids)
    cols: dict[str, Any] = {"area": core["area"]}
    linked = pid >= 0
    if linked.any():
        prow, found = _index_of(ids, pid)
        if not found[linked].all():
            r = int(np.flatnonzero(linked & ~found)[0])
            raise AnnotationError(
                f"{path}: annotation id {int(ids[r])} has parent_id {int(pid[r])}, which is not an annotation in this file"
            )
        cols["parent"] = np.where(linked, prow, -1)
        cols["link_score"] = core["link_score"]
    for flag in ("difficult", "truncated", "occluded"):
        cols[flag] = np.where(core[flag] > 0, 1, core[flag].clip(-1, 0))  # 0/1, or -1 when absent
    if objects.text:
        text = [""] * n
        for r, t in objects.text:
            text[r] = t
        cols["text"] = text
    if objects.corners:
        arr = np.full((n, 4, 2), np.nan)
        for rows, points in objects.corners:
            arr[rows] = points
        cols["corners"] = arr
    if objects.attributes:
        attributes: list[dict[str, Any] | None] = [None] * n
        for r, a in objects.attributes:
            attributes[r] = checked_attributes(a, where(path, at=f"$.annotations[{r}].attributes"))
        cols["attributes"] = attributes
    if objects.segmentation:
        segmentation: list[Any] = [None] * n
        for r, v in objects.segmentation:
            segmentation[r] = _segmentation(v)
        cols["segmentation"] = segmentation
    return cols


def _segmentation(raw: msgspec.Raw) -> Any:
    if not len(raw):
        return None
    value = msgspec.json.decode(raw)
    return None if value == [] else value
