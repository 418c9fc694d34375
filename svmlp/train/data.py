"""The harness's data: the data set read and checked, and the loaders of its two splits."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

import torch

from svmlp.errors import UsageError
from svmlp.formats import read
from svmlp.model import Dataset
from svmlp.torch import SVMLPDataset, collate_batched
from svmlp.torch import transforms as T
from svmlp.torch.device import DeviceAugment

__all__ = ["EpochSampler", "Rendered", "TrainData", "read_data"]


def read_data(args: argparse.Namespace, say: Callable[[str], None]) -> Dataset:
    """The data set, with links built when ICR needs them and the data has none."""
    from svmlp.links import link_plates

    ds = read(args.data)
    if getattr(args, "parents", None) is not None or getattr(args, "children", None) is not None:
        from svmlp.links import with_roles

        ds = with_roles(ds, parents=args.parents, children=args.children)
    conflict = ds.inputs.output_conflict(args.out)
    if conflict is not None:
        raise UsageError(f"--out {args.out}: {conflict}; keep runs outside the data set")
    for split in (args.train_split, args.val_split):
        if split not in ds.splits:
            raise UsageError(f"{args.data}: no split {split!r} (it has {', '.join(ds.splits)})")
    if args.icr != "off":
        roles = {c.role for c in ds.categories}
        if not {"parent", "child"} <= roles:
            have = ", ".join(f"{c.name} ({c.role or 'no role'})" for c in ds.categories)
            raise UsageError(
                f"{args.data}: --icr {args.icr} needs a plate class and a vehicle class; it has {have}"
            )
        if not (ds.boxes.parent >= 0).any():
            ds = link_plates(ds).dataset
            linked = int((ds.boxes.parent >= 0).sum())
            say(f"note: {args.data} has no plate→vehicle links; linked them on load ({linked} plates)")
    return ds


class EpochSampler:
    """A permutation drawn from (seed, epoch): the same order again on resume."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


class Rendered:
    """A loader of device batches (:class:`~svmlp.torch.device.DeviceBatch`) as one of drawn
    batches: each drawn on ``device`` as it is taken, ``(images, targets, infos)``, images float
    in [0, 1]."""

    def __init__(self, loader: Any, augment: DeviceAugment, device: torch.device) -> None:
        self.loader, self.augment, self.device = loader, augment, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]]:
        for batch in self.loader:
            yield self.augment(batch, self.device)


class TrainData:
    """The training and validation splits as loaders; mosaics are switched off for the last
    ``--close-mosaic`` epochs (the model settles on whole images)."""

    def __init__(
        self,
        args: argparse.Namespace,
        ds: Dataset,
        *,
        label_map: Any,
        world: int,
        device: torch.device,
        start_epoch: int = 0,
    ) -> None:
        self.args, self.ds, self.device = args, ds, device
        self.mosaic = self.mosaic_at(start_epoch)
        where = getattr(args, "augment", "workers")
        self.on_device = where == "device" or (where == "auto" and device.type == "cuda")
        self.train_ds = SVMLPDataset(
            ds,
            split=args.train_split,
            transforms=self._augmentation(),
            label_map=label_map,
            seed=args.seed,
            cache=bool(args.cache),
        )
        self.label_map = self.train_ds.label_map
        val_ds = SVMLPDataset(
            ds, split=args.val_split, transforms=T.eval_preset(args.imgsz), label_map=self.label_map
        )
        self.per_proc = max(1, args.batch // world)
        self.sampler: Any
        if world > 1:
            self.sampler = torch.utils.data.DistributedSampler(
                self.train_ds, shuffle=True, seed=args.seed, drop_last=True
            )
        else:
            self.sampler = EpochSampler(len(self.train_ds), args.seed)
        self.loader_kw: dict[str, Any] = dict(
            num_workers=args.workers, collate_fn=collate_batched, pin_memory=device.type == "cuda"
        )
        if args.workers > 0:
            self.loader_kw["persistent_workers"] = True
        self.train = self._train_loader()
        self.val = torch.utils.data.DataLoader(
            val_ds, batch_size=self.per_proc, shuffle=False, **self.loader_kw
        )

    def mosaic_at(self, epoch: int) -> float:
        a = self.args
        return 0.0 if a.epochs - epoch <= a.close_mosaic else a.mosaic

    def iterations(self) -> int:
        """Iterations an epoch (``--max-iters`` at most)."""
        n = len(self.train)
        return n if self.args.max_iters is None else min(n, self.args.max_iters)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.train_ds.set_epoch(epoch)
        if self.mosaic_at(epoch) != self.mosaic:
            # persistent workers hold their own copy of the data set: a new loader takes the change
            self.mosaic = self.mosaic_at(epoch)
            self.train_ds.transforms = self._augmentation()
            self.train = self._train_loader()

    def _augmentation(self) -> Any:
        preset = T.train_preset(self.args.imgsz, mosaic=self.mosaic)
        return DeviceAugment(preset) if self.on_device else preset

    def eval_loader(self, split: str, *, label_map: Any) -> Any:
        """A loader of ``split`` as the model sees it in evaluation (whole batches, in the main process)."""
        data = SVMLPDataset(
            self.ds, split=split, transforms=T.eval_preset(self.args.imgsz), label_map=label_map
        )
        return torch.utils.data.DataLoader(
            data, batch_size=max(1, self.args.batch), collate_fn=collate_batched
        )

    def _train_loader(self) -> Any:
        n = len(self.train_ds)
        augment = self.train_ds.transforms
        kw = dict(self.loader_kw)
        if isinstance(augment, DeviceAugment):
            kw["collate_fn"] = augment.collate
        loader = torch.utils.data.DataLoader(
            self.train_ds,
            batch_size=self.per_proc,
            sampler=self.sampler,
            drop_last=n >= self.per_proc,
            **kw,
        )
        return Rendered(loader, augment, self.device) if isinstance(augment, DeviceAugment) else loader
