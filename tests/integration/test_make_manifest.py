"""`svmlp manifest` (and the old scripts/make_manifest.py, which calls it): a host's folder of
release files becomes a manifest svmlp downloads from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import svmlp
from svmlp.release.download import download
from svmlp.release.manifest import load_manifest
from svmlp.release.sample import SAMPLE_DIR, sample_manifest
from svmlp.release.verification import verify_release

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_manifest.py"


def test_a_mirror_folder_round_trip(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = sample_manifest()["files"][0]["name"]
    shutil.copy(SAMPLE_DIR / archive, mirror / archive)
    with zipfile.ZipFile(mirror / "extras.zip", "w") as zf:
        zf.writestr("extras/readme.txt", "hello")
    out = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(mirror),
            "--name",
            "svmlp-mirror",
            "--version",
            "2",
            "-o",
            str(mirror / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" in out.stderr
    doc = json.loads((mirror / "manifest.json").read_text())
    assert [f["name"] for f in doc["files"]] == ["extras.zip", archive]
    assert doc["files"][1]["members"] == sample_manifest()["files"][0]["members"]
    download(load_manifest(str(mirror / "manifest.json")), tmp_path / "d", quiet=True)
    assert (tmp_path / "d" / "extras" / "readme.txt").read_text() == "hello"
    assert len(svmlp.read(tmp_path / "d")) == 120
    assert verify_release(tmp_path / "d", full=True).exit_code() == 0


def test_svmlp_manifest_command(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from svmlp.cli import main

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    archive = sample_manifest()["files"][0]["name"]
    shutil.copy(SAMPLE_DIR / archive, mirror / archive)
    assert (
        main(["manifest", str(mirror), "--name", "m", "--version", "1", "-o", str(mirror / "manifest.json")])
        == 0
    )
    doc = json.loads((mirror / "manifest.json").read_text())
    assert [f["name"] for f in doc["files"]] == [archive] and doc["files"][0]["members"]
    assert main(["manifest", str(mirror), "--name", "m", "--version", "1"]) == 0  # printed, not written
    assert json.loads(capsys.readouterr().out)["files"][0]["name"] in (archive, "manifest.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["manifest", str(empty), "--name", "m", "--version", "1"]) == 2
    assert "no release files in it" in capsys.readouterr().err
    assert main(["manifest", str(mirror), "--name", "bad name!", "--version", "1"]) == 2
    assert "would not be valid" in capsys.readouterr().err
