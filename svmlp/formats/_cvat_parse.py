"""Parse CVAT for images 1.1 XML: the labels of ``<meta>``, and each ``<image>``'s shapes as rows.

Boxes (with an optional ``rotation``), polygons and point sets become rows with their enclosing
box; a rotated box and a four-point shape keep their four corners, a longer one its COCO polygon
``segmentation``. Polylines, ellipses, masks, cuboids, skeletons and tags are not boxes: counted
and left out. Expat (2.4 or later) refuses entity expansion past a small amplification factor, so
an entity bomb is a parse error, never a memory blow-up.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import AnnotationError, where
from svmlp.model.categories import normalise_name
from svmlp.model.paths import check_file_name, check_split_name
from svmlp.model.tables import MAX_COORD, MAX_SIDE

__all__ = ["TEXT_ATTRIBUTES", "CvatFile", "Shape", "ShapeImage", "parse"]

#: attribute names (normalised) that hold a plate's text
TEXT_ATTRIBUTES = frozenset({"text", "plate", "number", "platenumber", "platetext", "licenseplate", "lp"})
_SKIPPED = ("polyline", "ellipse", "mask", "cuboid", "skeleton", "tag")
#: the most an annotation file may hold
XML_LIMIT = 1 << 31
#: the most attributes kept of one shape, and the longest name or value
_MAX_ATTRIBUTES = 256
_MAX_TEXT = 4096


@dataclass
class Shape:
    label: str
    xyxy: tuple[float, float, float, float]
    occluded: int = -1
    group: int = 0
    text: str = ""
    #: four corners (a rotated box, a four-point shape) or a polygon, absolute pixels
    points: np.ndarray | None = None
    #: the other attributes (name → value, typed as ``<meta>`` declares it; ``z_order`` when not 0)
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass
class ShapeImage:
    id: int | None
    name: str
    split: str
    width: int
    height: int
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class CvatFile:
    path: Path
    labels: list[str]
    images: list[ShapeImage]
    #: kinds of shapes left out (not boxes), with their counts
    skipped: Counter[str] = field(default_factory=Counter)
    unlabelled_shapes: int = 0
    #: ``<track>`` elements (a CVAT for video export), not read
    tracks: int = 0


def _number(text: str | None, path: Path, what: str, limit: float = MAX_COORD) -> float:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > limit:
        shown = repr(text[:40]) if text is not None else "missing"
        raise AnnotationError(f"{path}: {what} is {shown}, expected a finite number within ±{limit:.0f}")
    return value


def _points(text: str | None, path: Path, what: str) -> np.ndarray:
    try:
        pts = [tuple(float(v) for v in p.split(",")) for p in (text or "").split(";") if p.strip()]
    except ValueError:
        pts = [()]
    if not pts or any(len(p) != 2 for p in pts):
        raise AnnotationError(f"{path}: {what} points {(text or '')[:60]!r} are not x,y;x,y;…")
    arr = np.array(pts, dtype=np.float64)
    if not (np.isfinite(arr).all() and (np.abs(arr) <= MAX_COORD).all()):
        raise AnnotationError(f"{path}: {what} points must be finite and within ±{MAX_COORD:.0f} px")
    return arr


def _rotated(x0: float, y0: float, x1: float, y1: float, degrees: float) -> np.ndarray:
    """The corners of a box turned ``degrees`` clockwise (on screen) about its centre."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64) - (cx, cy)
    return np.stack([cx + pts[:, 0] * c - pts[:, 1] * s, cy + pts[:, 0] * s + pts[:, 1] * c], axis=1)


def _shape(el: ET.Element, path: Path, what: str, kinds: dict[tuple[str, str], str] | None = None) -> Shape:
    occ = el.get("occluded")
    group = el.get("group_id") or "0"
    if not (group.isascii() and group.isdigit() and len(group) < 19):
        raise AnnotationError(f"{path}: {what} group_id {group[:40]!r} is not a whole number")
    text = ""
    attributes: dict[str, str | int | float | bool] = {}
    for attr in el.iterfind("attribute"):
        name, value = (attr.get("name") or "").strip(), (attr.text or "").strip()
        if normalise_name(name) in TEXT_ATTRIBUTES and value:
            text = value
        elif name and len(attributes) < _MAX_ATTRIBUTES:
            kind = (kinds or {}).get((el.get("label") or "", name))
            attributes[name[:_MAX_TEXT]] = _typed(value[:_MAX_TEXT], kind)
    z = el.get("z_order") or "0"
    if z.strip() not in ("0", ""):
        attributes["z_order"] = int(_number(z, path, f"{what} z_order", 1e9))
    points = None
    if el.tag == "box":
        x0, y0, x1, y1 = (_number(el.get(k), path, f"{what} {k}") for k in ("xtl", "ytl", "xbr", "ybr"))
        rotation = _number(el.get("rotation") or "0", path, f"{what} rotation", 1e6)
        if rotation % 360:
            points = _rotated(x0, y0, x1, y1, rotation)
            lo, hi = points.min(axis=0), points.max(axis=0)
            x0, y0, x1, y1 = float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])
        xyxy = (x0, y0, x1, y1)
    else:
        points = _points(el.get("points"), path, what)
        lo, hi = points.min(axis=0), points.max(axis=0)
        xyxy = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    if xyxy[2] < xyxy[0] or xyxy[3] < xyxy[1]:
        raise AnnotationError(f"{path}: {what} is inverted (xbr < xtl or ybr < ytl)")
    return Shape(
        label=el.get("label") or "",
        xyxy=xyxy,
        occluded=-1 if occ is None else int(occ.strip() not in ("0", "false", "False", "")),
        group=int(group),
        text=text,
        points=points,
        attributes=attributes,
    )


def _labels(root: ET.Element) -> tuple[list[str], dict[tuple[str, str], str]]:
    """The labels of ``<meta>``, and the ``input_type`` of each (label, attribute) it declares."""
    names: list[str] = []
    kinds: dict[tuple[str, str], str] = {}
    for holder in ("task", "project", "job"):
        for label in root.iterfind(f"meta/{holder}/labels/label"):
            name = (label.findtext("name") or "").strip()
            if name and name not in names:
                names.append(name)
            for attr in label.iterfind("attributes/attribute"):
                kind = (attr.findtext("input_type") or "").strip()
                kinds[(name, (attr.findtext("name") or "").strip())] = kind
    return names, kinds


def _typed(value: str, kind: str | None) -> str | int | float | bool:
    """An attribute's text as its declared ``input_type`` says: a checkbox is true/false, a
    number a number; anything else (or a value that does not parse) stays text."""
    if kind == "checkbox" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            return value
        if math.isfinite(number):
            return (
                int(number)
                if number.is_integer() and "." not in value and "e" not in value.lower()
                else number
            )
    return value


def parse(path: Path, data: bytes, *, default_split: str) -> CvatFile:
    """The labels and images of one CVAT XML file (``data`` its bytes)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise AnnotationError(f"{where(path, exc.position[0])}: malformed XML ({exc})") from None
    except (LookupError, UnicodeError, ValueError) as exc:
        raise AnnotationError(f"{path}: cannot decode the XML ({str(exc)[:120]})") from None
    if root.tag != "annotations":
        raise AnnotationError(f"{path}: root element is <{root.tag[:40]}>, expected <annotations> (CVAT)")
    labels, kinds = _labels(root)
    out = CvatFile(path, labels, [], tracks=sum(1 for _ in root.iterfind("track")))
    for k, im in enumerate(root.iterfind("image")):
        at = f"{path}: <image> {k}"
        name = check_file_name((im.get("name") or "").replace("\\", "/"), where=at)
        split = check_split_name(im.get("subset") or default_split, where=at)
        raw_id = im.get("id")
        try:
            image_id = int(raw_id) if raw_id is not None else None
        except ValueError:
            raise AnnotationError(f"{at}: id {(raw_id or '')[:40]!r} is not an integer") from None
        if image_id is not None and not 0 <= image_id < 2**62:
            raise AnnotationError(f"{at}: id {image_id} is out of range")
        w = int(_number(im.get("width") or "0", path, f"<image> {k} width", MAX_SIDE))
        h = int(_number(im.get("height") or "0", path, f"<image> {k} height", MAX_SIDE))
        if w < 0 or h < 0:
            raise AnnotationError(f"{at}: negative size {w}x{h}")
        shape_image = ShapeImage(image_id, name, split, w, h)
        for j, el in enumerate(im):
            if el.tag in _SKIPPED:
                out.skipped[el.tag] += 1
            elif el.tag in ("box", "polygon", "points"):
                shape = _shape(el, path, f"<image name={name!r}> <{el.tag}> {j}", kinds)
                if shape.label:
                    shape_image.shapes.append(shape)
                else:
                    out.unlabelled_shapes += 1
        out.images.append(shape_image)
    return out


def extras_of(shape: Shape) -> dict[str, Any]:
    """What a shape says beyond its box, as the box builder takes it."""
    extra: dict[str, Any] = {}
    if shape.points is not None:
        if len(shape.points) == 4:
            extra["plate"] = {"corners": shape.points.tolist()}
        elif len(shape.points) > 2:
            extra["segmentation"] = [shape.points.ravel().tolist()]
    if shape.text:
        extra.setdefault("plate", {})["text"] = shape.text
    if shape.attributes:
        extra["attributes"] = shape.attributes
    return extra
