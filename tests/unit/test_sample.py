from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from svmlp import ChecksumError, OutputExistsError
from svmlp.sample import SAMPLE_DIR, sample_manifest, unpack_sample


def test_manifest_matches_archive() -> None:
    entry = sample_manifest()["files"][0]
    data = (SAMPLE_DIR / entry["name"]).read_bytes()
    assert len(data) == entry["size"] < 5_000_000
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_unpacked_members_match(sample_dir: Path) -> None:
    for m in sample_manifest()["files"][0]["members"]:
        p = sample_dir / m["path"]
        assert p.stat().st_size == m["size"] and hashlib.sha256(p.read_bytes()).hexdigest() == m["sha256"]


def test_unpack_refuses_non_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("")
    with pytest.raises(OutputExistsError):
        unpack_sample(tmp_path)


def test_damaged_archive_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import svmlp.sample as sample

    fake = tmp_path / "pkg"
    shutil.copytree(SAMPLE_DIR, fake)
    archive = next(fake.glob("*.tar.gz"))
    data = bytearray(archive.read_bytes())
    data[1000] ^= 0xFF
    archive.write_bytes(bytes(data))
    monkeypatch.setattr(sample, "SAMPLE_DIR", fake)
    with pytest.raises(ChecksumError, match="sha256 differs"):
        unpack_sample(tmp_path / "out")
    assert not (tmp_path / "out").exists()
