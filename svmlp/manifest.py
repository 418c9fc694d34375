"""Release manifests: what a release is (files, sizes, sha256, where each goes) and where to get it.

A manifest is JSON described by ``annotations_schema/manifest.schema.json``. File URLs may be
relative to the manifest's own location, so a manifest served beside its files (or shipped inside
the package, as the sample's is) needs no absolute address.
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from svmlp import _schemas
from svmlp.errors import ManifestError, where

__all__ = [
    "FileEntry",
    "Manifest",
    "Member",
    "MANIFEST_FILE",
    "STATE_DIR",
    "default_manifest_url",
    "load_manifest",
    "parse_manifest",
    "read_manifest",
    "registry",
    "sample_manifest_url",
    "to_url",
]

SCHEMA = "manifest.schema.json"
#: where a downloaded release keeps its manifest, state, lock and partial downloads
STATE_DIR = ".svmlp"
#: the manifest a release was downloaded with, inside STATE_DIR (what ``svmlp verify`` checks)
MANIFEST_FILE = "manifest.json"
_SCHEMES = ("http", "https", "file")
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
    """A file's URL under a mirror base; the name is quoted, so '#', '?' and '%' survive."""
    base = to_url(base)
    return urljoin(base if base.endswith("/") else base + "/", quote(name))


def _resolve(source: str, ref: str, at: str) -> str:
    """An absolute URL for a reference in the manifest; only http, https and file are fetched."""
    try:
        url = urljoin(source, ref)
    except ValueError as exc:
        raise ManifestError(f"{where(source, at=at)}: {ref!r} is not a valid URL ({exc})") from None
    if urlsplit(url).scheme not in _SCHEMES:
        raise ManifestError(f"{where(source, at=at)}: {ref!r}: svmlp fetches http, https and file URLs only")
    return url


def _check_paths(f: dict[str, Any], source: str, k: int) -> None:
    """Nothing of the release may land in the state folder svmlp keeps in it."""
    unpack_to = posixpath.normpath(f["unpack_to"])
    inside = [f["unpack_to"]] if unpack_to.split("/")[0] == STATE_DIR else []
    if unpack_to == ".":
        inside += [
            m["path"]
            for m in f.get("members", [])
            if posixpath.normpath(m["path"]).split("/")[0] == STATE_DIR
        ]
    if inside:
        raise ManifestError(
            f"{where(source, at=f'$.files[{k}]')}: {inside[0]!r} is inside {STATE_DIR}/, which svmlp keeps for itself"
        )


def _entry(f: dict[str, Any], source: str, k: int, mirrors: tuple[str, ...], need_urls: bool) -> FileEntry:
    _check_paths(f, source, k)
    urls = tuple(_resolve(source, u, f"$.files[{k}].urls[{j}]") for j, u in enumerate(f.get("urls", [])))
    urls += tuple(_join(m, f["name"]) for m in mirrors)
    if not urls and need_urls:
        raise ManifestError(
            f"{where(source, at=f'$.files[{k}]')}: {f['name']!r} has no URL and the manifest no mirrors"
        )
    members = tuple(Member(m["path"], m["size"], m["sha256"]) for m in f.get("members", []))
    return FileEntry(
        f["name"], f["size"], f["sha256"], f["kind"], f["unpack_to"], urls, f.get("unpacked_size"), members
    )


def parse_manifest(doc: Any, *, source: str, need_urls: bool = True) -> Manifest:
    """Check a manifest document against its schema and resolve its URLs against ``source``.

    ``need_urls``: every file must have somewhere to be fetched from (not so for verifying)."""
    error = _schemas.validation_error(SCHEMA, doc)
    if error is not None:
        raise ManifestError(f"{where(source, at=error[0])}: {error[1]} (schema: {SCHEMA})")
    mirrors = tuple(
        _resolve(source, m if m.endswith("/") else m + "/", f"$.mirrors[{j}]")
        for j, m in enumerate(doc.get("mirrors", []))
    )
    files = tuple(_entry(f, source, k, mirrors, need_urls) for k, f in enumerate(doc["files"]))
    seen: set[str] = set()
    for f in files:
        if f.name in seen:
            raise ManifestError(f"{source}: two files are named {f.name!r}; each file needs its own name")
        seen.add(f.name)
    return Manifest(
        doc["name"],
        doc["version"],
        files,
        source,
        doc.get("description", ""),
        doc.get("license", ""),
        mirrors,
        doc,
    )


def read_manifest(data: bytes, *, source: str, need_urls: bool = True) -> Manifest:
    """Parse a manifest file's bytes (``source`` names it in errors and anchors relative URLs)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{source}: not a JSON manifest ({exc})") from None
    return parse_manifest(doc, source=source, need_urls=need_urls)


def load_manifest(
    url_or_path: str | os.PathLike[str], *, policy: Any = None, need_urls: bool = True
) -> Manifest:
    """Fetch (http, https, file, or a path) and parse a manifest."""
    from svmlp.fetch import fetch_bytes

    url = to_url(url_or_path)
    return read_manifest(fetch_bytes(url, policy=policy, what="manifest"), source=url, need_urls=need_urls)


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
