"""The two column tables of the model: one row per image, one row per box.

Columns are numpy arrays of equal length (no per-row Python objects), so the tables convert,
audit and share with DataLoader workers cheaply. Optional, sparse columns are ``None`` when no
row has a value.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from svmlp.errors import AnnotationError

__all__ = [
    "MAX_COORD",
    "MAX_SIDE",
    "ORIENTATION_SWAPS",
    "BoxTable",
    "ImageTable",
    "checked_attributes",
    "usable_boxes",
]

#: EXIF orientations (5–8) under which the displayed image is the stored one turned by 90°.
ORIENTATION_SWAPS = (5, 6, 7, 8)

#: the largest width or height an image can have (PNG's limit; JPEG stops at 65 535)
MAX_SIDE = 2**31 - 1
#: the largest magnitude of a box coordinate in pixels: past any image, and exact as an integer
MAX_COORD = float(2**31)


#: the most attributes one box may have, and the longest name or text value
_MAX_ATTRIBUTES = 256
_MAX_ATTRIBUTE_TEXT = 4096


def checked_attributes(value: Any, at: str) -> dict[str, str | int | float | bool]:
    """A box's ``attributes``: a JSON object of at most 256 names, each a string, number or
    bool (a labelling tool's per-box attributes); anything else names ``at``."""
    ok = isinstance(value, dict) and len(value) <= _MAX_ATTRIBUTES
    ok = ok and all(
        isinstance(k, str)
        and 0 < len(k) <= _MAX_ATTRIBUTE_TEXT
        and (
            isinstance(v, (bool, int, float))
            and not (isinstance(v, float) and not math.isfinite(v))
            or isinstance(v, str)
            and len(v) <= _MAX_ATTRIBUTE_TEXT
        )
        for k, v in value.items()
    )
    if not ok:
        raise AnnotationError(
            f"{at}: attributes must be an object of at most {_MAX_ATTRIBUTES} names, each a string "
            f"(at most {_MAX_ATTRIBUTE_TEXT} characters), number or true/false"
        )
    return dict(value)


def usable_boxes(xyxy: np.ndarray) -> np.ndarray:
    """Per box, whether every coordinate is finite and within ±:data:`MAX_COORD` (geometry on
    anything else overflows or means nothing)."""
    with np.errstate(invalid="ignore"):
        return rows_all(np.abs(xyxy) <= MAX_COORD)


def rows_all(mask: np.ndarray) -> np.ndarray:
    """``mask.all(axis=1)`` for an ``(n, k)`` boolean array, fast for the narrow ones the model
    has (4 box coordinates, 8 corner numbers): each row read as one integer, as numpy's reduction
    over a short axis is about 20 times slower.

    >>> rows_all(np.array([[True] * 4, [True, False, True, True]]))
    array([ True, False])
    """
    k = mask.shape[1] if mask.ndim == 2 else 0
    if k not in (2, 4, 8) or not len(mask):
        return np.asarray(mask.all(axis=1), dtype=bool)
    word = {2: np.uint16, 4: np.uint32, 8: np.uint64}[k]
    words: np.ndarray = np.ascontiguousarray(mask, dtype=bool).view(word).ravel()
    return np.equal(words, word(int("01" * k, 16)))  # type: ignore[no-any-return]


T = TypeVar("T", "ImageTable", "BoxTable")
_TableT = TypeVar("_TableT", bound="_Table")


def _strings(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, "", dtype="U1")
    return np.asarray(values, dtype=str).reshape(n) if n else np.zeros(0, dtype="U1")


def _column(values: Any, n: int, dtype: Any, default: Any) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=dtype)
    return np.ascontiguousarray(values, dtype=dtype)


class _Table:
    """Shared row operations; subclasses are dataclasses whose fields are all columns."""

    def __len__(self) -> int:
        return len(getattr(self, dataclasses.fields(self)[0].name))  # type: ignore[arg-type]

    def _columns(self) -> dict[str, np.ndarray | None]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def take(self: _TableT, index: np.ndarray) -> _TableT:
        """Rows at ``index`` (an integer array or a boolean mask), in that order."""
        cols: dict[str, Any] = {k: (None if v is None else v[index]) for k, v in self._columns().items()}
        return type(self)(**cols)

    def check_lengths(self) -> None:
        n = len(self)
        for name, col in self._columns().items():
            if col is not None and len(col) != n:
                raise ValueError(f"column {name} has {len(col)} rows, expected {n}")


@dataclass(eq=False)
class ImageTable(_Table):
    """One row per image. ``file_name`` is the key: a path relative to the split's image folder.

    ``width``/``height`` are the size the annotations are in (stored by the format, or read from
    the image header when the format has none; 0 when unknown). ``header_width``/``header_height``
    are what the image file itself says (0 when the file was not read), in the file's stored
    orientation; ``orientation`` is its EXIF orientation (0 when not read, 1 when none).
    ``labelled`` is False for an image with no label file at all, True for a labelled image,
    possibly with zero boxes (a verified negative). ``label_file`` is the annotation file each
    image's labels were read from (the XML, the ``.txt``, the JSON; "" for none), so that findings
    can name the file to fix; ``None`` when the data set was not read from files. It is where the
    labels came from, not part of them: writers do not carry it. ``stored_width``/``stored_height``
    are the size the annotation file stated where the reader replaced it with the image file's
    real size (0 elsewhere; ``None`` when it replaced none): ``width``/``height`` stay the frame the
    boxes are measured in, and the audit reports the stale size (``size_mismatch``).
    """

    id: np.ndarray
    file_name: np.ndarray
    width: np.ndarray
    height: np.ndarray
    split: np.ndarray
    labelled: np.ndarray
    orientation: np.ndarray
    header_width: np.ndarray
    header_height: np.ndarray
    label_file: np.ndarray | None = field(default=None)
    stored_width: np.ndarray | None = field(default=None)
    stored_height: np.ndarray | None = field(default=None)

    @classmethod
    def build(
        cls,
        *,
        id: Any,
        file_name: Any,
        split: Any,
        width: Any = None,
        height: Any = None,
        labelled: Any = None,
        orientation: Any = None,
        header_width: Any = None,
        header_height: Any = None,
        label_file: Any = None,
        stored_width: Any = None,
        stored_height: Any = None,
    ) -> ImageTable:
        """Columns from sequences; left-out columns take their defaults."""
        ids = np.ascontiguousarray(id, dtype=np.int64).reshape(-1)
        n = len(ids)
        split_arr = np.asarray(split, dtype=str) if np.ndim(split) else np.full(n, str(split))
        table = cls(
            id=ids,
            file_name=_strings(file_name, n),
            width=_column(width, n, np.int64, 0),
            height=_column(height, n, np.int64, 0),
            split=split_arr if n else np.zeros(0, dtype="U1"),
            labelled=_column(labelled, n, bool, True),
            orientation=_column(orientation, n, np.int8, 0),
            header_width=_column(header_width, n, np.int64, 0),
            header_height=_column(header_height, n, np.int64, 0),
            label_file=None if label_file is None else _strings(label_file, n),
            stored_width=None if stored_width is None else _column(stored_width, n, np.int64, 0),
            stored_height=None if stored_height is None else _column(stored_height, n, np.int64, 0),
        )
        table.check_lengths()
        return table

    def stated_size(self) -> tuple[np.ndarray, np.ndarray]:
        """The size each image's annotations state: ``stored_width``/``stored_height`` where the
        reader kept the file's real size instead, ``width``/``height`` elsewhere."""
        if self.stored_width is None or self.stored_height is None:
            return self.width, self.height
        replaced = (self.stored_width > 0) & (self.stored_height > 0)
        return np.where(replaced, self.stored_width, self.width), np.where(
            replaced, self.stored_height, self.height
        )

    def displayed_header_size(self) -> tuple[np.ndarray, np.ndarray]:
        """The header size turned by the EXIF orientation: the frame annotations are drawn in."""
        swap = np.isin(self.orientation, ORIENTATION_SWAPS)
        return (
            np.where(swap, self.header_height, self.header_width),
            np.where(swap, self.header_width, self.header_height),
        )


@dataclass(eq=False)
class BoxTable(_Table):
    """One row per box, grouped by image. Coordinates are ``xyxy`` absolute pixels, float64.

    ``parent`` is the row of the box's parent (its vehicle) in this table, −1 if none;
    ``link_score`` is NaN where there is no link. ``area`` is the source's own ``area`` (NaN when
    it gave none). ``difficult``/``truncated``/``occluded`` are −1 when unspecified. ``text``,
    ``corners`` (N×4×2), ``segmentation`` (raw JSON per box) and ``attributes`` (a labelling tool's
    own attributes per box, a ``dict`` of name → string, number or bool; CVAT's ``z_order`` is one)
    are ``None`` when no box has one.
    """

    id: np.ndarray
    image: np.ndarray
    category: np.ndarray
    xyxy: np.ndarray
    iscrowd: np.ndarray
    parent: np.ndarray
    link_score: np.ndarray
    area: np.ndarray
    difficult: np.ndarray
    truncated: np.ndarray
    occluded: np.ndarray
    text: np.ndarray | None = field(default=None)
    corners: np.ndarray | None = field(default=None)
    segmentation: np.ndarray | None = field(default=None)
    attributes: np.ndarray | None = field(default=None)

    @classmethod
    def build(
        cls,
        *,
        id: Any,
        image: Any,
        category: Any,
        xyxy: Any,
        iscrowd: Any = None,
        parent: Any = None,
        link_score: Any = None,
        area: Any = None,
        difficult: Any = None,
        truncated: Any = None,
        occluded: Any = None,
        text: Any = None,
        corners: Any = None,
        segmentation: Any = None,
        attributes: Any = None,
    ) -> BoxTable:
        """Columns from sequences; left-out columns take their defaults."""
        ids = np.ascontiguousarray(id, dtype=np.int64).reshape(-1)
        n = len(ids)
        table = cls(
            id=ids,
            image=_column(image, n, np.int64, 0),
            category=_column(category, n, np.int64, 0),
            xyxy=np.ascontiguousarray(xyxy, dtype=np.float64).reshape(n, 4),
            iscrowd=_column(iscrowd, n, bool, False),
            parent=_column(parent, n, np.int64, -1),
            link_score=_column(link_score, n, np.float64, np.nan),
            area=_column(area, n, np.float64, np.nan),
            difficult=_column(difficult, n, np.int8, -1),
            truncated=_column(truncated, n, np.int8, -1),
            occluded=_column(occluded, n, np.int8, -1),
            text=None if text is None else np.asarray(text, dtype=str).reshape(n),
            corners=None if corners is None else np.asarray(corners, np.float64).reshape(n, 4, 2),
            segmentation=None if segmentation is None else _objects(segmentation, n),
            attributes=None if attributes is None else _objects(attributes, n),
        )
        table.check_lengths()
        return table

    @classmethod
    def empty(cls) -> BoxTable:
        return cls.build(id=[], image=[], category=[], xyxy=np.zeros((0, 4)))

    def remap_parents(self, new_of_old: np.ndarray) -> None:
        """Rewrite ``parent`` after rows moved: ``new_of_old[old_row]`` is the new row (−1: gone)."""
        has = self.parent >= 0
        self.parent = np.where(has, new_of_old[np.where(has, self.parent, 0)], -1)
        self.link_score = np.where(self.parent >= 0, self.link_score, np.nan)

    def take_with_parents(self, index: np.ndarray, n_before: int) -> BoxTable:
        """Rows at ``index`` with parent rows remapped; a parent left out becomes −1."""
        rows = np.arange(n_before)[index]
        new_of_old = np.full(n_before + 1, -1, dtype=np.int64)
        new_of_old[rows] = np.arange(len(rows))
        out = self.take(index)
        out.remap_parents(new_of_old)
        return out


def _objects(values: Any, n: int) -> np.ndarray:
    arr = np.empty(n, dtype=object)
    arr[:] = list(values)
    return arr


def concat_tables(tables: list[T]) -> T:
    """Rows of several tables of one type, in order (no index fixing: callers do that)."""
    kind = type(tables[0])
    cols: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        parts = [getattr(t, f.name) for t in tables]
        if all(p is None for p in parts):
            cols[f.name] = None
            continue
        filled = [p if p is not None else _default_like(f.name, t) for p, t in zip(parts, tables)]
        cols[f.name] = np.concatenate(filled)
    return kind(**cols)


def _default_like(name: str, table: Any) -> np.ndarray:
    n = len(table)
    if name in ("text", "label_file"):
        return np.full(n, "", dtype="U1")
    if name == "corners":
        return np.full((n, 4, 2), np.nan)
    if name in ("stored_width", "stored_height"):
        return np.zeros(n, dtype=np.int64)
    return np.full(n, None, dtype=object)
