"""The forked-child cases of test_workers.py, run by it in a fresh single-threaded pytest process
(svmlp never forks beside another thread, and the test runner's workers hold threads). Not
collected on its own (the file name does not match ``test_*.py``)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from svmlp import _fork
from svmlp.formats import _yolo_write


@pytest.fixture(autouse=True)
def _forking_is_allowed() -> None:
    assert _fork.can_fork(), "this process may not fork: the cases would test nothing"


def _files(tmp_path: Path, n: int) -> list[tuple[str, bytes]]:
    return [
        (str(tmp_path / f"{k}.txt"), f"0 0.5 0.5 0.{k % 9 + 1} 0.1\n".encode() * (k % 4)) for k in range(n)
    ]


def test_child_answers_and_leaves_no_process() -> None:
    with _fork.Child(lambda: b"x" * 300_000) as child:
        pid = child._pid
        assert pid is not None
        assert child.result() == b"x" * 300_000
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)


def test_a_failing_or_killed_child_is_none() -> None:
    def boom() -> bytes:
        raise RuntimeError("in the child")

    with _fork.Child(boom) as child:
        assert child.result() is None

    def slow() -> bytes:
        time.sleep(30)
        return b"late"

    started = time.monotonic()
    with _fork.Child(slow) as child:
        pid = child._pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert child.result() is None
    assert time.monotonic() - started < 10


def test_leaving_the_block_stops_the_child() -> None:
    started = time.monotonic()
    pids = []
    with pytest.raises(KeyError), _fork.Child(lambda: time.sleep(30) or b"") as child:
        pids.append(child._pid)
        raise KeyError("the caller failed")
    assert time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pids[0], os.WNOHANG)


def test_file_maker_redoes_the_work_of_a_child_that_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_yolo_write.FileMaker, "FORK_MIN", 1)
    files = _files(tmp_path, 300)
    real = _fork.Child

    class Dying(real):  # type: ignore[misc, valid-type]
        def __init__(self, fn):  # type: ignore[no-untyped-def]
            def half() -> bytes:
                for path, data in files[:150]:  # some files written, then the child is gone
                    _yolo_write.write_file(path, data[: len(data) // 2])
                os._exit(9)

            super().__init__(half)

    monkeypatch.setattr(_fork, "Child", Dying)
    with _yolo_write.FileMaker(files) as maker:
        maker.finish()
    assert all(Path(p).read_bytes() == data for p, data in files)


@pytest.mark.parametrize("forked", [True, False])
def test_file_maker_creates_every_file(forked: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_yolo_write.FileMaker, "FORK_MIN", 1 if forked else 10**9)
    files = _files(tmp_path, 500)
    with _yolo_write.FileMaker(files) as maker:
        assert (maker._child is not None) == forked
        maker.finish()
    assert all(Path(p).read_bytes() == data for p, data in files)


@pytest.mark.parametrize("forked", [True, False])
def test_file_maker_raises_what_creating_a_file_raised(
    forked: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_yolo_write.FileMaker, "FORK_MIN", 1 if forked else 10**9)
    files = _files(tmp_path, 50)
    Path(files[20][0]).write_text("already here")
    with pytest.raises(FileExistsError) as err, _yolo_write.FileMaker(files) as maker:
        maker.finish()
    assert err.value.filename == files[20][0]


def test_a_convert_forks_and_gives_the_same_files(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole YOLO writer with its label files made by a child: byte for byte what it writes alone."""
    import svmlp

    ds = svmlp.read(sample_dir)
    monkeypatch.setattr(_yolo_write.FileMaker, "FORK_MIN", 1)
    svmlp.write(ds, tmp_path / "forked", format="yolo", images="none")
    monkeypatch.setattr(_yolo_write.FileMaker, "FORK_MIN", 10**9)
    svmlp.write(ds, tmp_path / "alone", format="yolo", images="none")
    a = {
        p.relative_to(tmp_path / "forked"): p.read_bytes()
        for p in (tmp_path / "forked").rglob("*")
        if p.is_file()
    }
    b = {
        p.relative_to(tmp_path / "alone"): p.read_bytes()
        for p in (tmp_path / "alone").rglob("*")
        if p.is_file()
    }
    assert a == b and len(a) > 100
