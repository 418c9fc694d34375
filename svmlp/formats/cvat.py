"""CVAT for images 1.1: one ``annotations.xml`` (a project export, each ``<image>`` with its
``subset``) or a task export's ``<task>.xml``, images beside it.

Read: ``<box>`` (a ``rotation`` gives the box's four ``corners`` and their enclosing box),
``<polygon>`` and ``<points>`` as their enclosing box (four points kept as ``corners``, more as a
COCO polygon ``segmentation``); ``occluded``; a text attribute named like ``plate_number`` as the
plate's text; a ``group_id`` holding one vehicle and one or more plates (roles from the class
names) as links, any other group noted and left unlinked. Classes are the labels of ``<meta>``
(then any a shape names); the split is an image's ``subset``, else the file's name when it names a
split, else ``train``. Images are looked up in ``images/<subset>/``, ``<subset>/``, ``images/`` or
beside the XML; sizes come from the XML.

Other attributes are kept as the box's ``attributes`` (text as written), with ``z_order`` when it
is not 0. ``<track>``s (CVAT for video) are not read: a note says how many.

Written: ``annotations.xml`` with ``subset`` = split, boxes as ``<box>`` with ``repr`` floats
(exact) or, for a plate with corners (or a box with one polygon ``segmentation``), a ``<polygon>``
through them, so the annotator sees the quadrilateral; links as ``group_id``, plate text as a
``plate_number`` attribute, the box's ``attributes`` as ``<attribute>``s (declared per label in
``<meta>``, true/false ones as checkboxes) and ``z_order``. The sidecar keeps the rest (ids, the
exact box of a polygon, flags, typed attributes, crowd boxes), so a round trip is exact.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError
from svmlp.formats import _sidecar
from svmlp.formats._cvat_read import find_files, read_files
from svmlp.formats._layout import paused_gc
from svmlp.formats._peek import kind_of_file
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._xmltext import escape, quoteattr
from svmlp.model import Dataset, Inputs
from svmlp.model.paths import check_destinations, check_file_names, check_split_name
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = ["LOOKS_FOR", "NAME", "PRIORITY", "ROUND_TRIP", "image_destination", "read", "sniff", "write"]

NAME = "cvat"
#: before VOC (20): a folder of CVAT ``*.xml`` is not VOC for its suffix
PRIORITY = 15
LOOKS_FOR = "CVAT annotations.xml"
#: boxes written as exact floats, the rest in the sidecar
ROUND_TRIP = RoundTrip(tolerance=0.0)
ANNOTATIONS = "annotations.xml"
#: the attribute plate text is written as (read back by any name of TEXT_ATTRIBUTES)
_TEXT_ATTRIBUTE = "plate_number"


def sniff(path: Path) -> Sniff | None:
    """An ``.xml`` file, or a folder holding ``annotations.xml`` or ``*.xml``, whose root is ``<annotations>``."""
    if path.is_file():
        return Sniff("its root element is <annotations> (CVAT)") if kind_of_file(path) == "cvat" else None
    if not path.is_dir():
        return None
    found = find_files(path, limit=1, voc_wins=True)
    return Sniff(f"it holds {found[0].name} with root <annotations> (CVAT)") if found else None


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a CVAT XML file, or a folder holding ``annotations.xml`` (or task ``*.xml`` files)."""
    given = Path(path)
    folder = given.parent if given.is_file() else given
    files = [given] if given.is_file() else find_files(given, any_main=True)
    if not files:
        raise AnnotationError(
            f"{given}: no CVAT XML here (looked for {ANNOTATIONS} and *.xml with root <annotations>)"
        )
    side = _sidecar.load(folder, NAME)
    inputs = Inputs.of(
        files=[*files, *([folder / _sidecar.SIDECAR_NAME] if side else [])],
        folders=[folder],
        bounds=[folder],
    )
    got = read_files(files, side, probe=probe, guard=LinkGuard(inputs.roots), findings=findings)
    return Dataset(
        got.categories,
        got.images,
        got.boxes,
        roots=got.roots,
        info=side.info if side else {},
        notes=got.notes,
        source=given,
        inputs=inputs,
        findings=findings,
    )


def image_destination(split: str, file_name: str) -> str:
    """Where an image goes in a written set (the reader looks there first).

    >>> image_destination("val", "sub/a.jpg")
    'images/val/sub/a.jpg'
    """
    return f"images/{split}/{file_name}"


def _groups(ds: Dataset) -> np.ndarray:
    """A ``group_id`` per box: each vehicle with plates and its plates share one; 0 for the rest."""
    b = ds.boxes
    group = np.zeros(len(b), dtype=np.int64)
    linked = np.flatnonzero(b.parent >= 0)
    parents = np.unique(b.parent[linked])
    of_parent = {int(p): k + 1 for k, p in enumerate(parents.tolist())}
    for p, g in of_parent.items():
        group[p] = g
    for r in linked.tolist():
        group[r] = of_parent[int(b.parent[r])]
    return group


def _value(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _points(pts: list[list[float]]) -> str | None:
    """CVAT ``points`` of a quadrilateral or one polygon ring; None when it is not one."""
    if len(pts) < 3 or not all(len(p) == 2 and all(math.isfinite(v) for v in p) for p in pts):
        return None
    return ";".join(f"{float(x)!r},{float(y)!r}" for x, y in pts)


def _geometry(xyxy: list[float], corners: Any, seg: Any) -> tuple[str, str]:
    """The element and geometry attributes of a shape: a ``<polygon>`` through the plate's four
    corners, or through a single polygon ``segmentation``, else a ``<box>``."""
    ring = None
    if corners is not None and not np.isnan(corners).any():
        ring = _points(corners.tolist())
    elif isinstance(seg, list) and len(seg) == 1 and isinstance(seg[0], list) and len(seg[0]) % 2 == 0:
        flat = seg[0]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            ring = _points([[flat[k], flat[k + 1]] for k in range(0, len(flat), 2)])
    if ring is not None:
        return "polygon", f"points={quoteattr(ring)}"
    x0, y0, x1, y1 = (repr(float(v)) for v in xyxy)
    return "box", f'xtl="{x0}" ytl="{y0}" xbr="{x1}" ybr="{y1}"'


def _shape_xml(
    label: str,
    geometry: tuple[str, str],
    occluded: int,
    group: int,
    text: str,
    attributes: dict[str, Any] | None,
) -> str:
    tag, where = geometry
    attributes = dict(attributes or {})
    z = attributes.pop("z_order", 0)
    z_order = z if isinstance(z, int) and not isinstance(z, bool) else 0
    if z_order != z:
        attributes["z_order"] = z
    g = f' group_id="{group}"' if group else ""
    head = (
        f'    <{tag} label={quoteattr(label)} source="manual" occluded="{1 if occluded == 1 else 0}" '
        f'{where} z_order="{z_order}"{g}'
    )
    inner = [(_TEXT_ATTRIBUTE, text)] if text else []
    inner += [(k, _value(v)) for k, v in attributes.items()]
    if not inner:
        return head + "/>\n"
    body = "".join(f"      <attribute name={quoteattr(k)}>{escape(v)}</attribute>\n" for k, v in inner)
    return f"{head}>\n{body}    </{tag}>\n"


def _label_xml(name: str, attributes: dict[str, bool]) -> str:
    """A ``<label>`` of ``<meta>`` declaring its attributes (CVAT imports only declared ones):
    text inputs, and checkboxes for those that are true/false."""
    parts = [f"        <label>\n          <name>{escape(name)}</name>\n"]
    if attributes:
        parts.append("          <attributes>\n")
        for attr, checkbox in attributes.items():
            kind, values = ("checkbox", "false") if checkbox else ("text", "")
            parts.append(
                f"            <attribute>\n              <name>{escape(attr)}</name>\n"
                "              <mutable>False</mutable>\n"
                f"              <input_type>{kind}</input_type>\n"
                f"              <default_value>{values}</default_value>\n"
                f"              <values>{values}</values>\n            </attribute>\n"
            )
        parts.append("          </attributes>\n")
    parts.append("        </label>\n")
    return "".join(parts)


def _declared(ds: Dataset, rows: list[int]) -> list[dict[str, bool]]:
    """Per class, the attribute names its written shapes use (→ all of them true/false)."""
    b = ds.boxes
    out: list[dict[str, bool]] = [{} for _ in ds.categories]
    cats = b.category.tolist()
    text = b.text.tolist() if b.text is not None else None
    attrs = b.attributes.tolist() if b.attributes is not None else None
    for r in rows:
        seen = out[cats[r]]
        if text is not None and text[r]:
            seen.setdefault(_TEXT_ATTRIBUTE, False)
        for k, v in ((attrs[r] or {}) if attrs is not None else {}).items():
            if k == "z_order" and isinstance(v, int) and not isinstance(v, bool):
                continue
            seen[k] = seen.get(k, True) and isinstance(v, bool)
    return out


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``annotations.xml`` (every image, its split as ``subset``) and the sidecar."""
    im, b = ds.images, ds.boxes
    if not usable_boxes(b.xyxy).all():
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    for split in ds.splits:
        check_split_name(split)
    check_file_names(im.file_name.tolist())  # they go into the XML, and the images under images/<split>/
    check_destinations(out, [ANNOTATIONS, *(f"images/{s}" for s in ds.splits)])
    names = [c.name for c in ds.categories]
    group = _groups(ds).tolist()
    text = b.text.tolist() if b.text is not None else [""] * len(b)
    xyxy, cats, occ, crowd = b.xyxy.tolist(), b.category.tolist(), b.occluded.tolist(), b.iscrowd.tolist()
    seg = b.segmentation.tolist() if b.segmentation is not None else [None] * len(b)
    extra = b.attributes.tolist() if b.attributes is not None else [None] * len(b)
    offsets = ds.offsets.tolist()
    rows_of = {i: [r for r in range(offsets[i], offsets[i + 1]) if not crowd[r]] for i in range(len(im))}
    declared = _declared(ds, [r for rows in rows_of.values() for r in rows])
    geometry = [
        _geometry(xyxy[r], None if b.corners is None else b.corners[r], seg[r]) for r in range(len(b))
    ]
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n  <meta>\n'
        "    <project>\n      <name>svmlp</name>\n      <labels>\n",
        *(_label_xml(n, declared[k]) for k, n in enumerate(names)),
        "      </labels>\n",
        f"      <subsets>{escape(chr(10).join(ds.splits))}</subsets>\n    </project>\n  </meta>\n",
    ]
    for i, (id_, name, w, h, split) in enumerate(
        zip(im.id.tolist(), im.file_name.tolist(), im.width.tolist(), im.height.tolist(), im.split.tolist())
    ):
        attrs = f'id="{id_}" name={quoteattr(name)} width="{w}" height="{h}" subset={quoteattr(split)}'
        if not rows_of[i]:
            parts.append(f"  <image {attrs}/>\n")
            continue
        parts.append(f"  <image {attrs}>\n")
        parts.extend(
            _shape_xml(
                names[cats[r]],
                geometry[r],
                occ[r],
                group[r],
                text[r],
                extra[r],
            )
            for r in rows_of[i]
        )
        parts.append("  </image>\n")
    parts.append("</annotations>\n")
    for split in ds.splits:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
    (out / ANNOTATIONS).write_bytes("".join(parts).encode("utf-8"))
    reshaped = np.flatnonzero([g[0] == "polygon" for g in geometry])
    _sidecar.save(ds, out, NAME, rows_of=rows_of, carried=_sidecar.YOLO_CARRIED, exact=reshaped)
    notes = []
    if any(crowd):
        notes.append(
            f"{sum(crowd)} crowd box(es) left out of {ANNOTATIONS} (kept in {_sidecar.SIDECAR_NAME})"
        )
    return notes
