"""ICR in ultralytics' own trainers (``pip install 'svmlp[ultralytics]'``).

>>> from ultralytics import YOLO                                        # doctest: +SKIP
>>> from svmlp.ultralytics import ICRTrainer                           # doctest: +SKIP
>>> YOLO("yolo12n.yaml").train(data="my-yolo/data.yaml", trainer=ICRTrainer, epochs=300)  # doctest: +SKIP

``ICRRTDETRTrainer`` does the same for ``RTDETR("rtdetr-l.yaml")``; :func:`icr_trainer` makes a
trainer with other ICR settings (mode, gain, the vehicle and plate classes). ``svmlp train DATA
--engine ultralytics --model yolo12n.yaml --icr inverse`` is the same from the command line.

ultralytics is AGPL-3.0. This package imports it only when one of its trainers or losses is
used; ``import svmlp`` never does. Everything here runs with ultralytics configured offline: no
weights, fonts or assets are downloaded.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SUPPORTED",
    "ICRDetectionLoss",
    "ICRRTDETRLoss",
    "ICRRTDETRTrainer",
    "ICRSettings",
    "ICRTrainer",
    "icr_trainer",
]

from svmlp.ultralytics._compat import SUPPORTED
from svmlp.ultralytics.settings import ICRSettings

_LAZY = {
    "ICRTrainer": "svmlp.ultralytics._trainer",
    "ICRRTDETRTrainer": "svmlp.ultralytics._trainer",
    "icr_trainer": "svmlp.ultralytics._trainer",
    "ICRDetectionLoss": "svmlp.ultralytics._loss",
    "ICRRTDETRLoss": "svmlp.ultralytics._loss",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'svmlp.ultralytics' has no attribute {name!r}")
    import importlib

    from svmlp.ultralytics._compat import require

    require()  # ultralytics present, in the supported range, offline
    return getattr(importlib.import_module(module), name)
