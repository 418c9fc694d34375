"""Time svmlp's conversions on a synthetic COCO set against the floor and the installed peers.

    .venv/bin/python scripts/bench_convert.py                  # 10 000 images, best of 3
    .venv/bin/python scripts/bench_convert.py --images 2000 --repeat 1 --no-peers
    .venv/bin/python scripts/bench_convert.py --keep /tmp/bench # keep every file it wrote
    .venv/bin/python scripts/bench_convert.py --dir /tmp        # on disk instead of /dev/shm

One COCO file (labels only, every image in ``train``) is generated with :mod:`svmlp.synth` and
is the input of everything: svmlp COCO→YOLO, COCO→VOC, then YOLO→COCO and VOC→COCO from the
folders svmlp wrote; the floor (``json.load`` of the file plus creating as many empty files as
the YOLO output has label files); and globox / labelformat where installed, each reading back
the files it wrote itself. Steps run in ``--repeat`` rounds (each step once a round, so a busy
spell of the machine hits every tool alike), each run in a fresh output folder after ``os.sync``;
a step keeps its best wall-clock time. A peer step whose first run takes over two minutes runs
once. Prints the machine, one markdown table (for the README) and the goal checks. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from _bench import cpu_name, log  # scripts/_bench.py: scripts/ is on sys.path

import svmlp
from svmlp.model import BoxTable
from svmlp.synth import generate_annotations

LONG_S = 120.0  # a peer step slower than this runs once
READ_GOAL, FLOOR_GOAL = 500_000, 2.0
C2Y, C2V, Y2C, V2C = "COCO → YOLO", "COCO → VOC", "YOLO → COCO", "VOC → COCO"
NEEDS_IMAGES = "n/a (needs images)"
RICH = "COCO read, with links, plate text and corners"


@dataclass
class Step:
    """One timed operation; ``fn`` gets a fresh output folder, ``out`` keeps the last run's output."""

    op: str
    tool: str
    fn: Callable[[Path], Any] | None = None
    out: Path | None = None
    peer: bool = False
    times: list[float] = field(default_factory=list)
    missing: str = ""  # why there is no time
    vs: str = "—"

    @property
    def seconds(self) -> float | None:
        return min(self.times) if self.times else None


def grouped(n: float) -> str:
    return f"{round(n):,}".replace(",", " ")


def time_once(step: Step) -> None:
    """One wall-clock run of ``step`` in a fresh folder, after flushing earlier steps' writes."""
    if step.fn is None or step.out is None:
        return
    shutil.rmtree(step.out, ignore_errors=True)
    if hasattr(os, "sync"):
        os.sync()  # so that writing back an earlier step's files does not land in this one
    gc.collect()
    start = time.perf_counter()
    result = step.fn(step.out)
    step.times.append(time.perf_counter() - start)
    del result  # freeing a returned object is not part of the step


class Bench:
    def __init__(self, work: Path, repeat: int) -> None:
        self.work, self.repeat = work, repeat
        self.steps: list[Step] = []
        self.coco = work / "coco" / "annotations" / "instances_train.json"
        self.rich = work / "coco-with-extras" / "annotations" / "instances_train.json"
        self.n_boxes = self.n_images = self.n_labelled = 0

    def out(self, tool: str, op: str) -> Path:
        return self.work / re.sub(r"[^a-z0-9.]+", "-", f"{tool} {op}".lower()).strip("-")

    def add(
        self, op: str, tool: str, fn: Callable[[Path], Any] | None, *, peer: bool = False, missing: str = ""
    ) -> None:
        self.steps.append(Step(op, tool, fn, self.out(tool, op), peer, missing=missing))

    def run(self) -> None:
        """``repeat`` rounds over every step, so that a busy spell of the machine hits all tools alike."""
        for k in range(self.repeat):
            log(f"round {k + 1} of {self.repeat}")
            for step in self.steps:
                if step.fn is None or step.missing or (step.peer and step.times and step.times[0] > LONG_S):
                    continue
                log(f"  {step.tool:12} {step.op}")
                try:
                    time_once(step)
                except Exception as exc:  # a peer that breaks is reported, not fatal
                    if not step.peer:
                        raise
                    step.missing = f"failed: {type(exc).__name__}: {str(exc)[:60]}"

    def find(self, op: str, tool: str) -> Step | None:
        return next((s for s in self.steps if s.op == op and s.tool == tool), None)


# -- the input, svmlp and the floor ---------------------------------------------------------------


def generate(bench: Bench, n_images: int) -> None:
    """The input: a plain COCO file, as any COCO tool writes it (boxes, ids, area, iscrowd), and
    the same scenes with svmlp's extras (car→plate links, plate text and corners) for one more row."""
    log(f"generating {n_images} images of labels ...")
    ds = generate_annotations(n_images, seed=0, size=(1280, 720), vehicles=(3, 8), splits=(("train", 1.0),))
    svmlp.write(ds, bench.rich.parent.parent, format="coco", images="none")
    b = ds.boxes
    plain = BoxTable.build(id=b.id, image=b.image, category=b.category, xyxy=b.xyxy, iscrowd=b.iscrowd)
    ds = ds.replace(boxes=plain)
    svmlp.write(ds, bench.coco.parent.parent, format="coco", images="none")
    bench.n_images, bench.n_boxes = len(ds.images), len(ds.boxes)
    bench.n_labelled = int(ds.images.labelled.sum())  # one YOLO label file each
    log(
        f"  {bench.n_images} images, {bench.n_boxes} boxes, {bench.coco.stat().st_size / 1e6:.1f} MB: {bench.coco}"
    )


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


def add_svmlp(bench: Bench) -> None:
    coco, yolo, voc = bench.coco, bench.out("svmlp", C2Y), bench.out("svmlp", C2V)
    bench.add("json.load", "stdlib", lambda out: load_json(coco))
    bench.add("COCO read", "svmlp", lambda out: svmlp.read(coco, format="coco", probe=False))
    rich = bench.rich
    bench.add(RICH, "svmlp", lambda out: svmlp.read(rich, format="coco", probe=False))
    bench.add(C2Y, "svmlp", convert(coco, "coco", "yolo"))
    bench.add(
        f"floor: json.load + {grouped(bench.n_labelled)} empty files", "stdlib", floor(coco, bench.n_labelled)
    )
    bench.add(C2V, "svmlp", convert(coco, "coco", "voc"))
    bench.add(Y2C, "svmlp", convert(yolo, "yolo", "coco"))
    bench.add(V2C, "svmlp", convert(voc, "voc", "coco"))


# -- peers: each reads back what it wrote itself --------------------------------------------------


def add_globox(bench: Bench, names: list[str], sizes: dict[str, tuple[int, int]]) -> None:
    from globox import Annotation, AnnotationSet

    coco, label_to_id = bench.coco, {n: k for k, n in enumerate(names)}
    yolo, voc = bench.out("globox", C2Y), bench.out("globox", C2V)

    def yolo_parser(p: Path) -> Annotation:  # from_yolo_darknet wants image files; give the sizes instead
        return Annotation.from_yolo_darknet(p, image_size=sizes[p.stem])

    def c2y(out: Path) -> None:
        AnnotationSet.from_coco(coco).save_yolo_darknet(out, label_to_id=label_to_id)

    def y2c(out: Path) -> None:
        out.mkdir()
        AnnotationSet.from_folder(yolo, parser=yolo_parser, extension=".txt").save_coco(
            out / "i.json", auto_ids=True
        )

    def v2c(out: Path) -> None:
        out.mkdir()
        AnnotationSet.from_pascal_voc(voc).save_coco(out / "i.json", auto_ids=True)

    bench.add(C2Y, "globox", c2y, peer=True)
    bench.add(C2V, "globox", lambda out: AnnotationSet.from_coco(coco).save_pascal_voc(out), peer=True)
    bench.add(Y2C, "globox", y2c, peer=True)
    bench.add(V2C, "globox", v2c, peer=True)


def add_labelformat(bench: Bench, names: list[str]) -> None:
    from labelformat.formats.coco import COCOObjectDetectionInput, COCOObjectDetectionOutput
    from labelformat.formats.pascalvoc import PascalVOCObjectDetectionInput, PascalVOCObjectDetectionOutput
    from labelformat.formats.yolov8 import YOLOv8ObjectDetectionOutput

    coco, voc = bench.coco, bench.out("labelformat", C2V)

    def c2y(out: Path) -> None:
        YOLOv8ObjectDetectionOutput(out / "data.yaml", "train").save(COCOObjectDetectionInput(coco))

    def c2v(out: Path) -> None:
        PascalVOCObjectDetectionOutput(out).save(COCOObjectDetectionInput(coco))

    def v2c(out: Path) -> None:
        COCOObjectDetectionOutput(out / "i.json").save(PascalVOCObjectDetectionInput(voc, ",".join(names)))

    bench.add(C2Y, "labelformat", c2y, peer=True)
    bench.add(C2V, "labelformat", c2v, peer=True)
    bench.add(Y2C, "labelformat", None, peer=True, missing=NEEDS_IMAGES)  # its YOLO reader opens every image
    bench.add(V2C, "labelformat", v2c, peer=True)


def add_peers(bench: Bench) -> list[str]:
    """Add the steps of each installed peer; returns the names of those that are not installed."""
    doc = load_json(bench.coco)
    names = [c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"])]
    sizes = {Path(i["file_name"]).stem: (i["width"], i["height"]) for i in doc["images"]}
    del doc
    absent = []
    for tool, add in (
        ("globox", lambda: add_globox(bench, names, sizes)),
        ("labelformat", lambda: add_labelformat(bench, names)),
    ):
        try:
            add()  # each imports its peer first
        except ImportError:
            absent.append(tool)
    return absent


# -- report ---------------------------------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (Linux), e.g. ext4 or tmpfs."""
    mounts = Path("/proc/mounts")
    if not mounts.is_file():
        return "?"
    where = str(path.resolve()).rstrip("/") + "/"
    rows = [ln.split() for ln in mounts.read_text().splitlines() if len(ln.split()) > 2]
    inside = [r for r in rows if where.startswith(r[1].rstrip("/") + "/")]
    return max(inside, key=lambda r: len(r[1]))[2] if inside else "?"


def machine(load_before: str, work: Path) -> list[str]:
    cpu = cpu_name("?")
    pkgs = ", ".join(f"{d} {version(d)}" for d in ("svmlp", "globox", "labelformat", "numpy", "msgspec"))
    return [
        f"machine: {platform.platform()}; {cpu}; {os.cpu_count()} CPUs; "
        f"load average (1/5/15 min) {load_before} before, {load_average()} after",
        f"python {platform.python_version()} ({platform.python_implementation()}); {pkgs}",
        f"files written under {work.parent} ({file_system(work.parent)})",
    ]


def floor_step(bench: Bench) -> Step:
    return next(s for s in bench.steps if s.op.startswith("floor"))


def add_ratios(bench: Bench) -> None:
    fl, load = floor_step(bench), bench.find("json.load", "stdlib")
    fl.vs = "1.00× floor"
    for s in bench.steps:
        ref = None
        if s.tool == "svmlp" and s.op in (C2Y, C2V):
            ref, what = fl, "floor"
        elif s.tool == "svmlp" and s.op in ("COCO read", RICH):
            ref, what = load, "json.load"
        elif s.tool != "svmlp" and s.tool != "stdlib":
            ref, what = bench.find(s.op, "svmlp"), "svmlp"
        if s.seconds and ref is not None and ref.seconds:
            s.vs = f"{s.seconds / ref.seconds:.2f}× {what}"


def table(bench: Bench) -> list[str]:
    lines = [
        f"| operation | tool | seconds (best of {bench.repeat}) | boxes/s | ratio |",
        "|---|---|---:|---:|---|",
    ]
    for s in bench.steps:
        tool = s.tool if s.tool in ("svmlp", "stdlib") else f"{s.tool} {version(s.tool)}"
        if s.seconds is None:
            lines.append(f"| {s.op} | {tool} | {s.missing} | — | — |")
            continue
        runs = len(s.times)
        once = f" ({runs} run{'s' if runs > 1 else ''})" if runs < bench.repeat else ""
        lines.append(
            f"| {s.op} | {tool} | {s.seconds:.2f}{once} | {grouped(bench.n_boxes / s.seconds)} | {s.vs} |"
        )
    return lines


def _ok(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def goals(bench: Bench, absent: list[str]) -> list[str]:
    read, c2y, fl = bench.find("COCO read", "svmlp"), bench.find(C2Y, "svmlp"), floor_step(bench)
    rate = bench.n_boxes / read.seconds if read and read.seconds else 0.0
    ratio = c2y.seconds / fl.seconds if c2y and c2y.seconds and fl.seconds else float("inf")
    out = [
        f"COCO read: {grouped(rate)} boxes/s (goal >= {grouped(READ_GOAL)}): {_ok(rate >= READ_GOAL)}",
        f"COCO → YOLO: {ratio:.2f}× the floor (goal <= {FLOOR_GOAL:g}×): {_ok(ratio <= FLOOR_GOAL)}",
    ]
    for op in (C2Y, C2V, Y2C, V2C):
        mine = bench.find(op, "svmlp")
        peers = [s for s in bench.steps if s.op == op and s.peer and s.seconds]
        if not peers or mine is None or not mine.seconds:
            continue
        faster = [f"{s.tool} {s.seconds:.2f} s" for s in peers if s.seconds and s.seconds <= mine.seconds]
        verdict = "ok" if not faster else "MISSED (" + ", ".join(faster) + ")"
        out.append(f"{op}: svmlp {mine.seconds:.2f} s, ahead of every peer measured: {verdict}")
    return out + [f"{tool}: not installed" for tool in absent]


NOTES = [
    "notes: svmlp also writes data.yaml or ImageSets, and svmlp.sidecar.json (ids, car→plate links, plate",
    "  text and corners); the peers write the labels only. globox's YOLO → COCO: from_yolo_darknet wants an",
    "  image folder, so each file is read by Annotation.from_yolo_darknet(image_size=...) from a size table",
    "  made beforehand (untimed); its categories come out named '0', '1' (auto_ids).",
    f"  labelformat's YOLO → COCO: {NEEDS_IMAGES}: YOLOv8ObjectDetectionInput opens every image for its size.",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10_000, help="images to generate (default 10000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step; the best is kept (default 3)")
    ap.add_argument("--keep", type=Path, help="write everything here (missing or empty) and keep it")
    ap.add_argument("--no-peers", action="store_true", help="time svmlp and the floor only")
    ap.add_argument(
        "--dir",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where the temporary files go (default /dev/shm when there is one: disk stalls while creating "
        "10 000 files otherwise swamp the differences measured)",
    )
    args = ap.parse_args(argv)
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep}: folder is not empty")
    work = args.keep if args.keep is not None else Path(tempfile.mkdtemp(prefix="svmlp-bench-", dir=args.dir))
    work.mkdir(parents=True, exist_ok=True)
    started, load_before = time.perf_counter(), load_average()
    bench = Bench(work, max(1, args.repeat))
    try:
        generate(bench, args.images)
        add_svmlp(bench)
        absent = [] if args.no_peers else add_peers(bench)
        bench.run()
        written = sum(1 for _ in (bench.out("svmlp", C2Y) / "labels").rglob("*.txt"))
        if written != bench.n_labelled:
            log(f"warning: svmlp wrote {written} YOLO label files; the floor made {bench.n_labelled}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    add_ratios(bench)
    print("\n".join(machine(load_before, work)))
    print(
        f"input: {grouped(bench.n_images)} images, {grouped(bench.n_boxes)} boxes, one COCO file (labels only)\n"
    )
    print("\n".join(table(bench)) + "\n")
    print("\n".join(([] if args.no_peers else NOTES) + goals(bench, absent)))
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
