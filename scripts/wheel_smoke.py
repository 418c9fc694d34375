"""Build the wheel and sdist, install the wheel in a fresh venv, and use it from outside the
source tree (what `make test` runs last, so CI checks what a user gets from PyPI).

    .venv/bin/python scripts/wheel_smoke.py

Checks: the long description is the user README (no `../shared` paths, no relative links that
PyPI would break); the installed package carries its schemas and the embedded sample; `svmlp
--version`, `download --sample`, `verify --full`, `stats --json` and `convert` run from a folder
that is not the checkout, with the checkout not importable.
"""

from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, **kw: object) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(
            f"wheel smoke: {' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    return str(done.stdout)


def main() -> int:
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="svmlp-wheel-"))
    dist = tmp / "dist"
    run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=tmp)
    wheel = next(dist.glob("svmlp-*.whl"))
    assert next(dist.glob("svmlp-*.tar.gz"), None) is not None, "no sdist built"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = email.message_from_bytes(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    body = meta.get_payload()
    assert isinstance(body, str) and body.startswith("# svmlp"), "the long description is not PYPI.md"
    assert "../shared" not in body, "the long description names the developers' ../shared folder"
    relative = [
        m for m in re.findall(r"\]\(([^)]+)\)", body) if not m.startswith(("http://", "https://", "#"))
    ]
    assert not relative, f"relative links break on PyPI: {relative[:3]}"
    for needed in ("svmlp/annotations_schema/svmlp.schema.json", "svmlp/ultralytics/cfg/rtdetr-p.yaml"):
        assert needed in names, f"{needed} is not in the wheel"
    assert any(n.startswith("svmlp/data/sample/") for n in names), "the embedded sample is not in the wheel"
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    run([str(py), "-m", "pip", "install", "-q", str(wheel)], cwd=tmp)
    work = tmp / "user"
    work.mkdir()
    svmlp = [str(env_dir / "bin" / "svmlp")]
    where = run([str(py), "-c", "import svmlp, sys; print(svmlp.__file__)"], cwd=work).strip()
    assert str(ROOT) not in where, f"the checkout was imported ({where}), not the wheel"
    version = run([*svmlp, "--version"], cwd=work).strip()
    run([*svmlp, "download", "--sample", "-o", "sample", "-q"], cwd=work)
    run([*svmlp, "verify", "sample", "--full", "-q"], cwd=work)
    stats = json.loads(run([*svmlp, "stats", "sample", "--json"], cwd=work))
    run([*svmlp, "convert", "sample", "--to", "yolo", "-o", "yolo", "-q"], cwd=work)
    run([*svmlp, "convert", "yolo", "--to", "svmlp", "-o", "back", "-q"], cwd=work)
    imports = run(
        [
            str(py),
            "-c",
            "import svmlp, sys; print(sorted(m for m in ('torch', 'fiftyone', 'ultralytics', 'requests') if m in sys.modules))",
        ],
        cwd=work,
    ).strip()
    assert imports == "[]", f"import svmlp imported {imports}"
    print(
        f"wheel smoke: {wheel.name} ({wheel.stat().st_size // 1024} KiB) installed in a fresh venv; {version}; "
        f"sample downloaded, verified in full, counted ({len(json.dumps(stats))} bytes of stats), "
        f"converted to YOLO and back, from {work}; {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
