"""ICR inside ultralytics' own losses, by subclassing them (nothing of ultralytics is copied).

- YOLO (v8/11/12: :class:`v8DetectionLoss`; YOLOv10/26 through :class:`E2ELoss`): after
  ultralytics' task-aligned assignment, each positive anchor whose assigned ground truth is a plate
  with a parent vehicle adds ``icr_loss(predicted box, vehicle box)``, weighted by the anchor's
  target score and divided by the target-score sum, exactly as the CIoU term beside it, then
  multiplied by the box gain (``hyp.box``) and :attr:`ICRSettings.gain`. It is added to
  ``box_loss`` (the paper adds ICR to the IoU box loss) and also reported alone as ``icr_loss``.
- RT-DETR (:class:`RTDETRDetectionLoss`): each query matched to a plate with a parent adds the
  same penalty, summed and divided by the number of ground-truth boxes and multiplied by the
  GIoU gain, as the GIoU term it is added to; in the main, auxiliary (each decoder layer and the
  encoder) and denoising losses alike, since each of them goes through the one matched-pair loss.

The parent of each ground-truth box comes with the batch (:data:`~svmlp.ultralytics.parents.PARENT_KEY`,
computed in the DataLoader workers); a batch without it (a caller of the loss that did not go
through svmlp's dataset) gets its parents computed here, by the same rule.

A criterion is made by building ultralytics' own (``model.init_criterion()``) and giving it the
ICR subclass (:func:`with_icr`), so every constructor argument stays ultralytics' own.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from ultralytics.models.utils.loss import RTDETRDetectionLoss
from ultralytics.utils.loss import BboxLoss, E2ELoss, v8DetectionLoss
from ultralytics.utils.ops import xywh2xyxy

from svmlp.errors import UsageError
from svmlp.train.losses import icr_loss
from svmlp.ultralytics.parents import PARENT_KEY, ClassRoles, batch_parents
from svmlp.ultralytics.settings import ICRSettings

__all__ = ["ICRDetectionLoss", "ICRRTDETRLoss", "is_icr", "with_icr"]


def _parents(batch: dict[str, Any], roles: ClassRoles, device: torch.device) -> torch.Tensor:
    """The batch's parents: carried by it, or computed here (on the CPU) by svmlp's rule."""
    carried = batch.get(PARENT_KEY)
    if isinstance(carried, torch.Tensor) and len(carried) == len(batch["cls"]):
        return carried.to(device=device, dtype=torch.long)
    xywh = batch["bboxes"].detach().double().cpu().reshape(-1, 4)
    parents = batch_parents(
        batch["cls"].detach().cpu().numpy(),
        xywh2xyxy(xywh).numpy(),
        batch["batch_idx"].detach().cpu().numpy(),
        roles,
    )
    return torch.from_numpy(parents).to(device)


class _RecordedBboxLoss(BboxLoss):
    """ultralytics' box loss, unchanged, keeping what it was given for the ICR term."""

    last: dict[str, Any]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.last = inspect.signature(BboxLoss.forward).bind(self, *args, **kwargs).arguments
        return super().forward(*args, **kwargs)


class ICRDetectionLoss(v8DetectionLoss):
    """:class:`v8DetectionLoss` plus ICR (see the module)."""

    icr: ICRSettings
    roles: ClassRoles

    def get_assigned_targets_and_loss(self, preds: Any, batch: dict[str, Any], **assign_kwargs: Any) -> tuple:
        assigned, loss, items = super().get_assigned_targets_and_loss(preds, batch, **assign_kwargs)
        fg_mask, target_gt_idx, _, _, stride_tensor = assigned
        term = self._icr_term(batch, preds, fg_mask, target_gt_idx, stride_tensor) * (
            self.hyp.box * self.icr.gain
        )
        loss[0] = loss[0] + term
        items = {**items, "box_loss": loss[0].detach(), "icr_loss": term.detach()}
        return assigned, loss, items

    def _icr_term(
        self,
        batch: dict[str, Any],
        preds: dict[str, torch.Tensor],
        fg_mask: torch.Tensor,
        target_gt_idx: torch.Tensor,
        stride_tensor: torch.Tensor,
    ) -> torch.Tensor:
        seen = self.bbox_loss.last
        pred_bboxes = seen["pred_bboxes"]  # grid units, (bs, anchors, 4), in the graph
        zero = pred_bboxes[..., :0].sum()  # keeps the graph and the dtype on an empty batch
        n = len(batch["cls"])
        if n == 0:
            return zero
        bs = pred_bboxes.shape[0]
        parent = _parents(batch, self.roles, self.device)
        batch_idx = batch["batch_idx"].view(-1).to(self.device, torch.long)
        counts = torch.bincount(batch_idx, minlength=bs)
        within = torch.arange(n, device=self.device) - (counts.cumsum(0) - counts)[batch_idx]
        imgsz = torch.tensor(preds["feats"][0].shape[2:], device=self.device) * self.stride[0]
        targets = torch.cat((batch_idx.view(-1, 1), batch["cls"].view(-1, 1), batch["bboxes"]), 1)
        gt = self.preprocess(targets.to(self.device).float(), bs, scale_tensor=imgsz[[1, 0, 1, 0]])
        gt_bboxes = gt[..., 1:5]  # (bs, most boxes of an image, 4) pixels, xyxy
        parent_pad = torch.full(gt.shape[:2], -1, dtype=torch.long, device=self.device)
        has = parent >= 0
        parent_pad[batch_idx[has], within[has]] = within[parent[has]]
        fg = fg_mask.nonzero(as_tuple=True)
        vehicle = parent_pad[fg[0], target_gt_idx[fg]]
        use = (vehicle >= 0).to(pred_bboxes.dtype)
        veh_boxes = gt_bboxes[fg[0], vehicle.clamp(min=0)]
        pred_px = pred_bboxes[fg] * stride_tensor[fg[1]]
        pen = icr_loss(
            pred_px,
            veh_boxes,
            mode=self.icr.mode,  # type: ignore[arg-type]
            reduction="none",
            distance=self.icr.distance,
            cap=self.icr.cap,
        )
        weight = seen["target_scores"][fg].sum(-1)
        return zero + (pen * weight * use).sum() / seen["target_scores_sum"]


class ICRRTDETRLoss(RTDETRDetectionLoss):
    """:class:`RTDETRDetectionLoss` plus ICR (see the module)."""

    icr: ICRSettings
    roles: ClassRoles
    #: (batch boxes tensor, its parents): set by svmlp's trainer for the batch it is about to use
    handed: tuple[torch.Tensor, torch.Tensor] | None = None
    _parent: torch.Tensor | None = None
    _matched: Any = None
    #: the ICR part of the last call (all layers), for logging and measurement
    last_icr: torch.Tensor | None = None

    def _get_index(self, match_indices: list[tuple]) -> tuple:  # type: ignore[override]
        self._matched = super()._get_index(match_indices)
        return self._matched

    def forward(self, preds: Any, batch: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        handed = self.handed
        if handed is not None and handed[0] is batch["bboxes"]:
            self._parent = handed[1].to(batch["bboxes"].device)
        else:
            self._parent = _parents(batch, self.roles, batch["bboxes"].device)
        self.last_icr = None
        try:
            return super().forward(preds, batch, *args, **kwargs)
        finally:
            self._parent = None

    def _get_loss(
        self,
        pred_bboxes: torch.Tensor,
        pred_scores: torch.Tensor,
        gt_bboxes: torch.Tensor,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        out = super()._get_loss(pred_bboxes, pred_scores, gt_bboxes, *args, **kwargs)
        parent = self._parent
        if parent is None or len(gt_bboxes) == 0:
            return out
        (b_idx, src), gt_idx = self._matched
        vehicle = parent[gt_idx]
        use = (vehicle >= 0).to(pred_bboxes.dtype)
        pen = icr_loss(
            xywh2xyxy(pred_bboxes[b_idx, src]),
            xywh2xyxy(gt_bboxes[vehicle.clamp(min=0)]),
            mode=self.icr.mode,  # type: ignore[arg-type]
            reduction="none",
            distance=self.icr.distance,
            cap=self.icr.cap,
        )
        term = (pen * use).sum() / len(gt_bboxes) * (self.loss_gain["giou"] * self.icr.gain)
        postfix = kwargs.get("postfix", args[2] if len(args) > 2 else "")
        key = f"loss_giou{postfix}"
        out[key] = out[key] + term
        self.last_icr = term.detach() if self.last_icr is None else self.last_icr + term.detach()
        return out


def is_icr(criterion: Any) -> bool:
    """Whether ``criterion`` already carries ICR (an ICR loss, or an E2E loss of two)."""
    if isinstance(criterion, E2ELoss):
        return isinstance(criterion.one2many, ICRDetectionLoss)
    return isinstance(criterion, (ICRDetectionLoss, ICRRTDETRLoss))


def _give(loss: Any, settings: ICRSettings, roles: ClassRoles) -> None:
    if type(loss) is v8DetectionLoss:
        loss.__class__ = ICRDetectionLoss
        if type(loss.bbox_loss) is not BboxLoss:
            raise UsageError(
                f"this model's box loss is {type(loss.bbox_loss).__name__}; ICR needs ultralytics' BboxLoss"
            )
        loss.bbox_loss.__class__ = _RecordedBboxLoss
    elif type(loss) is RTDETRDetectionLoss:
        loss.__class__ = ICRRTDETRLoss
    else:
        raise UsageError(
            f"ICR is for detection models (YOLO's v8DetectionLoss, RT-DETR's RTDETRDetectionLoss); "
            f"this model's loss is {type(loss).__name__}"
        )
    loss.icr, loss.roles = settings, roles


def with_icr(model: Any, settings: ICRSettings, roles: ClassRoles) -> Any:
    """ultralytics' own criterion for ``model`` (``model.init_criterion()``), given ICR."""
    criterion = model.init_criterion()
    if isinstance(criterion, E2ELoss):
        _give(criterion.one2many, settings, roles)
        _give(criterion.one2one, settings, roles)
    else:
        _give(criterion, settings, roles)
    return criterion
