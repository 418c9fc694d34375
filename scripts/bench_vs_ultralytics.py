"""svmlp's training and prediction against ultralytics' on the CPU, whole processes, as users run them.

    make install-ultralytics                                   # the peer's venv, once
    .venv/bin/python scripts/bench_vs_ultralytics.py           # 384 real photos, 320 px, 3 rounds
    .venv/bin/python scripts/bench_vs_ultralytics.py --images 96 --rounds 1   # a quick look

The first ``--images`` training photos of ``../shared/data/plates-us-eu`` (plates and vehicles)
and its validation split are written once as a YOLO set (images linked). Each round runs, in turn
(the order alternating between rounds):

- ``svmlp train SET --epochs 1 --imgsz 320 --batch 16 --scale n --workers 2 --device cpu`` (mosaic
  on, the final validation included) and ``yolo detect train model=yolov8n.yaml`` with the same
  settings (``pretrained=False amp=False plots=False``; its final validation included);
- ``svmlp predict`` of that run's best.pt over the training photos, and ``yolo predict`` of the
  ultralytics run's best.pt over the same folder (``conf=0.001 iou=0.6``, nothing saved).

Each row is the median of the rounds' whole-process seconds; images/s divide the photos by it.
The table gives both models' parameter counts (svmlp's scale ``n`` is the yolov8n layout).
ultralytics runs offline (``YOLO_OFFLINE=1``, its settings in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import cpu_name, log

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
YOLO = ROOT / ".venv-ultralytics" / "bin" / "yolo"


def make_set(src: Path, n: int, out: Path) -> Path:
    """The first ``n`` training photos of ``src`` and its validation split, as a YOLO set."""
    import svmlp

    ds = svmlp.read(src)
    train = ds.split("train")
    keep = ds.images.split != "train"
    rows = [i for i, s in enumerate(ds.images.split.tolist()) if s == "train"][:n]
    keep[rows] = True
    sub = ds.select(keep & (ds.images.split != "test"))
    svmlp.write(sub, out, format="yolo", images="symlink")
    log(f"set: {len(train.images)} training photos in {src.name}, {n} kept; written to {out}")
    return out


def timed(cmd: list[str], env: dict[str, str], log_to: Path) -> float:
    t = time.perf_counter()
    with log_to.open("ab") as fh:
        done = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    seconds = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(
            f"bench_vs_ultralytics: {' '.join(cmd[:4])}… failed ({done.returncode}); see {log_to}"
        )
    return seconds


def params_of(checkpoint: Path, python: Path) -> int:
    code = (
        "import sys, torch; s = torch.load(sys.argv[1], map_location='cpu', weights_only=False);"
        "m = s.get('ema') or s.get('model');"
        "m = m if hasattr(m, 'parameters') else None;"
        "print(sum(p.numel() for p in m.parameters()) if m is not None else "
        "sum(v.numel() for v in s['model'].values()))"
    )
    out = subprocess.run(
        [str(python), "-c", code, str(checkpoint)], capture_output=True, text=True, check=False
    )
    return int(out.stdout.strip() or 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "plates-us-eu")
    ap.add_argument("--images", type=int, default=384)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if not YOLO.exists():
        raise SystemExit("bench_vs_ultralytics: .venv-ultralytics is missing; run `make install-ultralytics`")

    work = Path(
        tempfile.mkdtemp(
            prefix="svmlp-vs-ultralytics-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(YOLO_OFFLINE="1", YOLO_AUTOINSTALL="False", YOLO_CONFIG_DIR=str(work / "yolo-settings"))
    logs = work / "runs.log"
    try:
        data = make_set(args.data, args.images, work / "set")
        photos = data / "images" / "train"
        common = dict(epochs=1, imgsz=args.imgsz, batch=args.batch, workers=args.workers)
        times: dict[str, list[float]] = {
            k: [] for k in ("svmlp train", "ultralytics train", "svmlp predict", "ultralytics predict")
        }
        params: dict[str, int] = {}
        for r in range(args.rounds):
            runs = work / f"round{r}"
            svmlp_run, ul_project = runs / "svmlp", runs / "ultralytics"
            jobs = {
                "svmlp train": [
                    str(PY),
                    "-m",
                    "svmlp",
                    "train",
                    str(data),
                    "--epochs",
                    "1",
                    "--imgsz",
                    str(args.imgsz),
                    "--batch",
                    str(args.batch),
                    "--scale",
                    "n",
                    "--workers",
                    str(args.workers),
                    "--device",
                    "cpu",
                    "--close-mosaic",
                    "0",
                    "--no-plots",
                    "--quiet",
                    "--out",
                    str(svmlp_run),
                ],
                "ultralytics train": [
                    str(YOLO),
                    "detect",
                    "train",
                    "model=yolov8n.yaml",
                    f"data={data / 'data.yaml'}",
                    *(f"{k}={v}" for k, v in common.items()),
                    "device=cpu",
                    "pretrained=False",
                    "amp=False",
                    "plots=False",
                    "close_mosaic=0",
                    f"project={ul_project}",
                    "name=run",
                    "exist_ok=True",
                    "verbose=False",
                ],
            }
            order = list(jobs) if r % 2 == 0 else list(jobs)[::-1]
            for name in order:
                times[name].append(timed(jobs[name], env, logs))
            ul_best = ul_project / "run" / "weights" / "best.pt"
            predicts = {
                "svmlp predict": [
                    str(PY),
                    "-m",
                    "svmlp",
                    "predict",
                    str(svmlp_run / "best.pt"),
                    str(data),
                    "--split",
                    "train",
                    "-o",
                    str(runs / "svmlp-preds.json"),
                    "--device",
                    "cpu",
                    "--workers",
                    str(args.workers),
                    "-q",
                ],
                "ultralytics predict": [
                    str(YOLO),
                    "detect",
                    "predict",
                    f"model={ul_best}",
                    f"source={photos}",
                    f"imgsz={args.imgsz}",
                    "device=cpu",
                    "conf=0.001",
                    "iou=0.6",
                    "save=False",
                    "verbose=False",
                    f"project={runs / 'ul-predict'}",
                ],
            }
            order = list(predicts) if r % 2 == 0 else list(predicts)[::-1]
            for name in order:
                times[name].append(timed(predicts[name], env, logs))
            if not params:
                params["svmlp"] = params_of(svmlp_run / "best.pt", PY)
                params["ultralytics"] = params_of(ul_best, ROOT / ".venv-ultralytics" / "bin" / "python")
                metrics = json.loads((svmlp_run / "metrics.json").read_text())
                params["svmlp train images/s (its own count)"] = metrics[0].get("train_images_per_s", 0)
            log(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()))
            shutil.rmtree(runs, ignore_errors=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        import torch

        print(
            f"machine: {cpu_name('unknown CPU')}, {os.cpu_count()} CPUs, torch {torch.__version__} (svmlp); "
            f"ultralytics in .venv-ultralytics"
        )
        print(
            f"set: {args.images} training photos of {args.data.name} (+ its validation split for the final "
            f"evaluation), {args.imgsz} px, batch {args.batch}, {args.workers} workers, one epoch, mosaic on; "
            f"median of {args.rounds} interleaved rounds, whole processes"
        )
        print(
            f"models: svmlp scale n {params['svmlp'] / 1e6:.2f} M parameters, ultralytics yolov8n.yaml "
            f"{params['ultralytics'] / 1e6:.2f} M"
        )
        print()
        print("| job | svmlp s | ultralytics s | svmlp images/s | ultralytics images/s | svmlp lead |")
        print("|---|---:|---:|---:|---:|---:|")
        for job in ("train", "predict"):
            a, b = med[f"svmlp {job}"], med[f"ultralytics {job}"]
            n = args.images
            print(f"| {job} (whole process) | {a:.1f} | {b:.1f} | {n / a:.1f} | {n / b:.1f} | {b / a:.2f}× |")
        print()
        print(
            f"svmlp's own training count (epoch only, first round): {params['svmlp train images/s (its own count)']:.1f} images/s"
        )
        lead = all(med[f"svmlp {j}"] < med[f"ultralytics {j}"] for j in ("train", "predict"))
        print(f"svmlp ahead in both: {'ok' if lead else 'MISSED'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
