"""Work beside the caller: a forked child (label files) and a worker process (image headers).
Either gives what the caller alone would; a child or worker that fails only costs time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import svmlp
from svmlp import _fork, imageinfo
from svmlp.imageinfo import PendingHeaders, header_columns, read_headers

needs_fork = pytest.mark.skipif(
    not _fork.can_fork(), reason="forking is off here (one CPU, threads or not Linux)"
)


def test_fork_cases_in_a_single_threaded_process() -> None:
    """The forked-child cases (``fork_cases.py``) in a fresh pytest process: svmlp never forks
    beside another thread, and this runner's workers hold threads, so here they would not fork."""
    if sys.platform != "linux" or (os.cpu_count() or 1) < 2:
        pytest.skip("svmlp forks only on Linux with more than one CPU")
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-o", "addopts=-ra",
         str(Path(__file__).with_name("fork_cases.py"))],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


def test_no_fork_beside_another_thread_or_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not _fork.can_fork()
    finally:
        stop.set()
        other.join()
    monkeypatch.setenv("SVMLP_NO_FORK", "1")
    assert not _fork.can_fork()


def _images(tmp_path: Path) -> list[str]:
    paths: list[str] = []
    for k in range(60):
        p = tmp_path / f"{k}.{'png' if k % 3 else 'jpg'}"
        if k % 10:
            Image.new("RGB", (20 + k, 10 + k % 7)).save(p)
        paths.append(str(p))  # every tenth is missing
    (tmp_path / "text.jpg").write_text("not an image")
    return [*paths, str(tmp_path / "text.jpg")]


def test_headers_from_the_worker_are_the_callers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageinfo, "_WORKER_MIN", 1)
    paths = _images(tmp_path)
    with PendingHeaders(paths) as pending:
        assert pending._worker is not None
        got = pending.columns()
    want = header_columns(read_headers(paths))
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want))


def test_a_failing_worker_costs_only_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imageinfo, "_WORKER_MIN", 1)
    paths = _images(tmp_path)
    want = header_columns(read_headers(paths))
    monkeypatch.setattr(imageinfo.sys, "executable", str(tmp_path / "no-python"))
    with PendingHeaders(paths) as pending:  # cannot start
        assert pending._worker is None
        got = pending.columns()
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    monkeypatch.undo()
    monkeypatch.setattr(imageinfo, "_WORKER_MIN", 1)
    with PendingHeaders(paths) as pending:  # killed while it works
        assert pending._worker is not None
        pending._worker.kill()
        got = pending.columns()
    assert all(np.array_equal(a, b) for a, b in zip(got, want))


def test_coco_probe_in_a_worker_is_the_same(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A COCO read probes through the worker (its headers read while the boxes become columns):
    the same header columns as reading them in the caller."""
    svmlp.write(svmlp.read(sample_dir), tmp_path / "coco", format="coco", images="copy")
    monkeypatch.setenv("SVMLP_NO_WORKERS", "1")
    alone = svmlp.read(tmp_path / "coco")
    monkeypatch.delenv("SVMLP_NO_WORKERS")
    monkeypatch.setattr(imageinfo, "_WORKER_MIN", 1)
    started: list[int] = []
    real = imageinfo._start_worker
    monkeypatch.setattr(imageinfo, "_start_worker", lambda paths: started.append(len(paths)) or real(paths))
    helped = svmlp.read(tmp_path / "coco")
    assert started and sum(started) == len(helped.images)
    for name in ("header_width", "header_height", "orientation"):
        assert np.array_equal(getattr(alone.images, name), getattr(helped.images, name)), name
    assert (helped.images.header_width > 0).all()
