"""Counts per split and class: what ``svmlp stats`` prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from svmlp.model import Dataset

__all__ = [
    "FROM_DATA",
    "IN_MEMORY",
    "NO_ROLES",
    "SIZE_BUCKETS",
    "compute_stats",
    "format_stats",
    "with_links",
]

#: COCO's size buckets, by annotation area in square pixels (the box area when none is given).
SIZE_BUCKETS = (("small", 0.0, 32.0**2), ("medium", 32.0**2, 96.0**2), ("large", 96.0**2, float("inf")))


def _split_stats(ds: Dataset, mask: np.ndarray) -> dict[str, Any]:
    im, b = ds.images, ds.boxes
    rows = np.flatnonzero(mask)
    counts = np.diff(ds.offsets)[rows]
    box_mask = mask[b.image] if len(b) else np.zeros(0, bool)
    cat = b.category[box_mask]
    wh = b.xyxy[box_mask, 2:] - b.xyxy[box_mask, :2]
    area = np.where(np.isnan(b.area[box_mask]), wh[:, 0] * wh[:, 1], b.area[box_mask])
    child, parent = ds.role_mask("child")[box_mask], b.parent[box_mask]
    per_class = _per_class(ds, cat, b.image[box_mask], area)
    hw, hh = im.displayed_header_size()
    sw, sh = im.stated_size()  # a stale size the reader replaced still differs from the file
    read = (hw[rows] > 0) & (sw[rows] > 0)
    mismatch = read & ((hw[rows] != sw[rows]) | (hh[rows] != sh[rows]))
    return {
        "images": len(rows),
        "size_differs": int(mismatch.sum()),
        "labelled": int(im.labelled[rows].sum()),
        "unlabelled": int((~im.labelled[rows]).sum()),
        "empty": int((im.labelled[rows] & (counts == 0)).sum()),
        "boxes": int(box_mask.sum()),
        "crowd": int(b.iscrowd[box_mask].sum()),
        "plates_linked": int((child & (parent >= 0)).sum()),
        "plates_unlinked": int((child & (parent < 0)).sum()),
        "sizes": {name: int(((area >= lo) & (area < hi)).sum()) for name, lo, hi in SIZE_BUCKETS},
        "classes": per_class,
    }


def _per_class(ds: Dataset, cat: np.ndarray, image: np.ndarray, area: np.ndarray) -> dict[str, Any]:
    """Boxes, images and size buckets per class, counted for all classes at once: a loop over the
    classes would cost minutes on a names file of a million lines."""
    n = len(ds.categories)
    boxes = np.bincount(cat, minlength=n).tolist()
    stride = max(len(ds.images), 1)
    pairs = np.unique(cat.astype(np.int64) * stride + image)  # (class, image) pairs
    images = np.bincount(pairs // stride, minlength=n).tolist()
    sizes = {
        name: np.bincount(cat[(area >= lo) & (area < hi)], minlength=n).tolist()
        for name, lo, hi in SIZE_BUCKETS
    }
    return {
        c.name: {
            "id": c.id,
            "boxes": boxes[k],
            "images": images[k],
            **{name: counts[k] for name, counts in sizes.items()},
        }
        for k, c in enumerate(ds.categories)
    }


#: what ``stats["links"]`` says about the car→plate links counted
FROM_DATA, IN_MEMORY, NO_ROLES = "from the data", "linked in memory", "none (no vehicle or no plate class)"


def with_links(
    ds: Dataset, *, parents: Sequence[str] | None = None, children: Sequence[str] | None = None
) -> tuple[Dataset, str]:
    """``ds`` with the roles ``parents``/``children`` name (see :func:`svmlp.links.with_roles`), and
    with links: its own when it has any, else linked in memory by :func:`svmlp.links.link_plates`
    (as the audit does; nothing is written). Also says which (:data:`FROM_DATA`,
    :data:`IN_MEMORY` or :data:`NO_ROLES`).

    >>> from svmlp.synth import generate_annotations
    >>> with_links(generate_annotations(3, seed=0))[1]
    'from the data'
    """
    from svmlp.links import link_plates, with_roles

    ds = with_roles(ds, parents=parents, children=children)
    if not {"parent", "child"} <= {c.role for c in ds.categories}:
        return ds, NO_ROLES
    if (ds.boxes.parent >= 0).any():
        return ds, FROM_DATA  # a data set with links says which plates have none
    return link_plates(ds, strict=False).dataset, IN_MEMORY


def compute_stats(
    ds: Dataset, *, parents: Sequence[str] | None = None, children: Sequence[str] | None = None
) -> dict[str, Any]:
    """Images and boxes per split and class, empty (verified negative) and unlabelled images,
    images whose stored size differs from the file's header (EXIF turn included), crowd boxes,
    linked and unlinked plates, and COCO size buckets.

    Plates are counted as linked or not by the data's own links; on data with none, by links made
    in memory (:func:`with_links`), so that "without a vehicle" means no vehicle box holds the
    plate, not that the data has no links. ``links`` says which; ``parents``/``children`` name the
    vehicle and plate classes where the alias table does not know them.

    >>> from svmlp.synth import generate_annotations
    >>> stats = compute_stats(generate_annotations(4, seed=0))
    >>> stats["all"]["images"], stats["links"]
    (4, 'from the data')
    """
    ds, links = with_links(ds, parents=parents, children=children)
    out: dict[str, Any] = {"links": links, "splits": {}}
    for split in ds.splits:
        out["splits"][split] = _split_stats(ds, ds.images.split == split)
    out["all"] = _split_stats(ds, np.ones(len(ds.images), dtype=bool))
    out["categories"] = [{"id": c.id, "name": c.name, "role": c.role} for c in ds.categories]
    return out


def format_stats(stats: dict[str, Any]) -> str:
    """A plain-text table of :func:`compute_stats`' result."""
    cols = list(stats["splits"]) + ["all"]
    get = lambda col: stats["all"] if col == "all" else stats["splits"][col]  # noqa: E731
    rows: list[tuple[str, list[str]]] = []
    for key, label in (
        ("images", "images"),
        ("labelled", "  labelled"),
        ("empty", "  of which empty (negatives)"),
        ("unlabelled", "  unlabelled"),
        ("size_differs", "  stored size differs from the file"),
        ("boxes", "boxes"),
        ("crowd", "  crowd"),
        ("plates_linked", "plates linked to a vehicle"),
        ("plates_unlinked", "plates without a vehicle"),
    ):
        rows.append((label, [str(get(c)[key]) for c in cols]))
    for name, _, _ in SIZE_BUCKETS:
        rows.append((f"boxes {name}", [str(get(c)["sizes"][name]) for c in cols]))
    for cat in stats["categories"]:
        role = f" ({cat['role']})" if cat["role"] else ""
        rows.append(
            (f"class {cat['name']!r}{role}", [str(get(c)["classes"][cat["name"]]["boxes"]) for c in cols])
        )
    width = max(len(r[0]) for r in rows)
    colw = [max(len(c), *(len(r[1][k]) for r in rows)) for k, c in enumerate(cols)]
    lines = [" " * width + "  " + "  ".join(c.rjust(w) for c, w in zip(cols, colw))]
    lines += [
        label.ljust(width) + "  " + "  ".join(v.rjust(w) for v, w in zip(vals, colw)) for label, vals in rows
    ]
    return "\n".join([*lines, _LINKS_LINE.get(stats.get("links", ""), "")]).rstrip("\n")


_LINKS_LINE = {
    IN_MEMORY: "plates: the data has no car-plate links; these are linked in memory (svmlp link writes them)",
    NO_ROLES: "plates: no vehicle or no plate class to link (name them with --parents/--children)",
}
