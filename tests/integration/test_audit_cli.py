"""svmlp link and svmlp audit, as a user runs them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import svmlp
from svmlp.cli import main


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_link_writes_links_into_another_format(
    plates_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["link", str(plates_dir), "-o", str(tmp_path / "linked"), "--to", "coco", "--images", "none"])
        == 0
    )
    out = capsys.readouterr().out
    assert "linked" in out and "orphan" in out and "wrote coco" in out
    ds = svmlp.read(tmp_path / "linked")
    assert (ds.boxes.parent >= 0).sum() > 800  # most of the 1029 plates sit in a vehicle
    assert main(["link", str(plates_dir), "-o", str(tmp_path / "x"), "--parents", "truck"]) == 2
    assert "truck" in capsys.readouterr().err


def test_audit_reports_and_exit_codes(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(sample_dir)
    code = main(
        ["audit", str(sample_dir), "--json-out", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "duplicate_box" in out  # the sample has a little injected noise: warnings, no errors
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["totals"]["error"] == 0 and doc["totals"]["warning"] > 0
    assert "<html" in (tmp_path / "r.html").read_text().lower()
    assert main(["audit", str(sample_dir), "--fail-on", "warning", "-q"]) == 1
    assert _digest(sample_dir) == before  # the audit never writes to the data


def test_audit_bad_input_is_one_line(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.toml").write_text("[thresholds]\nmin_box_size = 'big'\n")
    assert main(["audit", str(sample_dir), "--config", str(tmp_path / "bad.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "min_box_size" in err
    (tmp_path / "p.json").write_text(
        json.dumps([{"image_id": 1, "category_id": 77, "bbox": [0, 0, 1, 1], "score": 1}])
    )
    assert main(["audit", str(sample_dir), "--predictions", str(tmp_path / "p.json"), "--split", "val"]) == 2
    assert "category_id 77" in capsys.readouterr().err
