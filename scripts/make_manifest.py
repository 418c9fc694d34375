"""Build a release manifest from a folder of release files, for whoever hosts a mirror.

    python scripts/make_manifest.py FOLDER --name svmlp --version 1.0 \\
        --base-url https://mirror.example.org/svmlp/1.0/ -o FOLDER/manifest.json

Every file in FOLDER (not in sub-folders; not the manifest itself) becomes an entry with its size
and sha256. Archives (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .zip) are read to list their members
(path, size, sha256) and total unpacked size, so ``svmlp verify`` can check the unpacked release
file by file. ``.json`` files are ``annotations``, anything else ``images``; all go to ``.``
unless ``--unpack-to`` says otherwise. Each file's URL is its name, relative to the manifest, so
a manifest served beside its files works on any mirror; ``--base-url`` adds mirror bases. The
result is checked against annotations_schema/manifest.schema.json before it is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from svmlp.release.archive import archive_format
from svmlp.release.digest import sha256_file
from svmlp.release.manifest import parse_manifest


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


def build(
    folder: Path, *, name: str, version: str, base_urls: list[str], unpack_to: str, skip: Path | None = None
) -> dict[str, Any]:
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.resolve() != skip
    )
    if not files:
        raise SystemExit(f"{folder}: no release files in it")
    doc: dict[str, Any] = {"manifest_version": "1.0", "name": name, "version": version}
    if base_urls:
        doc["mirrors"] = base_urls
    doc["files"] = [entry(p, unpack_to) for p in files]
    parse_manifest(doc, source=(folder / "manifest.json").resolve().as_uri())  # the schema, before writing
    return doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="the folder holding the release files")
    ap.add_argument("--name", required=True, help="release name (letters, digits, . _ -)")
    ap.add_argument("--version", required=True, help="release version")
    ap.add_argument("--base-url", action="append", default=[], help="a mirror's base URL; repeatable")
    ap.add_argument("--unpack-to", default=".", help="where files go under the destination (default .)")
    ap.add_argument("-o", "--out", type=Path, help="where to write the manifest (default: print it)")
    args = ap.parse_args(argv)
    doc = build(
        args.folder,
        name=args.name,
        version=args.version,
        base_urls=args.base_url,
        unpack_to=args.unpack_to,
        skip=args.out.resolve() if args.out else None,
    )
    text = json.dumps(doc, indent=1) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}: {len(doc['files'])} file(s)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
