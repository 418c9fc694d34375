"""Model-assisted checks: where a detector's confident predictions disagree with the labels.

Predictions come in the COCO results format (a list of ``image_id``, ``category_id``, ``bbox``
[x, y, w, h] and ``score``). A confident prediction overlapping no labelled box is a likely missed
box; a labelled box its same-class prediction overlaps only partly is likely badly placed; a
labelled box covered by a confident prediction of another class (and by none of its own) likely
has the wrong class. Each finding's score, in [0, 1], ranks it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from svmlp.audit.context import Context
from svmlp.audit.issues import Issue
from svmlp.model.geometry import iou_matrix
from svmlp.model.predictions import Predictions

__all__ = ["check_predictions"]


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
        overlap = iou_matrix(preds.xyxy[p], b.xyxy[g]) if len(g) else np.zeros((len(p), 0))
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
