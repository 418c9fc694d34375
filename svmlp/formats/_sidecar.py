"""``svmlp.sidecar.json``: what YOLO and VOC files cannot hold, kept beside them.

YOLO keeps class indices and normalised boxes only; VOC keeps class names. The sidecar carries
the rest, so a round trip loses nothing: category ids, supercategories and roles, image ids and
sizes, images that were never labelled, box ids, the car→plate links, crowd boxes (left out of
YOLO label files) and plate text, corners and flags. Other tools ignore the file. Each image's
entry also records the classes of its label rows, so a label file edited after svmlp wrote it is
noticed and its stale links are dropped rather than misapplied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from svmlp.errors import AnnotationError, where
from svmlp.formats import _cocojson
from svmlp.model import Category, Dataset

__all__ = ["SIDECAR_NAME", "Sidecar", "SidecarImage", "load", "save"]

SIDECAR_NAME = "svmlp.sidecar.json"
VERSION = "1.0"


class SidecarImage(msgspec.Struct, omit_defaults=True):
    split: str
    file_name: str
    id: int
    width: int = 0
    height: int = 0
    labelled: bool = True
    #: [box id, class index] per label row, in file order
    rows: list[tuple[int, int]] = []
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


def load(folder: Path, fmt: str) -> Sidecar | None:
    """The sidecar in ``folder``, or None when there is none."""
    path = folder / SIDECAR_NAME
    if not path.is_file():
        return None
    data = path.read_bytes()
    try:
        side = msgspec.json.decode(data, type=Sidecar, strict=False)
    except msgspec.ValidationError as exc:
        raise AnnotationError(
            f"{path}: not a valid svmlp sidecar ({exc}); delete it to read the labels alone"
        ) from None
    except msgspec.DecodeError as exc:
        raise AnnotationError(f"{where(path, _cocojson._line_of(data, str(exc)))}: {exc}") from None
    if side.format != fmt:
        raise AnnotationError(f"{path}: written for {side.format}, read as {fmt}")
    return side


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


def save(
    ds: Dataset, folder: Path, fmt: str, *, rows_of: dict[int, list[int]] | None, carried: frozenset[str]
) -> None:
    """Write the sidecar.

    ``rows_of[image row]`` lists the box rows written to the image's label file (YOLO); boxes of
    a labelled image not listed are kept whole. ``None``: every box is in the format's own file
    (VOC). Of a written box, the sidecar keeps the annotation keys not in ``carried``.
    """
    ann = _cocojson._annotation_dicts(ds, default_area=False)
    images = []
    im = ds.images
    for i in range(len(im)):
        lo, hi = int(ds.offsets[i]), int(ds.offsets[i + 1])
        written = list(range(lo, hi)) if rows_of is None else rows_of.get(i, [])
        written_set = set(written)
        extras = []
        for r in range(lo, hi):
            d = ann[r]
            if r in written_set:
                keep = {k: v for k, v in d.items() if k not in carried}
                if keep:
                    extras.append({"id": d["id"], **keep})
            else:
                extras.append({**{k: v for k, v in d.items() if k != "image_id"}, "position": r - lo})
        images.append(
            SidecarImage(
                split=str(im.split[i]),
                file_name=str(im.file_name[i]),
                id=int(im.id[i]),
                width=int(im.width[i]),
                height=int(im.height[i]),
                labelled=bool(im.labelled[i]),
                rows=[]
                if rows_of is None
                else [(int(ds.boxes.id[r]), int(ds.boxes.category[r])) for r in written],
                annotations=extras,
            )
        )
    cats = [_cocojson._Category(**_cocojson.category_dict(c)) for c in ds.categories]
    doc = Sidecar(svmlp_sidecar=VERSION, format=fmt, categories=cats, images=images, info=ds.info)
    (folder / SIDECAR_NAME).write_bytes(msgspec.json.encode(doc))
