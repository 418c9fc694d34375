"""`svmlp train` and `svmlp predict` without what the `train` extra installs: one line naming the
extra, exit 2, before any data is read (not a failure after an epoch, not exit 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    ("missing", "argv"),
    [
        ("torch", ["train", "{data}", "--out", "{out}", "--epochs", "1"]),
        ("pycocotools", ["train", "{data}", "--out", "{out}", "--epochs", "1"]),
        ("matplotlib", ["train", "{data}", "--out", "{out}", "--epochs", "1"]),
        ("torch", ["predict", "{out}/best.pt", "{data}", "-o", "{out}/p.json"]),
    ],
)
def test_a_missing_extra_is_one_line(missing: str, argv: list[str], sample_dir: Path, tmp_path: Path) -> None:
    words = [a.format(data=sample_dir, out=tmp_path / "run") for a in argv]
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from svmlp.cli import main\n"
        f"sys.exit(main({words!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    err = done.stderr.strip()
    assert done.returncode == 2, err
    assert f"{missing} is not installed" in err and "pip install 'svmlp[train]'" in err
    assert "\n" not in err and not (tmp_path / "run").exists()
