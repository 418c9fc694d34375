"""The in-memory data set every reader produces and every writer, check and loader consumes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.errors import AnnotationError, UsageError
from svmlp.model.categories import Category
from svmlp.model.paths import Inputs
from svmlp.model.strictness import STRICT, Findings
from svmlp.model.tables import BoxTable, ImageTable
from svmlp.model.validate import check_links, check_names, validate_dataset

__all__ = ["BoxRecord", "Dataset", "ImageRecord", "SPLIT_ORDER", "sort_splits"]

#: Splits in the order reports and writers list them; any other split follows, sorted.
SPLIT_ORDER = ("train", "val", "valid", "validation", "trainval", "test")


def sort_splits(splits: Iterable[str]) -> list[str]:
    """Splits in a stable, familiar order.

    >>> sort_splits(["test", "extra", "train"])
    ['train', 'test', 'extra']
    """
    unique = set(splits)
    known = [s for s in SPLIT_ORDER if s in unique]
    return known + sorted(unique - set(known))


@dataclass(frozen=True)
class ImageRecord:
    """One image as a plain record, for convenience and tests (hot paths use the columns)."""

    index: int
    id: int
    file_name: str
    width: int
    height: int
    split: str
    labelled: bool
    orientation: int


@dataclass(frozen=True)
class BoxRecord:
    """One box as a plain record; ``parent`` is the parent's box id (not row), or None."""

    index: int
    id: int
    category_id: int
    category: str
    xyxy: tuple[float, float, float, float]
    iscrowd: bool
    parent: int | None
    link_score: float | None
    text: str | None


class Dataset:
    """Categories, images and boxes of one data set, all splits together.

    Ids are the source's own. Image ids, image file names and box ids are unique within a split
    (COCO files, one per split, may reuse ids across splits, as Roboflow's exports do).
    ``roots`` maps each split to the folder its image file names are relative to; ``info`` is the
    source's free-form description (COCO ``info``); ``notes`` are what the reader repaired or
    noticed on the way (paths found elsewhere than written, stale sidecar entries).
    ``inputs`` are the files and folders the reader read (:class:`~svmlp.model.paths.Inputs`): no
    output may replace or land inside them, and links out of them are not followed.
    The constructor sorts boxes by image and checks every invariant; it raises
    :class:`~svmlp.errors.AnnotationError` (prefixed with ``source``, the file it came from, when
    given) rather than drop or fix anything; with lenient ``findings`` (a reader's
    :class:`~svmlp.model.strictness.Findings`, ``strict=False``) a broken invariant is recorded in
    :attr:`read_issues` instead. Split and file names must pass the path rule of
    :mod:`svmlp.model.paths` even then: they become paths.

    >>> import numpy as np
    >>> from svmlp.model import Category, ImageTable, BoxTable
    >>> ds = Dataset(
    ...     [Category(1, "vehicle", role="parent"), Category(2, "plate", role="child")],
    ...     ImageTable.build(id=[7], file_name=["a.jpg"], split="train", width=[640], height=[480]),
    ...     BoxTable.build(id=[1, 2], image=[0, 0], category=[0, 1],
    ...                    xyxy=[[10, 10, 300, 200], [100, 150, 160, 170]], parent=[-1, 0]),
    ... )
    >>> ds.boxes_of(0)[1].parent
    1
    """

    def __init__(
        self,
        categories: Sequence[Category],
        images: ImageTable,
        boxes: BoxTable | None = None,
        *,
        roots: Mapping[str, str | Path] | None = None,
        info: Mapping[str, Any] | None = None,
        notes: Sequence[str] = (),
        validate: bool = True,
        source: str | Path | None = None,
        inputs: Inputs | None = None,
        findings: Findings = STRICT,
    ) -> None:
        self.categories: tuple[Category, ...] = tuple(categories)
        self.images = images
        boxes = BoxTable.empty() if boxes is None else boxes
        order = np.argsort(boxes.image, kind="stable")
        if len(order) and np.any(order != np.arange(len(order))):
            new_of_old = np.empty(len(order) + 1, dtype=np.int64)
            new_of_old[order] = np.arange(len(order))
            boxes = boxes.take(order)
            boxes.remap_parents(new_of_old)
        self.boxes = boxes
        self.roots: dict[str, Path] = {k: Path(v) for k, v in (roots or {}).items()}
        self.info: dict[str, Any] = dict(info or {})
        #: what the reader repaired or noticed on the way (moved paths, stale sidecar entries)
        self.notes: list[str] = list(notes)
        #: the file or folder it was read from (None when built in memory)
        self.source: Path | None = None if source is None else Path(source)
        #: (check, message) of what a lenient read found and read past (svmlp.read(strict=False));
        #: the reader's own list, so what it finds after building the data set lands here too
        self.read_issues: list[tuple[str, str]] = [] if findings.strict else findings.found
        #: the files and folders it was read from (outputs never touch them)
        self.inputs: Inputs = (
            inputs if inputs is not None else Inputs.of(folders=[source, *self.roots.values()])
        )
        self._offsets: np.ndarray | None = None
        #: whether every rule was checked and held (a later copy that changes only the links
        #: then checks only them: :meth:`relinked`)
        self._checked = False
        if validate:
            check_names(self, source)  # always strict: a name that escapes its folder is never read past
            try:
                validate_dataset(self)
                self._checked = True
            except AnnotationError as exc:
                findings.complain("invalid_dataset", str(exc) if source is None else f"{source}: {exc}")

    # -- sizes and lookups ------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (
            f"Dataset({len(self.images)} images, {len(self.boxes)} boxes, "
            f"{len(self.categories)} categories, splits={self.splits})"
        )

    @property
    def splits(self) -> list[str]:
        """The splits present, in :data:`SPLIT_ORDER`."""
        return sort_splits(set(self.images.split.tolist()))  # np.unique of text imports numpy.ma

    @property
    def offsets(self) -> np.ndarray:
        """``boxes[offsets[i]:offsets[i + 1]]`` are image ``i``'s boxes."""
        if self._offsets is None:
            self._offsets = np.searchsorted(self.boxes.image, np.arange(len(self.images) + 1))
        return self._offsets

    @property
    def category_ids(self) -> np.ndarray:
        return np.array([c.id for c in self.categories], dtype=np.int64)

    def category_index(self, name_or_id: str | int) -> int:
        """Row of a category, by name or by id."""
        for i, c in enumerate(self.categories):
            if c.name == name_or_id if isinstance(name_or_id, str) else c.id == name_or_id:
                return i
        raise KeyError(name_or_id)

    def role_mask(self, role: str) -> np.ndarray:
        """For each box, whether its category has ``role`` (``parent`` or ``child``)."""
        flags = np.array([c.role == role for c in self.categories] + [False], dtype=bool)
        return flags[self.boxes.category] if len(self.boxes) else np.zeros(0, dtype=bool)

    def image_path(self, index: int) -> Path | None:
        """Where image ``index`` lies on disk (None when its split has no known folder)."""
        root = self.roots.get(str(self.images.split[index]))
        return None if root is None else root / str(self.images.file_name[index])

    # -- records ----------------------------------------------------------------------------

    def image(self, index: int) -> ImageRecord:
        im = self.images
        return ImageRecord(
            index=index,
            id=int(im.id[index]),
            file_name=str(im.file_name[index]),
            width=int(im.width[index]),
            height=int(im.height[index]),
            split=str(im.split[index]),
            labelled=bool(im.labelled[index]),
            orientation=int(im.orientation[index]),
        )

    def boxes_of(self, index: int) -> list[BoxRecord]:
        b, (lo, hi) = self.boxes, self.offsets[index : index + 2]
        out = []
        for r in range(lo, hi):
            cat = self.categories[b.category[r]]
            p = int(b.parent[r])
            text = None if b.text is None or not b.text[r] else str(b.text[r])
            out.append(
                BoxRecord(
                    index=r,
                    id=int(b.id[r]),
                    category_id=cat.id,
                    category=cat.name,
                    xyxy=tuple(float(v) for v in b.xyxy[r]),  # type: ignore[arg-type]
                    iscrowd=bool(b.iscrowd[r]),
                    parent=None if p < 0 else int(b.id[p]),
                    link_score=None if p < 0 or np.isnan(b.link_score[r]) else float(b.link_score[r]),
                    text=text,
                )
            )
        return out

    # -- derived data sets ------------------------------------------------------------------

    def select(self, mask: np.ndarray) -> Dataset:
        """The images where ``mask`` (a boolean per image) is true, with their boxes; links stay
        within images."""
        mask = np.asarray(mask)
        if mask.dtype != bool or mask.shape != (len(self.images),):
            raise UsageError(f"select() takes a boolean mask of {len(self.images)} values, one per image")
        keep = np.flatnonzero(mask)
        new_index = np.full(len(self.images), -1, dtype=np.int64)
        new_index[keep] = np.arange(len(keep))
        box_keep = np.flatnonzero(new_index[self.boxes.image] >= 0)
        boxes = self.boxes.take_with_parents(box_keep, len(self.boxes))
        boxes.image = new_index[boxes.image]
        images = self.images.take(keep)
        kept_splits = set(images.split.tolist())
        roots = {k: v for k, v in self.roots.items() if k in kept_splits}
        out = Dataset(
            self.categories,
            images,
            boxes,
            roots=roots,
            info=self.info,
            notes=self.notes,
            validate=False,
            inputs=self.inputs,
        )
        out.source = self.source
        return out

    def relinked(self, parent: np.ndarray, link_score: np.ndarray, *, findings: Findings = STRICT) -> Dataset:
        """A copy whose boxes have these ``parent`` rows and ``link_score``s, checked like any new
        data set; when every rule held for this one, only the links are checked (the rest is
        unchanged, and a full check of a million boxes costs more than linking them).
        """
        boxes = BoxTable(**{**self.boxes.__dict__, "parent": parent, "link_score": link_score})
        if not self._checked:
            return self.replace(boxes=boxes, findings=findings)
        out = self._copy({"boxes": boxes}, findings=findings, validate=False)
        try:
            check_links(out)
            out._checked = True
        except AnnotationError as exc:
            findings.complain("invalid_dataset", str(exc) if self.source is None else f"{self.source}: {exc}")
        return out

    def split(self, *names: str) -> Dataset:
        """Only the images of the given splits."""
        missing = set(names) - set(self.splits)
        if missing:
            raise AnnotationError(
                f"split(s) {', '.join(sorted(missing))} not in this data set; it has {', '.join(self.splits)}"
            )
        return self.select(np.isin(self.images.split, list(names)))

    def replace(self, *, findings: Findings = STRICT, **changes: Any) -> Dataset:
        """A copy with ``categories``, ``images``, ``boxes``, ``roots``, ``info`` or ``notes`` replaced.

        The copy is checked like any new data set; lenient ``findings`` record what it breaks
        (a data set read leniently may break the model's rules before anything was replaced).
        """
        return self._copy(changes, findings=findings, validate=True)

    def _copy(self, changes: dict[str, Any], *, findings: Findings, validate: bool) -> Dataset:
        args: dict[str, Any] = {
            "categories": self.categories,
            "images": self.images,
            "boxes": self.boxes,
            "roots": self.roots,
            "info": self.info,
            "notes": self.notes,
        }
        args.update(changes)
        out = Dataset(
            args["categories"],
            args["images"],
            args["boxes"],
            roots=args["roots"],
            info=args["info"],
            notes=args["notes"],
            validate=validate,
            inputs=self.inputs,
            findings=findings,
        )
        out.source = self.source
        return out
