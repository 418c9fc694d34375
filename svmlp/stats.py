"""Counts per split and class: what ``svmlp stats`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from svmlp.model import Dataset

__all__ = ["SIZE_BUCKETS", "compute_stats", "format_stats"]

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
    per_class = {}
    for k, c in enumerate(ds.categories):
        sel = cat == k
        per_class[c.name] = {
            "id": c.id,
            "boxes": int(sel.sum()),
            "images": int(len(np.unique(b.image[box_mask][sel]))),
            **{name: int((sel & (area >= lo) & (area < hi)).sum()) for name, lo, hi in SIZE_BUCKETS},
        }
    hw, hh = im.displayed_header_size()
    read = (hw[rows] > 0) & (im.width[rows] > 0)
    mismatch = read & ((hw[rows] != im.width[rows]) | (hh[rows] != im.height[rows]))
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


def compute_stats(ds: Dataset) -> dict[str, Any]:
    """Images and boxes per split and class, empty (verified negative) and unlabelled images,
    images whose stored size differs from the file's header (EXIF turn included), crowd boxes,
    linked and unlinked plates, and COCO size buckets.

    >>> from svmlp.synth import generate_annotations
    >>> compute_stats(generate_annotations(4, seed=0))["all"]["images"]
    4
    """
    out: dict[str, Any] = {"splits": {}}
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
    return "\n".join(lines)
