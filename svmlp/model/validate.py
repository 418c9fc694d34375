"""The invariants a :class:`~svmlp.model.Dataset` checks when it is built."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from svmlp.errors import AnnotationError
from svmlp.model.categories import ROLES
from svmlp.model.paths import check_category_name, check_file_names, check_split_name
from svmlp.model.tables import MAX_COORD, MAX_SIDE, rows_all, usable_boxes

if TYPE_CHECKING:
    from svmlp.model.dataset import Dataset

__all__ = ["check_names", "first_duplicate", "validate_dataset"]


def first_duplicate(*columns: np.ndarray) -> int | None:
    """Row of the earliest repeat of a key made of ``columns``, or None when all keys differ."""
    if len(columns[0]) < 2:
        return None
    order = np.lexsort(columns[::-1])  # stable: equal keys keep their row order
    same = np.ones(len(order) - 1, dtype=bool)
    for col in columns:
        ordered = col[order]
        same &= ordered[1:] == ordered[:-1]
    return int(order[1:][same].min()) if same.any() else None


def _split_codes(ds: Dataset) -> np.ndarray:
    return np.unique(ds.images.split, return_inverse=True)[1].astype(np.int64)


def _describe_image(ds: Dataset, i: int) -> str:
    return (
        f"image {str(ds.images.file_name[i])!r} (id {int(ds.images.id[i])}, split {str(ds.images.split[i])})"
    )


def check_names(ds: Dataset, source: object = None) -> None:
    """Every split, image file and class name by the path rule (:mod:`svmlp.model.paths`)."""
    where = None if source is None else str(source)
    for split in sorted(set(ds.images.split.tolist())):
        check_split_name(split, where=where)
    check_file_names(ds.images.file_name.tolist(), where=where)
    for c in ds.categories:
        check_category_name(c.name, where=where)


def validate_dataset(ds: Dataset) -> None:
    """Raise :class:`AnnotationError` naming the first broken invariant."""
    _check_categories(ds)
    _check_images(ds)
    _check_boxes(ds)
    check_links(ds)


def _check_categories(ds: Dataset) -> None:
    seen_ids: set[int] = set()
    seen_names: set[str] = set()
    for c in ds.categories:
        if c.id in seen_ids:
            raise AnnotationError(f"category id {c.id} appears twice")
        if c.name in seen_names:
            raise AnnotationError(f"category name {c.name!r} appears twice")
        if c.role is not None and c.role not in ROLES:
            raise AnnotationError(f"category {c.name!r}: role {c.role!r} is not one of {ROLES}")
        seen_ids.add(c.id)
        seen_names.add(c.name)


def _check_images(ds: Dataset) -> None:
    im = ds.images
    im.check_lengths()
    codes = _split_codes(ds)
    row = first_duplicate(codes, im.id)
    if row is not None:
        raise AnnotationError(f"image id {int(im.id[row])} appears twice in split {str(im.split[row])}")
    if len(im):
        row = first_duplicate(codes, im.file_name)
        if row is not None:
            raise AnnotationError(
                f"image file {str(im.file_name[row])!r} appears twice in split {str(im.split[row])}"
            )
    bad = np.flatnonzero((im.width < 0) | (im.height < 0))
    if len(bad):
        raise AnnotationError(f"{_describe_image(ds, int(bad[0]))}: negative width or height")
    bad = np.flatnonzero((im.width > MAX_SIDE) | (im.height > MAX_SIDE))
    if len(bad):
        i = int(bad[0])
        raise AnnotationError(
            f"{_describe_image(ds, i)}: size {int(im.width[i])}x{int(im.height[i])} is larger than any image can be"
        )
    bad = np.flatnonzero(im.id < 0)
    if len(bad):
        raise AnnotationError(f"{_describe_image(ds, int(bad[0]))}: ids must be >= 0")


def _check_boxes(ds: Dataset) -> None:
    b, n_img = ds.boxes, len(ds.images)
    b.check_lengths()
    if not len(b):
        return
    if b.image.min() < 0 or b.image.max() >= n_img:
        raise AnnotationError("a box refers to an image row that does not exist")
    if b.category.min() < 0 or b.category.max() >= len(ds.categories):
        raise AnnotationError("a box refers to a category row that does not exist")
    finite = usable_boxes(b.xyxy)
    inverted = (b.xyxy[:, 2] < b.xyxy[:, 0]) | (b.xyxy[:, 3] < b.xyxy[:, 1])
    bad = np.flatnonzero(~finite | inverted)
    if len(bad):
        r = int(bad[0])
        what = (
            f"a coordinate that is not finite or beyond ±{MAX_COORD:.0f} px"
            if not finite[r]
            else "x1 < x0 or y1 < y0"
        )
        raise AnnotationError(
            f"box id {int(b.id[r])} in {_describe_image(ds, int(b.image[r]))}: {what} {b.xyxy[r].tolist()}"
        )
    bad = np.flatnonzero(b.id < 0)
    if len(bad):
        r = int(bad[0])
        raise AnnotationError(
            f"box id {int(b.id[r])} in {_describe_image(ds, int(b.image[r]))}: ids must be >= 0"
        )
    if b.corners is not None:
        with np.errstate(invalid="ignore"):  # NaN: no corners; inf is beyond any bound too
            beyond = np.abs(b.corners.reshape(len(b), 8)) > MAX_COORD
        bad = np.flatnonzero(~rows_all(~beyond)) if beyond.any() else np.zeros(0, dtype=np.int64)
        if len(bad):
            r = int(bad[0])
            raise AnnotationError(
                f"box id {int(b.id[r])} in {_describe_image(ds, int(b.image[r]))}: plate corners "
                f"{b.corners[r].tolist()} are not finite or lie beyond ±{MAX_COORD:.0f} px"
            )
    unlabelled = np.flatnonzero(~ds.images.labelled[b.image])
    if len(unlabelled):
        i = int(b.image[unlabelled[0]])
        raise AnnotationError(
            f"{_describe_image(ds, i)} is marked unlabelled (never annotated) but has boxes; "
            "an annotated image with no boxes is a labelled one"
        )
    codes = _split_codes(ds)[b.image]
    row = first_duplicate(codes, b.id)
    if row is not None:
        raise AnnotationError(
            f"box id {int(b.id[row])} appears twice in split {str(ds.images.split[b.image[row]])}"
        )


def check_links(ds: Dataset) -> None:
    """The links of ``ds`` by the model's rules (each part of :func:`validate_dataset`)."""
    b = ds.boxes
    has = np.flatnonzero(b.parent >= 0)
    if not len(has):
        return
    parents = b.parent[has]
    if parents.max() >= len(b):
        raise AnnotationError("a box's parent row does not exist")
    parent_role = ds.role_mask("parent")
    child_role = ds.role_mask("child")
    for cond, what in (
        (parents == has, "is its own parent"),
        (b.image[parents] != b.image[has], "has a parent in another image"),
        (~child_role[has], "has a parent but its category is not a plate (child) class"),
        (~parent_role[parents], "has a parent whose category is not a vehicle (parent) class"),
    ):
        bad = np.flatnonzero(cond)
        if len(bad):
            r = int(has[bad[0]])
            raise AnnotationError(
                f"box id {int(b.id[r])} in {_describe_image(ds, int(b.image[r]))} {what}"
                f" (parent box id {int(b.id[b.parent[r]])})"
            )
    scores = b.link_score[has]
    bad = np.flatnonzero(~np.isnan(scores) & ((scores < 0) | (scores > 1)))
    if len(bad):
        r = int(has[bad[0]])
        raise AnnotationError(f"box id {int(b.id[r])}: link score {float(b.link_score[r])} is outside [0, 1]")
