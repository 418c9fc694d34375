"""Stopping a convert: Ctrl-C, SIGTERM and SIGKILL at any moment, two runs to one output folder, and
files that appear in the output while it is written.

Real processes (``python -m svmlp`` and the console script) convert a COCO set of a few thousand
tiny JPEGs to YOLO with copied images; every stop must end within seconds with one line and the
right exit code, and leave the output folder either absent or complete, never half-written, with
no work folder beside it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from svmlp.errors import OutputExistsError
from svmlp.formats._layout import atomic_output_dir

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and flock")

N_IMAGES = 3000
STOP_WITHIN = 5.0  # seconds from the signal to the process's end (cleanup included), with slack
RUN_LIMIT = 120.0  # a convert that takes longer than this has hung


def _build_source(root: Path) -> None:
    """A COCO data set: one annotation file, N_IMAGES real (if tiny) JPEGs."""
    from PIL import Image

    blobs = []
    for c in range(16):
        buf = io.BytesIO()
        Image.new("RGB", (16, 12), (c * 16, 100, 200 - c * 8)).save(buf, "JPEG")
        blobs.append(buf.getvalue())
    (root / "annotations").mkdir(parents=True)
    folder = root / "images" / "train"
    folder.mkdir(parents=True)
    images, boxes = [], []
    for i in range(N_IMAGES):
        name = f"{i:05d}.jpg"
        (folder / name).write_bytes(blobs[i % len(blobs)])
        images.append({"id": i + 1, "file_name": name, "width": 16, "height": 12})
        boxes.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [2, 2, 8, 6], "area": 48, "iscrowd": 0}
        )
    doc = {"images": images, "annotations": boxes, "categories": [{"id": 1, "name": "plate"}]}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))


def _command(src: Path, out: Path, *, script: bool = False) -> list[str]:
    head = [str(Path(sys.executable).with_name("svmlp"))] if script else [sys.executable, "-m", "svmlp"]
    return [*head, "convert", str(src), "--to", "yolo", "-o", str(out), "--images", "copy"]


def _start(cmd: list[str]) -> subprocess.Popen[str]:
    # SIGINT back to its default in the child: a shell running the tests in the background
    # (`make test &`) hands it down ignored, and svmlp rightly keeps an ignored SIGINT ignored
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    """Until svmlp has set its handlers (main()'s first step; SIGTERM caught shows in /proc)."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():  # no /proc: interpreter start-up takes about this long
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            caught = next(ln for ln in status.read_text().splitlines() if ln.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.002)


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"svmlp did not end within {timeout:.0f} s; stderr: {err[-2000:]}")
    return proc.returncode, out, err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(out: Path) -> list[str]:
    """Anything of svmlp's beside ``out``: work folders, the lock file."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signals") / "src"
    _build_source(root)
    return root


@pytest.fixture(scope="module")
def reference(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], float]:
    """The complete output, and how long a convert runs once svmlp's handlers are set."""
    out = tmp_path_factory.mktemp("reference") / "out"
    proc = _start(_command(source, out))
    _wait_ready(proc)
    t0 = time.monotonic()
    code, _, err = _finish(proc, RUN_LIMIT)
    assert code == 0, err
    return _snapshot(out), time.monotonic() - t0


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def _delays(seed: int, duration: float) -> list[float]:
    """Five moments: at once (numpy and the formats are still importing), three spread over the
    run, one at its very end."""
    rng = random.Random(seed)
    return [
        0.0,
        rng.uniform(0.05, 0.35) * duration,
        rng.uniform(0.35, 0.65) * duration,
        rng.uniform(0.65, 0.9) * duration,
        rng.uniform(0.93, 1.02) * duration,
    ]


@pytest.mark.parametrize(
    ("signum", "code", "word", "seed"),
    [(signal.SIGINT, 130, "interrupted", 1), (signal.SIGTERM, 143, "terminated", 2)],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_at_any_moment_stops_cleanly(
    source: Path,
    reference: tuple[dict[str, bytes], float],
    tmp_path: Path,
    signum: int,
    code: int,
    word: str,
    seed: int,
) -> None:
    expected, duration = reference
    outcomes = []
    for k, delay in enumerate(_delays(seed, duration)):
        out = tmp_path / f"out{k}"
        proc = _start(_command(source, out))
        _wait_ready(proc)
        time.sleep(delay)
        proc.send_signal(signum)
        sent = time.monotonic()
        got, _, err = _finish(proc, STOP_WITHIN)
        took = time.monotonic() - sent
        where = f"signal {signum} at {delay:.2f} s of {duration:.2f} s: exit {got}, stderr {err!r}"
        assert took < STOP_WITHIN, where
        assert "Traceback" not in err, where
        assert got in (code, 0), where
        if got == code:
            assert err.splitlines() == [f"svmlp convert: {word}"], where
        if got == 0 or out.exists():  # a run stopped after its final rename has written it all
            assert _snapshot(out) == expected, where
        assert _leftovers(out) == [], where
        outcomes.append(got)
    assert code in outcomes  # the signals did stop runs, not only arrive after them


def test_sigkill_leaves_a_temp_folder_the_next_run_removes(
    source: Path, reference: tuple[dict[str, bytes], float], out: Path
) -> None:
    expected, _ = reference
    proc = _start(_command(source, out))
    deadline = time.monotonic() + RUN_LIMIT
    while not [p for p in out.parent.glob(".out.*.svmlp-tmp") if any(p.iterdir())]:
        assert proc.poll() is None and time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.005)
    proc.kill()
    _finish(proc, STOP_WITHIN)
    stale = [p.name for p in out.parent.glob(".out.*.svmlp-tmp")]
    assert len(stale) == 1 and not out.exists()

    code, stdout, err = _finish(_start(_command(source, out)), RUN_LIMIT)
    assert code == 0, err
    assert f"note: removed a temporary folder left by an interrupted run: {out.parent / stale[0]}" in stdout
    assert _snapshot(out) == expected
    assert _leftovers(out) == []


def test_two_runs_to_one_folder(source: Path, reference: tuple[dict[str, bytes], float], out: Path) -> None:
    expected, _ = reference
    first = _start(_command(source, out))
    deadline = time.monotonic() + RUN_LIMIT
    while not list(out.parent.glob(".out.*.svmlp-tmp")):  # the first one is writing
        assert first.poll() is None and time.monotonic() < deadline, "the run never started writing"
        time.sleep(0.005)
    second = _start(_command(source, out, script=True))  # the console script, for once
    code2, _, err2 = _finish(second, RUN_LIMIT)
    code1, _, err1 = _finish(first, RUN_LIMIT)
    assert (code1, code2) == (0, 2), (err1, err2)
    # the lock turns it away, or (on a slow start) the first run's finished output does
    assert len(err2.splitlines()) == 1 and "Traceback" not in err2
    assert "another svmlp run is writing this folder" in err2 or "folder is not empty" in err2
    assert _snapshot(out) == expected
    assert _leftovers(out) == []


def test_a_run_to_a_locked_folder_fails_at_once(source: Path, out: Path) -> None:
    with atomic_output_dir(out) as tmp:
        (tmp / "mine.txt").write_text("x")
        t0 = time.monotonic()
        code, _, err = _finish(_start(_command(source, out)), RUN_LIMIT)
    assert code == 2
    assert err.splitlines() == [
        f"svmlp convert: error: {out}: another svmlp run is writing this folder; "
        "wait for it or choose another output folder"
    ]
    assert time.monotonic() - t0 < RUN_LIMIT
    assert _snapshot(out) == {"mine.txt": b"x"}
    assert _leftovers(out) == []


def test_a_file_that_appears_in_the_output_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with (
        pytest.raises(OutputExistsError, match="files appeared in the folder") as err,
        atomic_output_dir(out) as tmp,
    ):
        (tmp / "labels.txt").write_text("new")
        (out / "yours.txt").write_text("yours")  # another program, while svmlp writes
    assert len(str(err.value).splitlines()) == 1
    assert _snapshot(out) == {"yours.txt": b"yours"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_a_killed_run_are_cleaned_and_said(tmp_path: Path) -> None:
    out = tmp_path / "out"
    stale = tmp_path / ".out.ab12cd34.svmlp-tmp"
    (stale / "images").mkdir(parents=True)
    old = tmp_path / ".out.0000abcd.svmlp-old"  # a killed --overwrite run had moved the output here
    (old / "x").mkdir(parents=True)
    (old / "x" / "previous.txt").write_text("previous")
    other = tmp_path / ".out.b.12345678.svmlp-tmp"  # the output folder out.b's, not out's
    other.mkdir()
    notes: list[str] = []
    with atomic_output_dir(out, overwrite=True, notes=notes) as tmp:
        assert _snapshot(out) == {"previous.txt": b"previous"}  # put back before anything else
        (tmp / "new.txt").write_text("new")
    assert notes == [
        f"put back {out}, which an interrupted --overwrite run had moved to {old}",
        f"removed a temporary folder left by an interrupted run: {stale}",
    ]
    assert _snapshot(out) == {"new.txt": b"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "out"]


def test_an_interrupt_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), atomic_output_dir(out) as tmp:
        (tmp / "half.txt").write_text("x")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


_STUCK = """
import sys, threading, time
import svmlp.cli as cli
from svmlp._pool import map_threads

def never(x):
    if x == 0:
        print("ready", flush=True)
        time.sleep(3600)

def command(args):
    if sys.argv[2] == "thread":  # a thread the interpreter's exit would wait for
        threading.Thread(target=time.sleep, args=(3600,)).start()
        print("ready", flush=True)
        time.sleep(3600)
    else:  # a worker the cleanup waits for (a read from a dead network mount)
        map_threads(never, range(100), threads=2)
    return 0

cli._COMMANDS["stats"] = command
sys.argv = ["svmlp", "stats", sys.argv[1]]
sys.exit(cli.main())
"""


@pytest.mark.parametrize("stuck", ["thread", "worker"])
def test_a_stuck_thread_does_not_hold_the_exit(stuck: str) -> None:
    """After a stop, the exit waits a few seconds for a thread, the cleanup some more (it may be
    copying a large file), then the process ends anyway."""
    from svmlp._signals import _CLEANUP_S, _EXIT_GRACE_S

    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK, stuck],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    code, _, err = _finish(proc, (_EXIT_GRACE_S if stuck == "thread" else _CLEANUP_S) + STOP_WITHIN)
    assert (code, err.splitlines()) == (143, ["svmlp stats: terminated"])


def test_signals_wait_for_a_safe_moment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where an exception from a signal handler would leave a lock held or a cleanup skipped, the
    handler waits; where the main thread waits for workers, it need not."""
    import importlib
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from svmlp._signals import _safe_to_raise

    seen: list[tuple[str, bool]] = []
    (tmp_path / "svmlp_probe_module.py").write_text(
        "import sys\nfrom svmlp._signals import _safe_to_raise\nSAFE = _safe_to_raise(sys._getframe())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    seen.append(("import", importlib.import_module("svmlp_probe_module").SAFE))

    @contextlib.contextmanager
    def managed() -> Iterator[None]:
        seen.append(("contextmanager enter", _safe_to_raise(sys._getframe())))
        yield

    with managed():
        seen.append(("with body", _safe_to_raise(sys._getframe())))

    main = threading.main_thread().ident
    assert main is not None
    release = threading.Event()

    def look() -> None:
        time.sleep(0.2)  # the main thread is then blocked in fut.result()
        seen.append(("waiting for a future", _safe_to_raise(sys._current_frames()[main])))
        release.set()

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(release.wait)
        looker = threading.Thread(target=look)
        looker.start()
        fut.result()
        looker.join()
    assert seen == [
        ("import", False),
        ("contextmanager enter", False),
        ("with body", True),
        ("waiting for a future", True),
    ]
