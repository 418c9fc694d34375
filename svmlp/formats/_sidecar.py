"""``svmlp.sidecar.json``: what YOLO and VOC files cannot hold, kept beside them.

YOLO keeps class indices and normalised boxes only; VOC keeps class names. The sidecar carries
the rest, so a round trip loses nothing: category ids, supercategories and roles, image ids and
sizes, images that were never labelled, box ids, the car→plate links, crowd boxes (left out of
YOLO label files) and plate text, corners and flags. Other tools ignore the file. Each image's
entry also records a digest of its label file, so a label file edited after svmlp wrote it is
noticed and its stale ids and links are dropped rather than misapplied.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

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
VERSION = "1.0"


class SidecarImage(msgspec.Struct, omit_defaults=True):
    split: str
    file_name: str
    id: Int64
    width: Side = 0
    height: Side = 0
    labelled: bool = True
    #: [box id, class index] per label row, in file order
    rows: list[tuple[Int64, Int64]] = []
    #: blake2b of the label file as written: any later edit makes the entry stale
    digest: str = ""
    #: annotations carrying anything beyond the label row (links, plate, flags), and crowd boxes
    annotations: list[dict[str, Any]] = []


class Sidecar(msgspec.Struct):
    svmlp_sidecar: str
    format: str
    categories: list[_cocojson._Category]
    images: list[SidecarImage]
    info: dict[str, Any] = {}

    def category_list(self, path: Path) -> list[Category]:
        return [_cocojson.category_from(c, path) for c in self.categories]

    def by_key(self) -> dict[tuple[str, str], SidecarImage]:
        return {(im.split, im.file_name): im for im in self.images}


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
        side = msgspec.json.decode(data, type=Sidecar, strict=False)
    except msgspec.ValidationError as exc:
        raise AnnotationError(
            f"{path}: not a valid svmlp sidecar ({exc}); delete it to read the labels alone"
        ) from None
    except msgspec.DecodeError as exc:
        raise AnnotationError(f"{where(path, _cocojson._line_of(data, str(exc)))}: {exc}") from None
    except RecursionError:
        raise AnnotationError(f"{path}: JSON nested too deeply; delete it to read the labels alone") from None
    if side.format != fmt:
        raise AnnotationError(f"{path}: written for {side.format}, read as {fmt}")
    _check_annotations(side, path)
    return side


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


def save(
    ds: Dataset,
    folder: Path,
    fmt: str,
    *,
    rows_of: dict[int, list[int]] | None,
    carried: frozenset[str],
    digests: dict[int, str] | None = None,
    reshaped: np.ndarray | None = None,
) -> None:
    """Write the sidecar.

    ``rows_of[image row]`` lists the box rows written to the image's label file (YOLO); boxes of
    a labelled image not listed (crowd boxes) are kept whole. ``None``: every box is in the
    format's own file (VOC). Of a written box, the sidecar keeps the keys not in ``carried``, and
    its exact ``xyxy`` where ``reshaped`` (a mask over the boxes) says the file holds another
    shape (a CVAT polygon through a plate's corners).
    """
    b, im = ds.boxes, ds.images
    whole = np.ones(len(b), dtype=bool)
    if rows_of is not None:
        whole[[r for rows in rows_of.values() for r in rows]] = False
    else:
        whole[:] = False
    moved = np.zeros(len(b), dtype=bool) if reshaped is None else reshaped & ~whole
    wanted = np.flatnonzero(whole | moved | extras_mask(ds, carried))
    dicts = dict(zip(wanted.tolist(), _cocoencode.annotation_dicts(ds, rows=wanted, default_area=False)))
    by_image: dict[int, list[dict[str, Any]]] = {}
    image_of = b.image.tolist()
    ids, cats = b.id.tolist(), b.category.tolist()
    offsets = ds.offsets.tolist()
    for r, d in dicts.items():
        i = image_of[r]
        if whole[r]:
            kept = {k: v for k, v in d.items() if k != "image_id"}
            kept["position"] = r - offsets[i]
        else:
            kept = {k: v for k, v in d.items() if k not in carried}
            kept["id"] = d["id"]
            if moved[r]:
                kept["xyxy"] = b.xyxy[r].tolist()
        by_image.setdefault(i, []).append(kept)
    images = [
        SidecarImage(
            split=split,
            file_name=name,
            id=id_,
            width=w,
            height=h,
            labelled=lab,
            rows=[] if rows_of is None else [(ids[r], cats[r]) for r in rows_of.get(i, [])],
            digest=(digests or {}).get(i, ""),
            annotations=by_image.get(i, []),
        )
        for i, (split, name, id_, w, h, lab) in enumerate(
            zip(
                im.split.tolist(),
                im.file_name.tolist(),
                im.id.tolist(),
                im.width.tolist(),
                im.height.tolist(),
                im.labelled.tolist(),
            )
        )
    ]
    cats_json = [_cocojson._Category(**_cocoencode.category_dict(c)) for c in ds.categories]
    doc = Sidecar(svmlp_sidecar=VERSION, format=fmt, categories=cats_json, images=images, info=ds.info)
    (folder / SIDECAR_NAME).write_bytes(msgspec.json.encode(doc))
