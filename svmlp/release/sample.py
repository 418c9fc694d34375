"""The small sample release shipped inside the package, so demos and tests need no network.

It is made by ``scripts/make_sample.py`` from :mod:`svmlp.synth`: JPEG scenes and native
annotations packed as one ``.tar.gz``, with a manifest giving the archive's and every member's
size and sha256. It installs through the same code as any release (``svmlp download --sample``):
fetched from its ``file://`` URL, checked, unpacked safely.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SAMPLE_DIR", "sample_manifest", "unpack_sample"]

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"
MANIFEST = "manifest.json"


def sample_manifest() -> dict[str, Any]:
    """The embedded sample's manifest document."""
    return json.loads((SAMPLE_DIR / MANIFEST).read_text(encoding="utf-8"))


def unpack_sample(out: str | Path) -> Path:
    """Install the embedded sample release into ``out`` (what ``svmlp download --sample`` does).

    >>> from svmlp.release.sample import unpack_sample  # doctest: +SKIP
    >>> unpack_sample("data/sample")            # doctest: +SKIP
    """
    from svmlp.release.download import download
    from svmlp.release.manifest import load_manifest, sample_manifest_url

    download(load_manifest(sample_manifest_url()), out, quiet=True)
    return Path(out)
