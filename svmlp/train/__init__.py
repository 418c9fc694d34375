"""Training: the ICR loss, a reference detector and its harness (extra: ``svmlp[train]``).

>>> from svmlp.train import icr_loss, Detector          # doctest: +SKIP
>>> from svmlp.train.harness import main                # svmlp train / python -m svmlp.train

Attributes load on first use, so ``svmlp --help`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ICR_MODES",
    "DetectionLoss",
    "Detector",
    "EvalResult",
    "complete_box_iou",
    "distance_box_iou",
    "evaluate_predictions",
    "generalized_box_iou",
    "box_iou",
    "icr_loss",
    "iou_loss",
    "nms",
]

_WHERE = {
    "ICR_MODES": "losses",
    "box_iou": "losses",
    "complete_box_iou": "losses",
    "distance_box_iou": "losses",
    "generalized_box_iou": "losses",
    "icr_loss": "losses",
    "iou_loss": "losses",
    "Detector": "model",
    "DetectionLoss": "criterion",
    "EvalResult": "coco_eval",
    "evaluate_predictions": "coco_eval",
    "nms": "predict",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'svmlp.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"svmlp.train.{_WHERE[name]}"), name)
