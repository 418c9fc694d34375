"""The small sample release shipped inside the package, so demos and tests need no network.

It is made by ``scripts/make_sample.py`` from :mod:`svmlp.synth`: JPEG scenes and native
annotations packed as one ``.tar.gz``, with a manifest giving the archive's and every member's
size and sha256.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

from svmlp.errors import ChecksumError
from svmlp.formats._layout import atomic_output_dir

__all__ = ["SAMPLE_DIR", "sample_manifest", "unpack_sample"]

SAMPLE_DIR = Path(__file__).resolve().parent / "data" / "sample"
MANIFEST = "manifest.json"


def sample_manifest() -> dict[str, Any]:
    """The embedded sample's manifest."""
    return json.loads((SAMPLE_DIR / MANIFEST).read_text(encoding="utf-8"))


def sha256_of(path: Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, size: int, sha256: str) -> None:
    if path.stat().st_size != size:
        raise ChecksumError(f"{path}: {path.stat().st_size} bytes, the manifest says {size}; reinstall svmlp")
    if sha256_of(path) != sha256:
        raise ChecksumError(f"{path}: sha256 differs from the manifest; the file is damaged, reinstall svmlp")


def unpack_sample(out: str | Path, *, overwrite: bool = False) -> Path:
    """Check the embedded archive against its manifest and unpack it into ``out``.

    >>> from svmlp.sample import unpack_sample  # doctest: +SKIP
    >>> unpack_sample("data/sample")            # doctest: +SKIP
    """
    manifest = sample_manifest()
    entry = manifest["files"][0]
    archive = SAMPLE_DIR / entry["name"]
    _check(archive, entry["size"], entry["sha256"])
    with atomic_output_dir(out, overwrite=overwrite) as tmp, tarfile.open(archive, "r:gz") as tar:
        members = {m["path"]: m for m in entry["members"]}
        for info in tar.getmembers():
            if not info.isfile() or info.name not in members:
                raise ChecksumError(f"{archive}: member {info.name!r} is not in the manifest")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:  # Python < 3.10.12: the members were checked against the manifest above
            tar.extractall(tmp)  # noqa: S202
        for path, m in members.items():
            _check(tmp / path, m["size"], m["sha256"])
    return Path(out)
