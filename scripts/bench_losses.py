"""Time the ICR loss against a plain CIoU box loss, forward and backward, on the CPU (or a GPU).

    .venv/bin/python scripts/bench_losses.py                        # 100 000 boxes, one thread
    .venv/bin/python scripts/bench_losses.py --boxes 1000000 --threads 0 --rounds 9
    .venv/bin/python scripts/bench_losses.py --device cuda

Each loss runs as :func:`svmlp.train.losses.icr_loss` (every mode, with and without its distance
term) and :func:`~svmlp.train.losses.iou_loss` (CIoU, the floor: the box loss ICR is added to) on
the same random plate/vehicle pairs, ``loss.backward()`` included; the box loss plus ICR runs both
as two calls and as the one pass the detector's criterion uses (``ciou_and_icr``). The losses take turns within
each round (interleaved, so a busy machine slows them alike) and the table gives the median over
``--rounds`` rounds and the ratio to the CIoU loss measured in the same run. A Python loop over
the boxes would take seconds at 100 000; the functions are one vectorised call. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import torch
from _bench import cpu_name, log  # scripts/_bench.py: scripts/ is on sys.path

from svmlp.train.losses import ICR_MODES, ciou_and_icr, icr_loss, iou_loss


def random_pairs(n: int, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Plates near vehicles: some inside, some across the edge, some outside."""
    g = torch.Generator().manual_seed(seed)
    v0 = torch.rand(n, 2, generator=g) * 500
    vehicle = torch.cat([v0, v0 + 60 + torch.rand(n, 2, generator=g) * 140], 1)
    p0 = v0 + torch.rand(n, 2, generator=g) * 220 - 30
    plate = torch.cat([p0, p0 + 10 + torch.rand(n, 2, generator=g) * 30], 1)
    return plate.to(device), vehicle.to(device)


def timer(fn: Callable[[torch.Tensor], torch.Tensor], plate: torch.Tensor, device: torch.device) -> float:
    """Seconds of one forward and backward of ``fn``."""
    pred = plate.clone().requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn(pred).backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def icr_on(vehicle: torch.Tensor, pred: torch.Tensor, *, mode: str, distance: bool) -> torch.Tensor:
    return icr_loss(pred, vehicle, mode=mode, distance=distance)  # type: ignore[arg-type]


def fused(vehicle: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """What the detector's criterion computes: both terms in one pass (``ciou_and_icr``)."""
    box, icr = ciou_and_icr(pred, vehicle, vehicle)
    return box.mean() + icr.mean()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is shown")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    plate, vehicle = random_pairs(args.boxes, device, args.seed)
    losses: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "CIoU loss (floor)": lambda p: iou_loss(p, vehicle, kind="ciou")
    }
    for mode in ICR_MODES:
        losses[f"ICR {mode}"] = partial(icr_on, vehicle, mode=mode, distance=True)
        losses[f"ICR {mode}, no distance term"] = partial(icr_on, vehicle, mode=mode, distance=False)
    losses["CIoU + ICR inverse, two calls"] = lambda p: iou_loss(p, vehicle) + icr_loss(p, vehicle)
    losses["CIoU + ICR inverse, one pass (as trained)"] = partial(fused, vehicle)
    for fn in losses.values():  # warm-up: allocator grown, kernels chosen
        timer(fn, plate, device)
    times: dict[str, list[float]] = {name: [] for name in losses}
    for r in range(args.rounds):
        log(f"round {r + 1}/{args.rounds}")
        for name, fn in losses.items():
            times[name].append(timer(fn, plate, device))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(
        f"machine: {where}; torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
        f"{args.boxes} boxes, median of {args.rounds} interleaved rounds, forward + backward"
    )
    print()
    print("| loss | ms | ns a box | × CIoU loss |")
    print("|---|---:|---:|---:|")
    floor = statistics.median(times["CIoU loss (floor)"])
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"| {name} | {t * 1e3:.2f} | {t / args.boxes * 1e9:.1f} | {t / floor:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
