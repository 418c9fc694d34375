"""DOTA: oriented boxes as corner rows in image pixels, ``<split>/images/`` + ``<split>/labelTxt/``.

A row is ``x1 y1 x2 y2 x3 y3 x4 y4 class difficulty`` (the difficulty may be left out); a file
may begin with ``imagesource:...`` and ``gsd:...`` lines. The DOTA devkit and Roboflow's DOTA
export (often offered as "YOLO OBB") write it. Each row is read as a box with its four
``corners``, its enclosing box as ``xyxy`` and the difficulty as ``difficult``; the classes are
the names the rows use, sorted (the sidecar of a set svmlp wrote keeps them all). The layout is one
folder with ``images/`` and ``labelTxt/`` (its split is the folder's name when that names one,
else ``train``), or split folders holding them.

Written: every box as its corners where it has them, else its box's four corners, with
``repr`` floats (exact); class names with white space have it turned into ``-`` (a row is
split at white space). The sidecar keeps the rest (ids, links, flags, a plate's box apart from
its corners), so a round trip is exact.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from svmlp._files import LinkGuard, make_folders, within
from svmlp.errors import AnnotationError
from svmlp.formats import _sidecar
from svmlp.formats._dota_read import LABELS, DotaRead, find_parts, read_parts, token_of
from svmlp.formats._layout import DEFAULT_SPLIT, infer_split, paused_gc
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._yolo_write import write_file
from svmlp.model import Dataset, Inputs, categories_from_names
from svmlp.model.geometry import corner_bounds
from svmlp.model.paths import check_destinations
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import usable_boxes

__all__ = [
    "LABELS",
    "LOOKS_FOR",
    "NAME",
    "PRIORITY",
    "ROUND_TRIP",
    "image_destination",
    "read",
    "sniff",
    "write",
]

NAME = "dota"
#: after VOC (20), before YOLO (29, 30) and COCO (40): ``labelTxt/`` is DOTA's own name, a
#: stronger sign than a stray *.yaml beside it (an export may add one), and COCO would take the
#: sidecar at the root of a written DOTA folder for a *.json data set
PRIORITY = 25
LOOKS_FOR = "DOTA labelTxt/"
#: absolute coordinates written as exact floats, nothing clipped
ROUND_TRIP = RoundTrip(tolerance=0.0)


def _is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where it cannot be looked at: a folder beside the data that the
    user may not enter (``lost+found``) must not stop the detection of any format."""
    try:
        return path.is_dir()
    except OSError:
        return False


def sniff(path: Path) -> Sniff | None:
    """A folder holding ``labelTxt/``, or split folders that do."""
    if not _is_dir(path):
        return None
    if _is_dir(path / LABELS):
        return Sniff(f"it holds {LABELS}/ (DOTA)")
    try:
        with os.scandir(path) as entries:
            subs = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return None
    found = next((s for s in subs if _is_dir(path / s / LABELS)), None)
    return Sniff(f"its split folder {found}/ holds {LABELS}/ (DOTA)") if found else None


@paused_gc()
def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a DOTA folder; ``findings``: strict (the default) or lenient reading."""
    folder = Path(path)
    if not folder.is_dir():
        raise AnnotationError(
            f"{folder}: expected a DOTA folder (images/ and {LABELS}/, or split folders of them)"
        )
    side = _sidecar.load(folder, NAME)
    known = side.by_key() if side else {}
    parts = find_parts(folder, single_split=infer_split(folder.name) or DEFAULT_SPLIT, known=known)
    if not parts:
        raise AnnotationError(
            f"{folder}: no DOTA layout here (looked for images/ and {LABELS}/, and for split folders holding them)"
        )
    inputs = Inputs.of(
        files=[folder / _sidecar.SIDECAR_NAME] if side else [],
        trees=[d for p in parts for d in (p.images, p.labels)],
        folders=[folder, *(p.root for p in parts)],
        bounds=[folder],
    )
    categories = side.category_list(folder / _sidecar.SIDECAR_NAME) if side else None
    got: DotaRead = read_parts(
        parts,
        categories,
        known,
        probe=probe,
        guard=LinkGuard(inputs.roots),
        sidecar=folder / _sidecar.SIDECAR_NAME,
        findings=findings,
    )
    return Dataset(
        categories if categories is not None else list(categories_from_names(got.names)),
        got.images,
        got.builder.build(),
        roots={p.split: p.images for p in parts},
        info=side.info if side else {},
        notes=got.notes,
        source=folder,
        inputs=inputs,
        findings=findings,
    )


def image_destination(split: str, file_name: str) -> str:
    return f"{split}/images/{file_name}"


def _label_rel(split: str, file_name: str) -> str:
    return f"{split}/{LABELS}/{os.path.splitext(file_name)[0]}.txt"


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``<split>/labelTxt/<stem>.txt`` for every labelled image, ``<split>/images/`` and the sidecar."""
    im, b = ds.images, ds.boxes
    if not usable_boxes(b.xyxy).all():
        raise AnnotationError(
            "a box has coordinates that are not finite or lie beyond any image; nothing written"
        )
    labelled = np.flatnonzero(im.labelled).tolist()
    splits, names = im.split.tolist(), im.file_name.tolist()
    rels = [_label_rel(splits[i], names[i]) for i in labelled]
    seen: dict[str, str] = {}
    for i, rel in zip(labelled, rels):
        if rel in seen:
            raise AnnotationError(
                f"images {seen[rel]!r} and {names[i]!r} (split {splits[i]}) would share the label file {rel}; rename one"
            )
        seen[rel] = names[i]
    folders = [f"{s}/{d}" for s in ds.splits for d in ("images", LABELS)]
    check_destinations(out, [*rels, *folders])
    for rel in folders:
        (out / rel).mkdir(parents=True, exist_ok=True)
    tokens = [token_of(c.name) for c in ds.categories]
    quad = b.xyxy[:, [0, 1, 2, 1, 2, 3, 0, 3]].copy()
    shaped = np.zeros(len(b), dtype=bool) if b.corners is None else np.isfinite(b.corners).all(axis=(1, 2))
    if shaped.any():
        assert b.corners is not None
        quad[shaped] = b.corners[shaped].reshape(-1, 8)
    keep = ~b.iscrowd
    text = [
        f"{' '.join(map(repr, q))} {tokens[c]} {1 if d == 1 else 0}\n"
        for q, c, d in zip(quad.tolist(), b.category.tolist(), b.difficult.tolist())
    ]
    rows_of: dict[int, list[int]] = {}
    digests: dict[int, str] = {}
    offsets = ds.offsets.tolist()
    made: set[Path] = set()
    real_root = os.path.realpath(out)
    for i, rel in zip(labelled, rels):
        rows_of[i] = [r for r in range(offsets[i], offsets[i + 1]) if keep[r]]
        data = "".join(text[r] for r in rows_of[i]).encode()
        dst = out / rel
        if dst.parent not in made:
            make_folders(dst.parent)
            if not within(os.path.realpath(dst.parent), real_root):  # defence in depth
                raise AnnotationError(
                    f"{dst.parent}: resolves outside the output folder {out}; nothing written"
                )
            made.add(dst.parent)
        write_file(os.fspath(dst), data)
        digests[i] = _sidecar.label_digest(data)
    off = np.zeros(0, dtype=np.int64)
    if shaped.any():
        assert b.corners is not None
        c = b.corners
        off = np.flatnonzero(shaped & keep & (corner_bounds(c) != b.xyxy).any(axis=1))
    _sidecar.save(ds, out, NAME, rows_of=rows_of, carried=_sidecar.YOLO_CARRIED, digests=digests, exact=off)
    notes = [
        f"class name {c.name!r} written as {tokens[k]!r} (a DOTA row is split at white space)"
        for k, c in enumerate(ds.categories)
        if tokens[k] != c.name
    ]
    if b.iscrowd.any():
        notes.append(
            f"{int(b.iscrowd.sum())} crowd box(es) left out of the label files (kept in {_sidecar.SIDECAR_NAME})"
        )
    return notes
