"""The detector's loss: task-aligned assignment, BCE classes, CIoU + DFL boxes, and ICR.

ICR is added to the box loss of every positive anchor whose assigned ground truth is a plate with
a parent vehicle: the penalty of the predicted plate box against that vehicle's box, weighted
like the CIoU term (by the anchor's target score) and normalised the same way, so it needs no
gain of its own (the paper: "without extra hyperparameter tuning").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from svmlp.torch._compile import Compiled
from svmlp.train.losses import ICRMode, ciou_and_icr, complete_box_iou
from svmlp.train.model import Detector, decode

__all__ = ["DetectionLoss", "TaskAlignedAssigner", "pad_targets"]


def pad_targets(
    targets: torch.Tensor, batch: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``collate_batched``'s M×7 rows → per image ``labels B×N``, ``boxes B×N×4``, ``parent B×N``
    (the parent's position among its image's boxes, −1 if none) and ``mask B×N``."""
    device = targets.device
    if len(targets) == 0:
        z = torch.zeros(batch, 0, device=device)
        return z.long(), torch.zeros(batch, 0, 4, device=device), z.long(), z.bool()
    b = targets[:, 0].long()
    counts = torch.bincount(b, minlength=batch)
    n = int(counts.max())
    first = torch.cumsum(counts, 0) - counts  # first row of each image (rows are grouped by image)
    pos = torch.arange(len(targets), device=device) - first[b]
    labels = torch.zeros(batch, n, dtype=torch.long, device=device)
    boxes = torch.zeros(batch, n, 4, device=device)
    parent = torch.full((batch, n), -1, dtype=torch.long, device=device)
    mask = torch.zeros(batch, n, dtype=torch.bool, device=device)
    labels[b, pos] = targets[:, 1].long()
    boxes[b, pos] = targets[:, 2:6].float()
    prow = targets[:, 6].long()
    parent[b, pos] = torch.where(prow >= 0, pos[prow.clamp(min=0)], torch.full_like(prow, -1))
    mask[b, pos] = True
    return labels, boxes, parent, mask


class TaskAlignedAssigner:
    """TOOD's task-aligned assignment: each ground truth takes the ``topk`` anchors inside it with
    the highest ``score^alpha · IoU^beta``; an anchor claimed twice goes to the best-overlapping."""

    def __init__(self, num_classes: int, *, topk: int = 10, alpha: float = 0.5, beta: float = 6.0) -> None:
        self.num_classes, self.topk, self.alpha, self.beta, self.eps = num_classes, topk, alpha, beta, 1e-9

    @torch.no_grad()
    def __call__(
        self,
        scores: torch.Tensor,  # B×A×C, probabilities
        boxes: torch.Tensor,  # B×A×4, pixels
        anchors: torch.Tensor,  # A×2, pixels
        gt_labels: torch.Tensor,  # B×N
        gt_boxes: torch.Tensor,  # B×N×4
        gt_mask: torch.Tensor,  # B×N
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(target_scores B×A×C, fg_mask B×A, target_gt B×A)``."""
        bsz, n_anchor, _ = scores.shape
        if gt_boxes.shape[1] == 0:
            return (
                scores.new_zeros(scores.shape),
                scores.new_zeros(bsz, n_anchor).bool(),
                scores.new_zeros(bsz, n_anchor).long(),
            )
        lt = anchors[None, None] - gt_boxes[:, :, None, :2]
        rb = gt_boxes[:, :, None, 2:] - anchors[None, None]
        inside = torch.cat([lt, rb], -1).amin(-1) > self.eps  # B×N×A
        valid = inside & gt_mask[:, :, None]
        iou = complete_box_iou(gt_boxes[:, :, None, :], boxes[:, None, :, :].float()).clamp(min=0)
        iou = torch.where(valid, iou, torch.zeros_like(iou))
        idx = gt_labels.clamp(min=0)[:, :, None].expand(-1, -1, n_anchor)
        cls_score = scores.transpose(1, 2).gather(1, idx)  # B×N×A: each gt's class score per anchor
        metric = cls_score.float().pow(self.alpha) * iou.pow(self.beta)
        metric = torch.where(valid, metric, torch.zeros_like(metric))
        k = min(self.topk, n_anchor)
        top = metric.topk(k, dim=-1).indices
        chosen = torch.zeros_like(valid).scatter_(-1, top, True) & valid
        # an anchor chosen by several ground truths keeps the one it overlaps most
        several = chosen.sum(1, keepdim=True) > 1
        best = F.one_hot(iou.argmax(1), gt_boxes.shape[1]).transpose(1, 2).bool()
        chosen = torch.where(several, best & valid, chosen)
        fg = chosen.any(1)
        target_gt = chosen.float().argmax(1)  # B×A
        metric = metric * chosen
        norm = (
            metric * (iou * chosen).amax(-1, keepdim=True) / (metric.amax(-1, keepdim=True) + self.eps)
        ).amax(1)
        labels = gt_labels.gather(1, target_gt)
        target_scores = F.one_hot(labels.clamp(min=0), self.num_classes).float() * (norm * fg)[..., None]
        return target_scores, fg, target_gt


@dataclass
class LossGains:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


class DetectionLoss:
    """``loss, parts = criterion(feats, targets)``; parts are detached: box, icr, cls, dfl."""

    def __init__(
        self,
        model: Detector,
        *,
        icr: ICRMode | Literal["off"] = "off",
        icr_distance: bool = True,
        compile: bool = False,
    ) -> None:
        self.model, self.icr, self.icr_distance = model, icr, icr_distance
        # compile: CIoU + ICR as fused kernels (torch.compile), the same values as the eager pass
        self._box_losses: Callable[..., tuple[torch.Tensor, torch.Tensor]] = (
            Compiled(ciou_and_icr, "the box losses") if compile else ciou_and_icr
        )
        self.nc, self.reg_max = model.num_classes, model.reg_max
        self.assigner = TaskAlignedAssigner(self.nc)
        self.gains = LossGains()

    def __call__(
        self, feats: list[torch.Tensor], targets: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, float]]:
        feats = [f.float() for f in feats]  # the loss in float32, whatever autocast gave the model
        bsz = feats[0].shape[0]
        box_logits, cls_logits, boxes, anchors, stride = decode(
            feats, self.reg_max, self.nc, self.model.strides
        )
        gt_labels, gt_boxes, gt_parent, gt_mask = pad_targets(targets.to(boxes.device), bsz)
        target_scores, fg, target_gt = self.assigner(
            cls_logits.detach().sigmoid(), boxes.detach(), anchors, gt_labels, gt_boxes, gt_mask
        )
        norm = target_scores.sum().clamp(min=1.0)
        loss_cls = (
            F.binary_cross_entropy_with_logits(cls_logits.float(), target_scores, reduction="sum") / norm
        )
        zero = boxes.sum() * 0.0
        loss_box = loss_dfl = loss_icr = zero
        bi, ai = fg.nonzero(as_tuple=True)  # the one host sync: how many positives
        if len(bi):
            gi = target_gt[bi, ai]  # each positive's ground truth, by position in its image
            weight = target_scores[bi, ai].sum(-1)
            tbox, pbox = gt_boxes[bi, gi], boxes[bi, ai]
            loss_dfl = self._dfl(box_logits[bi, ai], anchors[ai], stride[ai], tbox, weight) / norm
            if self.icr == "off":
                with torch.profiler.record_function("svmlp.ciou"):
                    loss_box = ((1.0 - complete_box_iou(pbox, tbox)) * weight).sum() / norm
            else:
                # every positive goes through ICR, masked by "has a parent": no boolean indexing,
                # so no further host sync; a positive without a parent is compared with itself (0).
                # CIoU and ICR in one pass (ciou_and_icr): the same values, half the kernels
                # profiler ranges "svmlp.icr" (CIoU + ICR) and "svmlp.ciou" (CIoU alone, above): their
                # difference is what ICR adds to a step (scripts/gpu_check.py reads them)
                with torch.profiler.record_function("svmlp.icr"):
                    parent = gt_parent[bi, gi]
                    has = parent >= 0
                    vbox = torch.where(has[:, None], gt_boxes[bi, parent.clamp(min=0)], pbox.detach())
                    box_pen, pen = self._box_losses(
                        pbox, tbox, vbox, mode=self.icr, distance=self.icr_distance
                    )
                    loss_box = (box_pen * weight).sum() / norm
                    loss_icr = (pen * weight * has).sum() / norm
        g = self.gains
        total = (g.box * (loss_box + loss_icr) + g.cls * loss_cls + g.dfl * loss_dfl) * bsz
        parts = {
            "box": float(loss_box.detach()),
            "icr": float(loss_icr.detach()),
            "cls": float(loss_cls.detach()),
            "dfl": float(loss_dfl.detach()),
        }
        return total, parts

    def _dfl(
        self,
        logits: torch.Tensor,
        anchors: torch.Tensor,
        stride: torch.Tensor,
        tbox: torch.Tensor,
        weight: torch.Tensor,
    ) -> torch.Tensor:
        """Distribution focal loss: cross-entropy to the two bins around each true side distance."""
        dist = torch.cat([anchors - tbox[:, :2], tbox[:, 2:] - anchors], -1) / stride
        dist = dist.clamp(0, self.reg_max - 1 - 0.01)
        left = dist.long()
        wl = left + 1 - dist
        logp = logits.float().log_softmax(-1)
        loss = -(
            logp.gather(-1, left[..., None])[..., 0] * wl
            + logp.gather(-1, (left + 1)[..., None])[..., 0] * (1 - wl)
        )
        return (loss.mean(-1) * weight).sum()
