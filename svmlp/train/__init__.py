"""Training: the ICR loss, a reference detector and its harness (extra: ``svmlp[train]``).

>>> from svmlp.train import icr_loss, Detector          # doctest: +SKIP
>>> from svmlp.train.harness import main                # svmlp train / python -m svmlp.train
>>> from svmlp.train import Family, register            # a model family of your own

``harness`` (the steps of a run) drives ``data`` (reading, loaders), ``registry`` (model families:
``detector`` is the reference one, ``model`` + ``criterion``), ``engine`` (one epoch, an
evaluation), ``checkpoint`` and ``report``; ``runtime`` (device, seeds, processes) is shared with
``inference`` (``svmlp predict``). ``losses`` holds the IoU family and ICR, ``predict`` NMS and COCO
results, ``coco_eval`` the metrics.

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
    "Family",
    "build_criterion",
    "build_model",
    "complete_box_iou",
    "distance_box_iou",
    "evaluate_predictions",
    "generalized_box_iou",
    "box_iou",
    "icr_loss",
    "iou_loss",
    "nms",
    "register",
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
    "Family": "registry",
    "build_criterion": "registry",
    "build_model": "registry",
    "register": "registry",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'svmlp.train' has no attribute {name!r}")
    return getattr(importlib.import_module(f"svmlp.train.{_WHERE[name]}"), name)
