"""Release manifests: what a release is (files, sizes, sha256, where each goes) and where to get it.

A manifest is JSON described by ``annotations_schema/manifest.schema.json``. File URLs may be
relative to the manifest's own location, so a manifest served beside its files (or shipped inside
the package, as the sample's is) needs no absolute address.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from svmlp import _schemas
from svmlp.errors import ManifestError, UsageError, where
from svmlp.model.paths import NAME_MAX, path_problem

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
_REMOTE = ("http", "https")
#: what svmlp appends to a file's name in its downloads folder (the partial and its record)
PART_SUFFIXES = (".part", ".part.json")
#: a manifest is a few levels deep; anything far deeper is hostile (json and jsonschema recurse)
MAX_DEPTH = 32
# C0 and C1 controls and DEL: no URL holds them raw, and an error message must not carry them
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_REGISTRY = Path(__file__).resolve().parent.parent / "data" / "registry.json"


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
        """Each file tried first at ``base + name`` for every base given (a user's own mirror).

        The user chose these, so local folders and ``file://`` URLs are fine here even when the
        manifest itself came over http."""
        if not bases:
            return self
        try:
            files = tuple(
                FileEntry(**{**f.__dict__, "urls": tuple(_join(b, f.name) for b in bases) + f.urls})
                for f in self.files
            )
        except ValueError as exc:  # a NUL byte in a path, a malformed URL
            raise UsageError(f"--mirror {_show(bases)}: not a URL or a folder ({exc})") from None
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


def _show(value: object) -> str:
    """``repr(value)``, cut short: a hostile manifest's strings can be megabytes long."""
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + "…"


def _resolve(source: str, ref: str, at: str) -> str:
    """An absolute URL for a reference in the manifest; only http, https and file are fetched.

    A manifest that came over the network may only send svmlp to other network addresses: a
    ``file://`` URL there would make svmlp read (and install, and report the size of) a local
    file its author chose."""
    if _CONTROL.search(ref):
        raise ManifestError(f"{where(source, at=at)}: {_show(ref)} holds a control character; not a URL")
    try:
        ref.encode("utf-8")
        url = urljoin(source, ref)
        scheme = urlsplit(url).scheme
    except (UnicodeEncodeError, ValueError) as exc:
        raise ManifestError(f"{where(source, at=at)}: {_show(ref)} is not a valid URL ({exc})") from None
    if scheme not in _SCHEMES:
        raise ManifestError(
            f"{where(source, at=at)}: {_show(ref)}: svmlp fetches http, https and file URLs only"
        )
    if scheme == "file" and urlsplit(source).scheme in _REMOTE:
        raise ManifestError(
            f"{where(source, at=at)}: {_show(ref)} is a local file ({_show(url)}), and a manifest fetched "
            "over http or https may only list http and https URLs; svmlp refused the manifest (to use "
            "files you have locally, pass --mirror DIR or a local copy of the manifest)"
        )
    return url


def _in_state_dir(path: str) -> bool:
    # casefold: on a case-insensitive file system '.SVMLP' is the same folder
    return posixpath.normpath(path).split("/")[0].casefold() == STATE_DIR


def _path_error(source: str, at: str, what: str, value: object, problem: str) -> ManifestError:
    return ManifestError(
        f"{where(source, at=at)}: {what} {_show(value)} {problem}; svmlp only takes paths that stay "
        "inside the release folder"
    )


def _check_paths(f: dict[str, Any], source: str, k: int) -> None:
    """Every name that becomes a path is checked by the one rule (:func:`path_problem`), and
    nothing of the release may land in the state folder svmlp keeps in it."""
    at = f"$.files[{k}]"
    name, unpack_to = f["name"], f["unpack_to"]
    # the name is one file in the downloads folder and, for a plain file, in unpack_to; svmlp
    # appends '.part.json' to it there, which must still fit the file system's limit
    problem = path_problem(name, single=True)
    longest = NAME_MAX - max(map(len, PART_SUFFIXES))
    if problem is None and len(name.encode("utf-8")) > longest:
        problem = f"is longer than {longest} bytes (svmlp adds '.part.json' to it while fetching)"
    if problem is not None:
        raise _path_error(source, f"{at}.name", "file name", name, problem)
    inside = [unpack_to] if _in_state_dir(unpack_to) else []
    if posixpath.normpath(unpack_to) == ".":
        inside += [m["path"] for m in f.get("members", []) if _in_state_dir(m["path"])]
        if f["kind"] != "archive" and _in_state_dir(name):
            inside.append(name)
    if inside:
        raise ManifestError(
            f"{where(source, at=at)}: {_show(inside[0])} is inside {STATE_DIR}/, which svmlp keeps for itself"
        )
    problem = None if unpack_to == "." else path_problem(unpack_to)
    if problem is not None:
        raise _path_error(
            source, f"{at}.unpack_to", "unpack_to", unpack_to, problem + " ('.' is the release folder)"
        )
    for j, m in enumerate(f.get("members", [])):
        problem = path_problem(m["path"])
        if problem is not None:
            raise _path_error(source, f"{at}.members[{j}].path", "member path", m["path"], problem)


def _entry(f: dict[str, Any], source: str, k: int, mirrors: tuple[str, ...], need_urls: bool) -> FileEntry:
    _check_paths(f, source, k)
    urls = tuple(_resolve(source, u, f"$.files[{k}].urls[{j}]") for j, u in enumerate(f.get("urls", [])))
    urls += tuple(_join(m, f["name"]) for m in mirrors)
    if not urls and need_urls:
        raise ManifestError(
            f"{where(source, at=f'$.files[{k}]')}: {f['name']!r} has no URL and the manifest no mirrors"
        )
    # int(): the schema takes 5.0 as an integer, and the maximum bounds what int() makes of it
    members = tuple(Member(m["path"], int(m["size"]), m["sha256"]) for m in f.get("members", []))
    unpacked = f.get("unpacked_size")
    return FileEntry(
        f["name"],
        int(f["size"]),
        f["sha256"],
        f["kind"],
        f["unpack_to"],
        urls,
        None if unpacked is None else int(unpacked),
        members,
    )


def _too_deep(doc: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep (checked without recursion)."""
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def parse_manifest(doc: Any, *, source: str, need_urls: bool = True) -> Manifest:
    """Check a manifest document against its schema and resolve its URLs against ``source``.

    ``need_urls``: every file must have somewhere to be fetched from (not so for verifying)."""
    if isinstance(doc, (dict, list)) and _too_deep(doc, MAX_DEPTH):
        raise ManifestError(f"{source}: nests more than {MAX_DEPTH} levels deep; not a release manifest")
    try:
        error = _schemas.validation_error(SCHEMA, doc)
    except RecursionError:  # the depth check above makes this unreachable; kept as the last guard
        raise ManifestError(f"{source}: nests too deep to check; not a release manifest") from None
    if error is not None:
        message = error[1] if len(error[1]) <= 300 else error[1][:280] + "…"  # it quotes the value
        raise ManifestError(f"{where(source, at=error[0])}: {message} (schema: {SCHEMA})")
    mirrors = tuple(
        _resolve(source, m if m.endswith("/") else m + "/", f"$.mirrors[{j}]")
        for j, m in enumerate(doc.get("mirrors", []))
    )
    files = tuple(_entry(f, source, k, mirrors, need_urls) for k, f in enumerate(doc["files"]))
    seen: set[str] = set()
    for f in files:
        if f.name in seen:
            raise ManifestError(
                f"{source}: two files are named {_show(f.name)}; each file needs its own name"
            )
        seen.add(f.name)
    for f in files:  # two fetches must never write the same file in the downloads folder
        for suffix in PART_SUFFIXES:
            if f.name + suffix in seen:
                raise ManifestError(
                    f"{source}: {_show(f.name + suffix)} is both a file of the release and where svmlp "
                    f"keeps the partial download of {_show(f.name)}; rename one of them"
                )
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
    except RecursionError:
        raise ManifestError(f"{source}: not a JSON manifest (it nests too deep to read)") from None
    except ValueError as exc:  # bad UTF-8 or JSON, or an integer of thousands of digits
        text = str(exc) if len(str(exc)) <= 200 else str(exc)[:180] + "…"
        raise ManifestError(f"{source}: not a JSON manifest ({text})") from None
    return parse_manifest(doc, source=source, need_urls=need_urls)


def load_manifest(
    url_or_path: str | os.PathLike[str], *, policy: Any = None, need_urls: bool = True
) -> Manifest:
    """Fetch (http, https, file, or a path) and parse a manifest."""
    from svmlp.release.transfer import fetch_bytes

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
        "svmlp download --manifest URL_OR_PATH -o DIR (hosts make one with svmlp manifest FOLDER), "
        "or try everything on the embedded sample: svmlp download --sample -o DIR"
    )
