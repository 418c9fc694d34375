"""Reading the native format against reading the same data as COCO (goal: native ≤ 1.2× COCO).

    .venv/bin/python scripts/bench_read.py [--images 10000] [--rounds 7]

The same synthetic data set is written once as COCO and once natively (labels only). Each round
reads both, in alternating order, in this process (``svmlp.read``, no header probe) and as a whole
process (``svmlp stats --no-probe``, what a user runs); medians of the rounds. Before svmlp 0.x the
native read ran jsonschema over every file after the typed decode (10.8 s for 10k images here);
now the typed decode is the check and jsonschema runs only to word an error or for
``svmlp verify --full``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import cpu_name, log


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)

    import svmlp
    from svmlp.synth import generate_annotations

    tmp = Path(tempfile.mkdtemp(prefix="svmlp-bench-read-"))
    ds = generate_annotations(args.images, seed=1)
    for fmt in ("coco", "svmlp"):
        svmlp.write(ds, tmp / fmt, format=fmt, images="none")
    log(f"{args.images} images, {len(ds.boxes)} boxes in {tmp}")
    inproc: dict[str, list[float]] = {"coco": [], "svmlp": []}
    whole: dict[str, list[float]] = {"coco": [], "svmlp": []}
    cli = [sys.executable, "-m", "svmlp", "stats", "--no-probe"]
    for r in range(args.rounds):
        for fmt in ("coco", "svmlp") if r % 2 else ("svmlp", "coco"):
            t = time.perf_counter()
            svmlp.read(tmp / fmt, format=fmt, probe=False)
            inproc[fmt].append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run([*cli, str(tmp / fmt), "--from", fmt], check=True, capture_output=True)
            whole[fmt].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in inproc.items()}
    wmed = {k: statistics.median(v) for k, v in whole.items()}
    print(
        f"machine: {cpu_name()}; {args.images} images, {len(ds.boxes)} boxes; median of {args.rounds} rounds"
    )
    print()
    print("| read | COCO | native | native / COCO | goal |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| svmlp.read (in process) | {med['coco']:.3f} s | {med['svmlp']:.3f} s | "
        f"{med['svmlp'] / med['coco']:.2f}× | ≤ 1.2× |"
    )
    print(
        f"| svmlp stats (whole process) | {wmed['coco']:.3f} s | {wmed['svmlp']:.3f} s | "
        f"{wmed['svmlp'] / wmed['coco']:.2f}× | ≤ 1.2× |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
