"""The training augmentation with its pixels drawn on the training device.

:func:`~svmlp.torch.transforms.train_preset` in the DataLoader's workers decodes four images for
every mosaic and warps, colours and pads each sample on one CPU core. :class:`DeviceAugment`
splits that work. The workers decode each image once, at the size the transforms need (draft
mode, the cache), and at collate time run the same transforms on a *plan* of the batch
(:mod:`svmlp.torch.canvas`): boxes, labels and links go through the very same code, pixels are
only described. The main process then draws the whole batch on the GPU (:mod:`svmlp.torch.render`).

Mosaic partners are drawn from the batch being collated (rather than from the whole data set, as
the per-sample pipeline does), so no image is decoded twice; everything else, random draws
included, is the per-sample pipeline's.

>>> from torch.utils.data import DataLoader  # doctest: +SKIP
>>> from svmlp.torch import SVMLPDataset, DeviceAugment, transforms as T  # doctest: +SKIP
>>> aug = DeviceAugment(T.train_preset(640))  # doctest: +SKIP
>>> ds = SVMLPDataset("data/", split="train", transforms=aug)  # doctest: +SKIP
>>> loader = DataLoader(ds, batch_size=64, num_workers=8, collate_fn=aug.collate, pin_memory=True)  # doctest: +SKIP
>>> for batch in loader:  # doctest: +SKIP
...     images, targets, infos = aug(batch, "cuda")  # B×3×640×640 float in [0, 1], M×7 rows
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from svmlp.errors import UsageError
from svmlp.torch._compile import Compiled
from svmlp.torch.canvas import Canvas
from svmlp.torch.collate import target_rows
from svmlp.torch.dataset import sample_target
from svmlp.torch.hsv import hsv_gain
from svmlp.torch.render import Plan, plan_batch, render
from svmlp.torch.sample import Sample

__all__ = ["DeviceAugment", "DeviceBatch"]


@dataclass
class DeviceBatch:
    """A collated batch, pixels not drawn yet: the ``plan``, the M×7 ``targets`` rows
    (``[batch_index, label, x0, y0, x1, y1, parent]``, as :func:`~svmlp.torch.collate_batched`)
    and each image's other target entries (``infos``)."""

    plan: Plan
    targets: torch.Tensor
    infos: list[dict[str, Any]]

    def pin_memory(self) -> DeviceBatch:
        """Pinned copies (a DataLoader with ``pin_memory=True`` calls this)."""
        return DeviceBatch(self.plan.pin_memory(), self.targets.pin_memory(), self.infos)

    def __len__(self) -> int:
        return len(self.plan)


class DeviceAugment:
    """Run ``transforms`` (a :class:`~svmlp.torch.transforms.Compose` of Mosaic, RandomAffine,
    RandomZoomCrop, Resize, RandomHSV, HorizontalFlip, Letterbox) with the pixels drawn batched on
    the device. Give it to :class:`~svmlp.torch.SVMLPDataset` as its ``transforms``, use
    :meth:`collate` as the DataLoader's ``collate_fn`` and call it on each batch.

    ``how``: how :func:`~svmlp.torch.render.render` draws (``"auto"``: batched on a GPU; on a CPU
    one compiled pass per pixel with numba, region by region in torch without it).
    ``compile``: colour through ``torch.compile`` on the torch paths (one fused kernel for the
    colour change; the first batch of each size compiles, seconds); ``None`` compiles on CUDA only.
    """

    deferred = True  # SVMLPDataset hands over decoded samples, collate runs the transforms

    def __init__(
        self,
        transforms: Callable[[Sample], Sample],
        *,
        how: Literal["auto", "batched", "regions", "fused"] = "auto",
        compile: bool | None = None,
    ) -> None:
        self.transforms = transforms
        self.load_size = getattr(transforms, "load_size", None)
        self.how = how
        self.compile = compile
        self._compiled: Any = None

    def collate(self, batch: Sequence[Sample]) -> DeviceBatch:
        """Plan ``batch`` (samples from an SVMLPDataset given this as its ``transforms``)."""
        if not batch:
            raise UsageError("DeviceAugment.collate: empty batch")
        if not all(isinstance(s, Sample) for s in batch):
            raise UsageError(
                "DeviceAugment.collate takes the samples of an SVMLPDataset whose transforms is this DeviceAugment"
            )
        planned = self.plan(batch)
        rows, infos = target_rows([sample_target(s, s.meta.get("info", {})) for s in planned])
        images = [np.asarray(s.image) for s in batch]
        return DeviceBatch(plan_batch([s.image for s in planned], images), rows, infos)  # type: ignore[misc]

    def plan(self, batch: Sequence[Sample]) -> list[Sample]:
        """The samples of ``batch`` after the transforms, their images as canvases whose layer
        sources index ``batch`` (mosaic partners drawn from it)."""
        lazy = [replace(s, image=Canvas.of(k, s.size[0], s.size[1]), draw=None) for k, s in enumerate(batch)]

        def partner(rng: np.random.Generator) -> Sample:
            return lazy[int(rng.integers(len(lazy)))]

        lazy = [replace(s, draw=partner) for s in lazy]
        try:
            planned = [self.transforms(s) for s in lazy]
        except (TypeError, AttributeError, IndexError) as exc:  # a transform reached for pixels
            raise UsageError(
                f"{self.transforms!r}: a transform has no device version (it reached for pixels: {exc})"
            ) from None
        for s in planned:
            if not isinstance(s.image, Canvas):
                raise UsageError(f"{self.transforms!r}: a transform drew pixels; it has no device version")
        return planned

    def __call__(
        self,
        batch: DeviceBatch,
        device: torch.device | str | None = None,
        *,
        dtype: torch.dtype = torch.float32,
        non_blocking: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
        """``(images, targets, infos)`` of ``batch`` on ``device`` (default: where it is):
        ``images`` B×3×H×W, ``dtype`` in [0, 1] (or uint8 0…255), ``targets`` the M×7 rows."""
        plan, targets = batch.plan, batch.targets
        if device is not None:
            plan = plan.to(device, non_blocking=non_blocking)
            targets = targets.to(device, non_blocking=non_blocking)
        images = render(plan, dtype=dtype, how=self.how, colour=self._colour(plan.sources.device))
        return images, targets, batch.infos

    def _colour(self, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
        if not (self.compile if self.compile is not None else device.type == "cuda"):
            return None
        if self._compiled is None:
            self._compiled = Compiled(hsv_gain, "DeviceAugment")
        return self._compiled  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"DeviceAugment({self.transforms!r}, how={self.how!r})"
