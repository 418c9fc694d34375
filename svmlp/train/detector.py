"""The reference detector as a model family (``svmlp-detector``, the harness's default).

>>> import torch
>>> from svmlp.train.registry import build_model, get_family
>>> model = build_model("svmlp-detector", num_classes=2, scale="p", imgsz=64).eval()
>>> [(b.shape, s.shape) for b, s, _ in get_family("svmlp-detector").postprocess(
...     model(torch.zeros(1, 3, 64, 64)), model, conf=2.0)]
[(torch.Size([0, 4]), torch.Size([0]))]
"""

from __future__ import annotations

from typing import Literal, cast

import torch

from svmlp.errors import UsageError
from svmlp.train.criterion import DetectionLoss
from svmlp.train.losses import ICRMode
from svmlp.train.model import SCALES, Detector, decode
from svmlp.train.predict import nms
from svmlp.train.registry import Family

__all__ = ["FAMILY", "build", "criterion", "postprocess"]


def build(*, num_classes: int, scale: str = "n", imgsz: int = 640) -> Detector:
    """A new detector, its class logits started for ``imgsz`` inputs."""
    if scale not in SCALES:
        raise UsageError(f"--scale {scale!r}: choose one of {', '.join(SCALES)}")
    model = Detector(num_classes, scale=scale)
    model.reset_head_bias(imgsz)
    return model


def criterion(
    model: Detector, *, icr: str = "off", icr_distance: bool = True, compile: bool = False
) -> DetectionLoss:
    """Task-aligned assignment, BCE classes, CIoU + DFL boxes, and ICR (``icr`` not ``off``);
    ``compile``: CIoU + ICR through ``torch.compile``."""
    mode = cast("ICRMode | Literal['off']", icr)  # checked by the harness's parser and by icr_loss
    return DetectionLoss(model, icr=mode, icr_distance=icr_distance, compile=compile)


def postprocess(
    feats: list[torch.Tensor],
    model: Detector,
    *,
    conf: float = 0.001,
    iou: float = 0.6,
    max_det: int = 300,
    pre_nms: int = 3000,
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per image ``(boxes N×4 xyxy in input pixels, scores N, labels N)``, class-aware NMS."""
    _, cls_logits, boxes, _, _ = decode(feats, model.reg_max, model.num_classes, model.strides)
    scores = cls_logits.float().sigmoid()
    out = []
    for b in range(len(boxes)):  # per image: candidates differ in number
        s, lab = scores[b].max(-1)
        keep = s > conf
        bx, s, lab = boxes[b][keep], s[keep], lab[keep]
        if len(s) > pre_nms:
            top = s.topk(pre_nms).indices
            bx, s, lab = bx[top], s[top], lab[top]
        # one NMS for all classes: boxes of different classes are moved apart so they never overlap
        span = (bx.max() - bx.min() + 1) if len(bx) else 0  # boxes may reach past the top-left edge
        offset = lab[:, None].float() * span
        kept = nms(bx + offset, s, iou, limit=max_det)
        out.append((bx[kept], s[kept], lab[kept]))
    return out


FAMILY = Family("svmlp-detector", build=build, criterion=criterion, postprocess=postprocess)
