"""``to_fiftyone``: a svmlp data set, its links, an audit's findings and predictions, in FiftyOne.

Samples are written in batches straight to FiftyOne's sample collection, as documents laid out
exactly as FiftyOne lays them out. The first sample goes through FiftyOne's own ``add_sample`` and
the document it stored is compared with the one svmlp builds for it; only when the two agree are
the other samples written in bulk (FiftyOne's per-sample path is kept as the fallback, so a
FiftyOne release that changes its layout costs speed, never correctness).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import UsageError
from svmlp.fiftyone._db import connect
from svmlp.model import Dataset
from svmlp.model.audit_marks import AuditMarks, map_audit

__all__ = ["INFO_KEY", "to_fiftyone"]

#: the key of ``fo_dataset.info`` that holds what FiftyOne has no place for (categories, roots)
INFO_KEY = "svmlp"
_BATCH = 2000


def _relative(xyxy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """FiftyOne's ``[x, y, width, height]`` in [0, 1] from absolute ``xyxy`` (w, h per row)."""
    w = np.where(w > 0, w, 1.0)
    h = np.where(h > 0, h, 1.0)
    return np.stack(
        [xyxy[:, 0] / w, xyxy[:, 1] / h, (xyxy[:, 2] - xyxy[:, 0]) / w, (xyxy[:, 3] - xyxy[:, 1]) / h], axis=1
    )


def _box_attributes(ds: Dataset, audit: AuditMarks | None) -> list[dict[str, Any]]:
    """Per box: the attributes a Detection carries (None left out, as FiftyOne leaves it out)."""
    bx = ds.boxes
    n = len(bx)
    ids, cats = bx.id.tolist(), bx.category.tolist()
    cat_ids = [c.id for c in ds.categories]
    parent_ids = np.where(bx.parent >= 0, bx.id[np.maximum(bx.parent, 0)], -1).tolist() if n else []
    scores, crowd, xyxy = bx.link_score.tolist(), bx.iscrowd.tolist(), bx.xyxy.tolist()
    area = bx.area.tolist()
    flags = {k: getattr(bx, k).tolist() for k in ("difficult", "truncated", "occluded")}
    text = bx.text.tolist() if bx.text is not None else None
    corners = bx.corners
    seg = bx.segmentation
    extra = bx.attributes.tolist() if bx.attributes is not None else None
    out = []
    for r in range(n):
        a: dict[str, Any] = {"svmlp_id": ids[r], "category_id": cat_ids[cats[r]], "iscrowd": bool(crowd[r])}
        a["xyxy"] = xyxy[r]
        if parent_ids[r] >= 0:
            a["parent_id"] = parent_ids[r]
            if scores[r] == scores[r]:  # not NaN
                a["link_score"] = scores[r]
        if area[r] == area[r]:
            a["area"] = area[r]
        for k, v in flags.items():
            if v[r] >= 0:
                a[k] = v[r]
        if text is not None and text[r]:
            a["text"] = text[r]
        if corners is not None and np.isfinite(corners[r]).all():
            a["corners"] = (
                corners[r].reshape(8).tolist()
            )  # x0, y0, … x3, y3 (FiftyOne types nested lists badly)
        if seg is not None and seg[r] is not None:
            a["segmentation"] = json.dumps(seg[r], separators=(",", ":"))
        if extra is not None and extra[r]:  # JSON: a tool's names may clash with FiftyOne's own
            a["tool_attributes"] = json.dumps(extra[r], separators=(",", ":"), ensure_ascii=False)
        if audit is not None and r in audit.box_messages:
            a["audit"] = list(audit.box_messages[r])
        out.append(a)
    return out


def _det_doc(
    oid: Any, label: str, bbox: list[float], tags: list[str], attrs: Mapping[str, Any]
) -> dict[str, Any]:
    doc = {
        "_id": oid(),
        "_cls": "Detection",
        "tags": tags,
        "attributes": {},
        "label": label,
        "bounding_box": bbox,
    }
    doc.update(attrs)
    return doc


@dataclass
class _Parts:
    """Everything a sample needs, per image row, already in plain Python values."""

    filepath: list[str]
    tags: list[list[str]]
    fields: list[dict[str, Any]]
    width: list[int]
    height: list[int]
    labelled: list[bool]
    gt: list[list[tuple[str, list[float], list[str], dict[str, Any]]]]
    extra: dict[str, list[list[tuple[str, list[float], list[str], dict[str, Any]]] | None]]


def _parts(ds: Dataset, audit: AuditMarks | None, preds: Any) -> _Parts:
    im, bx = ds.images, ds.boxes
    n = len(im)
    names = [c.name for c in ds.categories]
    w, h = im.width.astype(np.float64), im.height.astype(np.float64)
    rel = _relative(bx.xyxy, w[bx.image], h[bx.image]).tolist()
    attrs = _box_attributes(ds, audit)
    cats = bx.category.tolist()
    box_tags = audit.box_tags if audit is not None else {}
    off = ds.offsets.tolist()
    gt = [
        [(names[cats[r]], rel[r], list(box_tags.get(r, ())), attrs[r]) for r in range(off[i], off[i + 1])]
        for i in range(n)
    ]
    splits, files = im.split.tolist(), im.file_name.tolist()
    paths = []
    for i in range(n):
        root = ds.roots.get(splits[i])
        p = (Path(root) / files[i]) if root is not None else Path(files[i])
        paths.append(os.path.abspath(p))
    tags = [[s] for s in splits]
    fields: list[dict[str, Any]] = [
        {"svmlp_id": a, "svmlp_split": s, "svmlp_file_name": f, "svmlp_labelled": lab, "svmlp_orientation": o}
        for a, s, f, lab, o in zip(
            im.id.tolist(), splits, files, im.labelled.tolist(), im.orientation.astype(int).tolist()
        )
    ]
    extra: dict[str, list[Any]] = {}
    if audit is not None:
        for i, checks in audit.image_tags.items():
            tags[i].extend(c for c in checks if c not in tags[i])
        for i, msgs in audit.image_messages.items():
            fields[i]["audit"] = list(msgs)
        proposed: list[Any] = [None] * n
        for i, items in audit.proposed.items():
            dets = []
            for check, (x, y, bw, bh), text in items:
                ww, hh = max(w[i], 1.0), max(h[i], 1.0)
                dets.append(("proposed", [x / ww, y / hh, bw / ww, bh / hh], [check], {"audit": [text]}))
            proposed[i] = dets
        extra["audit_proposed"] = proposed
    if preds is not None:
        prel = _relative(preds.xyxy, w[preds.image], h[preds.image]).tolist()
        per: list[Any] = [[] for _ in range(n)]
        for k, (i, c, s) in enumerate(
            zip(preds.image.tolist(), preds.category.tolist(), preds.score.tolist())
        ):
            per[i].append((names[c], prel[k], [], {"confidence": s}))
        extra["predictions"] = per
    return _Parts(paths, tags, fields, im.width.tolist(), im.height.tolist(), im.labelled.tolist(), gt, extra)


def _sample_doc(
    parts: _Parts, i: int, dataset_id: Any, now: Any, label_field: str, oid: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "filepath": parts.filepath[i],
        "tags": parts.tags[i],
        "metadata": {"_cls": "ImageMetadata", "width": parts.width[i], "height": parts.height[i]},
        "created_at": now,
        "last_modified_at": now,
        "_media_type": "image",
        "_rand": random.random() * 0.001 + 0.999,  # FiftyOne's own range for its random views
        "_dataset_id": dataset_id,
    }
    doc.update(parts.fields[i])
    if parts.labelled[i]:
        doc[label_field] = {"_cls": "Detections", "detections": [_det_doc(oid, *d) for d in parts.gt[i]]}
    for name, per in parts.extra.items():
        if (items := per[i]) is not None:
            doc[name] = {"_cls": "Detections", "detections": [_det_doc(oid, *d) for d in items]}
    return doc


def _sample_obj(fo: Any, parts: _Parts, i: int, label_field: str) -> Any:
    def dets(items: Sequence[tuple[str, list[float], list[str], dict[str, Any]]]) -> Any:
        return fo.Detections(
            detections=[fo.Detection(label=lab, bounding_box=bb, tags=t, **a) for lab, bb, t, a in items]
        )

    kw: dict[str, Any] = dict(parts.fields[i])
    if parts.labelled[i]:
        kw[label_field] = dets(parts.gt[i])
    for name, per in parts.extra.items():
        if (items := per[i]) is not None:
            kw[name] = dets(items)
    return fo.Sample(
        filepath=parts.filepath[i],
        tags=list(parts.tags[i]),
        metadata=fo.ImageMetadata(width=parts.width[i], height=parts.height[i]),
        **kw,
    )


def _normalised(doc: Any) -> Any:
    """A stored document with the values that differ on every write (ids, times) blanked."""
    if isinstance(doc, Mapping):
        return {
            k: (
                "*"
                if k in ("_id", "_rand", "created_at", "last_modified_at", "_dataset_id")
                else _normalised(v)
            )
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_normalised(v) for v in doc]
    return doc


def _declare(fo: Any, fo_ds: Any, label_field: str, extra: Sequence[str], audit: bool) -> None:
    for name, kind in (
        ("svmlp_id", fo.IntField),
        ("svmlp_split", fo.StringField),
        ("svmlp_file_name", fo.StringField),
        ("svmlp_labelled", fo.BooleanField),
        ("svmlp_orientation", fo.IntField),
    ):
        fo_ds.add_sample_field(name, kind)
    for name in (label_field, *extra):
        fo_ds.add_sample_field(name, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    if audit:
        fo_ds.add_sample_field("audit", fo.ListField, subfield=fo.StringField)


def _write_samples(fo: Any, fo_ds: Any, parts: _Parts, label_field: str) -> bool:
    """Write every sample; True when the bulk path was taken."""
    from bson import ObjectId

    n = len(parts.filepath)
    if n == 0:
        return False
    first = _sample_obj(fo, parts, 0, label_field)
    fo_ds.add_sample(first, dynamic=True)
    coll = fo_ds._sample_collection  # FiftyOne's own collection of this data set's samples
    stored = coll.find_one({"_id": ObjectId(first.id)})
    now = _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
    mine = _sample_doc(parts, 0, stored["_dataset_id"], now, label_field, ObjectId)
    if _normalised(stored) != _normalised({**mine, "_id": None}):
        fo_ds.add_samples(
            (_sample_obj(fo, parts, i, label_field) for i in range(1, n)), dynamic=True, progress=False
        )
        return False
    for start in range(1, n, _BATCH):
        docs = [
            _sample_doc(parts, i, stored["_dataset_id"], now, label_field, ObjectId)
            for i in range(start, min(start + _BATCH, n))
        ]
        coll.insert_many(docs, ordered=False)
    fo_ds.add_dynamic_sample_fields()  # attributes that the first sample happened not to have
    return True


def to_fiftyone(
    dataset: Dataset,
    *,
    name: str | None = None,
    audit: Any = None,
    predictions: Any = None,
    overwrite: bool = False,
    persistent: bool = False,
    evaluate: bool = True,
    label_field: str = "ground_truth",
) -> Any:
    """A FiftyOne data set of ``dataset``: one sample per image, boxes as ``Detections``.

    - Each sample has its split as a tag (and in ``svmlp_split``), its svmlp image id in
      ``svmlp_id``, its size in ``metadata``; an unlabelled image has no ``label_field``.
    - Each Detection has the box's ``svmlp_id``, ``category_id``, its parent vehicle's box id
      ``parent_id`` and ``link_score`` (links travel this way, and come back with
      :func:`~svmlp.fiftyone.from_fiftyone`), ``iscrowd``, the exact ``xyxy`` in pixels, and the
      plate ``text``, VOC flags, ``corners`` where the data has them.
    - ``audit`` (an :class:`~svmlp.audit.AuditReport`, or the JSON report ``svmlp audit --json-out``
      writes, or its path): each issue's check name becomes a tag of its box and of its sample
      (``fo_ds.match_tags("orphan_plate")``), its message an ``audit`` attribute; boxes an audit
      proposes (missed boxes) go to the ``audit_proposed`` field.
    - ``predictions`` (a COCO results file, or :class:`~svmlp.model.predictions.Predictions`)
      go to the ``predictions`` field, and with ``evaluate`` FiftyOne's ``evaluate_detections``
      marks them TP/FP/FN (eval key ``eval``).

    The FiftyOne data set is named ``name`` (default: ``svmlp-<source>-<random>``); an existing one
    of that name is replaced only with ``overwrite``.
    """
    fo = connect()
    notes: list[str] = []
    mapped = None
    if audit is not None:
        mapped, more = map_audit(dataset, audit)
        notes += more
    preds = predictions
    if predictions is not None and not hasattr(predictions, "xyxy"):
        from svmlp.model.predictions import load_predictions

        preds = load_predictions(Path(predictions), dataset)
        notes += preds.notes
    if name is None:
        stem = dataset.source.name if dataset.source is not None else "dataset"
        name = f"svmlp-{stem}-{uuid.uuid4().hex[:8]}"
    if fo.dataset_exists(name):
        if not overwrite:
            raise UsageError(
                f"FiftyOne already has a data set named {name!r}; choose another name or overwrite it"
            )
        fo.delete_dataset(name)
    parts = _parts(dataset, mapped, preds)
    fo_ds = fo.Dataset(name)
    try:
        _declare(fo, fo_ds, label_field, list(parts.extra), mapped is not None)
        bulk = _write_samples(fo, fo_ds, parts, label_field)
        fo_ds.default_classes = [c.name for c in dataset.categories]
        fo_ds.info[INFO_KEY] = {
            "categories": [
                {"id": c.id, "name": c.name, "supercategory": c.supercategory, "role": c.role}
                for c in dataset.categories
            ],
            "roots": {k: os.path.abspath(v) for k, v in dataset.roots.items()},
            "source": None if dataset.source is None else str(dataset.source),
            "label_field": label_field,
            "audit_whole": [] if mapped is None else mapped.whole,
            "notes": notes,
            "bulk_write": bulk,
        }
        fo_ds.persistent = persistent
        fo_ds.save()
        if preds is not None and evaluate and len(fo_ds):
            fo_ds.evaluate_detections(
                "predictions", gt_field=label_field, eval_key="eval", compute_mAP=True, progress=False
            )
    except BaseException:
        fo_ds.delete()  # never leave a half-built data set behind
        raise
    return fo_ds
