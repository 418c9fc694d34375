"""Model families: what the harness builds, trains with and decodes, looked up by name.

A family is three functions in one :class:`Family` record::

    build(*, num_classes, scale, imgsz) -> nn.Module      # forward(images B×3×H×W in [0, 1]) -> outputs
    criterion(model, *, icr, icr_distance) -> loss_fn      # loss_fn(outputs, targets) -> (loss, parts)
    postprocess(outputs, model, *, conf, iou) -> list      # per image (boxes N×4 xyxy input px, scores N, labels N)

``targets`` are :func:`svmlp.torch.collate_batched`'s rows ``(image, label, x0, y0, x1, y1, parent
row)``; ``parts`` is a dict of plain floats (the columns of ``metrics.csv``); ``labels`` are label-map
indices. The ICR term is :func:`svmlp.train.losses.icr_loss`: any criterion adds it to its box loss.

A family in the package is a module that defines ``FAMILY`` plus one line in :data:`FAMILIES`;
one defined elsewhere is :func:`register`-ed before training. The harness, checkpoints and
``svmlp predict`` need no change for either: ``svmlp train DATA --model NAME``.

>>> names()[0]
'svmlp-detector'
>>> get_family("nope")
Traceback (most recent call last):
...
svmlp.errors.UsageError: unknown model family 'nope'; known: svmlp-detector
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from svmlp.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "DEFAULT",
    "FAMILIES",
    "Family",
    "build_criterion",
    "build_model",
    "get_family",
    "names",
    "register",
]

#: the family every checkpoint written before families existed holds
DEFAULT = "svmlp-detector"

#: the families in the package: name → the module whose ``FAMILY`` defines it (imported on first use)
FAMILIES: dict[str, str] = {
    "svmlp-detector": "svmlp.train.detector",
}


@dataclass(frozen=True)
class Family:
    """One model family: its name (recorded in checkpoints) and its three functions (see the module)."""

    name: str
    build: Callable[..., nn.Module]
    criterion: Callable[..., Callable[..., tuple[Any, dict[str, float]]]]
    postprocess: Callable[..., list[tuple[Any, Any, Any]]]


_registered: dict[str, Family] = {}  # families registered at run time, by name


def register(family: Family, *, replace: bool = False) -> Family:
    """Make ``family`` known by its name; a name taken already is an error unless ``replace``."""
    if not replace and family.name in names():
        raise UsageError(f"model family {family.name!r} is registered already (pass replace=True)")
    _registered[family.name] = family
    return family


def names() -> tuple[str, ...]:
    """The known family names, the package's first."""
    return (*FAMILIES, *(n for n in _registered if n not in FAMILIES))


def get_family(name: str) -> Family:
    """The family called ``name``; an unknown name is a :class:`~svmlp.errors.UsageError` naming the known ones."""
    if name in _registered:
        return _registered[name]
    if name not in FAMILIES:
        raise UsageError(f"unknown model family {name!r}; known: {', '.join(names())}")
    family = importlib.import_module(FAMILIES[name]).FAMILY
    if not isinstance(family, Family) or family.name != name:
        raise UsageError(f"{FAMILIES[name]}.FAMILY is not the Family {name!r}")
    return family


def build_model(name: str, **options: Any) -> nn.Module:
    """A new model of family ``name`` (``num_classes``, ``scale``, ``imgsz``: see the module)."""
    return get_family(name).build(**options)


def build_criterion(
    name: str, model: nn.Module, **options: Any
) -> Callable[..., tuple[Any, dict[str, float]]]:
    """The loss of family ``name`` for ``model`` (``icr``, ``icr_distance``: see the module)."""
    return get_family(name).criterion(model, **options)
