"""Time svmlp's conversions on a synthetic COCO set against the floor and the installed peers.

    .venv/bin/python scripts/bench_convert.py                  # 10 000 images, best of 3
    .venv/bin/python scripts/bench_convert.py --images 2000 --repeat 1 --no-peers
    .venv/bin/python scripts/bench_convert.py --keep /tmp/bench # keep every file it wrote

One COCO file (labels only, every image in ``train``) is generated with :mod:`svmlp.synth` and
is the input of everything: svmlp COCO→YOLO, COCO→VOC, then YOLO→COCO and VOC→COCO from the
folders svmlp wrote; the floor (``json.load`` of the file plus creating as many empty files as
the YOLO output has label files); and globox / labelformat where installed, each reading back
the files it wrote itself. Each step is the best of ``--repeat`` wall-clock runs, each in a
fresh output folder; a peer step whose first run takes over two minutes runs once. Prints the
machine, one markdown table (for the README) and the goal checks. Not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import svmlp
from svmlp.synth import generate_annotations

LONG_S = 120.0  # a peer step slower than this runs once
READ_GOAL, FLOOR_GOAL = 500_000, 2.0
C2Y, C2V, Y2C, V2C = "COCO → YOLO", "COCO → VOC", "YOLO → COCO", "VOC → COCO"
NEEDS_IMAGES = "n/a (needs images)"


@dataclass
class Row:
    op: str
    tool: str
    seconds: float | None = None
    runs: int = 0
    vs: str = "—"
    missing: str = ""  # why there is no time


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def grouped(n: float) -> str:
    return f"{round(n):,}".replace(",", " ")


def measure(fn: Callable[[Path], Any], out: Path, repeat: int, long_s: float = float("inf")) -> tuple[float, int]:
    """Best wall-clock time of ``fn(fresh folder)``; the last run's output is left at ``out``."""
    times: list[float] = []
    for k in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        gc.collect()
        start = time.perf_counter()
        result = fn(out)
        times.append(time.perf_counter() - start)
        del result  # freeing a returned object is not part of the step
        if times[-1] > long_s:
            break
    return min(times), len(times)


class Bench:
    def __init__(self, work: Path, repeat: int) -> None:
        self.work, self.repeat = work, repeat
        self.rows: list[Row] = []
        self.coco = work / "coco" / "annotations" / "instances_train.json"
        self.n_boxes = self.n_images = 0

    def out(self, tool: str, op: str) -> Path:
        return self.work / f"{tool}-{op.split()[0].lower()}2{op.split()[-1].lower()}"

    def time(self, op: str, tool: str, fn: Callable[[Path], Any], out: Path, *, peer: bool = False) -> Row:
        log(f"  {tool:12} {op} ...")
        try:
            seconds, runs = measure(fn, out, self.repeat, LONG_S if peer else float("inf"))
            row = Row(op, tool, seconds, runs)
        except Exception as exc:  # a peer that breaks is reported, not fatal
            if not peer:
                raise
            row = Row(op, tool, missing=f"failed: {type(exc).__name__}: {str(exc)[:60]}")
        self.rows.append(row)
        return row

    def skip(self, op: str, tool: str, why: str) -> None:
        self.rows.append(Row(op, tool, missing=why))

    def find(self, op: str, tool: str) -> Row | None:
        return next((r for r in self.rows if r.op == op and r.tool == tool), None)


# -- the input, svmlp and the floor ---------------------------------------------------------------


def generate(bench: Bench, n_images: int) -> None:
    log(f"generating {n_images} images of labels ...")
    ds = generate_annotations(n_images, seed=0, size=(1280, 720), vehicles=(3, 8), splits=(("train", 1.0),))
    svmlp.write(ds, bench.coco.parent.parent, format="coco", images="none")
    bench.n_images, bench.n_boxes = len(ds.images), len(ds.boxes)
    log(f"  {bench.n_images} images, {bench.n_boxes} boxes, {bench.coco.stat().st_size / 1e6:.1f} MB: {bench.coco}")


def convert(src: Path, src_format: str, to: str) -> Callable[[Path], None]:
    def run(out: Path) -> None:
        svmlp.write(svmlp.read(src, format=src_format, probe=False), out, format=to, images="none")

    return run


def load_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def floor(coco: Path, n_files: int) -> Callable[[Path], None]:
    """``json.load`` plus ``n_files`` empty label files: what any COCO→YOLO must at least do."""

    def run(out: Path) -> None:
        load_json(coco)
        folder = out / "labels" / "train"
        os.makedirs(folder)
        for k in range(n_files):
            open(os.path.join(folder, f"scene_{k:06d}.txt"), "w").close()

    return run


def run_svmlp(bench: Bench) -> None:
    log("svmlp and the floor:")
    coco = bench.coco
    bench.time("json.load", "stdlib", lambda out: load_json(coco), bench.work / "unused")
    bench.time("COCO read", "svmlp", lambda out: svmlp.read(coco, format="coco", probe=False), bench.work / "unused")
    yolo, voc = bench.out("svmlp", C2Y), bench.out("svmlp", C2V)
    bench.time(C2Y, "svmlp", convert(coco, "coco", "yolo"), yolo)
    n_files = sum(1 for _ in (yolo / "labels").rglob("*.txt"))
    bench.time(f"floor: json.load + {grouped(n_files)} empty files", "stdlib", floor(coco, n_files), bench.work / "floor")
    bench.time(C2V, "svmlp", convert(coco, "coco", "voc"), voc)
    bench.time(Y2C, "svmlp", convert(yolo, "yolo", "coco"), bench.out("svmlp", Y2C))
    bench.time(V2C, "svmlp", convert(voc, "voc", "coco"), bench.out("svmlp", V2C))


# -- peers ----------------------------------------------------------------------------------------


def run_globox(bench: Bench, names: list[str], sizes: dict[str, tuple[int, int]]) -> None:
    from globox import Annotation, AnnotationSet

    coco, label_to_id = bench.coco, {n: k for k, n in enumerate(names)}
    yolo, voc = bench.out("globox", C2Y), bench.out("globox", C2V)

    def yolo_parser(p: Path) -> Annotation:  # from_yolo_darknet wants image files; give the sizes instead
        return Annotation.from_yolo_darknet(p, image_size=sizes[p.stem])

    bench.time(C2Y, "globox", lambda o: AnnotationSet.from_coco(coco).save_yolo_darknet(o, label_to_id=label_to_id),
               yolo, peer=True)
    bench.time(C2V, "globox", lambda o: AnnotationSet.from_coco(coco).save_pascal_voc(o), voc, peer=True)
    if (yolo / "scene_000000.txt").is_file():
        bench.time(Y2C, "globox", lambda o: AnnotationSet.from_folder(yolo, parser=yolo_parser, extension=".txt")
                   .save_coco(_mkdir(o) / "instances.json", auto_ids=True), bench.out("globox", Y2C), peer=True)
    if voc.is_dir():
        bench.time(V2C, "globox", lambda o: AnnotationSet.from_pascal_voc(voc)
                   .save_coco(_mkdir(o) / "instances.json", auto_ids=True), bench.out("globox", V2C), peer=True)


def run_labelformat(bench: Bench, names: list[str]) -> None:
    from labelformat.formats.coco import COCOObjectDetectionInput, COCOObjectDetectionOutput
    from labelformat.formats.pascalvoc import PascalVOCObjectDetectionInput, PascalVOCObjectDetectionOutput
    from labelformat.formats.yolov8 import YOLOv8ObjectDetectionOutput

    coco, voc = bench.coco, bench.out("labelformat", C2V)
    bench.time(C2Y, "labelformat", lambda o: YOLOv8ObjectDetectionOutput(o / "data.yaml", "train")
               .save(COCOObjectDetectionInput(coco)), bench.out("labelformat", C2Y), peer=True)
    bench.time(C2V, "labelformat", lambda o: PascalVOCObjectDetectionOutput(o)
               .save(COCOObjectDetectionInput(coco)), voc, peer=True)
    bench.skip(Y2C, "labelformat", NEEDS_IMAGES)  # YOLOv8ObjectDetectionInput opens every image for its size
    if voc.is_dir():
        bench.time(V2C, "labelformat", lambda o: COCOObjectDetectionOutput(o / "instances.json")
                   .save(PascalVOCObjectDetectionInput(voc, ",".join(names))), bench.out("labelformat", V2C), peer=True)


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def run_peers(bench: Bench) -> list[str]:
    """Time each installed peer; returns the names of those that are not installed."""
    doc = load_json(bench.coco)
    names = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
    sizes = {Path(i["file_name"]).stem: (i["width"], i["height"]) for i in doc["images"]}
    del doc
    absent = []
    for tool, run in (("globox", lambda: run_globox(bench, names, sizes)), ("labelformat", lambda: run_labelformat(bench, names))):
        try:
            __import__(tool)
        except ImportError:
            absent.append(tool)
            continue
        log(f"{tool}:")
        run()
    return absent


# -- report ---------------------------------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    cpu = platform.processor() or "?"
    info = Path("/proc/cpuinfo")
    if info.is_file():
        cpu = next((ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines() if ln.startswith("model name")), cpu)
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    pkgs = ", ".join(f"{d} {version(d)}" for d in ("svmlp", "globox", "labelformat", "numpy", "msgspec"))
    return [
        f"machine: {platform.platform()}; {cpu}; {os.cpu_count()} CPUs; load average {load}",
        f"python {platform.python_version()} ({platform.python_implementation()}); {pkgs}",
    ]


def add_ratios(bench: Bench) -> None:
    by = {(r.op, r.tool): r for r in bench.rows}
    floor_row = next(r for r in bench.rows if r.op.startswith("floor"))
    floor_row.vs = "1.00× floor"
    ref = {"COCO read": by.get(("json.load", "stdlib"))}
    for row in bench.rows:
        if row.seconds is None:
            continue
        if row.tool == "svmlp" and row.op in (C2Y, C2V) and floor_row.seconds:
            row.vs = f"{row.seconds / floor_row.seconds:.2f}× floor"
        elif row.tool == "svmlp" and row.op in ref and ref[row.op] and ref[row.op].seconds:
            row.vs = f"{row.seconds / ref[row.op].seconds:.2f}× json.load"  # type: ignore[union-attr]
        elif row.tool not in ("svmlp", "stdlib"):
            own = by.get((row.op, "svmlp"))
            if own is not None and own.seconds:
                row.vs = f"{row.seconds / own.seconds:.2f}× svmlp"


def table(bench: Bench) -> list[str]:
    head = f"| operation | tool | seconds (best of {bench.repeat}) | boxes/s | ratio |"
    lines = [head, "|---|---|---:|---:|---|"]
    for r in bench.rows:
        tool = r.tool if r.tool in ("svmlp", "stdlib") else f"{r.tool} {version(r.tool)}"
        if r.seconds is None:
            lines.append(f"| {r.op} | {tool} | {r.missing} | — | — |")
            continue
        once = f" ({r.runs} run{'s' if r.runs > 1 else ''})" if r.runs < bench.repeat else ""
        lines.append(f"| {r.op} | {tool} | {r.seconds:.2f}{once} | {grouped(bench.n_boxes / r.seconds)} | {r.vs} |")
    return lines


def goals(bench: Bench, absent: list[str]) -> list[str]:
    read, c2y = bench.find("COCO read", "svmlp"), bench.find(C2Y, "svmlp")
    floor_row = next(r for r in bench.rows if r.op.startswith("floor"))
    rate = bench.n_boxes / read.seconds if read and read.seconds else 0.0
    ratio = c2y.seconds / floor_row.seconds if c2y and c2y.seconds and floor_row.seconds else float("inf")
    out = [
        f"COCO read: {grouped(rate)} boxes/s (goal >= {grouped(READ_GOAL)}): {_ok(rate >= READ_GOAL)}",
        f"COCO → YOLO: {ratio:.2f}× the floor (goal <= {FLOOR_GOAL:g}×): {_ok(ratio <= FLOOR_GOAL)}",
    ]
    for op in (C2Y, C2V, Y2C, V2C):
        mine = bench.find(op, "svmlp")
        peers = [r for r in bench.rows if r.op == op and r.tool not in ("svmlp", "stdlib") and r.seconds]
        if not peers or mine is None or mine.seconds is None:
            continue
        slower = [f"{r.tool} {r.seconds:.2f} s" for r in peers if r.seconds <= mine.seconds]  # type: ignore[operator]
        verdict = "ok" if not slower else "MISSED (" + ", ".join(slower) + " faster)"
        out.append(f"{op}: svmlp {mine.seconds:.2f} s, ahead of every peer measured: {verdict}")
    out += [f"{tool}: not installed" for tool in absent]
    return out


def _ok(ok: bool) -> str:
    return "ok" if ok else "MISSED"


NOTES = [
    "notes: svmlp writes data.yaml / ImageSets and svmlp.sidecar.json (ids, car→plate links, plate text and",
    "  corners) besides the labels; the peers write the labels only (globox: flat folders, no data.yaml).",
    "  globox YOLO → COCO: AnnotationSet.from_yolo_darknet needs an image folder, so each label file is read",
    "  with Annotation.from_yolo_darknet(image_size=...) from a size table made beforehand (not timed).",
    f"  labelformat YOLO → COCO: {NEEDS_IMAGES}; YOLOv8ObjectDetectionInput opens every image for its size.",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000, help="images to generate (default 10000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step; the best is kept (default 3)")
    ap.add_argument("--keep", type=Path, help="write everything here (missing or empty) and keep it")
    ap.add_argument("--no-peers", action="store_true", help="time svmlp and the floor only")
    args = ap.parse_args(argv)
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep}: folder is not empty")
    work = args.keep if args.keep is not None else Path(tempfile.mkdtemp(prefix="svmlp-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        bench = Bench(work, max(1, args.repeat))
        generate(bench, args.images)
        run_svmlp(bench)
        absent = [] if args.no_peers else run_peers(bench)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    add_ratios(bench)
    print("\n".join(machine()))
    print(f"input: {grouped(bench.n_images)} images, {grouped(bench.n_boxes)} boxes, one COCO file (labels only)\n")
    print("\n".join(table(bench)) + "\n")
    print("\n".join(([] if args.no_peers else NOTES) + goals(bench, absent)))
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s (generation and peers included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
