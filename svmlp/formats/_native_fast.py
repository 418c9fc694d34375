"""The native schema as msgspec types: the typed decode is the schema check.

``annotations_schema/svmlp.schema.json`` stays the published contract; the structs here say the
same thing (required keys, id ranges, ``0``/``1`` flags, non-negative sizes, the version and
split patterns, the closed ``plate`` object, the ``attributes`` limits), and the two checks after
the decode say what msgspec cannot (``link_score`` needs ``parent_id``; ``plate`` may not be
``null``). A document that passes is schema-valid; one that does not goes to jsonschema, which
decides and words the error. ``tests/unit/test_native_fast.py`` holds the two to agreement on
valid documents and on mutations of every constrained key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from svmlp.formats import _cocojson

__all__ = ["decode"]

_NAN = float("nan")
Id = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Flag = Literal[0, 1]
Name = Annotated[str, msgspec.Meta(min_length=1)]
AttrName = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class _Category(msgspec.Struct):
    id: Id
    name: Name
    supercategory: str = ""
    role: Literal["parent", "child"] | None | msgspec.UnsetType = msgspec.UNSET


class _Image(msgspec.Struct, gc=False):
    id: Id
    file_name: Name
    width: NonNegativeInt
    height: NonNegativeInt
    labelled: bool = True


class _Plate(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    text: str | None = None
    corners: Annotated[list[tuple[float, float]], msgspec.Meta(min_length=4, max_length=4)] | None = None


class _Annotation(msgspec.Struct, gc=False):
    # defaults are the model's "absent" values, as in the COCO reader's structs; an explicit JSON
    # null is not of any of these types, so it is left to jsonschema
    id: Id
    image_id: Id
    category_id: Id
    bbox: tuple[float, float, NonNegative, NonNegative]
    iscrowd: Flag = 0
    area: NonNegative = _NAN
    segmentation: msgspec.Raw = msgspec.Raw(b"")
    parent_id: Id = -1
    link_score: Annotated[float, msgspec.Meta(ge=0, le=1)] = _NAN
    plate: _Plate | None = None
    difficult: Flag = -1  # type: ignore[assignment]
    truncated: Flag = -1  # type: ignore[assignment]
    occluded: Flag = -1  # type: ignore[assignment]
    xyxy: tuple[float, float, float, float] | None = None
    attributes: Annotated[dict[AttrName, str | int | float | bool], msgspec.Meta(max_length=256)] | None = (
        None
    )


class _File(msgspec.Struct):
    svmlp: dict[str, Any]
    categories: list[_Category]
    images: list[_Image]
    annotations: list[_Annotation]
    info: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    licenses: list[Any] | msgspec.UnsetType = msgspec.UNSET


_DECODER = msgspec.json.Decoder(_File)
_VERSION = re.compile(r"^1\.[0-9]+$")
_SPLIT = re.compile(r"^[^/\\]+$")
#: keys whose explicit null the structs above would read as "absent" (``text``/``corners`` only
#: matter inside ``plate``; elsewhere one only costs the slow path)
_NULL_KEYS = frozenset({b"xyxy", b"attributes", b"plate", b"text", b"corners"})
_NULL = re.compile(rb":\s*null")


def _null_key(data: bytes) -> bool:
    """Whether a key the structs cannot tell from absent is an explicit ``null``."""
    if b"null" not in data:
        return False
    for m in _NULL.finditer(data):
        end = data.rfind(b'"', 0, m.start())
        start = data.rfind(b'"', 0, end)
        if data[start + 1 : end] in _NULL_KEYS:
            return True
    return False


def decode(data: bytes) -> _cocojson._File | None:
    """The document as the COCO reader's :class:`_File` when it is schema-valid by the structs'
    reading, else None (the caller asks jsonschema)."""
    try:
        f = _DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        return None
    version, split = f.svmlp.get("version"), f.svmlp.get("split")
    if not (isinstance(version, str) and _VERSION.search(version)):
        return None
    if not (isinstance(split, str) and _SPLIT.search(split)):
        return None
    if _null_key(data):
        return None
    anns = f.annotations
    if anns and b'"link_score"' in data:
        score = np.fromiter((a.link_score for a in anns), np.float64, len(anns))
        parent = np.fromiter((a.parent_id for a in anns), np.int64, len(anns))
        if ((score == score) & (parent < 0)).any():  # dependentRequired: link_score → parent_id
            return None
    return _cocojson._File(
        images=f.images,  # type: ignore[arg-type]  # the same fields, stricter types
        annotations=f.annotations,  # type: ignore[arg-type]
        categories=f.categories,  # type: ignore[arg-type]
        info=None if f.info is msgspec.UNSET else f.info,
        svmlp=f.svmlp,
    )
