"""Encode the model as COCO-style JSON (COCO and the native superset), deterministically."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from svmlp.model import BoxTable, Category, Dataset

__all__ = ["annotation_dicts", "category_dict", "clean_extent", "encode"]


def clean_extent(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """A width ``w`` with ``start + w == stop`` exactly, with as few decimals as possible.

    The plain ``stop - start`` is not always such a width (when ``start`` is much smaller than
    ``stop`` the subtraction rounds), so a COCO ``[x, y, w, h]`` round trip would drift in the
    last bit. Tries rounded values first (so ``0.2`` is written, not ``0.20000000000000004``),
    then the neighbouring floats of the difference.
    """
    extent = stop - start
    out = extent.copy()
    todo = np.ones(len(extent), dtype=bool)
    candidates = [_rounding(d) for d in range(17)]
    for steps in (1, 2, 3):
        candidates += [_stepping(steps), _stepping(-steps)]
    for make in candidates:
        if not todo.any():
            break
        cand = make(extent[todo])
        ok = start[todo] + cand == stop[todo]
        idx = np.flatnonzero(todo)[ok]
        out[idx] = cand[ok]
        todo[idx] = False
    return out


def _rounding(decimals: int) -> Callable[[np.ndarray], np.ndarray]:
    def rounded(values: np.ndarray) -> np.ndarray:
        return np.round(values, decimals)

    return rounded


def _stepping(k: int) -> Callable[[np.ndarray], np.ndarray]:
    def stepped(values: np.ndarray) -> np.ndarray:
        return _step(values, k)

    return stepped


def _step(values: np.ndarray, k: int) -> np.ndarray:
    """``values`` moved ``k`` floats up (k > 0) or down."""
    toward = np.inf if k > 0 else -np.inf
    for _ in range(abs(k)):
        values = np.nextafter(values, toward)
    return values


def _compact(values: np.ndarray) -> list[Any]:
    """Numbers as (nested) lists, integral ones as ints: files stay compact and diff-friendly
    (``12`` not ``12.0``), decided for the whole array at once."""
    integral = (values == np.round(values)) & (np.abs(values) < 2**53)
    if not integral.any():
        return values.tolist()  # type: ignore[no-any-return]
    if integral.all():
        return values.astype(np.int64).tolist()  # type: ignore[no-any-return]
    out = values.astype(object)
    out[integral] = values[integral].astype(np.int64).tolist()
    return out.tolist()  # type: ignore[no-any-return]


def encode(ds: Dataset, split: str, *, native: bool) -> bytes:
    """One split as COCO JSON (``native``: with the svmlp marker and every extra kept)."""
    part = ds.select(ds.images.split == split)
    im = part.images
    doc: dict[str, Any] = {}
    if native:
        doc["svmlp"] = {"version": "1.0", "split": split}
    else:
        doc["svmlp_split"] = split
    doc["info"] = ds.info
    doc["categories"] = [category_dict(c) for c in ds.categories]
    doc["images"] = [
        _image_dict(i, f, w, h, lab)
        for i, f, w, h, lab in zip(
            im.id.tolist(), im.file_name.tolist(), im.width.tolist(), im.height.tolist(), im.labelled.tolist()
        )
    ]
    doc["annotations"] = annotation_dicts(part)
    return msgspec.json.encode(doc)


def category_dict(c: Category) -> dict[str, Any]:
    """A category as JSON; the role always, so an explicit "none" survives the alias table."""
    return {"id": c.id, "name": c.name, "supercategory": c.supercategory, "role": c.role}


def _image_dict(id_: int, name: str, w: int, h: int, labelled: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"id": id_, "file_name": name, "width": w, "height": h}
    if not labelled:
        d["labelled"] = False
    return d


def annotation_dicts(
    ds: Dataset,
    *,
    rows: np.ndarray | None = None,
    default_area: bool = True,
    skip: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """One COCO annotation dict per box (or per box in ``rows``), with svmlp's extra keys where
    they have a value. ``default_area``: give boxes without a source ``area`` the box area.
    ``skip``: keys left out (and not computed), except ``id``."""
    b = ds.boxes
    rows = np.arange(len(b)) if rows is None else np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return []
    n = len(rows)
    ids, all_ids = b.id[rows].tolist(), b.id
    image_ids = ds.images.id[b.image[rows]].tolist() if "image_id" not in skip else None
    cat_ids = ds.category_ids[b.category[rows]].tolist() if "category_id" not in skip else None
    bbox: list[Any] | None = None
    inexact: set[int] = set()
    area_l: list[Any] = [float("nan")] * n
    if "bbox" not in skip or ("area" not in skip and default_area):
        xyxy = b.xyxy[rows]
        x0, y0, x1, y1 = (xyxy[:, k] for k in range(4))
        w, h = clean_extent(x0, x1), clean_extent(y0, y1)
        if "bbox" not in skip:
            bbox = _compact(np.stack([x0, y0, w, h], axis=1))
            # rare: no float width reproduces x1 from x0 (a rounding tie); then the corners go verbatim
            inexact = set(np.flatnonzero((x0 + w != x1) | (y0 + h != y1)).tolist())
        if "area" not in skip:
            area = b.area[rows]
            area_l = _compact(np.where(np.isnan(area), w * h if default_area else np.nan, area))
    elif "area" not in skip:
        area_l = _compact(b.area[rows])
    crowd = b.iscrowd[rows].astype(int).tolist() if "iscrowd" not in skip else None
    parent_id: list[int] = []
    score: list[float] = []
    if "parent_id" not in skip:
        parent = b.parent[rows]
        parent_id = np.where(parent >= 0, all_ids[np.maximum(parent, 0)], -1).tolist()
        score = b.link_score[rows].tolist()
    flags = [
        (k, getattr(b, k)[rows].tolist())
        for k in ("difficult", "truncated", "occluded")
        if k not in skip and (getattr(b, k)[rows] >= 0).any()
    ]
    plates = _plate_dicts(b, rows) if "plate" not in skip else {}
    seg = b.segmentation[rows].tolist() if b.segmentation is not None and "segmentation" not in skip else None
    attrs = b.attributes[rows].tolist() if b.attributes is not None and "attributes" not in skip else None
    out = []
    for k in range(n):
        d: dict[str, Any] = {"id": ids[k]}
        if image_ids is not None:
            d["image_id"] = image_ids[k]
        if cat_ids is not None:
            d["category_id"] = cat_ids[k]
        if bbox is not None:
            d["bbox"] = bbox[k]
        if area_l[k] == area_l[k]:
            d["area"] = area_l[k]
        if crowd is not None:
            d["iscrowd"] = crowd[k]
        if k in inexact:
            d["xyxy"] = b.xyxy[rows[k]].tolist()
        if seg is not None and seg[k] is not None:
            d["segmentation"] = seg[k]
        if parent_id and parent_id[k] >= 0:
            d["parent_id"] = parent_id[k]
            if score[k] == score[k]:  # not NaN
                d["link_score"] = score[k]
        for key, values in flags:
            if values[k] >= 0:
                d[key] = values[k]
        if k in plates:
            d["plate"] = plates[k]
        if attrs is not None and attrs[k]:
            d["attributes"] = attrs[k]
        out.append(d)
    return out


def _plate_dicts(b: BoxTable, rows: np.ndarray) -> dict[int, dict[str, Any]]:
    """``plate`` objects by position in ``rows``, for the boxes that have text or corners."""
    out: dict[int, dict[str, Any]] = {}
    if b.text is not None:
        text = b.text[rows]
        have = np.flatnonzero(text != "")
        for k, t in zip(have.tolist(), text[have].tolist()):
            out[k] = {"text": t}
    if b.corners is not None:
        corners = b.corners[rows]
        have = np.flatnonzero(~np.isnan(corners).any(axis=(1, 2)))
        for k, pts in zip(have.tolist(), _compact(corners[have])):
            if k in out:
                out[k]["corners"] = pts
            else:
                out[k] = {"corners": pts}
    return out
