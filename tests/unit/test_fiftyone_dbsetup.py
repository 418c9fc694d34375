"""scripts/fiftyone_dbsetup.py: the mirrors it reads, and that it leaves a working database alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fiftyone_dbsetup.py"
sys.path.insert(0, str(SCRIPT.parent))

from fiftyone_dbsetup import _debian_mirrors, ensure_mongod, mongod_path  # noqa: E402


def test_mirrors_from_deb822_sources(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n"
    )
    assert _debian_mirrors(tmp_path) == {
        "main": "http://mirror.example/debian",
        "security": "http://mirror.example/debian-security",
    }


def test_mirrors_from_one_line_lists_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# deb http://ignored/ bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://local.mirror/debian bookworm main\n"
        "deb-src http://local.mirror/debian bookworm main\n"
    )
    got = _debian_mirrors(tmp_path)
    assert got["main"] == "http://local.mirror/debian"
    assert got["security"] == "http://deb.debian.org/debian-security"  # none configured: Debian's own
    assert _debian_mirrors(tmp_path / "nothing-here")["main"] == "http://deb.debian.org/debian"


def test_a_database_uri_means_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://db.example:27017")
    assert ensure_mongod().startswith("FIFTYONE_DATABASE_URI is set")


@pytest.mark.fiftyone  # starts the mongod the FiftyOne tests share: run with them, in one process
def test_the_installed_mongod_runs_and_setup_leaves_it_alone() -> None:
    pytest.importorskip("fiftyone")
    path = mongod_path()
    assert path is not None, "make test runs scripts/fiftyone_dbsetup.py; no mongod is installed"
    before = path.stat().st_mtime_ns
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.strip() == f"svmlp dbsetup: {path} runs (db version v6.0.27)"
        or "runs (db version" in proc.stdout
    )
    assert path.stat().st_mtime_ns == before  # nothing reinstalled
