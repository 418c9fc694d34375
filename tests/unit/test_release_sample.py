from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from svmlp import DownloadError
from svmlp.release.download import download
from svmlp.release.manifest import load_manifest
from svmlp.release.sample import SAMPLE_DIR, sample_manifest, unpack_sample


def test_manifest_matches_archive() -> None:
    entry = sample_manifest()["files"][0]
    data = (SAMPLE_DIR / entry["name"]).read_bytes()
    assert len(data) == entry["size"] < 5_000_000
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert entry["unpacked_size"] == sum(m["size"] for m in entry["members"])


def test_unpacked_members_match(sample_dir: Path) -> None:
    for m in sample_manifest()["files"][0]["members"]:
        p = sample_dir / m["path"]
        assert p.stat().st_size == m["size"] and hashlib.sha256(p.read_bytes()).hexdigest() == m["sha256"]


def test_unpack_beside_other_files_keeps_them(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    unpack_sample(tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    assert len(list((tmp_path / "images").rglob("*.jpg"))) == 120


def test_damaged_archive_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "pkg"
    shutil.copytree(SAMPLE_DIR, fake)
    archive = next(fake.glob("*.tar.gz"))
    data = bytearray(archive.read_bytes())
    data[1000] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="sha256 .* differs from the manifest's"):
        download(load_manifest(str(fake / "manifest.json")), tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / "annotations").exists()
