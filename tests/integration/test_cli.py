"""The command line, run as a user runs it (a subprocess) and in-process for speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from svmlp.cli import main


def test_console_script_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "svmlp", "download", "--sample", "-o", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "svmlp-sample 0.1.0 in" in out.stdout and "1 file(s) fetched" in out.stdout
    verify = subprocess.run(
        [sys.executable, "-m", "svmlp", "verify", str(tmp_path / "s"), "--full"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    stats = subprocess.run(
        [sys.executable, "-m", "svmlp", "stats", str(tmp_path / "s"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(stats.stdout)
    assert data["all"]["images"] == 120 and set(data["splits"]) == {"train", "val", "test"}


def test_convert_and_stats(sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["convert", str(sample_dir), "--to", "voc", "-o", str(tmp_path / "voc"), "--splits", "train,val"]
        )
        == 0
    )
    line = capsys.readouterr().out
    assert "wrote voc" in line and "110 images (train 90, val 20)" in line
    assert (
        main(
            [
                "convert",
                str(tmp_path / "voc"),
                "--from",
                "voc",
                "--to",
                "coco",
                "-o",
                str(tmp_path / "coco"),
                "--images",
                "symlink",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 110 and report["splits"] == {"train": 90, "val": 20}
    assert main(["stats", str(tmp_path / "coco")]) == 0
    table = capsys.readouterr().out
    assert "plates linked to a vehicle" in table and "class 'plate' (child)" in table


def test_stats_prints_repairs(plates_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(plates_dir), "--no-probe"]) == 0
    captured = capsys.readouterr()
    assert (
        "note: dataset.yaml: train path '/Users/kamal/Desktop/thesis/thesis/train/images' does not exist"
        in captured.err
    )
    assert "license-plate" in captured.out


def test_voc_origin_option(fixtures_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = fixtures_dir / "labelformat" / "PascalVOC"
    assert main(["stats", str(src), "--voc-origin", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["all"]["boxes"] == 16


def test_quiet_and_version(sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(sample_dir), "--to", "yolo", "-o", str(tmp_path / "y"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("svmlp ")


def test_verify_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", "--sample", "-o", str(tmp_path / "s"), "-q"]) == 0
    assert main(["verify", str(tmp_path / "s"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []
    next((tmp_path / "s" / "images" / "val").glob("*.jpg")).unlink()
    assert main(["verify", str(tmp_path / "s")]) == 1
    out = capsys.readouterr().out
    assert "missing_file" in out and "missing_image" in out
    assert main(["verify", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["verify", str(tmp_path / "plain")]) == 2  # no stored manifest: say how to pass one
    assert "pass --manifest" in capsys.readouterr().err
