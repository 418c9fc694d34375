"""Progress bars: on a terminal, the long steps of a verb show one (whole-number counts); piped,
with -q or with --json, none."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import svmlp
from svmlp.synth import generate_annotations


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("progress") / "coco"
    ds = generate_annotations(400, seed=3)
    svmlp.write(ds, out, format="coco", images="none")
    for split in ds.splits:  # image folders (empty): the reader probes every image's header there
        (out / "images" / split).mkdir(parents=True)
    return out


def _on_a_terminal(argv: list[str]) -> tuple[int, str]:
    """Run the CLI with stderr (and stdout) on a pseudo-terminal; its exit code and what it drew."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(
        [sys.executable, "-m", "svmlp", *argv],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "100"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_a_bar_on_a_terminal(coco: Path, tmp_path: Path) -> None:
    code, drawn = _on_a_terminal(
        ["convert", str(coco), "--to", "yolo", "-o", str(tmp_path / "y"), "--images", "none"]
    )
    assert code == 0, drawn
    # a bar per split file (its headers are read while its annotations are decoded)
    assert "reading image headers" in drawn and "/280" in drawn and "img" in drawn
    assert "writing label files" in drawn and "/400" in drawn


@pytest.mark.parametrize("flag", ["-q", "--json"])
def test_no_bar_with_quiet_or_json(coco: Path, tmp_path: Path, flag: str) -> None:
    code, drawn = _on_a_terminal(
        ["convert", str(coco), "--to", "yolo", "-o", str(tmp_path / "y"), "--images", "none", flag]
    )
    assert code == 0 and "reading image headers" not in drawn


def test_no_bar_when_piped(coco: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "svmlp",
            "convert",
            str(coco),
            "--to",
            "yolo",
            "-o",
            str(tmp_path / "y"),
            "--images",
            "none",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "reading image headers" not in done.stderr
