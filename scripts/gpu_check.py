"""Issue 18's GPU check in one run (< 8 minutes on one H100/H200): loader against step, and ICR's cost.

    python scripts/gpu_check.py --out "$OUT"                   # on the GPU machine
    .venv/bin/python scripts/gpu_check.py --device cpu --quick --out /tmp/check   # a dry run here

On bench_loader's synthetic JPEGs (``--images``, half 1280×720, half 1920×1080, drawn once):

1. loader: images/s of model input delivered on the device at ``--batch`` and ``--imgsz``, with
   every core as a DataLoader worker: ``train_preset`` in the workers (collate_batched, pinned,
   copied) against the device pipeline (DeviceAugment: workers decode once and plan, the batch is
   drawn on the device, ``torch.compile`` on CUDA);
2. step: images/s of training steps (forward, loss, backward, AdamW, EMA; bf16 autocast on CUDA)
   of the reference detector (scale ``n``) on batches kept on the device, ICR off and ``inverse``,
   interleaved, medians; at ``--batch`` and half of it;
3. ICR share: the profiler's CUDA time inside the criterion's ``svmlp.icr`` range (CIoU and ICR,
   in one pass) less ``svmlp.ciou`` (CIoU alone, in the ICR-off step), over the step's CUDA time;
   and the paired step-time difference (on − off) / on, which also holds the backward; each for
   the eager pass and for ``--compile-loss`` (the same through ``torch.compile``);
4. a short ``svmlp train`` run (``--max-iters``) with ``--augment workers`` and ``--augment device``.

Writes ``gpu_check.json`` and ``gpu_check.md`` (the table) into ``--out`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import cpu_name, log
from bench_loader import make_images


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loader_rate(
    root: Path, device: Any, *, on_device: bool, imgsz: int, batch: int, workers: int, batches: int
) -> float:
    import torch

    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T
    from svmlp.torch.device import DeviceAugment

    preset = T.train_preset(imgsz)
    aug = DeviceAugment(preset) if on_device else None
    ds = SVMLPDataset(root, transforms=aug or preset, seed=0)
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=aug.collate if aug else collate_batched,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=True,
    )

    def take(n: int) -> int:
        got = 0
        epoch = 0
        while got < n:
            ds.set_epoch(epoch)
            for item in loader:
                if aug is not None:
                    aug(item, device)
                else:  # what the training loop does with a collate_batched batch
                    item[0].to(device, non_blocking=True).float().div_(255)
                    item[1].to(device, non_blocking=True)
                got += 1
                if got == n:
                    break
            epoch += 1
        sync(device)
        return got

    take(2)  # workers started, kernels compiled
    t = time.perf_counter()
    done = take(batches)
    return done * batch / (time.perf_counter() - t)


def device_batches(root: Path, device: Any, imgsz: int, batch: int, count: int) -> tuple[list, int]:
    from svmlp.torch import SVMLPDataset
    from svmlp.torch import transforms as T
    from svmlp.torch.device import DeviceAugment

    aug = DeviceAugment(T.train_preset(imgsz), compile=False)
    ds = SVMLPDataset(root, transforms=aug, seed=1)
    ds.set_epoch(0)
    out = []
    for k in range(count):
        idx = [(k * batch + i) % len(ds) for i in range(batch)]
        images, targets, _ = aug(aug.collate([ds[i] for i in idx]), device)
        out.append((images, targets))
    return out, len(ds.label_map)


def step_rates(data: list, classes: int, device: Any, *, imgsz: int, steps: int, reps: int) -> dict[str, Any]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    from svmlp.train.engine import ModelEMA
    from svmlp.train.registry import build_criterion, build_model

    torch.manual_seed(0)
    model = build_model("svmlp-detector", num_classes=classes, scale="n", imgsz=imgsz).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    crits = {icr: build_criterion("svmlp-detector", model, icr=icr) for icr in ("off", "inverse")}
    # --compile-loss: CIoU + ICR as fused kernels
    crits["inverse, compiled"] = build_criterion("svmlp-detector", model, icr="inverse", compile=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ema = ModelEMA(model)

    def step(crit: Any, i: int) -> None:
        images, targets = data[i % len(data)]
        x = images.contiguous(memory_format=torch.channels_last) if cuda else images
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            feats = model(x)
        loss, _ = crit(feats, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(model)

    def run(crit: Any, n: int) -> float:
        sync(device)
        t = time.perf_counter()
        for i in range(n):
            step(crit, i)
        sync(device)
        return (time.perf_counter() - t) / n

    for crit in crits.values():
        run(crit, 3)
    times: dict[str, list[float]] = {k: [] for k in crits}
    for _ in range(reps):
        for name, crit in crits.items():
            times[name].append(run(crit, steps))
    off, on = statistics.median(times["off"]), statistics.median(times["inverse"])
    paired = statistics.median(b - a for a, b in zip(times["off"], times["inverse"], strict=True))
    ranges: dict[str, float] = {}
    totals: dict[str, float] = {}
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    for name, crit in crits.items():
        with profile(activities=acts) as prof:
            for i in range(min(steps, 5)):
                step(crit, i)
            sync(device)
        events = prof.key_averages()
        attr = "device_time_total" if cuda else "cpu_time_total"
        own = {e.key: float(getattr(e, attr, 0.0) or 0.0) for e in events}
        # the step's time: kernels on the GPU (every event's self time), the whole on the CPU
        totals[name] = (
            sum(float(getattr(e, "self_device_time_total", 0.0) or 0.0) for e in events)
            if cuda
            else sum(float(e.self_cpu_time_total) for e in events)
        )
        ranges[name] = own.get("svmlp.ciou" if name == "off" else "svmlp.icr", 0.0)

    def share(name: str) -> float:
        return 100 * (ranges[name] - ranges["off"]) / totals[name] if totals[name] else 0.0

    fused = statistics.median(times["inverse, compiled"])
    paired_fused = statistics.median(
        b - a for a, b in zip(times["off"], times["inverse, compiled"], strict=True)
    )
    return {
        "images_per_s_icr_off": len(data[0][0]) / off,
        "images_per_s_icr_on": len(data[0][0]) / on,
        "images_per_s_icr_compiled": len(data[0][0]) / fused,
        "icr_share_profiler_pct": share("inverse"),
        "icr_share_profiler_compiled_pct": share("inverse, compiled"),
        "icr_share_paired_step_pct": 100 * paired / on,
        "icr_share_paired_step_compiled_pct": 100 * paired_fused / fused,
        "box_loss_range_us": ranges,
    }


def short_run(
    root: Path, device: str, augment: str, *, imgsz: int, batch: int, workers: int, iters: int
) -> float:
    from svmlp.train.harness import main as train

    out = Path(tempfile.mkdtemp(prefix=f"svmlp-gpu-check-{augment}-"))
    args = [
        str(root), "--epochs", "1", "--imgsz", str(imgsz), "--batch", str(batch), "--workers", str(workers),
        "--device", device, "--augment", augment, "--icr", "inverse", "--max-iters", str(iters),
        "--train-split", "1920x1080", "--val-split", "1280x720", "--no-plots", "--quiet", "--out", str(out / "run"),
    ]  # fmt: skip
    if device != "cpu":
        args.append("--amp")
    train(args)
    return float(json.loads((out / "run" / "metrics.json").read_text())[0]["train_images_per_s"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu-check")))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batches", type=int, default=12, help="batches timed for each loader")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30, help="iterations of each short training run")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a dry run of the script itself")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.imgsz, args.batch, args.batches = 24, 128, 8, 2
        args.steps, args.reps, args.iters, args.workers = 2, 2, 2, min(args.workers, 2)

    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: --device cuda but torch sees no CUDA device")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    root = make_images(args.images, False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name("CPU")
    result: dict[str, Any] = {
        "machine": f"{name}; {os.cpu_count()} CPUs ({cpu_name('unknown CPU')}); Python {platform.python_version()}; torch {torch.__version__}",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    log("loader rates")
    loaders = {}
    for on_device in (False, True):
        key = "device pipeline" if on_device else "train_preset in workers"
        loaders[key] = loader_rate(
            root, device, on_device=on_device, imgsz=args.imgsz, batch=args.batch, workers=args.workers,
            batches=args.batches,
        )  # fmt: skip
        log(f"{key}: {loaders[key]:.0f} images/s")
    result["loader_images_per_s"] = loaders
    steps = {}
    for b in sorted({args.batch, max(1, args.batch // 2)}):
        log(f"steps at batch {b}")
        data, classes = device_batches(root, device, args.imgsz, b, 3)
        steps[b] = step_rates(data, classes, device, imgsz=args.imgsz, steps=args.steps, reps=args.reps)
        del data
    result["steps"] = steps
    log("short training runs")
    result["train_images_per_s"] = {
        aug: short_run(
            root, args.device, aug, imgsz=args.imgsz, batch=args.batch, workers=args.workers, iters=args.iters
        )
        for aug in ("workers", "device")
    }
    result["seconds"] = time.perf_counter() - started
    big = steps[args.batch]
    lines = [
        f"machine: {result['machine']}",
        f"{args.imgsz} px, batch {args.batch}, {args.workers} workers, scale n, {args.images} synthetic JPEGs; "
        f"{result['seconds']:.0f} s in all",
        "",
        "| measure | value |",
        "|---|---:|",
        *(f"| loader, {k} | {v:.0f} images/s |" for k, v in loaders.items()),
        *(
            f"| step, batch {b}, ICR {icr} | {s[f'images_per_s_icr_{icr}']:.0f} images/s |"
            for b, s in steps.items()
            for icr in ("off", "on", "compiled")
        ),
        *(
            f"| ICR share of the step, batch {b} (profiler){how} | {s[f'icr_share_profiler{key}_pct']:.2f} % |"
            for b, s in steps.items()
            for how, key in (("", ""), (", --compile-loss", "_compiled"))
        ),
        *(
            f"| ICR share, batch {b} (paired step time){how} | {s[f'icr_share_paired_step{key}_pct']:+.2f} % |"
            for b, s in steps.items()
            for how, key in (("", ""), (", --compile-loss", "_compiled"))
        ),
        *(f"| svmlp train --augment {k}, {args.iters} iterations | {v:.0f} images/s |" for k, v in result["train_images_per_s"].items()),
        "",
        f"loader (device pipeline) vs step (ICR on), batch {args.batch}: "
        f"{loaders['device pipeline'] / big['images_per_s_icr_on']:.2f}× (goal >= 1: "
        f"{'ok' if loaders['device pipeline'] >= big['images_per_s_icr_on'] else 'MISSED'})",
        "ICR share < 2 % at every batch size (profiler): "
        + ("ok" if all(s["icr_share_profiler_pct"] < 2 for s in steps.values()) else "MISSED")
        + "; with --compile-loss: "
        + ("ok" if all(s["icr_share_profiler_compiled_pct"] < 2 for s in steps.values()) else "MISSED"),
    ]  # fmt: skip
    table = "\n".join(lines)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    (args.out / "gpu_check.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
