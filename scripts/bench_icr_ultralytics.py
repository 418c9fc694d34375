"""What ICR costs inside ultralytics' training step, and what the batch parents cost the loader.

    .venv-ultralytics/bin/python scripts/bench_icr_ultralytics.py [--data DIR] [--imgsz 320] [--rounds 7]

Real training batches (ultralytics' own dataset and augmentation, mosaic on) of the data set
(default ``../shared/data/plates-us-eu``, written as a YOLO set first). Per model (YOLO12-n, and
svmlp's CPU-sized RT-DETR), one training step (forward, loss, backward) with ultralytics' own
criterion and with the ICR one, on the same batches, interleaved, median of the rounds. The
parents column is :func:`svmlp.ultralytics.parents.batch_parents` per batch (it runs in the
DataLoader workers, beside the step, not in it), and the collate column is ultralytics' own
collate for comparison.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "plates-us-eu")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=4, help="distinct batches per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--device", default="cuda" if os.environ.get("CUDA_VISIBLE_DEVICES") else "cpu")
    args = ap.parse_args(argv)

    from svmlp.ultralytics._compat import require

    require()
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    from ultralytics.cfg import get_cfg
    from ultralytics.data import build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset
    from ultralytics.nn.tasks import DetectionModel, RTDETRDetectionModel
    from ultralytics.utils import DEFAULT_CFG

    import svmlp
    from svmlp.ultralytics._loss import with_icr
    from svmlp.ultralytics.parents import PARENT_KEY, LinkingCollate, batch_parents, class_roles
    from svmlp.ultralytics.run import CFG_DIR
    from svmlp.ultralytics.settings import ICRSettings

    device = torch.device(args.device)
    yolo = Path(tempfile.mkdtemp(prefix="svmlp-bench-icr-")) / "yolo"
    svmlp.write(svmlp.read(args.data), yolo, format="yolo", images="symlink")
    data = check_det_dataset(str(yolo / "data.yaml"))
    roles = class_roles(data["names"])
    cfg = get_cfg(DEFAULT_CFG, {"imgsz": args.imgsz, "mosaic": 1.0})
    ds = build_yolo_dataset(cfg, data["train"], args.batch, data, mode="train", stride=32)
    collate = LinkingCollate(type(ds).collate_fn, roles)
    loader = DataLoader(ds, batch_size=args.batch, shuffle=True, collate_fn=collate, num_workers=0)
    batches = []
    for k, b in enumerate(loader):
        if k == args.batches:
            break
        batches.append(b)
    parents_ms, collate_ms = [], []
    for _ in range(args.rounds):
        for b in batches:
            xywh = b["bboxes"].double().numpy()
            xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
            t = time.perf_counter()
            batch_parents(b["cls"].numpy(), xyxy, b["batch_idx"].numpy(), roles)
            parents_ms.append((time.perf_counter() - t) * 1e3)
        items = [ds[i] for i in range(args.batch)]
        t = time.perf_counter()
        type(ds).collate_fn(items)
        collate_ms.append((time.perf_counter() - t) * 1e3)

    def on_device(b: dict) -> dict:
        out = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in b.items()}
        out["img"] = out["img"].float() / 255
        return out

    rows = []
    for name, build in (
        ("yolo12n", lambda: DetectionModel("yolo12n.yaml", nc=len(data["names"]), verbose=False)),
        (
            "rtdetr-p",
            lambda: RTDETRDetectionModel(
                str(CFG_DIR / "rtdetr-p.yaml"), nc=len(data["names"]), verbose=False
            ),
        ),
    ):
        torch.manual_seed(0)
        model = build().to(device).train()
        model.args, model.nc = cfg, len(data["names"])
        stock = model.init_criterion()
        icr = with_icr(model, ICRSettings("inverse"), roles)
        timings: dict[str, list[float]] = {"stock": [], "icr": [], "stock_loss": [], "icr_loss": []}
        moved = [on_device(b) for b in batches]
        with torch.no_grad():
            outputs = [model(b["img"]) for b in moved]
        for r in range(args.rounds + 1):
            for label, crit in (
                (("stock", stock), ("icr", icr)) if r % 2 else (("icr", icr), ("stock", stock))
            ):
                model.criterion = crit
                total = 0.0
                for b in batches:
                    b = on_device(b)
                    if hasattr(crit, "handed"):
                        crit.handed = (b["bboxes"], b[PARENT_KEY])
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    t = time.perf_counter()
                    loss, _ = model(b)
                    loss.sum().backward()
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    total += time.perf_counter() - t
                    model.zero_grad(set_to_none=True)
                if r:  # the first round warms up
                    timings[label].append(total / len(batches) * 1e3)
                t = time.perf_counter()
                for b, out in zip(moved, outputs):  # the loss alone, on the model's outputs
                    if hasattr(crit, "handed"):
                        crit.handed = (b["bboxes"], b[PARENT_KEY])
                    model.loss(b, out)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if r:
                    timings[f"{label}_loss"].append((time.perf_counter() - t) / len(batches) * 1e3)
        s, i = statistics.median(timings["stock"]), statistics.median(timings["icr"])
        rows.append(
            (name, s, i, statistics.median(timings["stock_loss"]), statistics.median(timings["icr_loss"]))
        )
    parents, coll = statistics.median(parents_ms), statistics.median(collate_ms)
    where = (
        torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or platform.machine()
    )
    print(f"machine: {where}, {os.cpu_count()} CPUs, torch {torch.__version__}, device {device}")
    print(
        f"data: {args.data}; {args.imgsz} px, batch {args.batch}, mosaic on; median of {args.rounds} "
        f"interleaved rounds of {len(batches)} batches"
    )
    print()
    print("| model | step, ultralytics' loss | step, with ICR | difference | the loss alone | with ICR |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s, i, ls, li in rows:
        print(
            f"| {name} | {s:.0f} ms | {i:.0f} ms | {(i - s) / s * 100:+.1f} % | {ls:.1f} ms | "
            f"{li:.1f} ms ({(li - ls) / s * 100:+.2f} % of a step) |"
        )
    print()
    print(
        f"batch parents (svmlp's linking rule, in the loader's workers): {parents:.2f} ms per batch of "
        f"{args.batch}; ultralytics' own collate of the same batch: {coll:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
