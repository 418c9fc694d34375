"""Which ultralytics the plug-in works with, checked before anything is trained.

The plug-in subclasses two of ultralytics' losses and relies on a few of their internals (named
below). An ultralytics outside :data:`SUPPORTED`, or one whose internals moved, is one clear
:class:`~svmlp.errors.UsageError` naming the range: never a silent run without ICR.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from svmlp.errors import UsageError

__all__ = ["SUPPORTED", "check", "offline", "offline_assets", "require"]

#: the ultralytics releases the plug-in is built against (the ``svmlp[ultralytics]`` extra)
SUPPORTED = ">=8.4.0,<8.5"
_LOW, _HIGH = (8, 4, 0), (8, 5, 0)

#: what the plug-in uses of ultralytics' losses: (module, class, attribute, parameters it must take)
_INTERNALS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("ultralytics.utils.loss", "v8DetectionLoss", "get_assigned_targets_and_loss", ("preds", "batch")),
    ("ultralytics.utils.loss", "v8DetectionLoss", "preprocess", ("targets", "batch_size", "scale_tensor")),
    (
        "ultralytics.utils.loss",
        "BboxLoss",
        "forward",
        ("pred_bboxes", "target_scores", "target_scores_sum", "fg_mask"),
    ),
    ("ultralytics.utils.loss", "E2ELoss", "__init__", ("model", "loss_fn")),
    ("ultralytics.models.utils.loss", "DETRLoss", "_get_loss", ("pred_bboxes", "gt_bboxes", "postfix")),
    ("ultralytics.models.utils.loss", "DETRLoss", "_get_index", ("match_indices",)),
    ("ultralytics.models.utils.loss", "RTDETRDetectionLoss", "forward", ("preds", "batch")),
)


def offline() -> None:
    """Configure ultralytics (before its first import) never to reach the network: no weights,
    fonts, datasets or pip installs are fetched, no usage events sent. A variable the user set
    stands."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def require() -> Any:
    """The ultralytics module, offline, or a :class:`UsageError` saying how to get a working one."""
    offline()
    try:
        import ultralytics
    except ImportError as exc:
        raise UsageError(
            f"the ultralytics engine needs ultralytics{SUPPORTED} (AGPL-3.0): "
            f"pip install 'svmlp[ultralytics]' ({exc})"
        ) from None
    check(ultralytics.__version__)
    offline_assets()
    return ultralytics


def offline_assets() -> None:
    """ultralytics checks for Arial (its plots' font) when it reads a data set, and fetches it from
    its servers when missing: give it matplotlib's DejaVu Sans under those names in its config
    folder, so nothing is fetched."""
    from ultralytics.utils import USER_CONFIG_DIR

    try:
        import matplotlib
    except ImportError:
        return
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = Path(USER_CONFIG_DIR) / name
        if font.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(font.read_bytes())


def check(version: str) -> None:
    """Refuse an ultralytics outside :data:`SUPPORTED`, or one whose loss internals changed."""
    if not _LOW <= _version(version) < _HIGH:
        raise UsageError(
            f"ultralytics {version} is installed; svmlp's ICR plug-in supports ultralytics{SUPPORTED}: "
            f"pip install 'ultralytics{SUPPORTED}'"
        )
    import importlib

    for module, cls, attr, params in _INTERNALS:
        owner = getattr(importlib.import_module(module), cls, None)
        member = getattr(owner, attr, None)
        try:
            have = set(inspect.signature(member).parameters) if member is not None else set()
        except (TypeError, ValueError):
            have = set()
        missing = [p for p in params if p not in have]
        if member is None or missing:
            raise UsageError(
                f"ultralytics {version}: {cls}.{attr} is not what svmlp's ICR plug-in was built on "
                f"(missing {', '.join(missing) or attr}); it supports ultralytics{SUPPORTED}"
            )
