"""``SVMLPDataset``: a map-style PyTorch dataset over any data set svmlp reads.

It keeps the columnar model's arrays and offsets and nothing per sample: file names live in one
bytes buffer, boxes in flat numpy columns, so a DataLoader worker shares them with its parent
page for page and memory does not grow with workers or epochs. Random choices come from a
generator seeded by (seed, epoch, index): the same sample gets the same augmentation whichever
worker loads it, once :meth:`SVMLPDataset.set_epoch` is called each epoch.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch

from svmlp.errors import ImageError, UsageError
from svmlp.model import Dataset
from svmlp.torch.cache import ImageCache, default_cache_dir
from svmlp.torch.decode import decode, load_size
from svmlp.torch.labels import LabelMap
from svmlp.torch.sample import Sample

__all__ = ["ImageSkippedWarning", "SVMLPDataset"]

Transform = Callable[[Sample], Sample]


class ImageSkippedWarning(UserWarning):
    """An image could not be loaded and ``on_error="skip"`` skipped it (said once per file)."""


class SVMLPDataset(torch.utils.data.Dataset):
    """Images and targets of ``source`` (a path any svmlp reader reads, or a :class:`Dataset`).

    Each item is ``(image, target)``: ``image`` a 3×H×W uint8 tensor (RGB), ``target`` a dict with
    ``boxes`` (float32 N×4 xyxy pixels of ``image``), ``labels`` (int64 training indices of
    :attr:`label_map`), ``parent`` (int64 row of each box's vehicle in ``boxes``, −1 if none),
    ``iscrowd`` (int64), ``image_id``, ``split``, ``file_name``, ``orig_size`` and ``size``
    ((height, width) of the annotation frame and of ``image``) and ``matrix`` (3×3 float64, the
    annotation frame → ``image`` pixels; its inverse maps predictions back).

    - ``split``: a split name or several (default: every split).
    - ``label_map``: a saved :class:`LabelMap` (or its path) to keep indices of an earlier run;
      default: all classes of the data set, in order of category id, the same for every split.
      ``classes`` keeps only those names (boxes of other classes are left out).
    - ``link``: build the car→plate links in memory (:func:`svmlp.links.link_plates`). Default:
      where the data set has plates but no link at all.
    - ``include_unlabelled``: images with no label file at all are left out unless True (they are
      not verified negatives; images labelled with no boxes are always in).
    - ``on_error``: ``"raise"`` (an :class:`ImageError` naming the file, in the main process even
      when a worker hit it) or ``"skip"`` (the next loadable image is served instead, with one
      :class:`ImageSkippedWarning` per file).
    - ``cache``: True or a folder: keep decoded, resized images in a memory-mapped file filled in
      the first epoch (see :mod:`svmlp.torch.cache`). Needs a transform with a ``load_size``.
    - ``seed``: the base of every random choice (default: drawn once, at random).
    - ``label_offset``: added to every ``labels`` value. torchvision's detection models keep label
      0 for the background: ``label_offset=1`` gives them 1…N (``label_map`` still maps index
      ``k`` to its class; the target's label is ``k + label_offset``).

    >>> from svmlp.torch import SVMLPDataset, transforms as T  # doctest: +SKIP
    >>> ds = SVMLPDataset("data/", split="train", transforms=T.train_preset(640))  # doctest: +SKIP
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Dataset,
        *,
        split: str | Sequence[str] | None = None,
        transforms: Transform | None = None,
        label_map: LabelMap | str | os.PathLike[str] | None = None,
        classes: Sequence[str] | None = None,
        link: bool | None = None,
        include_unlabelled: bool = False,
        on_error: Literal["raise", "skip"] = "raise",
        cache: bool | str | os.PathLike[str] = False,
        seed: int | None = None,
        format: str | None = None,
        label_offset: int = 0,
        **read_options: Any,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise UsageError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        if not (isinstance(label_offset, int) and not isinstance(label_offset, bool) and label_offset >= 0):
            raise UsageError(f"label_offset must be a whole number >= 0, not {label_offset!r}")
        self.label_offset = label_offset
        ds = source if isinstance(source, Dataset) else _read(source, format, read_options)
        if isinstance(label_map, (str, os.PathLike)):
            label_map = LabelMap.load(label_map)
        self.label_map: LabelMap = label_map or LabelMap.from_dataset(ds, classes=classes)
        lookup = self.label_map.lookup(ds)  # before the split: one map for every split
        if link or (link is None and _needs_links(ds)):
            from svmlp.links import link_plates

            ds = link_plates(ds).dataset
        if split is not None:
            ds = ds.split(*([split] if isinstance(split, str) else split))
        if not include_unlabelled:
            ds = ds.select(ds.images.labelled.astype(bool))
        self.source = ds.source
        self.splits = ds.splits
        self.transforms = transforms
        self.on_error = on_error
        self.seed = _fresh_seed() if seed is None else int(seed)
        self.load_side: int | None = getattr(transforms, "load_size", None)
        self._store(ds, lookup)
        # shared with DataLoader workers (fork or spawn): the epoch, a call counter for unseeded
        # epochs, and which images failed (so each is skipped, and warned about, once)
        self._epoch = torch.full((1,), -1, dtype=torch.int64).share_memory_()
        self._calls = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._bad = torch.zeros(len(self), dtype=torch.uint8).share_memory_()
        self.cache: ImageCache | None = None
        if cache:
            folder = default_cache_dir() if cache is True else Path(cache)
            conflict = ds.inputs.report_conflict(folder)
            if conflict is not None:
                raise UsageError(f"cache folder {folder}: {conflict}; keep the cache outside the data set")
            sizes = np.array(
                [load_size((w, h), self.load_side) for w, h in self._frames.tolist()], dtype=np.int64
            )
            self.cache = ImageCache(
                folder, [self.path(i) for i in range(len(self))], sizes.reshape(-1, 2), self.load_side
            )

    # -- storage: flat arrays, nothing per sample ------------------------------------------

    def _store(self, ds: Dataset, lookup: np.ndarray) -> None:
        im, b = ds.images, ds.boxes
        roots = [str(ds.roots.get(s, "")) for s in ds.splits]
        root_of = {s: k for k, s in enumerate(ds.splits)}
        encoded = [str(f).encode("utf-8") for f in im.file_name.tolist()]
        self._names = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
        self._name_offsets = np.concatenate([[0], np.cumsum([len(e) for e in encoded])]).astype(np.int64)
        self._roots = np.array(roots + [""], dtype=object)  # one entry per split: few objects
        self._split_names = np.array(list(ds.splits) + [""], dtype=object)
        self._root = np.array([root_of[s] for s in im.split.tolist()], dtype=np.int64)
        self._image_ids = im.id.astype(np.int64)
        self._frames = np.stack([im.width, im.height], axis=1).astype(np.int64).reshape(-1, 2)
        label = lookup[b.category]
        keep = label >= 0
        rows = np.flatnonzero(keep)
        new = np.cumsum(keep) - 1
        parent = b.parent[rows]
        linked = parent >= 0
        parent = np.where(linked & keep[np.where(linked, parent, 0)], new[np.where(linked, parent, 0)], -1)
        image = b.image[rows]
        self._box_offsets = np.searchsorted(image, np.arange(len(im) + 1)).astype(np.int64)
        self._xyxy = b.xyxy[rows].astype(np.float64)
        self._labels = label[rows].astype(np.int64)
        self._parent = np.where(
            parent >= 0, parent - self._box_offsets[image[np.arange(len(rows))]], -1
        ).astype(np.int64)
        self._iscrowd = b.iscrowd[rows].astype(bool)

    def __len__(self) -> int:
        return len(self._image_ids)

    def path(self, index: int) -> str:
        """The image file of item ``index``."""
        name = (
            self._names[self._name_offsets[index] : self._name_offsets[index + 1]].tobytes().decode("utf-8")
        )
        root = self._roots[self._root[index]]
        return os.path.join(root, name) if root else name

    def file_name(self, index: int) -> str:
        return (
            self._names[self._name_offsets[index] : self._name_offsets[index + 1]].tobytes().decode("utf-8")
        )

    def set_epoch(self, epoch: int) -> None:
        """Seed this epoch's augmentation (call before each epoch; workers see it, persistent or not).
        Until it is first called, every load draws fresh randomness."""
        self._epoch[0] = int(epoch)

    # -- loading ---------------------------------------------------------------------------

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        rng = self._rng(index)
        sample = self._load(index, rng)
        if getattr(self.transforms, "deferred", False):
            return self._deferred(sample)  # type: ignore[return-value]
        if self.transforms is not None:
            sample = self.transforms(sample)
        return self._to_torch(sample)

    def _rng(self, index: int) -> np.random.Generator:
        epoch = int(self._epoch[0])
        if epoch >= 0:
            return np.random.default_rng([self.seed, epoch, index])
        self._calls += 1  # not atomic across workers; only freshness matters here
        return np.random.default_rng([self.seed, index, 1 << 32, int(self._calls[0])])

    def _load(self, index: int, rng: np.random.Generator) -> Sample:
        """Item ``index`` decoded at the load size, untransformed (or, skipping, the next good one)."""
        for k in range(len(self)):
            i = (index + k) % len(self)
            if self._bad[i]:
                continue
            try:
                return self._raw(i, rng)
            except ImageError as exc:
                if self.on_error == "raise":
                    raise
                if not self._bad[i]:
                    self._bad[i] = 1
                    warnings.warn(f"skipped: {exc}", ImageSkippedWarning, stacklevel=2)
        raise ImageError(f"no image of this data set ({len(self)}) could be loaded")

    def _raw(self, i: int, rng: np.random.Generator) -> Sample:
        frame = (int(self._frames[i, 0]), int(self._frames[i, 1]))
        image = self.cache.get(i) if self.cache is not None else None
        if image is None:
            image, frame = decode(self.path(i), frame, self.load_side)
            if self.cache is not None:
                self.cache.put(i, image)
        lo, hi = self._box_offsets[i], self._box_offsets[i + 1]
        h, w = image.shape[:2]
        sx, sy = w / frame[0], h / frame[1]
        return Sample(
            image=image,
            # a label past the border (a flaw svmlp audit reports) is clipped to the picture
            boxes=np.clip(self._xyxy[lo:hi] * [sx, sy, sx, sy], 0, [w, h, w, h]),
            labels=self._labels[lo:hi],
            parent=self._parent[lo:hi],
            iscrowd=self._iscrowd[lo:hi],
            matrix=np.diag([sx, sy, 1.0]),
            rng=rng,
            draw=self._draw,
            meta={"index": i, "frame": frame},
        )

    def _draw(self, rng: np.random.Generator) -> Sample:
        """Another item chosen by ``rng``, untransformed (what a Mosaic puts beside its own)."""
        return self._load(int(rng.integers(len(self))), rng)

    def _info(self, s: Sample) -> dict[str, Any]:
        """The target entries that do not change with the transforms."""
        i = int(s.meta["index"])
        w, h = s.meta["frame"]
        return {
            "image_id": int(self._image_ids[i]),
            "split": str(self._split_names[self._root[i]]),
            "file_name": self.file_name(i),
            "orig_size": torch.tensor([h, w], dtype=torch.int64),
        }

    def _deferred(self, s: Sample) -> Sample:
        """The decoded sample for a transform that runs at collate time (the device pipeline,
        :class:`svmlp.torch.device.DeviceAugment`): labels offset, the fixed target entries in
        ``meta["info"]``, no ``draw`` (the collate picks mosaic partners from its batch)."""
        labels = np.asarray(s.labels, dtype=np.int64) + self.label_offset
        return replace(s, labels=labels, draw=None, meta={**s.meta, "info": self._info(s)})

    def _to_torch(self, s: Sample) -> tuple[torch.Tensor, dict[str, Any]]:
        chw = np.ascontiguousarray(np.asarray(s.image).transpose(2, 0, 1))
        if not chw.flags.writeable:
            chw = chw.copy()
        s = replace(s, labels=np.asarray(s.labels, dtype=np.int64) + self.label_offset)
        return torch.from_numpy(chw), sample_target(s, self._info(s))


def sample_target(s: Sample, info: dict[str, Any]) -> dict[str, Any]:
    """The target dict of a transformed sample (see :class:`SVMLPDataset`), ``info`` its fixed entries."""
    h, w = s.size[1], s.size[0]
    return {
        "boxes": torch.from_numpy(np.asarray(s.boxes, dtype=np.float32).reshape(-1, 4)),
        "labels": torch.from_numpy(np.asarray(s.labels, dtype=np.int64)),
        "parent": torch.from_numpy(np.asarray(s.parent, dtype=np.int64)),
        "iscrowd": torch.from_numpy(np.asarray(s.iscrowd, dtype=np.int64)),
        **info,
        "size": torch.tensor([h, w], dtype=torch.int64),
        "matrix": torch.from_numpy(np.array(s.matrix, dtype=np.float64)),
    }


def _fresh_seed() -> int:
    """A seed drawn from the OS (a fresh SeedSequence's entropy is one int)."""
    return int(cast(int, np.random.SeedSequence().entropy) % (1 << 63))


def _read(source: str | os.PathLike[str], format: str | None, options: dict[str, Any]) -> Dataset:
    from svmlp.formats import read

    return read(source if isinstance(source, str) else Path(source), format=format, **options)


def _needs_links(ds: Dataset) -> bool:
    children = ds.role_mask("child")
    return bool(children.any() and ds.role_mask("parent").any() and not (ds.boxes.parent >= 0).any())
