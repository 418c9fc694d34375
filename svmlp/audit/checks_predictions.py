"""Model-assisted checks: where a detector's confident predictions disagree with the labels.

Predictions come in the COCO results format (a list of ``image_id``, ``category_id``, ``bbox``
[x, y, w, h] and ``score``). A confident prediction overlapping no labelled box is a likely missed
box; a labelled box its same-class prediction overlaps only partly is likely badly placed; a
labelled box covered by a confident prediction of another class (and by none of its own) likely
has the wrong class. Each finding's score, in [0, 1], ranks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from svmlp._files import read_file
from svmlp.audit.context import Context
from svmlp.audit.issues import Issue
from svmlp.errors import UsageError, where
from svmlp.model import Dataset

__all__ = [
    "PredictionRecord",
    "Predictions",
    "check_predictions",
    "load_predictions",
    "read_prediction_records",
]


class PredictionRecord(msgspec.Struct):
    """One row of a COCO results file."""

    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]
    score: float


@dataclass
class Predictions:
    image: np.ndarray  # image row per prediction
    category: np.ndarray  # category row
    xyxy: np.ndarray
    score: np.ndarray
    notes: list[str]


def read_prediction_records(
    path: Path, *, hint: str = "expected a COCO results list"
) -> list[PredictionRecord]:
    """The rows of a COCO results file; a bad file is a UsageError naming it (and the JSON path)."""
    data = read_file(path, error=UsageError, what="results file")
    try:
        return msgspec.json.decode(data, type=list[PredictionRecord], strict=False)
    except RecursionError:
        raise UsageError(f"{path}: JSON nested too deeply; {hint}") from None
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
        raise UsageError(f"{where(path, at=at)}: {text.split(' - at `')[0]}; {hint}") from None
    except msgspec.DecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None


def load_predictions(path: Path, ds: Dataset) -> Predictions:
    """Read a COCO results file and map it onto ``ds`` (image ids must be unique in ``ds``)."""
    preds = read_prediction_records(path)
    ids = ds.images.id
    if len(np.unique(ids)) != len(ids):
        raise UsageError(
            f"{path}: predictions name images by id, and ids repeat across this data set's splits "
            f"({', '.join(ds.splits)}); audit one split with --split"
        )
    row_of = {int(v): k for k, v in enumerate(ids.tolist())}
    cat_of = {c.id: k for k, c in enumerate(ds.categories)}
    unknown_cats = sorted({p.category_id for p in preds} - set(cat_of))
    if unknown_cats:
        raise UsageError(
            f"{path}: category_id {unknown_cats[0]} is not a category of the data set "
            f"(it has {', '.join(f'{c.id}={c.name}' for c in ds.categories)})"
        )
    known = [p for p in preds if p.image_id in row_of]
    notes = []
    if len(known) < len(preds):
        notes.append(
            f"{path}: {len(preds) - len(known)} prediction(s) name images not in the data set; ignored"
        )
    xywh = np.array([p.bbox for p in known], dtype=np.float64).reshape(-1, 4)
    return Predictions(
        image=np.array([row_of[p.image_id] for p in known], dtype=np.int64),
        category=np.array([cat_of[p.category_id] for p in known], dtype=np.int64),
        xyxy=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
        score=np.array([p.score for p in known], dtype=np.float64),
        notes=notes,
    )


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def check_predictions(ctx: Context) -> Iterator[Issue]:
    preds: Predictions | None = ctx.predictions
    if preds is None:
        return
    cfg, b = ctx.config, ctx.ds.boxes
    confident = preds.score >= float(cfg["prediction_min_score"])
    for i in np.unique(preds.image[confident]).tolist():
        p = np.flatnonzero(confident & (preds.image == i))
        lo, hi = int(ctx.ds.offsets[i]), int(ctx.ds.offsets[i + 1])
        g = np.arange(lo, hi)[~b.iscrowd[lo:hi]]
        overlap = _iou_matrix(preds.xyxy[p], b.xyxy[g]) if len(g) else np.zeros((len(p), 0))
        same = preds.category[p][:, None] == b.category[g][None, :]
        pair = _one_to_one(np.where(same, overlap, 0))
        # a prediction paired with a label it overlaps a little proposes a place for that label
        # (misplaced_box); it is not also a missed box
        placed = np.zeros(len(p), dtype=bool)
        ok = pair >= 0
        placed[pair[ok][overlap[pair[ok], np.flatnonzero(ok)] >= float(cfg["misplaced_min_iou"])]] = True
        yield from _missed(ctx, i, p, overlap, placed)
        if len(g):
            yield from _per_label(ctx, i, p, g, overlap, same, pair)


def _box(xyxy: np.ndarray) -> tuple[float, float, float, float]:
    """One ``xyxy`` row as four Python floats."""
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return x0, y0, x1, y1


def _missed(ctx: Context, i: int, p: np.ndarray, overlap: np.ndarray, placed: np.ndarray) -> Iterator[Issue]:
    if not ctx.enabled("missed_box"):
        return
    preds, ds = ctx.predictions, ctx.ds
    best = overlap.max(axis=1) if overlap.shape[1] else np.zeros(len(p))
    for k in np.flatnonzero((best < float(ctx.config["prediction_match_iou"])) & ~placed).tolist():
        q = int(p[k])
        box = _box(preds.xyxy[q])
        yield ctx.issue(
            "missed_box",
            i,
            -1,
            f"a {ds.categories[int(preds.category[q])].name} predicted at "
            f"{[round(v, 1) for v in box]} (score {preds.score[q]:.2f}) matches no labelled box",
            score=float(preds.score[q]),
            bbox=box,
        )


def _per_label(
    ctx: Context,
    i: int,
    p: np.ndarray,
    g: np.ndarray,
    overlap: np.ndarray,
    same: np.ndarray,
    pair: np.ndarray,
) -> Iterator[Issue]:
    preds, cfg = ctx.predictions, ctx.config
    match, good = float(cfg["prediction_match_iou"]), float(cfg["misplaced_iou"])
    least = float(cfg["misplaced_min_iou"])
    best_same = np.where(same, overlap, 0).max(axis=0)
    best_other = np.where(~same, overlap, 0).max(axis=0)
    for k, r in enumerate(g.tolist()):
        paired = float(overlap[pair[k], k]) if pair[k] >= 0 else 0.0
        if best_same[k] < match and best_other[k] >= good and ctx.enabled("swapped_class"):
            q = int(p[np.argmax(np.where(~same[:, k], overlap[:, k], -1))])
            name = ctx.ds.categories[int(preds.category[q])].name
            yield ctx.issue(
                "swapped_class",
                i,
                r,
                f"a {name} is predicted on it (IoU {best_other[k]:.2f}, score "
                f"{preds.score[q]:.2f}) and nothing of its own class",
                score=float(preds.score[q]),
            )
        elif least <= paired and best_same[k] < good and ctx.enabled("misplaced_box"):
            q = int(p[pair[k]])
            yield ctx.issue(
                "misplaced_box",
                i,
                r,
                f"its prediction (score {preds.score[q]:.2f}) overlaps it only with IoU {paired:.2f}",
                score=float(preds.score[q] * (1 - paired)),
                bbox=_box(preds.xyxy[q]),
            )


def _one_to_one(overlap: np.ndarray) -> np.ndarray:
    """Per label (column), the prediction (row) paired with it, greedily by IoU, best pairs first;
    -1 where every prediction touching it went to another label."""
    pair = np.full(overlap.shape[1], -1, dtype=np.int64)
    used = np.zeros(overlap.shape[0], dtype=bool)
    for flat in np.argsort(-overlap, axis=None, kind="stable").tolist():
        j, k = divmod(flat, overlap.shape[1])
        if overlap[j, k] <= 0:
            break
        if not used[j] and pair[k] < 0:
            pair[k], used[j] = j, True
    return pair
