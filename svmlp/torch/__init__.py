"""PyTorch loading (extra: ``pip install 'svmlp[torch]'``): :class:`SVMLPDataset`, the
collates, :mod:`svmlp.torch.transforms` and :class:`DeviceAugment` (the augmentation drawn batched
on the training device).

>>> from torch.utils.data import DataLoader  # doctest: +SKIP
>>> from svmlp.torch import SVMLPDataset, collate, transforms as T  # doctest: +SKIP
>>> ds = SVMLPDataset("data/", split="train", transforms=T.train_preset(640))  # doctest: +SKIP
>>> images, targets = next(iter(DataLoader(ds, batch_size=16, collate_fn=collate)))  # doctest: +SKIP
"""

from __future__ import annotations

from svmlp._optional import require

require("torch", extra="torch")

from svmlp.torch import transforms  # noqa: E402
from svmlp.torch.collate import collate, collate_batched  # noqa: E402
from svmlp.torch.dataset import ImageSkippedWarning, SVMLPDataset  # noqa: E402
from svmlp.torch.device import DeviceAugment, DeviceBatch  # noqa: E402
from svmlp.torch.labels import LabelMap  # noqa: E402
from svmlp.torch.sample import Sample  # noqa: E402

__all__ = [
    "DeviceAugment",
    "DeviceBatch",
    "ImageSkippedWarning",
    "LabelMap",
    "SVMLPDataset",
    "Sample",
    "collate",
    "collate_batched",
    "transforms",
]
