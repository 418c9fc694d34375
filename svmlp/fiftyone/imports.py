"""``from_fiftyone``: a FiftyOne data set or view, possibly edited in the App, back to the model.

Everything is read with FiftyOne's column reads (``values()``), not sample by sample. Boxes keep
their svmlp ids; a box drawn in FiftyOne gets a new id; a box whose ``bounding_box`` was not
touched keeps its exact pixel ``xyxy``; links come back from the ``parent_id`` attributes, and a
link FiftyOne edits made impossible (its vehicle deleted, or relabelled) is dropped with a note.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import AnnotationError, UsageError
from svmlp.fiftyone._db import connect
from svmlp.fiftyone.export import INFO_KEY, _relative
from svmlp.model import SPLIT_ORDER, BoxTable, Category, Dataset, ImageTable, role_for
from svmlp.model.tables import checked_attributes

__all__ = ["from_fiftyone"]

_ATTRS = (
    "label",
    "bounding_box",
    "svmlp_id",
    "category_id",
    "parent_id",
    "link_score",
    "iscrowd",
    "xyxy",
    "area",
    "difficult",
    "truncated",
    "occluded",
    "text",
    "corners",
    "segmentation",
    "tool_attributes",
)
_SAMPLE = ("svmlp_id", "svmlp_split", "svmlp_file_name", "svmlp_labelled", "svmlp_orientation")


def _label_field(fo: Any, coll: Any, label_field: str | None, info: dict[str, Any]) -> str:
    schema = coll.get_field_schema()
    name = label_field or info.get("label_field") or "ground_truth"
    boxes = [
        k
        for k, f in schema.items()
        if isinstance(f, fo.EmbeddedDocumentField) and issubclass(f.document_type, fo.Detections)
    ]
    if name not in schema:
        hint = f"its Detections fields: {', '.join(boxes)}" if boxes else "it has no Detections field"
        raise UsageError(f"FiftyOne data set {coll._dataset.name!r} has no field {name!r} ({hint})")
    field = schema[name]
    if name not in boxes:
        kind = getattr(field, "document_type", None)
        held = kind.__name__ if kind is not None else type(field).__name__
        raise UsageError(
            f"FiftyOne field {name!r} of {coll._dataset.name!r} holds {held}; svmlp reads boxes (Detections)"
        )
    return name


def _columns(coll: Any, paths: list[str]) -> dict[str, list[Any]]:
    """``values()`` of every path in one pass over the samples; paths not in the schema are None."""
    flat = set(coll.get_field_schema(flat=True))
    have = [p for p in paths if p in flat]
    got = dict(zip(have, coll.values(have))) if have else {}
    n = len(coll)
    return {p: got[p] if p in got else [None] * n for p in paths}


def _bad(filepath: str, what: str) -> AnnotationError:
    return AnnotationError(f"FiftyOne sample {filepath}: {what}")


def _categories(info: dict[str, Any], labels: Sequence[str]) -> tuple[list[Category], dict[str, int]]:
    cats = [
        Category(int(c["id"]), str(c["name"]), str(c.get("supercategory") or ""), c.get("role"))
        for c in info.get("categories", [])
    ]
    index = {c.name: k for k, c in enumerate(cats)}
    next_id = max((c.id for c in cats), default=-1) + 1
    for name in sorted(set(labels) - set(index)):  # classes first met in FiftyOne
        index[name] = len(cats)
        cats.append(Category(next_id, name, role=role_for(name)))
        next_id += 1
    return cats, index


def _new_ids(given: list[Any], groups: list[str]) -> tuple[np.ndarray, int]:
    """Ids as given, and new ones (after the largest of the group) where missing or repeated."""
    out = np.zeros(len(given), dtype=np.int64)
    top: dict[str, int] = {}
    for g, v in zip(groups, given):
        if v is not None:
            top[g] = max(top.get(g, -1), int(v))
    seen: set[tuple[str, int]] = set()
    fresh = 0
    for k, (g, v) in enumerate(zip(groups, given)):
        if v is None or (g, int(v)) in seen:
            top[g] = top.get(g, 0) + 1
            v = top[g]
            fresh += 1
        seen.add((g, int(v)))
        out[k] = int(v)
    return out, fresh


def _roots(splits: list[str], paths: list[str], info: dict[str, Any]) -> dict[str, str]:
    roots: dict[str, str] = {}
    for s in dict.fromkeys(splits):
        mine = [p for p, t in zip(paths, splits) if t == s]
        stored = info.get("roots", {}).get(s)
        if stored and all(os.path.commonpath([stored, p]) == stored for p in mine):
            roots[s] = stored
        else:
            roots[s] = os.path.commonpath([os.path.dirname(p) for p in mine]) if mine else "."
    return roots


def from_fiftyone(collection: Any, *, label_field: str | None = None) -> Dataset:
    """The svmlp model of a FiftyOne data set or view (for instance ``fo_ds.match_tags("reviewed")``).

    Reads the samples' split (``svmlp_split``, else a split-named tag, else ``train``), image ids,
    sizes (``metadata``, else the image header), and the boxes of ``label_field`` (default: the
    field :func:`~svmlp.fiftyone.to_fiftyone` wrote) with their classes, ids and links. Raises
    :class:`~svmlp.errors.AnnotationError` naming the sample for labels svmlp cannot represent.
    """
    fo = connect()
    info = dict((collection._dataset.info or {}).get(INFO_KEY) or {})
    lf = _label_field(fo, collection, label_field, info)
    boxes = [f"{lf}.detections.{a}" for a in _ATTRS]
    got = _columns(collection, ["filepath", "tags", "metadata.width", "metadata.height", *_SAMPLE, *boxes])
    n = len(got["filepath"])
    paths = [os.path.abspath(p) for p in got["filepath"]]
    tags = got["tags"]
    col = {k: got[k] for k in _SAMPLE}
    widths, heights = got["metadata.width"], got["metadata.height"]
    det = {a: got[p] for a, p in zip(_ATTRS, boxes)}
    notes: list[str] = []

    splits = []
    for s, t in zip(col["svmlp_split"], tags):
        named = [x for x in (t or []) if x in SPLIT_ORDER]
        splits.append(str(s) if s else (named[0] if named else "train"))
    unsized = [i for i in range(n) if not widths[i] or not heights[i]]
    if unsized:
        from svmlp.imageinfo import read_headers

        for i, head in zip(unsized, read_headers([paths[i] for i in unsized])):
            if head.error:
                raise _bad(paths[i], f"no size in its metadata and the image is {head.error}")
            widths[i], heights[i] = head.displayed
    image_ids, fresh_images = _new_ids(col["svmlp_id"], splits)
    labelled = [
        (det["label"][i] is not None) if col["svmlp_labelled"][i] is None else bool(col["svmlp_labelled"][i])
        for i in range(n)
    ]
    roots = _roots(splits, paths, info)
    file_names = []
    for i in range(n):
        given = col["svmlp_file_name"][i]
        if given and os.path.abspath(os.path.join(roots[splits[i]], given)) == paths[i]:
            file_names.append(given)
        else:
            file_names.append(Path(os.path.relpath(paths[i], roots[splits[i]])).as_posix())
    images = ImageTable.build(
        id=image_ids,
        file_name=file_names,
        split=np.array(splits, dtype=str) if n else "train",
        width=widths,
        height=heights,
        labelled=labelled,
        orientation=[o or 0 for o in col["svmlp_orientation"]],
    )

    rows = _boxes(det, paths, splits, widths, heights, info, notes)
    if fresh_images:
        notes.append(f"{fresh_images} sample(s) had no svmlp image id; new ids given")
    return Dataset(
        rows.pop("categories"),
        images,
        BoxTable.build(**rows),
        roots=roots,
        notes=notes,
        source=f"FiftyOne:{collection._dataset.name}",
    )


def _boxes(
    det: dict[str, list[Any]],
    paths: list[str],
    splits: list[str],
    widths: list[int],
    heights: list[int],
    info: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    flat: dict[str, list[Any]] = {a: [] for a in _ATTRS}
    image: list[int] = []
    for i, labels in enumerate(det["label"]):
        if not labels:
            continue
        for j in range(len(labels)):
            for a in _ATTRS:
                per = det[a][i]
                flat[a].append(per[j] if per is not None and j < len(per) else None)
            image.append(i)
            if not flat["label"][-1] or not isinstance(flat["label"][-1], str):
                raise _bad(paths[i], f"detection {j} has no class label")
            bb = flat["bounding_box"][-1]
            if (
                not isinstance(bb, (list, tuple))
                or len(bb) != 4
                or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in bb)
                or bb[2] < 0
                or bb[3] < 0
            ):
                raise _bad(paths[i], f"detection {j} ({flat['label'][-1]}) has no valid bounding box: {bb!r}")
    m = len(image)
    img = np.asarray(image, dtype=np.int64)
    cats, index = _categories(info, flat["label"])
    w = np.asarray(widths, dtype=np.float64)[img] if m else np.zeros(0)
    h = np.asarray(heights, dtype=np.float64)[img] if m else np.zeros(0)
    rel = np.asarray(flat["bounding_box"], dtype=np.float64).reshape(m, 4)
    xyxy = np.stack(
        [rel[:, 0] * w, rel[:, 1] * h, (rel[:, 0] + rel[:, 2]) * w, (rel[:, 1] + rel[:, 3]) * h], 1
    )
    # a box whose bounding_box is still what its exact xyxy gives was not moved: keep xyxy
    stored = np.array([x if isinstance(x, list) and len(x) == 4 else [np.nan] * 4 for x in flat["xyxy"]])
    stored = stored.reshape(m, 4).astype(np.float64)
    same = np.all(_relative(stored, w, h) == rel, axis=1) & np.isfinite(stored).all(axis=1)
    xyxy[same] = stored[same]
    box_splits = [splits[i] for i in image]
    ids, fresh = _new_ids(flat["svmlp_id"], box_splits)
    if fresh:
        notes.append(f"{fresh} box(es) had no svmlp id (drawn in FiftyOne); new ids given")
    category = np.array([index[x] for x in flat["label"]], dtype=np.int64)
    parent, score = _links(flat, img, ids, category, cats, notes)

    def small(a: str) -> np.ndarray:
        return np.array([-1 if v is None else int(v) for v in flat[a]], dtype=np.int8)

    text = flat["text"]
    corners = flat["corners"]
    seg = flat["segmentation"]
    tool = flat["tool_attributes"]
    return {
        "categories": cats,
        "id": ids,
        "image": img,
        "category": category,
        "xyxy": xyxy,
        "iscrowd": np.array([bool(v) for v in flat["iscrowd"]], dtype=bool),
        "parent": parent,
        "link_score": score,
        "area": np.array([np.nan if v is None else float(v) for v in flat["area"]]),
        "difficult": small("difficult"),
        "truncated": small("truncated"),
        "occluded": small("occluded"),
        "text": [v or "" for v in text] if any(text) else None,
        "corners": [v if v and len(v) == 8 else [np.nan] * 8 for v in corners] if any(corners) else None,
        "segmentation": [None if v is None else json.loads(v) for v in seg]
        if any(v is not None for v in seg)
        else None,
        "attributes": [None if not v else _attributes(v) for v in tool] if any(tool) else None,
    }


def _attributes(text: Any) -> dict[str, Any] | None:
    """A box's ``tool_attributes`` (JSON text); one edited into something else is dropped."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    try:
        return checked_attributes(value, "tool_attributes")
    except AnnotationError:
        return None


def _links(
    flat: dict[str, list[Any]],
    img: np.ndarray,
    ids: np.ndarray,
    category: np.ndarray,
    cats: list[Category],
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    m = len(ids)
    row_of = {(int(i), int(b)): r for r, (i, b) in enumerate(zip(img.tolist(), ids.tolist()))}
    parent = np.full(m, -1, dtype=np.int64)
    score = np.full(m, np.nan)
    gone = wrong = 0
    for r, pid in enumerate(flat["parent_id"]):
        if pid is None:
            continue
        p = row_of.get((int(img[r]), int(pid)))
        if p is None:
            gone += 1
        elif cats[category[r]].role != "child" or cats[category[p]].role != "parent":
            wrong += 1
        else:
            parent[r] = p
            s = flat["link_score"][r]
            score[r] = np.nan if s is None else float(s)
    if gone:
        notes.append(f"{gone} link(s) dropped: their vehicle box is no longer in the sample")
    if wrong:
        notes.append(f"{wrong} link(s) dropped: relabelled so that they no longer join a plate to a vehicle")
    return parent, score
