"""Parse Pascal VOC XML files: a quick scan per file, numbers converted for all files at once.

The scan keeps each object's coordinates as text; numpy converts every file's in one call, and
only when that fails (or a box is inverted) is the culprit file checked object by object, so the
error names the file, the object and the value.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import AnnotationError, where
from svmlp.formats._layout import CONFIG_LIMIT, read_bytes
from svmlp.model.tables import MAX_COORD, MAX_SIDE, usable_boxes

__all__ = ["FLAGS", "Parsed", "coordinates", "parse_file", "values"]

FLAGS = ("difficult", "truncated", "occluded")
_BOX_TAGS = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class Parsed:
    """One XML file: its image and its objects (coordinates still text)."""

    path: Path
    #: the image this file labels, decided by :mod:`svmlp.formats._voc_images` (its folder included)
    file_name: str = ""
    #: the base names ``<filename>`` and ``<path>`` give ("" when absent), backslashes taken as folders
    named: str = ""
    path_named: str = ""
    width: int = 0
    height: int = 0
    image_id: int | None = None
    #: some coordinate is written as a decimal ("12.0"): the mark of 0-based exports
    decimal: bool = False
    names: list[str] = field(default_factory=list)
    coords: list[str | None] = field(default_factory=list)  # 4 per object, in _BOX_TAGS order
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)  # by object index
    crowd: list[bool] = field(default_factory=list)
    flags: list[tuple[int, int, int]] = field(default_factory=list)  # difficult, truncated, occluded


def _float(text: str | None, path: Path, what: str, tag: str, limit: float = MAX_COORD) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or abs(value) > limit:
        shown = text.strip() if len(text.strip()) <= 40 else text.strip()[:40] + "…"
        raise AnnotationError(
            f"{path}: {what} <{tag}> is {shown!r}, expected a finite number within ±{limit:.0f}"
        )
    return value


def _int64(text: str, path: Path, what: str) -> int:
    """An integer attribute that must fit the model's int64 columns."""
    value = int(text)  # a ValueError is reported by the caller with the element
    if not -(2**63) <= value < 2**63:
        raise AnnotationError(f"{path}: {what} {text[:40]!r} is out of range for an id")
    return value


def _base_name(text: str | None) -> str:
    """The last part of a file name or path as a tool wrote it (``C:\\photos\\a.jpg`` → ``a.jpg``)."""
    return (text or "").strip().replace("\\", "/").rsplit("/", 1)[-1].strip()


def parse_file(path: Path) -> Parsed:
    """Scan one annotation file (which image it labels is decided later, from all files at once)."""
    data = read_bytes(path, limit=CONFIG_LIMIT, what="annotation file")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise AnnotationError(f"{where(path, exc.position[0])}: malformed XML ({exc})") from None
    except (LookupError, UnicodeError, ValueError) as exc:  # an encoding Python lacks or cannot decode
        raise AnnotationError(f"{path}: cannot decode the XML ({str(exc)[:120]})") from None
    if root.tag != "annotation":
        raise AnnotationError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    out = Parsed(
        path, named=_base_name(root.findtext("filename")), path_named=_base_name(root.findtext("path"))
    )
    size = root.find("size")
    if size is not None:
        w = _float(size.findtext("width"), path, "<size>", "width", MAX_SIDE)
        h = _float(size.findtext("height"), path, "<size>", "height", MAX_SIDE)
        out.width, out.height = int(w or 0), int(h or 0)
        if out.width < 0 or out.height < 0:
            raise AnnotationError(f"{path}: negative <size> {out.width}x{out.height}")
    svm = root.find("svmlp")
    if svm is not None and svm.get("id") is not None:
        try:
            out.image_id = _int64(svm.get("id", ""), path, "<svmlp id>")
        except AnnotationError:
            raise
        except ValueError:
            raise AnnotationError(f"{path}: <svmlp id={svm.get('id')!r}> is not an integer") from None
    for k, obj in enumerate(root.iterfind("object")):
        _scan_object(obj, k, out)
    return out


def _scan_object(obj: ET.Element, k: int, out: Parsed) -> None:
    # one walk over the children: find() per tag costs twice as much on large sets
    name, box, svm, flags = "", None, None, None
    for child in obj:
        tag = child.tag
        if tag == "name":
            name = (child.text or "").strip()
        elif tag == "bndbox":
            box = child
        elif tag == "svmlp":
            svm = child
        elif tag in FLAGS:
            flags = flags or {}
            flags[tag] = child.text
    if not name:
        raise AnnotationError(f"{out.path}: object {k + 1} has no <name>")
    if box is None:
        raise AnnotationError(f"{out.path}: object {k + 1} ({name}) has no <bndbox>")
    texts = [c.text for c in box]
    if [c.tag for c in box] != _BOX_LIST:  # other order, or more children: look each up
        coords = {c.tag: c.text for c in box}
        texts = [coords.get(t) for t in _BOX_TAGS]
    out.names.append(name)
    out.coords.extend(texts)
    if not out.decimal:
        out.decimal = any(t is not None and "." in t for t in texts)
    values = _NO_FLAGS if flags is None else _flags(flags, out.path, f"object {k + 1} ({name})")
    crowd = False
    if svm is not None:
        if svm.get("truncated") == "-1":  # svmlp writes <truncated> always; this one was unset
            values = (values[0], -1, values[2])
        crowd = svm.get("crowd") == "1"
        extra = _svmlp_attributes(svm, out.path, k + 1)
        if extra:
            out.extras[len(out.names) - 1] = extra
        if crowd:  # written as difficult for VOC evaluators; the real flag is in <svmlp>
            real = svm.get("difficult", "-1")
            if real not in ("-1", "0", "1"):
                raise AnnotationError(
                    f"{out.path}: object {k + 1} <svmlp difficult={real!r}>: expected 0 or 1"
                )
            values = (int(real), values[1], values[2])
    out.crowd.append(crowd)
    out.flags.append(values)


_NO_FLAGS = (-1, -1, -1)
_BOX_LIST = list(_BOX_TAGS)


def _flags(flags: dict[str, str | None], path: Path, what: str) -> tuple[int, int, int]:
    out = []
    for flag in FLAGS:
        v = _float(flags.get(flag), path, what, flag)
        out.append(-1 if v is None else int(v != 0))
    return out[0], out[1], out[2]


def _svmlp_attributes(svm: ET.Element, path: Path, k: int) -> dict[str, Any]:
    a = svm.attrib
    try:
        extra: dict[str, Any] = {}
        if "id" in a:
            extra["id"] = _int64(a["id"], path, f"object {k} <svmlp id>")
        if "parent" in a:
            extra["parent_id"] = _int64(a["parent"], path, f"object {k} <svmlp parent>")
        if "score" in a:
            extra["link_score"] = float(a["score"])
        if "area" in a:
            extra["area"] = float(a["area"])
        plate: dict[str, Any] = {}
        if "text" in a:
            plate["text"] = a["text"]
        if "corners" in a:
            pts = [float(v) for v in a["corners"].split()]
            if len(pts) != 8:
                raise ValueError(f"corners holds {len(pts)} numbers, expected 8")
            plate["corners"] = [pts[0:2], pts[2:4], pts[4:6], pts[6:8]]
        if plate:
            extra["plate"] = plate
    except AnnotationError:
        raise
    except ValueError as exc:
        raise AnnotationError(f"{path}: object {k} has a malformed <svmlp> element ({exc})") from None
    return extra


def _check_file(p: Parsed, origin: int) -> None:
    """Object by object, raise on the first bad box of a file (the slow path, for the message)."""
    for k, name in enumerate(p.names):
        what = f"object {k + 1} ({name})"
        vals = [_float(t, p.path, what, tag) for t, tag in zip(p.coords[4 * k : 4 * k + 4], _BOX_TAGS)]
        box = [v for v in vals if v is not None]
        if len(box) != len(vals):
            raise AnnotationError(f"{p.path}: {what} <bndbox> lacks one of xmin, ymin, xmax, ymax")
        x0, y0, x1, y1 = box[0] - origin, box[1] - origin, box[2], box[3]
        if not (x0 <= x1 and y0 <= y1) or not all(map(math.isfinite, (x0, y0, x1, y1))):
            raise AnnotationError(
                f"{p.path}: {what} has box {vals}; expected finite xmin <= xmax, ymin <= ymax"
            )


def values(files: list[Parsed]) -> np.ndarray:
    """``xmin, ymin, xmax, ymax`` as written, one row per object of every file, in order; a value
    that is not a number is an error naming its file and object."""
    texts = [t for p in files for t in p.coords]
    try:
        return np.array(texts, dtype=np.float64).reshape(-1, 4)
    except (ValueError, TypeError):
        for p in files:
            _check_file(p, 1)
        raise  # pragma: no cover - a value numpy rejects is rejected by the check too


def coordinates(files: list[Parsed], origin: int, vals: np.ndarray | None = None) -> np.ndarray:
    """``xyxy`` of every object of every file, in order: ``x0 = xmin - origin``, ``x1 = xmax``
    (``vals``: what :func:`values` gave, when the caller has it already)."""
    vals = values(files) if vals is None else vals
    xyxy = vals - np.array([origin, origin, 0, 0], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~usable_boxes(vals) | (xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])
    if bad.any():
        counts = np.cumsum([len(p.names) for p in files])
        _check_file(files[int(np.searchsorted(counts, np.flatnonzero(bad)[0], side="right"))], origin)
    return xyxy
