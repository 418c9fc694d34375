"""Build the sample release embedded in the package: svmlp/data/sample/.

    python scripts/make_sample.py            # rebuild in place

The scenes come from svmlp.synth with a fixed seed; the archive is deterministic (sorted members,
zero timestamps and owners), so rebuilding with the same Pillow gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path

from svmlp.formats import write
from svmlp.release.sample import MANIFEST, SAMPLE_DIR
from svmlp.synth import generate

NAME, VERSION = "svmlp-sample", "0.1.0"


def _tar_bytes(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode = path.stat().st_size, 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue())
    return raw.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scenes = generate(
            Path(tmp) / "scenes", args.images, seed=args.seed, noise=0.03, unlabelled=0.03, quality=80
        )
        release = Path(tmp) / "release"
        write(scenes, release, format="svmlp")
        members = [
            {
                "path": p.relative_to(release).as_posix(),
                "size": p.stat().st_size,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            }
            for p in sorted(release.rglob("*"))
            if p.is_file()
        ]
        data = _tar_bytes(release)
    archive = f"{NAME}-{VERSION}.tar.gz"
    SAMPLE_DIR.mkdir(parents=True, exist_ok=True)
    for old in SAMPLE_DIR.glob("*.tar.gz"):
        old.unlink()
    (SAMPLE_DIR / archive).write_bytes(data)
    manifest = {
        "manifest_version": "1.0",
        "name": NAME,
        "version": VERSION,
        "description": f"{args.images} synthetic SVMLP-like scenes (svmlp.synth, seed {args.seed}) with native annotations",
        "license": "CC0-1.0",
        "files": [
            {
                "name": archive,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "kind": "archive",
                "unpack_to": ".",
                "urls": [archive],  # beside the manifest, wherever it is
                "unpacked_size": sum(m["size"] for m in members),
                "members": members,
            }
        ],
    }
    (SAMPLE_DIR / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {SAMPLE_DIR / archive} ({len(data) / 1e6:.2f} MB, {len(members)} files)")


if __name__ == "__main__":
    main()
