"""Release manifests: what a release is (files, sizes, sha256, where each goes) and where to get it.

A manifest is JSON described by ``annotations_schema/manifest.schema.json``. File URLs may be
relative to the manifest's own location, so a manifest served beside its files (or shipped inside
the package, as the sample's is) needs no absolute address.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from svmlp import _schemas
from svmlp.errors import ManifestError, where

__all__ = [
    "FileEntry",
    "Manifest",
    "Member",
    "STATE_DIR",
    "default_manifest_url",
    "load_manifest",
    "parse_manifest",
    "registry",
    "sample_manifest_url",
    "to_url",
]

SCHEMA = "manifest.schema.json"
#: where a downloaded release keeps its manifest, state, lock and partial downloads
STATE_DIR = ".svmlp"
_REGISTRY = Path(__file__).resolve().parent / "data" / "registry.json"


@dataclass(frozen=True)
class Member:
    """One file inside an archive, as the release has it."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class FileEntry:
    """One file of a release. ``urls`` are absolute, in the order to try them."""

    name: str
    size: int
    sha256: str
    kind: str
    unpack_to: str
    urls: tuple[str, ...]
    unpacked_size: int | None = None
    members: tuple[Member, ...] = ()

    @property
    def is_archive(self) -> bool:
        return self.kind == "archive"

    def unpack_limit(self) -> int | None:
        """The most bytes this archive may unpack to: declared, or the sum of its members."""
        if self.unpacked_size is not None:
            return self.unpacked_size
        return sum(m.size for m in self.members) if self.members else None


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    files: tuple[FileEntry, ...]
    source: str
    description: str = ""
    license: str = ""
    mirrors: tuple[str, ...] = ()
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def title(self) -> str:
        return f"{self.name} {self.version}"

    def with_mirrors(self, bases: list[str]) -> Manifest:
        """Each file tried first at ``base + name`` for every base given (a user's own mirror)."""
        if not bases:
            return self
        files = tuple(
            FileEntry(**{**f.__dict__, "urls": tuple(_join(b, f.name) for b in bases) + f.urls})
            for f in self.files
        )
        return Manifest(**{**self.__dict__, "files": files})


def to_url(url_or_path: str | os.PathLike[str]) -> str:
    """An absolute URL for a URL or a local path (``file://`` for paths)."""
    text = os.fspath(url_or_path)
    if urlsplit(text).scheme in ("http", "https", "file"):
        return text
    return Path(text).expanduser().resolve().as_uri()


def _join(base: str, name: str) -> str:
    base = to_url(base) if urlsplit(base).scheme not in ("http", "https", "file") else base
    return urljoin(base if base.endswith("/") else base + "/", name)


def parse_manifest(doc: Any, *, source: str, need_urls: bool = True) -> Manifest:
    """Check a manifest document against its schema and resolve its URLs against ``source``.

    ``need_urls``: every file must have somewhere to be fetched from (not so for verifying)."""
    error = _schemas.validation_error(SCHEMA, doc)
    if error is not None:
        raise ManifestError(f"{where(source, at=error[0])}: {error[1]} (schema: {SCHEMA})")
    mirrors = tuple(urljoin(source, m if m.endswith("/") else m + "/") for m in doc.get("mirrors", []))
    files = []
    for k, f in enumerate(doc["files"]):
        urls = tuple(urljoin(source, u) for u in f.get("urls", [])) + tuple(
            urljoin(m, f["name"]) for m in mirrors
        )
        if not urls and need_urls:
            raise ManifestError(
                f"{where(source, at=f'$.files[{k}]')}: {f['name']!r} has no URL and the manifest no mirrors"
            )
        members = tuple(Member(m["path"], m["size"], m["sha256"]) for m in f.get("members", []))
        files.append(
            FileEntry(
                f["name"],
                f["size"],
                f["sha256"],
                f["kind"],
                f["unpack_to"],
                urls,
                f.get("unpacked_size"),
                members,
            )
        )
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ManifestError(f"{source}: two files share a name; each file needs its own")
    return Manifest(
        doc["name"],
        doc["version"],
        tuple(files),
        source,
        doc.get("description", ""),
        doc.get("license", ""),
        mirrors,
        doc,
    )


def load_manifest(url_or_path: str | os.PathLike[str], *, policy: Any = None) -> Manifest:
    """Fetch (http, https, file, or a path) and parse a manifest."""
    from svmlp.fetch import fetch_bytes

    url = to_url(url_or_path)
    data = fetch_bytes(url, policy=policy, what="manifest")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{url}: not a JSON manifest ({exc})") from None
    return parse_manifest(doc, source=url)


def registry() -> dict[str, Any]:
    """The releases svmlp knows, from the package's ``data/registry.json``."""
    return json.loads(_REGISTRY.read_text(encoding="utf-8"))


def sample_manifest_url() -> str:
    """The embedded sample release's manifest, as a ``file://`` URL."""
    entry = registry()["releases"]["svmlp-sample"]
    return (_REGISTRY.parent / entry["manifest"]).resolve().as_uri()


def default_manifest_url() -> str:
    """The manifest of the default release, or a :class:`ManifestError` saying why there is none."""
    reg = registry()
    entry = reg["releases"][reg["default"]]
    if entry.get("manifest"):
        return urljoin(_REGISTRY.resolve().as_uri(), entry["manifest"])
    raise ManifestError(
        f"{entry['title']}: {entry['status']}; if you have a mirror or a local copy, run "
        "svmlp download --manifest URL_OR_PATH -o DIR (hosts make one with scripts/make_manifest.py), "
        "or try everything on the embedded sample: svmlp download --sample -o DIR"
    )
