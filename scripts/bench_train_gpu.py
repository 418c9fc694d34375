"""Training throughput of the reference detector on a GPU, and what the ICR loss costs there.

    python scripts/bench_train_gpu.py DATA --split train                 # batch 16, 32, 64 at 640
    python scripts/bench_train_gpu.py DATA --split train --ablate 12 --val-split val

For each batch size: a handful of real letterboxed mosaic batches from ``DATA`` are collated once
and kept on the GPU (so the numbers are the GPU's, not the loader's: ``bench_loader.py`` measures
that), then training steps (forward, loss, backward, AdamW, EMA) run in mixed precision with the
ICR loss off and on, in interleaved blocks of the same run. Reported: images/s, the ICR share of
the step time, the time of the ICR term alone (forward and backward, CUDA events), and peak GPU
memory. ``--ablate N`` then trains N epochs with ICR off and with ``--icr inverse`` through the
real harness and prints both runs' validation metrics. ``--model`` measures another registered
model family (:mod:`svmlp.train.registry`) the same way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def batches(data: Path, split: str, imgsz: int, size: int, count: int, workers: int) -> list:
    import torch

    from svmlp.torch import SVMLPDataset, collate_batched
    from svmlp.torch import transforms as T

    ds = SVMLPDataset(data, split=split, transforms=T.train_preset(imgsz), seed=0)
    ds.set_epoch(0)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=size, shuffle=True, num_workers=workers, collate_fn=collate_batched, drop_last=False
    )
    out = []
    while len(out) < count:
        for images, targets, _ in loader:
            out.append((images.cuda(), targets.cuda()))
            if len(out) == count:
                break
    return out, ds.label_map


def step_times(model, crits, data, *, steps: int, reps: int, dtype) -> dict[str, list[float]]:
    import torch

    from svmlp.train.engine import ModelEMA

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ema = ModelEMA(model)
    times: dict[str, list[float]] = {k: [] for k in crits}

    def run(crit, n: int) -> float:
        torch.cuda.synchronize()
        t = time.perf_counter()
        for i in range(n):
            images, targets = data[i % len(data)]
            x = images.float().div_(255).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=dtype):
                feats = model(x)
            loss, _ = crit(feats, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema.update(model)
        torch.cuda.synchronize()
        return (time.perf_counter() - t) / n

    for crit in crits.values():
        run(crit, 5)  # warm-up: kernels chosen, allocator grown
    for _ in range(reps):
        for name, crit in crits.items():
            times[name].append(run(crit, steps))
    return times


def icr_alone(n: int) -> float:
    """Milliseconds of icr_loss forward + backward over ``n`` predicted plates (CUDA events)."""
    import torch

    from svmlp.train.losses import icr_loss

    g = torch.Generator(device="cuda").manual_seed(0)
    v = torch.rand(n, 2, device="cuda", generator=g) * 500
    vehicle = torch.cat([v, v + 100], 1)
    p = v + torch.rand(n, 2, device="cuda", generator=g) * 120
    pred = torch.cat([p, p + 30], 1).requires_grad_(True)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(5):
        icr_loss(pred, vehicle, mode="inverse").backward()
    start.record()
    for _ in range(50):
        icr_loss(pred, vehicle, mode="inverse").backward()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 50


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--split", default="train")
    ap.add_argument("--val-split", default="val")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch-sizes", default="16,32,64")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--model", default="svmlp-detector", help="model family (svmlp.train.registry)")
    ap.add_argument("--scale", default="n")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--ablate", type=int, default=0, help="epochs of a short ICR off/on ablation")
    args = ap.parse_args(argv)

    import torch

    from svmlp.train.registry import build_criterion, build_model

    if not torch.cuda.is_available():
        raise SystemExit("bench_train_gpu: needs a CUDA device")
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    name = torch.cuda.get_device_name()
    print(
        f"GPU: {name}; torch {torch.__version__}; AMP {str(dtype).split('.')[-1]}; scale {args.scale}; {args.imgsz} px"
    )
    rows = []
    for b in (int(x) for x in args.batch_sizes.split(",")):
        data, lm = batches(args.data, args.split, args.imgsz, b, 6, args.workers)
        torch.manual_seed(0)
        model = build_model(args.model, num_classes=len(lm), scale=args.scale, imgsz=args.imgsz)
        model = model.cuda().to(memory_format=torch.channels_last)
        crits = {icr: build_criterion(args.model, model, icr=icr) for icr in ("off", "inverse")}
        torch.cuda.reset_peak_memory_stats()
        t = step_times(model, crits, data, steps=args.steps, reps=args.reps, dtype=dtype)
        off, on = statistics.median(t["off"]), statistics.median(t["inverse"])
        # the cost is the median of paired differences (blocks run back to back), over ICR's step
        paired = statistics.median(b_ - a_ for a_, b_ in zip(t["off"], t["inverse"]))
        plates = int(sum((tg[:, 6] >= 0).sum() for _, tg in data) / len(data))
        alone = icr_alone(max(plates * 10, 1))  # about 10 positive anchors per plate
        rows.append(
            (
                b,
                b / off,
                b / on,
                100 * paired / on,
                100 * alone / 1000 / on,
                torch.cuda.max_memory_allocated() / 2**30,
            )
        )
        print(f"batch {b}: off {b / off:.0f} img/s, ICR {b / on:.0f} img/s", flush=True)
    print()
    print(
        "| batch | images/s, ICR off | images/s, ICR inverse | ICR share of the step (median paired on − off) "
        "| ICR term alone, isolated (fwd+bwd) | peak GPU memory |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for b, a, c, share, alone, mem in rows:
        print(f"| {b} | {a:.0f} | {c:.0f} | {share:+.2f} % | {alone:.2f} % | {mem:.1f} GiB |")
    worst = max(r[3] for r in rows)
    print(
        f"\nICR cost in the training step, worst batch size: {worst:.2f} % (goal < 2 %): "
        f"{'ok' if worst < 2 else 'MISSED'}; isolated on an idle GPU (kernel launches not hidden behind "
        f"other work, an upper bound): up to {max(r[4] for r in rows):.2f} %"
    )

    if args.ablate:
        from svmlp.train.harness import main as train

        out = Path(tempfile.mkdtemp(prefix="svmlp-ablate-"))
        results = {}
        for icr in ("off", "inverse"):
            t = time.perf_counter()
            train(
                [
                    str(args.data),
                    "--epochs",
                    str(args.ablate),
                    "--imgsz",
                    str(args.imgsz),
                    "--batch",
                    "32",
                    "--amp",
                    "--workers",
                    str(args.workers),
                    "--icr",
                    icr,
                    "--out",
                    str(out / icr),
                    "--cache",
                    "--train-split",
                    args.split,
                    "--val-split",
                    args.val_split,
                    "--close-mosaic",
                    "2",
                    "--no-plots",
                    "--scale",
                    args.scale,
                    "--model",
                    args.model,
                ]
            )
            import json

            final = json.loads((out / icr / "final.json").read_text())["val"]
            results[icr] = (final, time.perf_counter() - t)
        print()
        print(
            f"| ICR | val AP50 | val AP | plate AP50 | plate AP | plate APs | vehicle AP50 | minutes ({args.ablate} epochs) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for icr, (f, secs) in results.items():
            m, pl, ve = f["metrics"], f["per_class"].get("plate", {}), f["per_class"].get("vehicle", {})

            def v(x):  # noqa: ANN001, ANN202
                return "—" if x is None else f"{x:.3f}"

            print(
                f"| {icr} | {v(m['AP50'])} | {v(m['AP'])} | {v(pl.get('AP50'))} | {v(pl.get('AP'))} | {v(pl.get('APs'))} | {v(ve.get('AP50'))} | {secs / 60:.1f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
