"""``svmlp.sidecar.json``: what YOLO and VOC files cannot hold, kept beside them.

YOLO keeps class indices and normalised boxes only; VOC keeps class names. The sidecar carries
the rest, so a round trip loses nothing: category ids, supercategories and roles, image ids and
sizes, images that were never labelled, box ids, the car→plate links, crowd boxes (left out of
YOLO label files) and plate text, corners and flags. Other tools ignore the file. Each image's
entry also records a digest of its label file, so a label file edited after svmlp wrote it is
noticed and its stale ids and links are dropped rather than misapplied.

Version 2.0 (written since svmlp 0.x, 2026-12) stores all of it as columns: one list per image
property, the box ids of every label row in file order (their classes too, for formats written
without digests), the links and the plate text and corners as columns keyed by image and box id,
and whole annotation objects only for what is rare (crowd boxes, segmentation, flags, attributes,
a box a row cannot hold). Version 1.0 files (one object per image) are still read. Either way
:func:`load` gives the per-image view the readers use.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import msgspec
import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, where
from svmlp.formats import _cocoencode, _cocojson
from svmlp.formats._cocojson import Int64, Side
from svmlp.formats._layout import read_bytes
from svmlp.model import Category, Dataset
from svmlp.model.paths import check_file_name, check_split_name, names_ok

__all__ = ["SIDECAR_NAME", "Sidecar", "SidecarImage", "load", "save"]

SIDECAR_NAME = "svmlp.sidecar.json"
VERSION = "2.0"


class SidecarImage(msgspec.Struct, omit_defaults=True):
    split: str
    file_name: str
    id: Int64
    width: Side = 0
    height: Side = 0
    labelled: bool = True
    #: [box id, class index] per label row, in file order (class -1: not recorded, see ``digest``)
    rows: list[tuple[Int64, Int64]] = []
    #: blake2b of the label file as written: any later edit makes the entry stale
    digest: str = ""
    #: annotations carrying anything beyond the label row (links, plate, flags), and crowd boxes
    annotations: list[dict[str, Any]] = []


class Sidecar(msgspec.Struct, tag_field="svmlp_sidecar", tag="1.0"):
    """The sidecar as the readers use it (and version 1.0's layout on disk)."""

    format: str
    categories: list[_cocojson._Category]
    images: list[SidecarImage]
    info: dict[str, Any] = {}

    def category_list(self, path: Path) -> list[Category]:
        return [_cocojson.category_from(c, path) for c in self.categories]

    def by_key(self) -> dict[tuple[str, str], SidecarImage]:
        return {(im.split, im.file_name): im for im in self.images}


class _Images(msgspec.Struct):
    split: list[str]
    file_name: list[str]
    id: list[Int64]
    width: list[Side]
    height: list[Side]
    labelled: list[bool]
    #: label rows per image (their ids are the next ones in ``rows.id``)
    rows: list[Annotated[int, msgspec.Meta(ge=0)]]
    digest: list[str]


class _Rows(msgspec.Struct):
    id: list[Int64] = []
    #: class index per row, only where the images have no digests
    category: list[Int64] = []


class _Links(msgspec.Struct):
    image: list[Annotated[int, msgspec.Meta(ge=0)]] = []
    id: list[Int64] = []
    parent_id: list[Int64] = []
    link_score: list[float | None] = []


class _Plates(msgspec.Struct):
    image: list[Annotated[int, msgspec.Meta(ge=0)]] = []
    id: list[Int64] = []
    text: list[str] = []
    #: x1 y1 ... x4 y4, or null
    corners: list[list[float] | None] = []


class _SidecarV2(msgspec.Struct, tag_field="svmlp_sidecar", tag="2.0"):
    format: str
    categories: list[_cocojson._Category]
    images: _Images
    rows: _Rows = msgspec.field(default_factory=_Rows)
    links: _Links = msgspec.field(default_factory=_Links)
    plates: _Plates = msgspec.field(default_factory=_Plates)
    #: whole annotation objects, each with its image's index as ``image``
    kept: list[dict[str, Any]] = []
    info: dict[str, Any] = {}


def label_digest(data: bytes) -> str:
    """What the sidecar remembers of a label file, to notice later edits."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def load(folder: Path, fmt: str) -> Sidecar | None:
    """The sidecar in ``folder``, or None when there is none."""
    path = folder / SIDECAR_NAME
    if not os.path.lexists(path):
        return None
    LinkGuard([folder]).check(path, what="sidecar")
    data = read_bytes(path, what="sidecar")
    try:
        decoded = msgspec.json.decode(data, type=Sidecar | _SidecarV2, strict=False)
    except msgspec.ValidationError as exc:
        raise AnnotationError(
            f"{path}: not a valid svmlp sidecar ({exc}); delete it to read the labels alone"
        ) from None
    except msgspec.DecodeError as exc:
        raise AnnotationError(f"{where(path, _cocojson._line_of(data, str(exc)))}: {exc}") from None
    except RecursionError:
        raise AnnotationError(f"{path}: JSON nested too deeply; delete it to read the labels alone") from None
    side = decoded if isinstance(decoded, Sidecar) else _per_image(decoded, path)
    if side.format != fmt:
        raise AnnotationError(f"{path}: written for {side.format}, read as {fmt}")
    _check_annotations(side, path)
    return side


def _per_image(v2: _SidecarV2, path: Path) -> Sidecar:
    """Version 2.0's columns as the per-image view; columns that do not line up are an error
    naming the column."""
    im = v2.images
    n = len(im.id)

    def bad(at: str, problem: str) -> AnnotationError:
        return AnnotationError(f"{where(path, at=at)}: {problem}; delete the file to read the labels alone")

    for name in ("split", "file_name", "width", "height", "labelled", "rows", "digest"):
        if len(getattr(im, name)) != n:
            raise bad(f"$.images.{name}", f"{len(getattr(im, name))} entries for {n} images")
    if sum(im.rows) != len(v2.rows.id):
        raise bad("$.rows.id", f"{len(v2.rows.id)} row ids for the {sum(im.rows)} rows the images count")
    if v2.rows.category and len(v2.rows.category) != len(v2.rows.id):
        raise bad("$.rows.category", f"{len(v2.rows.category)} classes for {len(v2.rows.id)} rows")
    for name, columns in (("links", v2.links), ("plates", v2.plates)):
        lengths = {k: len(getattr(columns, k)) for k in columns.__struct_fields__}
        if len(set(lengths.values())) > 1:
            raise bad(f"$.{name}", f"columns of different lengths ({lengths})")
        if any(i >= n for i in columns.image):
            raise bad(f"$.{name}.image", f"an image index past the {n} images")
    annotations: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    merged: dict[tuple[int, int], dict[str, Any]] = {}  # a written box's extras, by image and id
    for k, a in enumerate(v2.kept):
        i = a.pop("image", None)
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n:
            raise bad(f"$.kept[{k}].image", "missing or not the index of an image")
        annotations[i].append(a)
        if "bbox" not in a and isinstance(a.get("id"), int):
            merged[(i, a["id"])] = a

    def entry(i: int, box_id: int) -> dict[str, Any]:
        d = merged.get((i, box_id))
        if d is None:
            d = merged[(i, box_id)] = {"id": box_id}
            annotations[i].append(d)
        return d

    for i, box_id, parent, score in zip(v2.links.image, v2.links.id, v2.links.parent_id, v2.links.link_score):
        d = entry(i, box_id)
        d["parent_id"] = parent
        if score is not None:
            d["link_score"] = score
    for k, (i, box_id, text, corners) in enumerate(
        zip(v2.plates.image, v2.plates.id, v2.plates.text, v2.plates.corners)
    ):
        plate: dict[str, Any] = {}
        if text:
            plate["text"] = text
        if corners is not None:
            if len(corners) != 8:
                raise bad(
                    f"$.plates.corners[{k}]", f"expected 8 numbers (4 x, y points), found {len(corners)}"
                )
            plate["corners"] = [corners[j : j + 2] for j in range(0, 8, 2)]
        entry(i, box_id)["plate"] = plate
    ids, cats = v2.rows.id, v2.rows.category or [-1] * len(v2.rows.id)
    images, at = [], 0
    for i, (split, name, id_, w, h, lab, count, digest) in enumerate(
        zip(im.split, im.file_name, im.id, im.width, im.height, im.labelled, im.rows, im.digest)
    ):
        images.append(
            SidecarImage(
                split=split,
                file_name=name,
                id=id_,
                width=w,
                height=h,
                labelled=lab,
                rows=list(zip(ids[at : at + count], cats[at : at + count])),
                digest=digest,
                annotations=annotations[i],
            )
        )
        at += count
    return Sidecar(format=v2.format, categories=v2.categories, images=images, info=v2.info)


class _Kept(msgspec.Struct):
    """The shape of an annotation the sidecar keeps (checked, then used as the dict it is)."""

    id: Int64
    category_id: Int64 | None = None
    bbox: tuple[float, float, float, float] | None = None
    xyxy: tuple[float, float, float, float] | None = None
    position: Annotated[int, msgspec.Meta(ge=0, le=2**31)] | None = None
    iscrowd: Int64 | None = None
    area: float | None = None
    parent_id: Int64 | None = None
    link_score: float | None = None
    plate: _cocojson._Plate | None = None
    difficult: Int64 | None = None
    truncated: Int64 | None = None
    occluded: Int64 | None = None
    attributes: dict[str, str | bool | int | float] | None = None


def _check_annotations(side: Sidecar, path: Path) -> None:
    """A hand-edited sidecar fails here, naming the entry, rather than deep inside a reader."""
    categories = {c.id for c in side.categories}
    splits = {im.split for im in side.images}
    if (
        not names_ok(sorted(splits))
        or any("/" in s for s in splits)
        or not names_ok([im.file_name for im in side.images])
    ):
        for k, image in enumerate(side.images):  # find the entry to name; joined to folders by the readers
            at = where(path, at=f"$.images[{k}]")
            check_split_name(image.split, where=at)
            check_file_name(image.file_name, where=at)
    for k, image in enumerate(side.images):
        for j, a in enumerate(image.annotations):
            at = f"$.images[{k}].annotations[{j}]"
            try:
                kept = msgspec.convert(a, _Kept, strict=False)
            except msgspec.ValidationError as exc:
                raise AnnotationError(
                    f"{where(path, at=at)}: {exc}; delete the file to read the labels alone"
                ) from None
            if "bbox" in a:  # a whole box kept here (a crowd box): it needs a box and a class
                if kept.category_id not in categories:
                    raise AnnotationError(
                        f"{where(path, at=at)}: category_id {kept.category_id} is not a category here"
                    )
                if kept.bbox is None and kept.xyxy is None:
                    raise AnnotationError(f"{where(path, at=at)}: a kept box with no bbox")
            corners = kept.plate.corners if kept.plate is not None else None
            if corners is not None and len(corners) != 4:
                raise AnnotationError(
                    f"{where(path, at=at + '.plate.corners')}: expected 4 [x, y] points, found {len(corners)}"
                )


#: annotation keys a YOLO label row itself carries (crowd boxes are not rows: kept whole)
YOLO_CARRIED = frozenset({"id", "image_id", "category_id", "bbox", "iscrowd", "xyxy"})
#: annotation keys a VOC object (with its <svmlp> element) carries: only segmentation is left
VOC_CARRIED = frozenset(
    {
        "id",
        "image_id",
        "category_id",
        "bbox",
        "iscrowd",
        "xyxy",
        "area",
        "parent_id",
        "link_score",
        "plate",
        "difficult",
        "truncated",
        "occluded",
    }
)


def extras_mask(ds: Dataset, carried: frozenset[str]) -> np.ndarray:
    """The boxes with something to say beyond the keys in ``carried``."""
    b = ds.boxes
    need = np.zeros(len(b), dtype=bool)
    if "segmentation" not in carried and b.segmentation is not None:
        need |= np.array([v is not None for v in b.segmentation.tolist()], dtype=bool)
    if "area" not in carried:  # an area that is just the box's needs no keeping
        w = _cocoencode.clean_extent(b.xyxy[:, 0], b.xyxy[:, 2])
        h = _cocoencode.clean_extent(b.xyxy[:, 1], b.xyxy[:, 3])
        need |= ~np.isnan(b.area) & (b.area != w * h)
    if "parent_id" not in carried:
        need |= b.parent >= 0
    if "difficult" not in carried:
        need |= (b.difficult >= 0) | (b.truncated >= 0) | (b.occluded >= 0)
    if "attributes" not in carried and b.attributes is not None:
        need |= np.array([bool(v) for v in b.attributes.tolist()], dtype=bool)
    if "plate" not in carried:
        if b.text is not None:
            need |= b.text != ""
        if b.corners is not None:
            need |= ~np.isnan(b.corners).any(axis=(1, 2))
    return need


#: what the link and plate columns carry (the rest of a box's extras are kept as objects)
_COLUMNS = frozenset({"parent_id", "link_score", "plate"})


def save(
    ds: Dataset,
    folder: Path,
    fmt: str,
    *,
    rows_of: dict[int, list[int]] | None,
    carried: frozenset[str],
    digests: dict[int, str] | None = None,
    exact: np.ndarray | list[int] | None = None,
    exact_boxes: np.ndarray | None = None,
) -> None:
    """Write the sidecar (version 2.0, columns).

    ``rows_of[image row]`` lists the box rows written to the image's label file (YOLO); boxes of
    a labelled image not listed (crowd boxes) are kept whole. ``None``: every box is in the
    format's own file (VOC). Of a written box, the sidecar keeps the keys not in ``carried``.
    ``exact``: box rows whose ``xyxy`` the sidecar keeps, where the file holds another shape (a
    CVAT polygon through a plate's corners, a YOLO-OBB row's corners) or rounds the box; the
    boxes kept are their ``xyxy``, or ``exact_boxes`` (one row each) when given.
    """
    b, im = ds.boxes, ds.images
    n = len(im)
    whole = np.zeros(len(b), dtype=bool)
    written = np.zeros(0, dtype=np.int64)
    counts = [0] * n
    if rows_of is not None:
        counts = [len(rows_of.get(i, ())) for i in range(n)]
        written = np.fromiter(
            itertools.chain.from_iterable(rows_of.get(i, ()) for i in range(n)), np.int64, sum(counts)
        )
        whole[:] = True
        whole[written] = False
    kept_xyxy: dict[int, list[float]] = {}
    if exact is not None:
        rows = np.asarray(exact, dtype=np.int64)
        boxes = b.xyxy[rows] if exact_boxes is None else np.asarray(exact_boxes)
        for r, box in zip(rows.tolist(), boxes.tolist()):
            if not whole[r]:
                kept_xyxy[r] = box
    columns = _COLUMNS - carried
    # written a section at a time, the big columns in slices: the whole document as Python
    # objects would hold several hundred bytes per box at once
    with open(folder / SIDECAR_NAME, "wb") as fh:
        out = _JsonWriter(fh)
        fh.write(b'{"svmlp_sidecar":"' + VERSION.encode() + b'","format":' + msgspec.json.encode(fmt))
        out.key("categories", [_cocoencode.category_dict(c) for c in ds.categories])
        fh.write(b',"images":{')
        out.key("split", im.split.tolist(), first=True)
        out.key("file_name", im.file_name.tolist())
        out.column("id", im.id)
        out.column("width", im.width)
        out.column("height", im.height)
        out.column("labelled", im.labelled)
        out.key("rows", counts)
        out.key("digest", [(digests or {}).get(i, "") for i in range(n)])
        fh.write(b'},"rows":{')
        out.column("id", b.id[written], first=True)
        out.column("category", b.category[written])
        del written
        fh.write(b'},"links":{')
        if "parent_id" in columns:
            rows = np.flatnonzero((b.parent >= 0) & ~whole)  # a crowd box kept whole keeps its own
            out.column("image", b.image[rows], first=True)
            out.column("id", b.id[rows])
            out.column("parent_id", b.id[b.parent[rows]])
            out.column("link_score", b.link_score[rows])  # NaN (no score) is written as null
        fh.write(b'},"plates":{')
        if "plate" in columns:
            _plate_columns(ds, whole, out)
        fh.write(b"}")
        out.key("kept", _kept(ds, carried | columns, whole, kept_xyxy))
        out.key("info", ds.info)
        fh.write(b"}")


class _JsonWriter:
    """JSON object members written straight to a file; numpy columns a slice at a time."""

    SLICE = 65_536

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh

    def key(self, name: str, value: Any, *, first: bool = False) -> None:
        self.fh.write((b"" if first else b",") + b'"' + name.encode() + b'":' + msgspec.json.encode(value))

    def column(
        self,
        name: str,
        values: np.ndarray,
        *,
        first: bool = False,
        as_list: Callable[[np.ndarray], list[Any]] | None = None,
    ) -> None:
        """``values`` as a JSON array (``as_list``: how a slice becomes a list; ``tolist``)."""
        fh = self.fh
        fh.write((b"" if first else b",") + b'"' + name.encode() + b'":[')
        for k in range(0, len(values), self.SLICE):
            part = values[k : k + self.SLICE]
            text = msgspec.json.encode(part.tolist() if as_list is None else as_list(part))
            fh.write((b"," if k else b"") + text[1:-1])
        fh.write(b"]")


def _kept(
    ds: Dataset, skipped: frozenset[str], whole: np.ndarray, kept_xyxy: dict[int, list[float]]
) -> list[dict[str, Any]]:
    """Whole annotations (crowd boxes) and the rare extras of written boxes, each with its image."""
    b = ds.boxes
    moved = np.zeros(len(b), dtype=bool)
    moved[list(kept_xyxy)] = True
    wanted = np.flatnonzero(whole | moved | extras_mask(ds, skipped))
    crowd, extra = wanted[whole[wanted]], wanted[~whole[wanted]]
    offsets, image_of = ds.offsets.tolist(), b.image[wanted].tolist()
    kept_of: dict[int, dict[str, Any]] = {}
    for r, kept in zip(crowd.tolist(), _cocoencode.annotation_dicts(ds, rows=crowd, default_area=False)):
        del kept["image_id"]
        kept["position"] = r - offsets[int(b.image[r])]
        kept_of[r] = kept
    for r, kept in zip(
        extra.tolist(),
        _cocoencode.annotation_dicts(ds, rows=extra, default_area=False, skip=skipped - {"id"}),
    ):
        if r in kept_xyxy:
            kept["xyxy"] = kept_xyxy[r]
        kept_of[r] = kept
    return [{"image": i, **kept_of[r]} for r, i in zip(wanted.tolist(), image_of)]


def _plate_columns(ds: Dataset, whole: np.ndarray, out: _JsonWriter) -> None:
    """Plate text and corners of the boxes written as rows that have either."""
    b = ds.boxes
    has_text = b.text != "" if b.text is not None else np.zeros(len(b), dtype=bool)
    has_corners = (
        ~np.isnan(b.corners).any(axis=(1, 2)) if b.corners is not None else np.zeros(len(b), dtype=bool)
    )
    rows = np.flatnonzero((has_text | has_corners) & ~whole)
    out.column("image", b.image[rows], first=True)
    out.column("id", b.id[rows])
    out.column("text", b.text[rows] if b.text is not None else np.full(len(rows), ""))
    if b.corners is None:
        out.key("corners", [None] * len(rows))
        return

    def points(part: np.ndarray) -> list[list[float] | None]:
        flat = part.reshape(-1, 8)
        ok = ~np.isnan(flat).any(axis=1)
        return [c if k else None for c, k in zip(flat.tolist(), ok.tolist())]

    out.column("corners", b.corners[rows], as_list=points)
