"""COCO → YOLO as a user runs it: whole processes, images present, against the floor and globox.

    .venv/bin/python scripts/bench_convert_process.py                       # 10 000 and 100 000 images
    .venv/bin/python scripts/bench_convert_process.py --images 10000 --rounds 7
    .venv/bin/python scripts/bench_convert_process.py --dir /tmp            # on disk, not /dev/shm

Each set is one COCO file from :mod:`svmlp.synth` (vehicles with their plates: links, plate text
and corners) with every image present (hard links to one small JPEG: svmlp reads each image's
header to normalise by the real size). Every tool runs as its own process, round by round in
rotating order, after one untimed run each (so every tool starts with its files cached and its
bytecode compiled, as an installed package has); the figure is the median of the rounds. Peak
memory comes from that untimed run: the most the process held at once with its children (its
resident set plus each child's private pages, sampled every 5 ms: svmlp reads image headers in a
worker process and creates label files in a forked child, which shares the rest of its memory).

- svmlp: ``svmlp convert coco/ --to yolo -o OUT --images none -q`` (labels, ``data.yaml`` and the
  sidecar; the images are probed, not copied).
- floor: a Python process that does ``json.load`` of the file and creates the YOLO output's
  label files empty: what any COCO → YOLO converter must do at the least.
- globox: ``globox convert -f coco -F yolov5 FILE OUT`` (labels only), where installed.

Goals (issue 17): svmlp ≤ 1.5× the floor and ≥ 4× faster than globox at each size; peak memory
≤ 1 KB per box at the largest. ``svmlp --help`` start-up is timed the same way, against a bare
``python -c pass``. Prints the machine, one markdown table and the goal checks. Not a test.
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
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from _bench import cpu_name, log  # scripts/_bench.py: scripts/ is on sys.path

FLOOR_GOAL, GLOBOX_GOAL, MEMORY_GOAL = 1.5, 4.0, 1024.0  # ×, ×, bytes per box

FLOOR = """
import json, os, sys
src, out = sys.argv[1], sys.argv[2]
with open(src, "rb") as fh:
    doc = json.load(fh)
os.makedirs(out)
for image in doc["images"]:
    open(os.path.join(out, os.path.splitext(image["file_name"])[0] + ".txt"), "w").close()
"""


_MAKE = """
import sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from bench_fiftyone import make_set
import svmlp
labels, _ = make_set(int(sys.argv[2]), Path(sys.argv[3]))
print(labels, len(svmlp.read(labels, probe=False).boxes))
"""


@dataclass
class Tool:
    name: str
    argv: list[str]  # OUT stands for the output folder
    seconds: list[float] = field(default_factory=list)
    peak: list[int] = field(default_factory=list)  # bytes

    def run(self, out: Path, env: dict[str, str], *, memory: bool = False) -> None:
        """One timed run, or (``memory``) one untimed run that samples the memory of the process
        and its children (sampling costs CPU, so it never runs beside a timed run)."""
        shutil.rmtree(out, ignore_errors=True)
        argv = [str(out) if a == "OUT" else a for a in self.argv]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watch = TreeMemory(proc.pid) if memory else None
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode:
            raise SystemExit(f"{self.name} failed ({proc.returncode}): {err.strip()[-500:]}")
        if watch is None:
            self.seconds.append(took)
        else:
            watch.stop()
            self.peak.append(max(usage.ru_maxrss * 1024, watch.peak))  # ru_maxrss: KiB on Linux

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


class TreeMemory:
    """The largest memory a process and its children held at once, sampled every 5 ms: its
    resident set plus each child's private pages (a forked child shares the rest with it; a
    worker process's pages are all private). Linux only; elsewhere 0 (``ru_maxrss`` stands)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._done = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        if Path(f"/proc/{pid}").exists():
            self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(0.005):
            own = _smaps(self.pid)
            if own is None:
                return
            total = own.get("Rss", 0)
            for child in _children(self.pid):
                kid = _smaps(child) or {}
                total += kid.get("Private_Dirty", 0) + kid.get("Private_Clean", 0)
            self.peak = max(self.peak, total * 1024)

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()


def _smaps(pid: int) -> dict[str, int] | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    out = {}
    for line in lines[1:]:
        key, _, rest = line.partition(":")
        value = rest.split()
        if value and value[0].isdigit():
            out[key] = int(value[0])  # kB
    return out


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, str]:
    """Children compile and keep bytecode, as an installed package has it."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tools_for(folder: Path, labels: Path, peers: bool) -> list[Tool]:
    bindir = Path(sys.executable).parent
    tools = [
        Tool(
            "svmlp",
            [sys.executable, "-m", "svmlp", "convert", str(folder / "coco"), "--to", "yolo", "-o", "OUT",
             "--images", "none", "-q"],
        ),
        Tool("floor", [sys.executable, "-c", FLOOR, str(labels), "OUT"]),
    ]  # fmt: skip
    globox = shutil.which("globox", path=str(bindir)) or shutil.which("globox")
    if peers and globox:
        tools.append(Tool("globox", [globox, "convert", "-f", "coco", "-F", "yolov5", str(labels), "OUT"]))
    return tools


def bench_size(n: int, root: Path, rounds: int, peers: bool, env: dict[str, str]) -> tuple[int, list[Tool]]:
    folder = root / str(n)
    folder.mkdir(parents=True, exist_ok=True)
    # in a child: a process's peak memory counts its parent's at the fork, so this one stays small
    made = subprocess.run(
        [sys.executable, "-c", _MAKE, str(Path(__file__).parent), str(n), str(folder)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    labels, boxes = Path(made[0]), int(made[1])
    tools = tools_for(folder, labels, peers)
    log(f"{n} images, {boxes} boxes: warming up {', '.join(t.name for t in tools)} (and their peak memory)")
    for t in tools:  # untimed: bytecode compiled, files cached; memory sampled
        t.run(folder / f"out-{t.name}", env, memory=True)
    for r in range(rounds):
        order = tools[r % len(tools) :] + tools[: r % len(tools)]
        for t in order:
            if hasattr(os, "sync"):
                os.sync()
            t.run(folder / f"out-{t.name}", env)
            log(f"  {n} images, round {r + 1}: {t.name} {t.seconds[-1]:.2f} s")
    for t in tools:
        shutil.rmtree(folder / f"out-{t.name}", ignore_errors=True)
    return boxes, tools


def startup(rounds: int, env: dict[str, str]) -> tuple[float, float]:
    bare = Tool("python", [sys.executable, "-c", "pass"])
    helped = Tool("svmlp --help", [sys.executable, "-m", "svmlp", "--help"])
    for r in range(rounds + 1):
        for t in (bare, helped) if r % 2 else (helped, bare):
            t.run(Path(os.devnull), env)
    return statistics.median(bare.seconds[1:]), statistics.median(helped.seconds[1:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per size (default 5)")
    ap.add_argument("--no-peers", action="store_true", help="svmlp and the floor only")
    default_dir = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    ap.add_argument("--dir", type=Path, default=default_dir / "svmlp-bench-process")
    args = ap.parse_args(argv)
    env = environment()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = [(n, *bench_size(n, args.dir, args.rounds, not args.no_peers, env)) for n in args.images]
    bare, helped = startup(max(args.rounds, 5), env)

    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"svmlp {version('svmlp')}, globox {version('globox') or 'absent'}; files in {args.dir}; "
        f"load {load:.2f} at the start; median of {args.rounds} rounds"
    )
    print()
    print("| images | boxes | tool | seconds (median) | peak memory | bytes/box | ratio |")
    print("|---:|---:|---|---:|---:|---:|---|")
    checks = []
    for n, boxes, tools in results:
        by = {t.name: t for t in tools}
        sv, fl = by["svmlp"], by["floor"]
        for t in tools:
            if t.name == "svmlp":
                ratio = f"{sv.median / fl.median:.2f}× floor"
            elif t.name == "floor":
                ratio = "1.00× floor"
            else:
                ratio = f"{t.median / sv.median:.2f}× svmlp"
            peak = max(t.peak)
            print(
                f"| {n:,} | {boxes:,} | {t.name} | {t.median:.2f} | {peak / 1e6:,.0f} MB | {peak / boxes:,.0f} | {ratio} |"
            )
        r = sv.median / fl.median
        checks.append(f"{n} images: svmlp {r:.2f}× the floor (goal <= {FLOOR_GOAL}): {_ok(r <= FLOOR_GOAL)}")
        if "globox" in by:
            g = by["globox"].median / sv.median
            checks.append(
                f"{n} images: svmlp {g:.2f}× faster than globox (goal >= {GLOBOX_GOAL:.0f}): {_ok(g >= GLOBOX_GOAL)}"
            )
    n, boxes, tools = results[-1]
    per_box = max(next(t for t in tools if t.name == "svmlp").peak) / boxes
    checks.append(
        f"{n} images: svmlp peak {per_box:,.0f} bytes per box (goal <= {MEMORY_GOAL:.0f}): {_ok(per_box <= MEMORY_GOAL)}"
    )
    checks.append(f"svmlp --help: {helped:.3f} s whole process (python -c pass: {bare:.3f} s)")
    print()
    print("```")
    print("\n".join(checks))
    print("```")
    return 0


def _ok(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
