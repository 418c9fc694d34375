"""ICR off versus each ICR mode, over several seeds: mean ± std of plate and vehicle AP.

    .venv/bin/python scripts/icr_ablation.py --set synth                 # synthetic scenes, CPU-sized
    .venv/bin/python scripts/icr_ablation.py --set plates --modes off,inverse --seeds 0,1 --epochs 8

Each configuration trains the reference detector through the real harness (``svmlp train``) from
the same seed-dependent start, then reads ``final.json``: the validation split evaluated with the
EMA weights of the best epoch (pycocotools). ``--set synth`` draws a fresh synthetic set with
:mod:`svmlp.synth` (vehicles and their plates, linked); ``--set plates`` is
``../shared/data/plates-us-eu`` (no links of its own: the harness links plates to vehicles on load).
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

ROOT = Path(__file__).resolve().parents[1]


def synth_set(folder: Path, n: int, size: tuple[int, int]) -> Path:
    import svmlp
    from svmlp.synth import generate

    data = folder / "data"
    if not (data / "annotations").is_dir():
        ds = generate(folder / "render", n, seed=2026, size=size, vehicles=(2, 5))
        svmlp.write(ds, data, format="svmlp", images="hardlink")
    return data


def fmt(values: list[float | None]) -> str:
    xs = [v for v in values if v is not None]
    if not xs:
        return "—"
    if len(xs) == 1:
        return f"{xs[0]:.3f}"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("synth", "plates"), default="synth")
    ap.add_argument(
        "--images", type=int, default=240, help="synthetic images (split as svmlp.synth splits them)"
    )
    ap.add_argument("--modes", default="off,inverse,linear,log")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--scale", default="p")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=5, help="validate every N epochs (and the last)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "svmlp-icr-ablation")
    args = ap.parse_args(argv)

    import torch

    from svmlp.train.harness import main as train

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - args.workers))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.set == "synth":
        data = synth_set(args.out / f"synth-{args.images}", args.images, (384, 288))
    else:
        data = ROOT.parent / "shared" / "data" / "plates-us-eu"
    modes, seeds = args.modes.split(","), [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {m: [] for m in modes}
    roles: dict[str, str] = {}
    started = time.perf_counter()
    for seed in seeds:
        for mode in modes:
            run = args.out / f"{args.set}-{mode}-s{seed}-e{args.epochs}-{args.imgsz}"
            if not (run / "final.json").is_file():
                if run.exists():
                    import shutil

                    shutil.rmtree(run)
                t = time.perf_counter()
                train([
                    str(data), "--epochs", str(args.epochs), "--imgsz", str(args.imgsz), "--batch", str(args.batch),
                    "--scale", args.scale, "--workers", str(args.workers), "--seed", str(seed), "--icr", mode,
                    "--out", str(run), "--no-plots", "--eval-every", str(args.eval_every), "--close-mosaic", str(max(1, args.epochs // 4)),
                    "--progress" if sys.stderr.isatty() else "--no-progress",
                ])  # fmt: skip
                print(
                    f"{mode} seed {seed}: {(time.perf_counter() - t) / 60:.1f} min",
                    file=sys.stderr,
                    flush=True,
                )
            results[mode].append(json.loads((run / "final.json").read_text())["val"])
            classes = json.loads((run / "label_map.json").read_text())["classes"]
            roles = {c["role"]: c["name"] for c in classes}  # the plate and vehicle classes by role
    minutes = (time.perf_counter() - started) / 60

    def col(mode: str, role: str, key: str) -> str:
        return fmt([r["per_class"].get(roles.get(role, role), {}).get(key) for r in results[mode]])

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"
    )
    print(
        f"set: {args.set} ({data}); scale {args.scale}, {args.imgsz} px, {args.epochs} epochs, batch {args.batch}, "
        f"seeds {seeds}; validation split, best epoch's EMA weights; {minutes:.0f} min for the runs not cached"
    )
    print()
    print("| ICR | plate AP50 | plate AP | plate AP-small | vehicle AP50 | all AP50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode in modes:
        print(
            f"| {mode} | {col(mode, 'child', 'AP50')} | {col(mode, 'child', 'AP')} | {col(mode, 'child', 'APs')} "
            f"| {col(mode, 'parent', 'AP50')} | {fmt([r['metrics']['AP50'] for r in results[mode]])} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
