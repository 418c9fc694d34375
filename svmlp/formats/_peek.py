"""What one annotation file is, from its first few KiB: the shape checks that the COCO and native
sniffs, the COCO reader and the layout survey (:mod:`svmlp.formats._survey`) share.

Nothing here reads a whole file: a JSON file is judged by the keys in its first 4 KiB, an XML
file by its root element, a CSV file by its header, a label file by its first row. A file that
cannot be opened (gone, a FIFO, a link) is ``None``, never an exception: the reader that opens it
for real says what is wrong with it.

>>> kind_of_json(b'{"version": "5.0", "flags": {}, "shapes": [{"label": "car"}]}')
'labelme'
>>> kind_of_json(b'{"info": {}, "images": [{"id": 1, "file_name": "a.jpg"}]}')
'coco'
>>> kind_of_json(b'[{"image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.9}]')
'coco_results'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from svmlp._files import open_regular_file

__all__ = [
    "COCO_LIKE",
    "FOREIGN_JSON",
    "HEAD",
    "JsonShape",
    "head_of",
    "json_shape",
    "kind_of_file",
    "kind_of_json",
]

#: how much of a file is looked at: enough for the top-level keys of any COCO-style file (the
#: native writer puts its ``"svmlp"`` key first, COCO writers ``info``/``licenses``/``images``)
HEAD = 4096

#: JSON kinds that are a COCO-style file, or may be one (truncated before a telling key, malformed,
#: unreadable: the reader says what is wrong)
COCO_LIKE = frozenset({"coco", "svmlp", "coco?"})
#: JSON kinds that are surely something else: the COCO reader refuses them by name
FOREIGN_JSON = frozenset(
    {"labelme", "coco_results", "label_studio", "createml", "datumaro", "via", "open_images_hierarchy"}
)

_COCO_KEYS = frozenset({"images", "annotations", "categories"})
_COCO_EXTRAS = frozenset({"info", "licenses", "type", "svmlp", "svmlp_split"})
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def head_of(path: Path, size: int = HEAD, *, follow: bool = True) -> bytes | None:
    """The first ``size`` bytes of a regular file, or None when it cannot be opened as one."""
    try:
        with open_regular_file(path, follow=follow) as fh:
            return fh.read(size)
    except OSError:
        return None


@dataclass
class JsonShape:
    """The outline of a JSON text's first bytes: the top-level container (``{``, ``[`` or ``""``
    when the text starts with neither), the keys of the top-level object (in order), the keys of
    objects one level down (the elements of a top-level list, the values of a top-level object),
    and whether the text closed its top-level container within the bytes seen."""

    top: str
    keys: list[str] = field(default_factory=list)
    inner: set[str] = field(default_factory=set)
    complete: bool = False


def json_shape(head: bytes) -> JsonShape:
    """:class:`JsonShape` of ``head`` (any prefix of a JSON text; no recursion, however deep).

    >>> s = json_shape(b'[{"id": 1, "annotations": [{"result": []}]}, {"data": ')
    >>> s.top, s.keys, sorted(s.inner), s.complete
    ('[', [], ['annotations', 'data', 'id'], False)
    """
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    shape = JsonShape(text[:1] if text[:1] in ("{", "[") else "")
    if not shape.top:
        return shape
    depth, previous = 0, ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
            if depth == 0:
                shape.complete = True
                break
        elif token == ":" and previous.startswith('"'):
            key = previous[1:-1]
            if depth == 1 and key not in shape.keys:
                shape.keys.append(key)
            elif depth == 2:
                shape.inner.add(key)
        previous = token
    return shape


def kind_of_json(head: bytes | None) -> str:
    """What a JSON file is, by the keys in its first bytes.

    ``coco``/``svmlp``: an object with ``images``/``annotations``/``categories`` (or the native
    ``svmlp`` key); ``coco?``: possibly COCO (cut off before a telling key, malformed, empty or
    unreadable: the COCO reader says which); one of :data:`FOREIGN_JSON`; ``json_list`` or
    ``json_object``: JSON of no kind svmlp knows.
    """
    if head is None or not head.strip():
        return "coco?"
    s = json_shape(head)
    keys, inner = set(s.keys), s.inner
    if s.top == "{":
        if "svmlp" in keys:
            return "svmlp"
        if keys & {"shapes", "imagePath"}:
            return "labelme"
        if "items" in keys:
            return "datumaro"
        if keys & {"LabelName", "Subcategory"}:
            return "open_images_hierarchy"  # bbox_labels_600_hierarchy.json
        if keys & _COCO_KEYS:
            return "coco"
        if "regions" in inner and "filename" in inner:
            return "via"
        return "coco?" if not s.complete and keys <= _COCO_EXTRAS else "json_object"
    if s.top == "[":
        if {"image_id", "bbox", "score"} <= inner:
            return "coco_results"
        if "annotations" in inner and "image" in inner:
            return "createml"
        if "annotations" in inner or ("data" in inner and "predictions" in inner):
            return "label_studio"
        return "json_list"
    return "coco?"  # not JSON at all: the reader's error says where it breaks


_XML_ROOT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_XML_SKIP = re.compile(rb"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", re.S)


def _xml_root(head: bytes) -> str | None:
    m = _XML_ROOT.search(_XML_SKIP.sub(b"", head))
    return m.group(1).decode("ascii", "replace") if m else None


def _csv_kind(head: bytes) -> str:
    first = head.decode("utf-8", "replace").lstrip("\ufeff").split("\n", 1)[0].lower()
    cols = {c.strip().strip('"') for c in first.split(",")}
    if cols & {"imageid", "labelname"}:
        return "open_images"
    if {"filename", "xmin", "ymin", "xmax", "ymax"} <= cols:
        return "tf_csv"
    return "csv"


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _txt_kind(head: bytes, folder: str) -> str:
    lines = [ln.split() for ln in head.decode("utf-8", "replace").splitlines()[:8]]
    rows = [r for r in lines if r and not r[0].endswith(":")]  # DOTA's imagesource:/gsd: lines
    if folder == "labelTxt" or any(r and r[0] in ("imagesource:", "gsd:") for r in lines):
        return "dota"
    if not rows:
        return "txt"
    first = rows[0]
    if len(first) >= 9 and all(map(_number, first[:8])) and not _number(first[8]):
        return "dota"  # x1 y1 … x4 y4 class [difficulty], in pixels
    if all(map(_number, first)) and first[0].isdigit():
        if len(first) == 5:
            return "yolo_labels"
        if len(first) == 9:
            return "yolo_obb"
        if len(first) >= 7 and len(first) % 2:
            return "yolo_labels"  # polygons: the YOLO reader takes their enclosing box
    return "txt"


def kind_of_file(path: Path, *, follow: bool = False) -> str | None:
    """What an annotation-like file is (JSON, XML, CSV, label ``.txt``, YOLO config), or None
    for files that are not (images, anything else)."""
    suffix, name = path.suffix.lower(), path.name
    if name.endswith(".svmlp.json"):
        return "svmlp"
    if suffix in (".tfrecord", ".record"):
        return "tfrecord"
    if name in ("obj.names", "obj.data") or suffix in (".yaml", ".yml"):
        return "yolo_config"
    if suffix not in (".json", ".xml", ".csv", ".txt"):
        return None
    head = head_of(path, follow=follow)
    if head is None:
        return "unreadable"
    if suffix == ".json":
        return kind_of_json(head)
    if suffix == ".csv":
        return _csv_kind(head)
    if suffix == ".txt":
        return _txt_kind(head, path.parent.name)
    root = _xml_root(head)
    return {"annotation": "voc", "annotations": "cvat", "View": "label_studio_config"}.get(
        root or "", f"xml:{root}" if root else "xml:"
    )
