"""COCO → YOLO at 10 000 images: svmlp against FiftyOne's own conversion (goal: svmlp ≥ 70× faster).

    .venv/bin/python scripts/bench_fiftyone_convert.py               # 10 000 images, median of 2
    .venv/bin/python scripts/bench_fiftyone_convert.py --images 1000 --repeat 3

The set is bench_fiftyone.py's (one COCO file of :func:`svmlp.synth.generate_annotations`, every
image a hard link to one small JPEG, since FiftyOne's importer wants the files). FiftyOne's way is
``fo.Dataset.from_dir(COCODetectionDataset)`` then ``export(YOLOv5Dataset, export_media=False)``
(labels only), in this process; svmlp's is ``svmlp convert … --to yolo --images none`` as a whole
process (start-up and the header probe included). The two alternate round by round; medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _bench import cpu_name, log  # scripts/_bench.py: scripts/ is on sys.path
from bench_fiftyone import make_set

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
GOAL = 70.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "svmlp-bench-fiftyone")
    args = ap.parse_args(argv)

    from svmlp.fiftyone._db import connect

    fo = connect()
    folder = args.dir / str(args.images)
    folder.mkdir(parents=True, exist_ok=True)
    labels, images = make_set(args.images, folder)
    name = f"svmlp-bench-convert-{os.getpid()}"

    def fiftyone() -> float:
        out = folder / "fo-yolo"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        d = fo.Dataset.from_dir(
            dataset_type=fo.types.COCODetectionDataset,
            data_path=str(images),
            labels_path=str(labels),
            label_types="detections",
            name=name,
            overwrite=True,
            progress=False,
        )
        field = next(iter(d.get_field_schema(embedded_doc_type=fo.Detections)))
        d.export(
            export_dir=str(out),
            dataset_type=fo.types.YOLOv5Dataset,
            label_field=field,
            export_media=False,
            split="train",
            progress=False,
        )
        took = time.perf_counter() - t
        d.delete()
        return took

    def svmlp_cli() -> float:
        out = folder / "svmlp-yolo"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "svmlp", "convert", str(folder / "coco"), "--to", "yolo", "-o", str(out),
             "--images", "none", "-q"],
            check=True,
        )  # fmt: skip
        return time.perf_counter() - t

    times: dict[str, list[float]] = {"fiftyone": [], "svmlp": []}
    for r in range(args.repeat):
        for key, fn in (("fiftyone", fiftyone), ("svmlp", svmlp_cli))[:: 1 if r % 2 == 0 else -1]:
            seconds = fn()
            times[key].append(seconds)
            log(f"round {r + 1}: {key} {seconds:.2f} s")
    fo_s, sv_s = statistics.median(times["fiftyone"]), statistics.median(times["svmlp"])
    ratio = fo_s / sv_s
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, fiftyone {fo.__version__}; "
        f"{args.images} images; median of {args.repeat} interleaved rounds"
    )
    print()
    print("| COCO → YOLO | seconds | vs svmlp |")
    print("|---|---:|---:|")
    print(
        f"| FiftyOne: from_dir(COCODetectionDataset) + export(YOLOv5Dataset, labels only) | {fo_s:.2f} | {ratio:.1f}× |"
    )
    print(
        f"| svmlp convert --to yolo --images none (whole process, probing the headers) | {sv_s:.2f} | 1.0× |"
    )
    print()
    print(
        f"svmlp vs FiftyOne, COCO → YOLO: {ratio:.2f}× faster (goal >= {GOAL:.0f}): {'ok' if ratio >= GOAL else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
