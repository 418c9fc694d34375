"""The parent vehicle of each plate in a training batch, by svmlp's linking rule.

ultralytics' batches carry boxes and classes, not links, and its augmentations (mosaic, mixup,
random perspective, flips, letterbox) move, cut and drop boxes. Rather than thread svmlp's links
through every augmentation, the parents are computed on each batch's ground truth, as it is after
augmentation, with :func:`svmlp.links.link_plates` itself: the same rule (share of the plate inside
the vehicle, ranking, capacity) that ``svmlp link`` applies to the data set. On an un-augmented
batch the parents are the data set's own links wherever those follow the rule (the tests check
it). This module needs numpy only; :class:`LinkingCollate` runs it in the DataLoader's workers, so
the training step never waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from svmlp.errors import UsageError
from svmlp.links import MARGIN, MAX_PLATES, MIN_INSIDE, link_plates, with_roles
from svmlp.model import BoxTable, Category, Dataset, ImageTable
from svmlp.model.categories import categories_from_names

__all__ = ["PARENT_KEY", "ClassRoles", "LinkingCollate", "batch_parents", "class_roles"]

#: the batch key holding each box's parent (its index in the batch's flat box list, −1 for none)
PARENT_KEY = "svmlp_parent"


@dataclass(frozen=True)
class ClassRoles:
    """Which class indices are vehicles (parents) and which plates (children), and how plates are
    linked to them (svmlp's defaults)."""

    parents: tuple[int, ...]
    children: tuple[int, ...]
    min_inside: float = MIN_INSIDE
    max_plates: int = MAX_PLATES
    margin: float = MARGIN


def class_roles(
    names: Mapping[int, str] | Sequence[str],
    *,
    parents: Sequence[str] | None = None,
    children: Sequence[str] | None = None,
) -> ClassRoles:
    """The roles of a data set's classes (ultralytics' ``names``): from svmlp's alias table, or
    exactly the classes named by ``parents``/``children``. No vehicle class or no plate class is
    a :class:`~svmlp.errors.UsageError` (ICR has nothing to relate).

    >>> class_roles({0: "car", 1: "licence plate", 2: "dog"})
    ClassRoles(parents=(0,), children=(1,), min_inside=0.5, max_plates=2, margin=0.1)
    """
    listed = [names[k] for k in sorted(names)] if isinstance(names, Mapping) else list(names)
    cats = categories_from_names(listed)
    empty = ImageTable.build(id=[], file_name=[], split=[])
    roled = with_roles(Dataset(cats, empty), parents=parents, children=children).categories
    out = ClassRoles(
        parents=tuple(k for k, c in enumerate(roled) if c.role == "parent"),
        children=tuple(k for k, c in enumerate(roled) if c.role == "child"),
    )
    if not out.parents or not out.children:
        missing = "vehicle" if not out.parents else "plate"
        flag = "--parents" if not out.parents else "--children"
        raise UsageError(
            f"ICR needs a {missing} class, and none of {', '.join(map(repr, listed[:8]))} is one "
            f"by svmlp's alias table; name it with {flag}"
        )
    return out


def batch_parents(cls: Any, xyxy: Any, batch_idx: Any, roles: ClassRoles) -> np.ndarray:
    """The parent of each box of a batch: the index (in the batch's flat box list) of the vehicle
    a plate is linked to by :func:`svmlp.links.link_plates`, −1 for a plate with no vehicle and for
    every other box. ``cls``, ``xyxy`` (any consistent unit: pixels or shares of the image) and
    ``batch_idx`` are the batch's flat columns.

    >>> roles = ClassRoles(parents=(0,), children=(1,))
    >>> batch_parents([0, 1, 1, 0], [[0, 0, 10, 10], [2, 6, 5, 8], [20, 20, 22, 21], [0, 0, 9, 9]],
    ...               [0, 0, 0, 1], roles).tolist()
    [-1, 0, -1, -1]
    """
    cls_a = np.asarray(cls, dtype=np.float64).reshape(-1).astype(np.int64)
    n = len(cls_a)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    image = np.asarray(batch_idx, dtype=np.float64).reshape(-1).astype(np.int64)
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(n, 4)
    plates = np.isin(cls_a, roles.children)
    vehicles = np.isin(cls_a, roles.parents)
    if not plates.any() or not vehicles.any():
        return out
    # only plates and vehicles take part, each image a row; the rule needs nothing else
    keep = np.flatnonzero(plates | vehicles)
    order = keep[np.argsort(image[keep], kind="stable")]
    images, row = np.unique(image[order], return_inverse=True)
    cats = (Category(0, "vehicle", role="parent"), Category(1, "plate", role="child"))
    table = ImageTable.build(
        id=np.arange(len(images)),
        file_name=[f"{k}.jpg" for k in range(len(images))],
        split=np.full(len(images), "train"),
        width=np.ones(len(images), np.int64),
        height=np.ones(len(images), np.int64),
    )
    box_table = BoxTable.build(
        id=np.arange(1, len(order) + 1),
        image=row,
        category=plates[order].astype(np.int64),
        xyxy=boxes[order],
    )
    ds = Dataset(cats, table, box_table, validate=False)
    linked = link_plates(
        ds, relink=True, min_inside=roles.min_inside, max_plates=roles.max_plates, margin=roles.margin
    ).dataset.boxes.parent
    has = linked >= 0
    out[order[has]] = order[linked[has]]
    return out


class LinkingCollate:
    """A DataLoader ``collate_fn`` that adds :data:`PARENT_KEY` to what ``collate`` (ultralytics'
    own) gives: each box's parent, computed in the worker process."""

    def __init__(self, collate: Callable[[list[dict[str, Any]]], dict[str, Any]], roles: ClassRoles) -> None:
        self.collate, self.roles = collate, roles

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        batch = self.collate(items)
        xywh = batch["bboxes"].double().numpy().reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
        parents = batch_parents(batch["cls"].numpy(), xyxy, batch["batch_idx"].numpy(), self.roles)
        batch[PARENT_KEY] = torch.from_numpy(parents)
        return batch
