"""Inference of any model family: non-maximum suppression in torch, and predictions in the COCO
results format (each family decodes its own outputs: :attr:`svmlp.train.registry.Family.postprocess`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from svmlp.train.losses import box_iou_matrix

__all__ = ["nms", "predict_loader"]


def nms(
    boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, *, limit: int | None = None
) -> torch.Tensor:
    """Indices kept by greedy NMS, best score first (the first ``limit`` of them, if given).

    On a GPU: greedy NMS keeps box j when no kept box before it overlaps it above the threshold,
    a fixed point over the score order, reached by repeating the whole-matrix update (at most as
    many rounds as the longest chain of suppressions) without a loop over boxes. On a CPU, where
    the n×n matrix of thousands of candidates is what costs, a block of 512 candidates at a time:
    each block cleared of what earlier kept boxes overlap, then settled row by row over its own
    overlap matrix (:func:`_scan`), until ``limit`` are kept. Both keep the same boxes.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True)
    ordered = boxes[order]
    if boxes.device.type != "cpu":
        return order[_fixed_point(ordered, iou_threshold)][:limit]
    return order[_greedy_blocks(ordered, iou_threshold, limit)]


def _fixed_point(ordered: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """The kept mask of boxes in score order, by whole-matrix rounds."""
    over = (box_iou_matrix(ordered, ordered) > iou_threshold).triu(1)
    keep = torch.ones(len(ordered), dtype=torch.bool, device=ordered.device)
    for _ in range(len(ordered)):
        new = ~(over & keep[:, None]).any(0)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def _scan(ordered: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """The kept mask of boxes in score order, greedy row by row over their overlap matrix (on a
    CPU, cheaper than the rounds of :func:`_fixed_point`: one row for each kept box)."""
    over = (box_iou_matrix(ordered, ordered) > iou_threshold).numpy()
    alive = np.ones(len(ordered), dtype=bool)
    for i in range(len(ordered)):
        if alive[i]:
            alive[i + 1 :] &= ~over[i, i + 1 :]
    return torch.from_numpy(alive)


def _greedy_blocks(
    ordered: torch.Tensor, iou_threshold: float, limit: int | None, block: int = 512
) -> torch.Tensor:
    """The kept positions of boxes in score order, a block of candidates at a time: those an
    earlier kept box overlaps go, then the rest of the block is settled row by row (:func:`_scan`);
    until ``limit`` are kept. (Greedy NMS decides each box by the kept boxes before it only.)"""
    kept = torch.zeros(0, dtype=torch.long, device=ordered.device)
    for start in range(0, len(ordered), block):
        idx = torch.arange(start, min(start + block, len(ordered)), device=ordered.device)
        if len(kept):  # box_iou_matrix(kept, later): the whole matrix's very values
            idx = idx[~(box_iou_matrix(ordered[kept], ordered[idx]) > iou_threshold).any(0)]
        if len(idx):
            kept = torch.cat([kept, idx[_scan(ordered[idx], iou_threshold)]])
        if limit is not None and len(kept) >= limit:
            break
    return kept[:limit]


@torch.no_grad()
def predict_loader(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    postprocess: Callable[..., list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]],
    category_ids: tuple[int, ...],
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    conf: float = 0.001,
    iou: float = 0.6,
    criterion: Callable[..., Any] | None = None,
    losses: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """COCO results (``image_id``, ``category_id``, ``bbox`` [x, y, w, h], ``score``) in each
    image's annotation frame: each box ``postprocess(outputs, model, conf=, iou=)`` gives (its
    family's) is mapped back through the inverse of its image's ``matrix``. With ``criterion``,
    ``losses`` receives the mean of each loss part on these batches (the validation loss)."""
    model.eval()
    results: list[dict[str, Any]] = []
    sums: dict[str, float] = {}
    batches = 0
    for images, targets, infos in loader:
        x = images.to(device, non_blocking=True).float().div_(255)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = model(x)
        if criterion is not None:
            _, parts = criterion(outputs, targets.to(device, non_blocking=True))
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            batches += 1
        for (bx, s, lab), info in zip(postprocess(outputs, model, conf=conf, iou=iou), infos):
            inv = torch.linalg.inv(info["matrix"].to(torch.float64)).to(device)
            w, h = (int(v) for v in info["orig_size"].flip(0))
            corners = bx.double().reshape(-1, 2)
            mapped = (
                torch.cat([corners, torch.ones(len(corners), 1, device=device, dtype=torch.float64)], 1)
                @ inv.T
            )
            xy = mapped[:, :2].reshape(-1, 4)
            xy[:, 0::2] = xy[:, 0::2].clamp(0, w)
            xy[:, 1::2] = xy[:, 1::2].clamp(0, h)
            for (x0, y0, x1, y1), score, label in zip(xy.tolist(), s.tolist(), lab.tolist()):
                results.append(
                    {
                        "image_id": int(info["image_id"]),
                        "category_id": int(category_ids[label]),
                        "bbox": [round(x0, 3), round(y0, 3), round(x1 - x0, 3), round(y1 - y0, 3)],
                        "score": round(score, 5),
                    }
                )
    if losses is not None and batches:
        losses.update({k: v / batches for k, v in sums.items()})
    return results
