"""Read every YOLO label file of a data set in one batch.

All files' numbers are gathered as text and converted by numpy at once; only a file that fails
a check is parsed again, line by line, to name the file and line in the error. The sidecar's ids,
links and crowd boxes are applied where its record of an image still matches the label file.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svmlp._files import LinkGuard
from svmlp.errors import AnnotationError, ImageError, where
from svmlp.formats._builder import BoxBuilder, number_missing
from svmlp.formats._layout import CONFIG_LIMIT, read_text
from svmlp.formats._sidecar import SidecarImage
from svmlp.formats._yolo_layout import label_path_candidates
from svmlp.formats._yolo_side import STALE_NOTE, apply_entry, shape_extra, unchanged
from svmlp.imageinfo import header_columns, read_headers
from svmlp.model import Category, ImageTable
from svmlp.model.strictness import STRICT, Findings

__all__ = ["parse_rows", "read_labels"]

_SEP, _IMAGES, _LABELS = os.sep, f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"


def parse_rows(
    text: str, path: Path | str, n_classes: int
) -> tuple[np.ndarray, np.ndarray, dict[int, list[float]]]:
    """Class indices and normalised ``xyxy`` of one label file, checked line by line, and the
    normalised points of each polygon or oriented-box row by row number."""
    classes: list[str] = []
    boxes: list[str] = []
    polys: dict[int, list[float]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        tok = line.split()
        if not tok:
            continue
        try:
            values = [float(t) for t in tok]
        except ValueError:
            raise AnnotationError(
                f"{where(path, lineno)}: expected numbers, found {line.strip()!r}"
            ) from None
        if len(tok) >= 7 and len(tok) % 2 == 1:
            polys[len(classes)] = values[1:]
            tok = [tok[0], "nan", "nan", "nan", "nan"]
        elif len(tok) != 5:
            raise AnnotationError(
                f"{where(path, lineno)}: {len(tok)} values; expected 5 (class cx cy w h) or an odd number >= 7 "
                "(class and polygon or oriented-box points)"
            )
        cls, box = values[0], values[1:] if len(values) == 5 else [0.0] * 4
        if not all(abs(v) <= MAX_NORMALISED for v in values[1:]) or box[2] < 0 or box[3] < 0:
            raise AnnotationError(
                f"{where(path, lineno)}: values must be finite and normalised (within ±{MAX_NORMALISED:g}), "
                "with width, height >= 0"
            )
        if not math.isfinite(cls) or cls != round(cls) or not 0 <= cls < n_classes:
            raise AnnotationError(
                f"{where(path, lineno)}: class {tok[0]!r} is not an index into the {n_classes} names (0..{n_classes - 1})"
            )
        classes.append(tok[0])
        boxes.extend(tok[1:])
    return _to_arrays(classes, boxes, polys)


def _corners_of(cxcywh: np.ndarray) -> np.ndarray:
    """``xyxy`` from YOLO's ``cx cy w h`` rows."""
    half = cxcywh[:, 2:] / 2
    return np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)


def _to_arrays(
    classes: list[str], boxes: list[str], polys: dict[int, list[float]]
) -> tuple[np.ndarray, np.ndarray, dict[int, list[float]]]:
    cls = np.array(classes, dtype=np.float64).astype(np.int64)
    vals = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    xyxy = _corners_of(vals)
    for row, pts in polys.items():
        xs, ys = pts[0::2], pts[1::2]
        xyxy[row] = (min(xs), min(ys), max(xs), max(ys))
    return cls, xyxy, polys


#: the largest magnitude of a normalised coordinate (boxes may reach past the image; 1e308 may not)
MAX_NORMALISED = 1e4

#: the longest label row read (a polygon of 50 000 points is about 1 MB; a 200 MB row is an attack
#: that would cost minutes and gigabytes to parse)
MAX_ROW = 1 << 20


def read_label(img: Path, guard: LinkGuard | None = None) -> tuple[Path | None, str | None]:
    """An image's label file and its text (None, None when it has none). A label file must be a
    regular file inside the data set (``guard``): a FIFO or a link out of it is an error."""
    text_path = os.fspath(img)
    first = []
    if _IMAGES in text_path:  # ultralytics' rule first, without pathlib's cost
        head, tail = text_path.rsplit(_IMAGES, 1)
        first = [os.path.splitext(f"{head}{_LABELS}{tail}")[0] + ".txt"]
    for cand in itertools.chain(first, _lazy(label_path_candidates, img)):
        try:
            mode = os.stat(cand).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:  # no permission: an error, never "this image has no labels"
            raise AnnotationError(f"{cand}: cannot read this label file ({exc.strerror or exc})") from None
        if stat.S_ISDIR(mode):
            continue
        if guard is not None:
            guard.check(cand, what="label file")
        return Path(cand), read_text(cand, limit=CONFIG_LIMIT, what="label file")
    return None, None


def _check_rows(text: str, label: Path) -> None:
    if len(text) <= MAX_ROW:
        return
    for lineno, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_ROW:
            raise AnnotationError(
                f"{where(label, lineno)}: a row of {len(line)} characters, more than the {MAX_ROW} "
                "a label row may have (about 50 000 polygon points)"
            )


def _lazy(fn: Any, arg: Any) -> Any:
    yield from fn(arg)


@dataclass
class _Batch:
    """Label rows of every image as text tokens, with where each image's rows start."""

    classes: list[str] = field(default_factory=list)
    boxes: list[str] = field(default_factory=list)
    polys: dict[int, list[float]] = field(default_factory=dict)
    #: the normalised points of polygon and oriented-box rows, by row
    points: dict[int, list[float]] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)
    texts: dict[int, tuple[Path, str]] = field(default_factory=dict)

    def add(self, i: int, label: Path, text: str, n_classes: int) -> None:
        _check_rows(text, label)
        rows = [r for r in map(str.split, text.splitlines()) if r]
        if all(len(r) == 5 for r in rows):
            flat = list(itertools.chain.from_iterable(rows))
            self.classes.extend(flat[0::5])
            del flat[0::5]
            self.boxes.extend(flat)
        else:  # polygons, oriented boxes, or a broken row: the careful parser decides
            cls, xyxy, points = parse_rows(text, label, n_classes)
            base = len(self.classes)
            self.classes.extend(map(str, cls.tolist()))
            self.boxes.extend(["nan"] * (4 * len(cls)))
            for k, box in enumerate(xyxy.tolist()):
                self.polys[base + k] = box
            for k, pts in points.items():
                self.points[base + k] = pts
        self.counts.append(len(rows))
        self.texts[i] = (label, text)


@dataclass
class LabelRead:
    images: ImageTable
    builder: BoxBuilder
    notes: list[str]
    claimed: set[Path]


def read_labels(
    records: list[tuple[str, str, Path]],
    categories: list[Category],
    known: dict[tuple[str, str], SidecarImage],
    probe: bool,
    sidecar: Path,
    guard: LinkGuard | None = None,
    *,
    findings: Findings = STRICT,
) -> LabelRead:
    """Every image's label file: the image table and the boxes (in a builder); a label file two
    images would share is a complaint to ``findings``."""
    n = len(records)
    # YOLO boxes are relative: a size the sidecar lacks must come from the header, probe or not
    need = [probe or (k := known.get((s, key))) is None or not k.width for s, key, _ in records]
    headers = (
        read_headers([p if need[i] else None for i, (_, _, p) in enumerate(records)]) if any(need) else None
    )
    sizes, ids, labelled = np.zeros((n, 2), np.int64), np.zeros(n, np.int64), np.ones(n, bool)
    batch, with_labels = _Batch(), []
    owner: dict[Path, int] = {}
    shared: dict[tuple[str, str], int] = {}
    label_files = [""] * n
    for i, (split, key, img) in enumerate(records):
        entry = known.get((split, key))
        w, h = headers[i].displayed if headers and headers[i].error is None else (0, 0)
        sizes[i] = (w, h) if w or entry is None else (entry.width, entry.height)
        ids[i] = entry.id if entry else -1
        label, text = read_label(img, guard)
        if label is None:
            labelled[i] = False
            if entry is not None and entry.rows:
                raise AnnotationError(
                    f"{img}: svmlp.sidecar.json lists {len(entry.rows)} boxes for this image but its label file is missing"
                )
            continue
        if label in owner and records[owner[label]][2] == img and records[owner[label]][0] != split:
            shared.setdefault((records[owner[label]][0], split), 0)
            shared[records[owner[label]][0], split] += 1  # one image in two splits: read in both
        elif label in owner:
            findings.complain(
                "stem_collision",
                f"{label}: is the label file of two images, {records[owner[label]][2].name} and {img.name}; rename one",
            )
            labelled[i] = False  # read leniently, the label file stays with the first image
            continue
        owner.setdefault(label, i)
        label_files[i] = str(label)
        batch.add(i, label, text or "", len(categories))
        with_labels.append(i)
    builder = BoxBuilder()
    why: list[str | None] = [h.error for h in headers] if headers else [None] * n
    notes = _boxes(batch, with_labels, records, sizes, known, categories, builder, sidecar, why)
    notes += [
        f"{k} image(s) of {a} are also listed as {b} (the config names the same images for both); "
        f"read in both splits: `svmlp audit` reports the leakage"
        for (a, b), k in shared.items()
    ]
    hw, hh, ho = header_columns(headers) if headers else (None, None, None)
    images = ImageTable.build(
        id=number_missing(ids),  # images new since svmlp wrote the sidecar come after its ids
        file_name=[k for _, k, _ in records],
        split=[s for s, _, _ in records] or np.zeros(0, "U1"),
        width=sizes[:, 0],
        height=sizes[:, 1],
        labelled=labelled,
        header_width=hw,
        header_height=hh,
        orientation=ho,
        label_file=label_files,
    )
    return LabelRead(images, builder, notes, {label for label, _ in batch.texts.values()})


def _convert(
    batch: _Batch, with_labels: list[int], n_classes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class, normalised xyxy, image row) of every row; a failing file is re-parsed to name the line."""
    row_image = np.repeat(np.array(with_labels, dtype=np.int64), batch.counts)
    try:
        cls_f = np.array(batch.classes, dtype=np.float64)
        vals = np.array(batch.boxes, dtype=np.float64).reshape(-1, 4)
    except ValueError:
        _reparse_all(batch, n_classes)
        raise  # pragma: no cover - a failing row always fails its careful parse too
    plain = np.ones(len(cls_f), dtype=bool)
    plain[list(batch.polys)] = False
    bad = (cls_f != np.round(cls_f)) | (cls_f < 0) | (cls_f >= n_classes)
    with np.errstate(invalid="ignore"):
        far = ~(np.abs(vals) <= MAX_NORMALISED).all(axis=1)
    bad |= plain & (far | (vals[:, 2] < 0) | (vals[:, 3] < 0))
    if bad.any():
        label, text = batch.texts[int(row_image[np.flatnonzero(bad)[0]])]
        parse_rows(text, label, n_classes)
    xyxy = _corners_of(vals)
    if batch.polys:
        rows = list(batch.polys)
        xyxy[rows] = np.array([batch.polys[r] for r in rows], dtype=np.float64)
    return cls_f.astype(np.int64), xyxy, row_image


def _reparse_all(batch: _Batch, n_classes: int) -> None:
    for label, text in batch.texts.values():
        parse_rows(text, label, n_classes)


def _boxes(
    batch: _Batch,
    with_labels: list[int],
    records: list[tuple[str, str, Path]],
    sizes: np.ndarray,
    known: dict[tuple[str, str], SidecarImage],
    categories: list[Category],
    builder: BoxBuilder,
    sidecar: Path,
    why: list[str | None],
) -> list[str]:
    cls, xyxy, row_image = _convert(batch, with_labels, len(categories))
    unsized = np.flatnonzero((sizes[row_image] == 0).any(axis=1))
    if len(unsized):
        i = int(row_image[unsized[0]])
        what = f"is {why[i]}" if why[i] else "is missing or unreadable"
        raise ImageError(f"{batch.texts[i][0]}: its image {records[i][2]} {what}, so its size is unknown")
    frame = sizes[row_image].astype(np.float64)
    xyxy *= np.tile(frame, 2)
    starts = np.concatenate([[0], np.cumsum(batch.counts)]).tolist()
    box_ids = np.full(len(cls), -1, dtype=np.int64)
    position = np.arange(len(cls), dtype=np.float64) - np.repeat(
        np.array(starts[:-1], np.float64), batch.counts
    )
    extras = {r: shape_extra(np.reshape(pts, (-1, 2)) * frame[r]) for r, pts in batch.points.items()}
    cls_list, stale = cls.tolist(), 0
    cat_row = {c.id: k for k, c in enumerate(categories)}
    for k, i in enumerate(with_labels):
        entry = known.get(records[i][:2])
        if entry is None:
            continue
        lo, hi = starts[k], starts[k + 1]
        if not unchanged(entry, cls_list[lo:hi], batch.texts[i][1], hi - lo):
            stale += 1
            continue
        apply_entry(
            entry,
            i,
            lo,
            hi,
            box_ids=box_ids,
            position=position,
            extras=extras,
            xyxy=xyxy,
            cat_row=cat_row,
            builder=builder,
            label=batch.texts[i][0],
        )
    builder.add(row_image, cls, xyxy, box_ids, extras=extras, position=position, source=str(sidecar))
    return [STALE_NOTE.format(stale)] if stale else []
