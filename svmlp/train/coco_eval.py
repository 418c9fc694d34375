"""COCO-style detection metrics of predictions against an svmlp data set's labels (pycocotools).

:func:`evaluate_predictions` builds the COCO ground truth in memory from a :class:`~svmlp.model.Dataset`
(category ids as in the data set, boxes as ``[x, y, w, h]``, the source's ``area`` or else ``w * h``,
``iscrowd`` kept), runs ``COCOeval`` on the predictions with its prints silenced, and returns the 12
standard numbers plus AP, AP50 and AP-small per class. Only labelled images count: an image never
annotated (``images.labelled`` false) is no ground truth, and predictions on it are dropped.
Predictions are in the COCO results format (a list of ``image_id``, ``category_id``, ``bbox``
[x, y, w, h] and ``score``), from a file or in memory; :func:`predictions_to_coco` makes that list
from a detector's tensors::

    ds = svmlp.read("data/")
    result = evaluate_predictions(ds, "results.json", split="test")
    print(result.table())
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._optional import require
from svmlp.errors import UsageError
from svmlp.model import Dataset
from svmlp.model.predictions import PredictionRecord, read_prediction_records

__all__ = ["METRIC_KEYS", "PER_CLASS_KEYS", "EvalResult", "evaluate_predictions", "predictions_to_coco"]

#: The names of ``COCOeval.stats``, in its order.
METRIC_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
#: The keys of each class's entry in :attr:`EvalResult.per_class`.
PER_CLASS_KEYS = ("AP", "AP50", "APs", "gt")

_HINT = "expected a COCO results list of {image_id, category_id, bbox [x, y, w, h], score}"


@dataclass
class EvalResult:
    """What :func:`evaluate_predictions` measured.

    ``metrics`` holds :data:`METRIC_KEYS` (None where pycocotools reports -1: no ground truth in
    that area range). ``per_class`` maps each category name to its ``AP``, ``AP50`` and ``APs``
    (None when the class has no ground truth there) and ``gt``, its number of ground-truth boxes
    (crowd regions not counted). ``images`` is the number of labelled images evaluated,
    ``predictions`` the number of predictions evaluated (after dropping those on images left out);
    ``notes`` say what was dropped or could not be measured.
    """

    metrics: dict[str, float | None]
    per_class: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    images: int = 0
    predictions: int = 0
    #: per class, precision at IoU 0.5 (all areas, 100 detections) on COCO's 101-point recall grid
    pr_curves: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (plain floats, ints, None)."""
        return asdict(self)

    def table(self) -> str:
        """A short text table: the overall numbers, then one row per class."""
        lines = [f"COCO bbox: {self.images} image(s), {self.predictions} prediction(s)"]
        for row in (METRIC_KEYS[:6], METRIC_KEYS[6:]):
            lines.append("  ".join(f"{k:>5} {_fmt(self.metrics.get(k))}" for k in row))
        if self.per_class:
            width = max(5, *(len(n) for n in self.per_class))
            lines.append(f"{'class':<{width}}  {'gt':>6}  {'AP':>5}  {'AP50':>5}  {'APs':>5}")
            for name, cls in self.per_class.items():
                lines.append(
                    f"{name:<{width}}  {cls['gt']:>6}  {_fmt(cls['AP'])}  {_fmt(cls['AP50'])}  {_fmt(cls['APs'])}"
                )
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "    -" if v is None else f"{v:5.3f}"


def _number(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) or v < 0 else v


# -- predictions in -------------------------------------------------------------------------------


@dataclass
class _Columns:
    image_id: np.ndarray
    category_id: np.ndarray
    xywh: np.ndarray
    score: np.ndarray

    def take(self, keep: np.ndarray) -> _Columns:
        return _Columns(self.image_id[keep], self.category_id[keep], self.xywh[keep], self.score[keep])


def _from_dicts(preds: Sequence[Any]) -> list[PredictionRecord]:
    out = []
    for k, p in enumerate(preds):
        try:
            bbox = tuple(float(v) for v in p["bbox"])
            if len(bbox) != 4:
                raise ValueError(f"bbox has {len(bbox)} values, not 4")
            out.append(PredictionRecord(int(p["image_id"]), int(p["category_id"]), bbox, float(p["score"])))  # type: ignore[arg-type]
        except KeyError as exc:
            raise UsageError(f"predictions[{k}] has no {exc}; {_HINT}") from None
        except (TypeError, ValueError) as exc:
            raise UsageError(f"predictions[{k}]: {exc}; {_HINT}") from None
    return out


def _columns(predictions: str | os.PathLike[str] | Sequence[Any]) -> tuple[_Columns, str]:
    if isinstance(predictions, (str, os.PathLike)):
        path = Path(predictions)
        preds, name = read_prediction_records(path, hint=_HINT), str(path)
    elif isinstance(predictions, Sequence):
        preds, name = _from_dicts(predictions), "predictions"
    else:
        raise UsageError(
            f"predictions must be a path to a COCO results file or a list of dicts, not {type(predictions).__name__}"
        )
    cols = _Columns(
        image_id=np.array([p.image_id for p in preds], dtype=np.int64),
        category_id=np.array([p.category_id for p in preds], dtype=np.int64),
        xywh=np.array([p.bbox for p in preds], dtype=np.float64).reshape(-1, 4),
        score=np.array([p.score for p in preds], dtype=np.float64),
    )
    bad = ~(np.isfinite(cols.xywh).all(axis=1) & np.isfinite(cols.score))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise UsageError(f"{name}[{k}]: bbox or score is not a finite number; {_HINT}")
    return cols, name


# -- the evaluation -------------------------------------------------------------------------------


def _select(dataset: Dataset, split: str | None) -> Dataset:
    if split is not None:
        if split not in dataset.splits:
            raise UsageError(f"split {split!r} is not in this data set; it has {', '.join(dataset.splits)}")
        return dataset.split(split)
    ids = dataset.images.id
    if len(dataset.splits) > 1 and len(np.unique(ids)) != len(ids):
        raise UsageError(
            f"predictions name images by id, and ids repeat across this data set's splits "
            f"({', '.join(dataset.splits)}); pass split= to evaluate one"
        )
    return dataset


def _ground_truth(ds: Dataset, labelled: np.ndarray) -> dict[str, Any]:
    im, b = ds.images, ds.boxes
    rows = np.flatnonzero(labelled)
    images = [
        {
            "id": int(im.id[r]),
            "file_name": str(im.file_name[r]),
            "width": int(im.width[r]),
            "height": int(im.height[r]),
        }
        for r in rows.tolist()
    ]
    keep = np.flatnonzero(labelled[b.image]) if len(b) else np.zeros(0, dtype=np.int64)
    xyxy = b.xyxy[keep]
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    area = np.where(np.isnan(b.area[keep]), xywh[:, 2] * xywh[:, 3], b.area[keep])
    cat_ids = [c.id for c in ds.categories]
    annotations = [
        {
            "id": n + 1,  # box ids repeat across splits; COCO needs them unique
            "image_id": int(im.id[b.image[r]]),
            "category_id": cat_ids[int(b.category[r])],
            "bbox": [float(v) for v in xywh[n]],
            "area": float(area[n]),
            "iscrowd": int(bool(b.iscrowd[r])),
        }
        for n, r in enumerate(keep.tolist())
    ]
    categories = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in ds.categories]
    return {"info": {}, "images": images, "annotations": annotations, "categories": categories}


def evaluate_predictions(
    dataset: Dataset,
    predictions: str | os.PathLike[str] | Sequence[dict[str, Any]],
    *,
    split: str | None = None,
    iou_type: str = "bbox",
) -> EvalResult:
    """COCO metrics of ``predictions`` against ``dataset``'s labelled images.

    ``predictions`` is a COCO results file or the list itself (what :func:`predictions_to_coco`
    returns). ``split`` evaluates that split only; without it every split counts, which needs
    image ids unique across them. A prediction whose ``category_id`` is not a category of the
    data set is an error; one on an image not evaluated (unknown id, or an unlabelled image) is
    dropped with a note. No predictions at all score 0 (not an error). Only ``iou_type="bbox"``
    is supported. Raises :class:`~svmlp.errors.UsageError`, or
    :class:`~svmlp.errors.ExtraRequiredError` when pycocotools is not installed.
    """
    if iou_type != "bbox":
        raise UsageError(f"iou_type {iou_type!r} is not supported; svmlp labels are boxes: use 'bbox'")
    coco_mod = require("pycocotools.coco", extra="train")
    eval_mod = require("pycocotools.cocoeval", extra="train")
    ds = _select(dataset, split)
    cols, name = _columns(predictions)

    cat_ids = {c.id for c in ds.categories}
    unknown_cats = sorted(set(cols.category_id.tolist()) - cat_ids)
    if unknown_cats:
        raise UsageError(
            f"{name}: category_id {unknown_cats[0]} is not a category of the data set "
            f"(it has {', '.join(f'{c.id}={c.name}' for c in ds.categories)})"
        )

    notes: list[str] = []
    labelled = np.asarray(ds.images.labelled, dtype=bool)
    if not labelled.all():
        notes.append(f"{int((~labelled).sum())} unlabelled image(s) left out of the ground truth")
    on_labelled = np.isin(cols.image_id, ds.images.id[labelled])
    on_unlabelled = np.isin(cols.image_id, ds.images.id[~labelled]) & ~on_labelled
    unknown = ~on_labelled & ~on_unlabelled
    where_split = f" (split {split})" if split is not None else ""
    if unknown.any():
        notes.append(
            f"{name}: {int(unknown.sum())} prediction(s) name images not in the data set{where_split}; ignored"
        )
    if on_unlabelled.any():
        notes.append(f"{name}: {int(on_unlabelled.sum())} prediction(s) on unlabelled images; dropped")
    cols = cols.take(on_labelled)

    gt_dict = _ground_truth(ds, labelled)
    if not gt_dict["images"]:
        notes.append("no labelled images to evaluate; every metric is undefined")
    elif not gt_dict["annotations"]:
        notes.append("the labelled images hold no boxes; every metric is undefined")
    if not len(cols.score):
        notes.append("no predictions to evaluate")
    dets = [
        {"image_id": i, "category_id": c, "bbox": bb, "score": s}
        for i, c, bb, s in zip(
            cols.image_id.tolist(), cols.category_id.tolist(), cols.xywh.tolist(), cols.score.tolist()
        )
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_mod.COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        if dets:
            dt = gt.loadRes(dets)
        else:  # loadRes reads anns[0]: an empty result set has to be built by hand
            dt = coco_mod.COCO()
            dt.dataset = {
                "info": {},
                "images": list(gt_dict["images"]),
                "categories": list(gt_dict["categories"]),
                "annotations": [],
            }
            dt.createIndex()
        ev = eval_mod.COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()

    metrics = {k: _number(v) for k, v in zip(METRIC_KEYS, ev.stats)}
    precision = ev.eval["precision"]  # [iou threshold, recall, class, area range, max dets]
    name_of = {c.id: c.name for c in ds.categories}
    gt_count = dict.fromkeys(name_of, 0)
    for a in gt_dict["annotations"]:
        if not a["iscrowd"]:
            gt_count[a["category_id"]] += 1
    per_class: dict[str, dict[str, Any]] = {}
    for k, cid in enumerate(ev.params.catIds):
        per_class[name_of[cid]] = {
            "AP": _mean_valid(precision[:, :, k, 0, -1]),
            "AP50": _mean_valid(precision[0, :, k, 0, -1]),
            "APs": _mean_valid(precision[:, :, k, 1, -1]),
            "gt": gt_count[cid],
        }
    recall = [round(float(r), 2) for r in ev.params.recThrs]
    pr_curves = {
        name_of[cid]: {
            "recall": recall,
            "precision": [max(float(v), 0.0) for v in precision[0, :, k, 0, -1]],
            "AP50": per_class[name_of[cid]]["AP50"],
        }
        for k, cid in enumerate(ev.params.catIds)
    }
    return EvalResult(
        metrics=metrics,
        per_class=per_class,
        notes=notes,
        images=len(gt_dict["images"]),
        predictions=len(dets),
        pr_curves=pr_curves,
    )


def _mean_valid(p: np.ndarray) -> float | None:
    valid = p[p > -1]
    return _number(valid.mean()) if valid.size else None


# -- predictions out ------------------------------------------------------------------------------


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def predictions_to_coco(
    boxes_xyxy: Any,
    scores: Any,
    labels: Any,
    image_ids: Any,
    category_ids: Any,
) -> list[dict[str, Any]]:
    """A detector's output as a COCO results list, ready for :func:`evaluate_predictions`.

    ``boxes_xyxy`` is N×4 absolute pixels, ``scores`` and ``labels`` N values (numpy arrays or
    torch tensors, on any device); ``image_ids`` is N image ids, or one id for all N boxes.
    ``labels`` are contiguous training indices: ``category_ids[label]`` is the data set's
    category id (a sequence, or anything with ``ids`` such as :class:`svmlp.torch.LabelMap`).
    ``bbox`` is ``[x, y, w, h]`` rounded to 3 decimals (a thousandth of a pixel), ``score`` is
    rounded to 5 decimals; both keep the JSON file small and change no metric.

    >>> predictions_to_coco([[10, 20, 40, 60]], [0.91234567], [1], 7, [1, 2])
    [{'image_id': 7, 'category_id': 2, 'bbox': [10.0, 20.0, 30.0, 40.0], 'score': 0.91235}]
    """
    boxes = _array(boxes_xyxy).astype(np.float64).reshape(-1, 4)
    n = len(boxes)
    score = _array(scores).astype(np.float64).reshape(-1)
    label = _array(labels).reshape(-1)
    ids = _array(image_ids).reshape(-1)
    if ids.size == 1 and n != 1:
        ids = np.full(n, ids[0])
    for what, arr in (("scores", score), ("labels", label), ("image_ids", ids)):
        if len(arr) != n:
            raise UsageError(f"predictions_to_coco: {n} boxes but {len(arr)} {what}")
    lookup = [int(v) for v in getattr(category_ids, "ids", category_ids)]
    if n and (label.min() < 0 or label.max() >= len(lookup)):
        bad = int(label[(label < 0) | (label >= len(lookup))][0])
        raise UsageError(
            f"predictions_to_coco: label {bad} has no category id; category_ids maps 0..{len(lookup) - 1}"
        )
    xywh = np.round(np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1), 3)
    score = np.round(score, 5)
    return [
        {"image_id": int(i), "category_id": lookup[int(c)], "bbox": bb, "score": s}
        for i, c, bb, s in zip(ids.tolist(), label.tolist(), xywh.tolist(), score.tolist())
    ]
