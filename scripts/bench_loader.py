"""Images/s of SVMLPDataset through a DataLoader, against a bare PIL loop doing the same work.

    .venv/bin/python scripts/bench_loader.py                # 300 JPEGs, half 1280×720, half 1920×1080, at 640
    .venv/bin/python scripts/bench_loader.py --images 100 --size 320 --repeat 3

The images are drawn by :mod:`svmlp.synth` (real JPEGs, quality 90) into the temporary folder
once and kept (``--no-cache`` redraws them); every file is read once before timing so that the
page cache, not the disk, serves every row. Rows, each an epoch over every image, best of
``--repeat``:

- floor: a bare loop of ``Image.open`` + ``convert("RGB")`` (the full decode) + ``resize`` to the
  same size SVMLPDataset produces (longer side ``--size``, bilinear) + ``np.asarray``, in one
  process, or in N processes (``multiprocessing.Pool.imap``, the arrays sent back to the parent,
  as a DataLoader's workers send theirs).
- floor with draft: the same with pillow's JPEG draft mode, which SVMLPDataset uses: the fastest
  way pillow has to reach that size, for reference.
- SVMLPDataset with ``eval_preset(size)`` (decode, resize, letterbox to a square, tensors and
  targets) through a DataLoader (batch 16, list collate) with 0 and N workers.
- the same with the cache on: the second epoch, once the first has filled it.
- with ``train_preset(size)`` (mosaic: four decodes an image, affine, HSV, flip), for reference.

Ratios compare rows with the same number of processes: SVMLPDataset's images/s over the floor's.
Goal: >= 0.9× the floor without the cache, and the cached epoch several times the uncached one.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import best, cpu_name, log  # scripts/_bench.py: scripts/ is on sys.path
from PIL import Image

SIZES = ((1280, 720), (1920, 1080))


def machine() -> str:
    cpu = cpu_name("unknown CPU")
    import torch

    return (
        f"{platform.system()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}, pillow {Image.__version__}"
    )


def make_images(n: int, redraw: bool) -> Path:
    """``n`` synthetic scenes, half at each of SIZES (one split each), as a native data set."""
    import svmlp
    from svmlp.model import Dataset, concat_tables
    from svmlp.synth import generate_annotations, render

    root = Path(tempfile.gettempdir()) / f"svmlp-bench-loader-{n}"
    if (root / "set" / "annotations").is_dir() and not redraw:
        return root / "set"
    shutil.rmtree(root, ignore_errors=True)
    parts = []
    for k, ((w, h), count) in enumerate(zip(SIZES, (n // 2, n - n // 2), strict=True)):
        log(f"drawing {count} images of {w}×{h}")
        ds = generate_annotations(count, seed=k, size=(w, h), splits=[(f"{w}x{h}", 1.0)])
        parts.append(render(ds, root / "draw", quality=90, seed=k))
    shift = len(parts[0].images), len(parts[0].boxes)
    tail = parts[1].boxes
    tail.image = tail.image + shift[0]
    tail.parent = np.where(tail.parent >= 0, tail.parent + shift[1], -1)
    merged = Dataset(
        parts[0].categories,
        concat_tables([p.images for p in parts]),
        concat_tables([parts[0].boxes, tail]),
        roots={**parts[0].roots, **parts[1].roots},
    )
    svmlp.write(merged, root / "set", format="svmlp", images="copy")
    shutil.rmtree(root / "draw")
    return root / "set"


def warm(files: list[str]) -> None:
    for f in files:
        Path(f).read_bytes()


def _floor_one(args: tuple[str, int, bool]) -> np.ndarray:
    path, side, draft = args
    with Image.open(path) as im:
        w, h = im.size
        r = side / max(w, h)
        size = (max(1, round(w * r)), max(1, round(h * r)))
        if draft:
            im.draft("RGB", size)
        return np.asarray(im.convert("RGB").resize(size, Image.Resampling.BILINEAR))


def floor(files: list[str], side: int, processes: int, draft: bool) -> float:
    jobs = [(f, side, draft) for f in files]
    t = time.perf_counter()
    if processes <= 1:
        for job in jobs:
            _floor_one(job)
    else:
        with mp.get_context("fork").Pool(processes) as pool:
            for _ in pool.imap(_floor_one, jobs, chunksize=4):
                pass
    return time.perf_counter() - t


def loader_epoch(ds: object, workers: int) -> float:
    from torch.utils.data import DataLoader

    from svmlp.torch import collate

    loader = DataLoader(ds, batch_size=16, num_workers=workers, collate_fn=collate)  # type: ignore[arg-type]
    t = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - t


def gpu_epoch(ds: object, workers: int, batch: int) -> float:
    """An epoch of letterboxed batches (``collate_batched``) copied to the GPU, as training does."""
    import torch
    from torch.utils.data import DataLoader

    from svmlp.torch import collate_batched

    loader = DataLoader(
        ds,  # type: ignore[arg-type]
        batch_size=batch,
        num_workers=workers,
        collate_fn=collate_batched,
        pin_memory=True,
        persistent_workers=False,
    )
    t = time.perf_counter()
    for images, targets, _ in loader:
        images = images.cuda(non_blocking=True).float().div_(255)
        targets = targets.cuda(non_blocking=True)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--size", type=int, default=640)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--no-cache", action="store_true", help="redraw the images")
    ap.add_argument(
        "--cuda",
        action="store_true",
        help="add rows for batches of 32 copied to the GPU (pinned memory, non-blocking), as training does",
    )
    args = ap.parse_args(argv)

    import torch

    from svmlp.torch import SVMLPDataset
    from svmlp.torch import transforms as T

    torch.set_num_threads(1)  # the loader's work is per image; one thread each, like the floor
    root = make_images(args.images, args.no_cache)
    ds = SVMLPDataset(root, transforms=T.eval_preset(args.size), seed=0)
    files = [ds.path(i) for i in range(len(ds))]
    warm(files)
    n, s, w = len(files), args.size, args.workers
    rows: list[tuple[str, int, float, str]] = []

    def row(name: str, procs: int, seconds: float, ratio: str = "") -> float:
        rows.append((name, procs, seconds, ratio))
        log(f"{name} ({procs}): {seconds:.2f} s")
        return seconds

    f1 = row("floor: PIL open + decode + resize", 1, best(lambda: floor(files, s, 1, False), args.repeat))
    fw = row("floor: PIL open + decode + resize", w, best(lambda: floor(files, s, w, False), args.repeat))
    row("floor with draft mode", 1, best(lambda: floor(files, s, 1, True), args.repeat))
    row("floor with draft mode", w, best(lambda: floor(files, s, w, True), args.repeat))
    d1 = row("SVMLPDataset, eval_preset", 1, best(lambda: loader_epoch(ds, 0), args.repeat))
    dw = row("SVMLPDataset, eval_preset", w, best(lambda: loader_epoch(ds, w), args.repeat))
    cache_dir = Path(tempfile.mkdtemp(prefix="svmlp-bench-cache-"))
    try:
        cached = SVMLPDataset(root, transforms=T.eval_preset(s), seed=0, cache=cache_dir)
        fill = row("SVMLPDataset, cache: first epoch (fills it)", w, loader_epoch(cached, w))
        c1 = row("SVMLPDataset, cache: later epochs", 1, best(lambda: loader_epoch(cached, 0), args.repeat))
        cw = row("SVMLPDataset, cache: later epochs", w, best(lambda: loader_epoch(cached, w), args.repeat))
        cache_mb = cached.cache.nbytes / 1e6  # type: ignore[union-attr]
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    train = SVMLPDataset(root, transforms=T.train_preset(s), seed=0)
    train.set_epoch(0)
    row(
        "SVMLPDataset, train_preset (mosaic: 4 decodes an image)",
        w,
        best(lambda: loader_epoch(train, w), args.repeat),
    )
    if args.cuda:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("bench_loader: --cuda given but torch sees no CUDA device")
        row(
            "to GPU: eval_preset, collate_batched, batch 32",
            w,
            best(lambda: gpu_epoch(ds, w, 32), args.repeat),
        )
        row(
            "to GPU: train_preset, collate_batched, batch 32",
            w,
            best(lambda: gpu_epoch(train, w, 32), args.repeat),
        )

    print(f"machine: {machine()}")
    print(
        f"set: {n} synthetic JPEGs ({n // 2} at 1280×720, {n - n // 2} at 1920×1080, quality 90), to {s} px"
    )
    print()
    print(f"| loader | processes | seconds (best of {args.repeat}) | images/s | ratio |")
    print("|---|---:|---:|---:|---|")
    floors = {1: f1, w: fw}
    for name, procs, seconds, _ in rows:
        ratio = "1.00× floor" if name.startswith("floor: ") else f"{floors[procs] / seconds:.2f}× floor"
        print(f"| {name} | {procs} | {seconds:.2f} | {n / seconds:.0f} | {ratio} |")
    print()
    print(f"cache: {cache_mb:.0f} MB for {n} images; filling it costs {fill / dw:.2f}× an uncached epoch")
    for procs, plain, fl in ((1, d1, f1), (w, dw, fw)):
        verdict = "ok" if fl / plain >= 0.9 else "MISSED"
        print(f"SVMLPDataset vs floor, {procs} process(es): {fl / plain:.2f}× (goal >= 0.9): {verdict}")
    for procs, plain, hit in ((1, d1, c1), (w, dw, cw)):
        print(f"cached vs uncached, {procs} process(es): {plain / hit:.1f}× faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
