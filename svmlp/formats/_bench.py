"""What the read-only plate benchmarks (UFPR-ALPR, OpenALPR, CCPD, Open Images) share: a frame is
one image and its regions; :func:`build` turns frames into a :class:`~svmlp.model.Dataset`
(sizes from the image headers, links by region index, plate text and corners)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import UsageError
from svmlp.formats._builder import BoxBuilder, probed_sizes, region_rows
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split
from svmlp.model import Category, Dataset, ImageTable, Inputs, categories_from_names
from svmlp.model.strictness import Findings

__all__ = ["Frame", "Region", "build", "refuse_write", "split_of"]

#: the benchmarks' split folder names
_SPLIT_WORDS = {"training": "train", "validation": "val", "testing": "test"}


@dataclass
class Region:
    """One box: its class, ``xyxy`` in pixels and extras (``parent``: the index of its vehicle
    among the frame's regions; ``plate``: text and corners; ``flags``; ``iscrowd``)."""

    label: str
    xyxy: list[float]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Frame:
    split: str
    root: Path
    key: str
    label: str = ""
    regions: list[Region] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)
    labelled: bool = True


def split_of(parts: tuple[str, ...]) -> str | None:
    """The split the first folder of ``parts`` that names one stands for."""
    for part in parts:
        word = _SPLIT_WORDS.get(part.lower()) or infer_split(part)
        if word is not None and (part.lower() in _SPLIT_WORDS or word == part.lower()):
            return word
    return None


def refuse_write(name: str) -> UsageError:
    return UsageError(f"svmlp reads {name} but does not write it (a benchmark's own layout)")


def build(
    frames: list[Frame],
    *,
    given: Path,
    folder: Path,
    order: list[str],
    probe: bool,
    findings: Findings,
    notes: list[str],
) -> Dataset:
    """The data set of ``frames``; classes in ``order`` first, then any other seen, sorted."""
    seen = {r.label for f in frames for r in f.regions}
    names = [n for n in order if n in seen] + sorted(seen - set(order))
    categories: list[Category] = list(categories_from_names(names))
    lookup = {c.name: k for k, c in enumerate(categories)}
    builder = BoxBuilder()
    next_id = 1
    for row, f in enumerate(frames):
        regions = [(r.label, r.xyxy, r.extra) for r in f.regions]
        cls, xyxy, ids, extras, crowd = region_rows(regions, lookup, next_id)
        next_id += len(regions)
        builder.add(
            row,
            cls,
            xyxy,
            ids,
            extras=extras,
            iscrowd=crowd,
            position=np.arange(len(regions), dtype=np.float64),
            source=f.label,
        )
    guard = LinkGuard([folder])
    paths = [p if guard.outside(p) is None else None for p in (f.root / f.key for f in frames)]
    sizes, (hw, hh, ho) = probed_sizes(paths, [f.size for f in frames], probe)
    roots: dict[str, Path] = {}
    for f in frames:
        roots.setdefault(f.split, f.root)
    table = ImageTable.build(
        id=np.arange(1, len(frames) + 1, dtype=np.int64),
        file_name=[f.key for f in frames],
        split=[f.split for f in frames] or np.zeros(0, "U1"),
        width=sizes[:, 0],
        height=sizes[:, 1],
        labelled=[f.labelled for f in frames],
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=[f.label for f in frames],
    )
    return Dataset(
        categories,
        table,
        builder.build(),
        roots=roots or {DEFAULT_SPLIT: folder},
        notes=notes,
        source=given,
        inputs=Inputs.of(
            files=[given] if given.is_file() else [],
            trees=sorted(set(roots.values())) if given.is_dir() else [],
            folders=[folder],
            bounds=[folder],
        ),
        findings=findings,
    )


def relative(path: Path, root: Path) -> tuple[str, ...]:
    return Path(os.path.relpath(path, root)).parts
