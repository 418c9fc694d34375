"""Training input per CPU core: train_preset in the workers against the device pipeline run on the CPU.

    .venv/bin/python scripts/bench_augment.py                  # 300 JPEGs (bench_loader's), 640 px, 5 rounds
    .venv/bin/python scripts/bench_augment.py --compile        # + the device pipeline through torch.compile
    .venv/bin/python scripts/bench_augment.py --images 100 --rounds 3 --size 320

Each row makes an epoch of model input (B×3×S×S float in [0, 1], with the M×7 target rows) from
the same 300 synthetic JPEGs (half 1280×720, half 1920×1080, quality 90; drawn once by
scripts/bench_loader.py and kept, read once before timing so the page cache serves them), in one
process with one torch thread, so seconds are CPU-core seconds:

- floor: decode each image once at the size the pipeline loads (SVMLPDataset with
  ``Resize(size)``), nothing else: what any pipeline that decodes each image once pays;
- train_preset: SVMLPDataset(train_preset) + collate_batched + ``.float().div(255)``, what
  ``svmlp train`` feeds the model with ``--augment workers`` (mosaic: four decodes an image);
- device pipeline: SVMLPDataset(DeviceAugment(train_preset)) + its collate (the workers' part)
  + drawing the batch on the CPU (the device's part), what ``--augment device`` does: drawn in
  one compiled pass per pixel (numba, ``how="fused"``, what a CPU gets where numba is installed);
- the same drawn with torch ops (``how="regions"``, what a CPU gets without numba);
- with ``--compile``: the torch ops, the colour change through ``torch.compile`` (compiled once first).

Rounds are interleaved (each row once a round, in turn) and each row reports its median. The
goal compares images/s per core: device pipeline >= 4x train_preset. ``THP_MEM_ALLOC_ENABLE=1``
(torch's CPU allocator asks for huge pages for big tensors) is set for every row unless
``--no-thp``; both pipelines allocate a fresh batch each step, and page faults are a large part of
what the device pipeline's drawing costs on a CPU.
"""

from __future__ import annotations

import os
import sys

if "--no-thp" not in sys.argv:
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # before torch is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

from _bench import log  # noqa: E402
from bench_loader import machine, make_images, warm  # noqa: E402


def epoch_of(name: str, ds: object, batch: int, step: Callable[[list], object]) -> Callable[[], float]:
    def run() -> float:
        n = len(ds)  # type: ignore[arg-type]
        t = time.perf_counter()
        for start in range(0, n - batch + 1, batch):
            step([ds[i] for i in range(start, start + batch)])  # type: ignore[index]
        return time.perf_counter() - t

    run.__name__ = name
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="add the torch.compile row")
    ap.add_argument("--no-thp", action="store_true", help="leave THP_MEM_ALLOC_ENABLE unset")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    import torch

    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T
    from svmlp.torch.device import DeviceAugment

    torch.set_num_threads(1)
    root = make_images(args.images, False)
    s, b = args.size, args.batch

    def per_sample(items: list) -> object:
        images, rows, _ = collate_batched(items)
        return images.float().div_(255), rows

    def floor(items: list) -> object:
        return items

    rows: dict[str, Callable[[], float]] = {}
    plain = SVMLPDataset(root, transforms=T.Resize(s), seed=0)
    warm([plain.path(i) for i in range(len(plain))])
    rows["floor: decode once at the load size"] = epoch_of("floor", plain, b, floor)
    train = SVMLPDataset(root, transforms=T.train_preset(s), seed=0)
    train.set_epoch(0)
    rows["train_preset (per sample, in the workers)"] = epoch_of("cpu", train, b, per_sample)
    variants = [
        ("device pipeline, drawn on the CPU (numba)", DeviceAugment(T.train_preset(s), how="fused")),
        ("device pipeline, torch ops", DeviceAugment(T.train_preset(s), how="regions", compile=False)),
    ]
    if args.compile:
        variants.append(
            (
                "device pipeline, torch ops + torch.compile",
                DeviceAugment(T.train_preset(s), how="regions", compile=True),
            )
        )
    for name, aug in variants:
        ds = SVMLPDataset(root, transforms=aug, seed=0)
        ds.set_epoch(0)

        def step(items: list, aug: DeviceAugment = aug) -> object:
            return aug(aug.collate(items))

        rows[name] = epoch_of(name, ds, b, step)
        t = time.perf_counter()
        step([ds[i] for i in range(b)])
        log(f"{name}: first batch (compiles, or loads numba's cache) {time.perf_counter() - t:.1f} s")

    times: dict[str, list[float]] = {name: [] for name in rows}
    for fn in rows.values():  # untimed: imports, first allocations
        fn()
    for r in range(args.rounds):
        for name, fn in rows.items():
            times[name].append(fn())
        log(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{v[-1]:.2f}" for v in times.values()))
    n = (len(train) // b) * b
    med = {name: statistics.median(v) for name, v in times.items()}
    cpu = med["train_preset (per sample, in the workers)"]
    print(f"machine: {machine()}")
    print(
        f"set: {n} images an epoch ({args.images} synthetic JPEGs, half 1280×720, half 1920×1080), "
        f"{s} px, batch {b}, one process, one torch thread; median of {args.rounds} interleaved rounds; "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}"
    )
    print()
    print("| input | seconds an epoch | images/s per core | vs train_preset |")
    print("|---|---:|---:|---:|")
    for name, sec in med.items():
        print(f"| {name} | {sec:.2f} | {n / sec:.0f} | {cpu / sec:.2f}× |")
    print()
    ratio = cpu / med["device pipeline, drawn on the CPU (numba)"]
    print(
        f"device pipeline (numba) vs train_preset, per core: {ratio:.2f}× (goal >= 4): "
        f"{'ok' if ratio >= 4 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
