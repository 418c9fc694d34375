"""The paper's protocol in ultralytics: YOLO12-n and RT-DETR-l, ICR off vs inverse, over seeds.

    .venv-ultralytics/bin/python scripts/icr_ultralytics_ablation.py                 # GPU default
    .venv-ultralytics/bin/python scripts/icr_ultralytics_ablation.py --cpu           # CPU-sized

Each run is ``svmlp train DATA --engine ultralytics --model M --icr MODE --seed S`` (the plug-in,
exactly as a user runs it); its best weights predict the validation split and pycocotools scores
them (``coco_eval_val.json``, svmlp's ruler, the same for every model). The table gives mean ± std
over the seeds of AP50 and AP per class and AP-small for plates; every run's numbers go to
``runs.json``. Runs already finished in ``--out`` are read, not trained again.

The default (YOLO12-n and RT-DETR-l, 2 seeds × 2 modes, 20 epochs at 640 px on plates-us-eu) is
sized for a 10-minute lease of one H100/H200: YOLO12-n takes ~10 s an epoch there, RT-DETR-l ~25 s.
``--cpu`` swaps in svmlp's CPU-sized ``rtdetr-p.yaml``, 160 px and few epochs: it shows the
pipeline end to end and what ICR costs, not what ICR buys (the models are far from trained).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from icr_ablation import fmt  # noqa: E402  (mean ± std, as the reference ablation prints it)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "plates-us-eu")
    ap.add_argument("--cpu", action="store_true", help="CPU-sized: rtdetr-p, 160 px, 3 epochs, 1 seed")
    ap.add_argument("--models", help="comma-separated model yamls (default yolo12n.yaml,rtdetr-l.yaml)")
    ap.add_argument("--modes", default="off,inverse")
    ap.add_argument("--seeds", help="comma-separated (default 0,1; --cpu: 0)")
    ap.add_argument("--epochs", type=int, help="default 20; --cpu: 3")
    ap.add_argument("--imgsz", type=int, help="default 640; --cpu: 160")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "svmlp-icr-ultralytics")
    args = ap.parse_args(argv)
    models = (
        args.models or ("yolo12n.yaml,rtdetr-p.yaml" if args.cpu else "yolo12n.yaml,rtdetr-l.yaml")
    ).split(",")
    seeds = [int(s) for s in (args.seeds or ("0" if args.cpu else "0,1")).split(",")]
    epochs = args.epochs or (3 if args.cpu else 20)
    imgsz = args.imgsz or (160 if args.cpu else 640)
    workers = min(args.workers, 2) if args.cpu else args.workers
    device = "cpu" if args.cpu else args.device
    modes = args.modes.split(",")

    import torch

    from svmlp.cli import main as svmlp

    args.out.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    started = time.perf_counter()
    for seed in seeds:
        for model in models:
            for mode in modes:
                run = args.out / f"{Path(model).stem}-{mode}-s{seed}-e{epochs}-{imgsz}"
                scored = run / "coco_eval_val.json"
                took = None
                if not scored.is_file():
                    if run.exists():
                        import shutil

                        shutil.rmtree(run)
                    t = time.perf_counter()
                    code = svmlp([
                        "train", str(args.data), "--engine", "ultralytics", "--model", model, "--icr", mode,
                        "--epochs", str(epochs), "--imgsz", str(imgsz), "--batch", str(args.batch),
                        "--workers", str(workers), "--seed", str(seed), "--device", device, "--out", str(run),
                        "--no-plots", "deterministic=False",
                    ])  # fmt: skip
                    if code != 0:
                        return code
                    took = time.perf_counter() - t
                    print(f"{model} {mode} seed {seed}: {took / 60:.1f} min", file=sys.stderr, flush=True)
                runs.append(
                    {
                        "model": model,
                        "mode": mode,
                        "seed": seed,
                        "seconds": took,
                        **json.loads(scored.read_text()),
                    }
                )
    minutes = (time.perf_counter() - started) / 60
    (args.out / "runs.json").write_text(json.dumps(runs, indent=1), encoding="utf-8")

    from svmlp.model.categories import role_for

    def cls(r: dict, role: str) -> str:
        return next((n for n in r["per_class"] if role_for(n) == role), "")

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() and device != "cpu" else None
    print(
        f"machine: {gpu or (platform.processor() or platform.machine())}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}"
    )
    print(
        f"data: {args.data}; {imgsz} px, {epochs} epochs, batch {args.batch}, seeds {seeds}; validation "
        f"split, best weights, pycocotools; {minutes:.0f} min for the runs not cached"
    )
    print()
    print("| model | ICR | plate AP50 | plate AP | plate AP-small | vehicle AP50 | vehicle AP |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in models:
        for mode in modes:
            rs = [r for r in runs if r["model"] == model and r["mode"] == mode]

            def col(role: str, key: str, rs: list[dict] = rs) -> str:
                return fmt([r["per_class"].get(cls(r, role), {}).get(key) for r in rs])

            print(
                f"| {Path(model).stem} | {mode} | {col('child', 'AP50')} | {col('child', 'AP')} | "
                f"{col('child', 'APs')} | {col('parent', 'AP50')} | {col('parent', 'AP')} |"
            )
    print(f"\nruns: {args.out / 'runs.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
