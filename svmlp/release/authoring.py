"""Author a release manifest from a folder of release files (``svmlp manifest``), for whoever
hosts a mirror.

Every file in the folder (not in sub-folders, not hidden, not the manifest itself) becomes an entry
with its size and sha256. Archives (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip) are read to list
their members (path, size, sha256) and total unpacked size, so ``svmlp verify`` can check the
unpacked release file by file. ``.json`` files are ``annotations``, anything else ``images``; all go
to ``.`` unless ``unpack_to`` says otherwise. Each file's URL is its name, relative to the
manifest, so a manifest served beside its files works on any mirror; ``base_urls`` adds mirror
bases. The result is checked against the manifest schema before it is returned.
"""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from svmlp.errors import SvmlpError, UsageError
from svmlp.release.archive import archive_format
from svmlp.release.digest import sha256_file
from svmlp.release.manifest import parse_manifest

__all__ = ["build_manifest", "entry"]


def _members_tar(path: Path) -> list[dict[str, Any]]:
    out = []
    with tarfile.open(path, "r:*") as tar:
        for info in tar:
            if not info.isfile():
                continue
            h, fh = hashlib.sha256(), tar.extractfile(info)
            assert fh is not None
            while block := fh.read(1 << 22):
                h.update(block)
            out.append({"path": info.name.removeprefix("./"), "size": info.size, "sha256": h.hexdigest()})
    return out


def _members_zip(path: Path) -> list[dict[str, Any]]:
    out = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            h = hashlib.sha256()
            with zf.open(info) as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
            out.append(
                {"path": info.filename.replace("\\", "/"), "size": info.file_size, "sha256": h.hexdigest()}
            )
    return out


def entry(path: Path, unpack_to: str) -> dict[str, Any]:
    """One manifest entry for the release file ``path``."""
    fmt = archive_format(path)
    kind = "archive" if fmt else ("annotations" if path.suffix == ".json" else "images")
    out: dict[str, Any] = {
        "name": path.name,
        "size": path.stat().st_size,
        "sha256": sha256_file(path),
        "kind": kind,
        "unpack_to": unpack_to,
        "urls": [quote(path.name)],
    }
    if fmt:
        members = _members_tar(path) if fmt == "tar" else _members_zip(path)
        out["unpacked_size"] = sum(m["size"] for m in members)
        out["members"] = members
    return out


def build_manifest(
    folder: Path,
    *,
    name: str,
    version: str,
    base_urls: Sequence[str] = (),
    unpack_to: str = ".",
    skip: Path | None = None,
) -> dict[str, Any]:
    """The manifest of the release files in ``folder`` (not in sub-folders, not hidden, not
    ``skip``), checked against the manifest schema; a :class:`UsageError` says what is wrong."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".") and p.resolve() != skip
    )
    if not files:
        raise UsageError(f"{folder}: no release files in it")
    doc: dict[str, Any] = {"manifest_version": "1.0", "name": name, "version": version}
    if base_urls:
        doc["mirrors"] = list(base_urls)
    try:
        doc["files"] = [entry(p, unpack_to) for p in files]
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise UsageError(f"{folder}: cannot read a release file ({exc})") from None
    try:
        parse_manifest(doc, source=(folder / "manifest.json").resolve().as_uri())  # the schema first
    except SvmlpError as exc:
        raise UsageError(f"{folder}: the manifest would not be valid ({exc})") from None
    return doc
