"""Check a downloaded release against its manifest and its own annotations, changing nothing.

The default check is quick: every file the manifest names is present with its declared size, the
annotations validate, every image they reference exists, and images nobody references are listed.
``full=True`` also hashes every file (sha256) and decodes every image, which catches flipped bits
and truncated JPEGs at the cost of reading everything. Only regular files are ever opened, without
blocking, and read no further than their size: a FIFO or a link to a device at a release file's
path is reported, never waited on.

>>> from svmlp.release.verification import verify_release  # doctest: +SKIP
>>> verify_release("data/svmlp", full=True).exit_code()  # doctest: +SKIP
0
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from svmlp._files import file_kind, open_regular_file, read_file, walk
from svmlp.errors import ManifestError, SvmlpError, UsageError
from svmlp.release.digest import Tick, sha256_file
from svmlp.release.manifest import MANIFEST_FILE, STATE_DIR, Manifest, read_manifest
from svmlp.release.transfer import FetchPolicy

if TYPE_CHECKING:
    from svmlp.model import Dataset

__all__ = ["Problem", "VerifyReport", "sha256_file", "verify_release"]

#: problem kinds by severity, each in the order a report lists them
ERRORS = ("missing_file", "size", "sha256", "annotations", "missing_image", "undecodable_image")
WARNINGS = ("unchecked_archive", "unreferenced_image")
KINDS = ERRORS + WARNINGS
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
MAX_PER_KIND = 50
MANIFEST_LIMIT = FetchPolicy.max_bytes_unsized  # a stored manifest: what fetching one allows

Expected = tuple[str, int, str]  # path relative to the release folder, size, sha256


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the release; ``path`` is relative to the release folder."""

    kind: str
    severity: str
    path: str
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify_release` checked and found.

    ``files_checked`` counts the manifest's files looked at; ``bytes_checked`` the bytes of those
    present with the right size (all read and hashed when ``full``); ``images_checked`` the data
    set's images looked for (and, when ``full``, decoded).
    """

    folder: Path
    release: str
    full: bool
    files_checked: int = 0
    bytes_checked: int = 0
    images_checked: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def ok(self, fail_on: str = "error") -> bool:
        """True when no problem is at or above ``fail_on`` (``"error"`` or ``"warning"``)."""
        if fail_on not in ("error", "warning"):
            raise UsageError(f"fail_on {fail_on!r}: expected 'error' or 'warning'")
        # every problem is at least a warning, so failing on warnings means failing on any
        return not self.problems if fail_on == "warning" else not self.counts()["error"]

    def exit_code(self, fail_on: str = "error") -> int:
        """0 when clean at ``fail_on``, 1 when not (the CLI's 2 for bad usage never comes here)."""
        return 0 if self.ok(fail_on) else 1

    def counts(self) -> Counter[str]:
        """Problems per severity."""
        return Counter(p.severity for p in self.problems)

    def lines(self) -> list[str]:
        """A human summary: the problems (at most ``MAX_PER_KIND`` per kind), then one summary line."""
        out: list[str] = []
        per_kind = Counter(p.kind for p in self.problems)
        shown: Counter[str] = Counter()
        for p in self.problems:
            shown[p.kind] += 1
            if shown[p.kind] <= MAX_PER_KIND:
                out.append(f"{p.severity}: {p.kind}: {p.path}: {p.message}")
            elif shown[p.kind] == per_kind[p.kind]:
                out.append(f"  ... and {per_kind[p.kind] - MAX_PER_KIND} more {p.kind}")
        return [*out, self._summary()]

    def _summary(self) -> str:
        n = self.counts()
        verdict = "clean" if not self.problems else f"{n['error']} error(s), {n['warning']} warning(s)"
        files = "sha256 and size" if self.full else "size"
        images = "present and decoded" if self.full else "present"
        return (
            f"{self.release} in {self.folder}: {verdict}; {self.files_checked} files checked ({files}, "
            f"{self.bytes_checked / 1e6:.1f} MB), {self.images_checked} images checked ({images}) "
            f"in {self.seconds:.1f} s"
        )

    def to_json(self) -> str:
        """Everything in the report, for ``--json``."""
        n = self.counts()
        doc = {**asdict(self), "folder": str(self.folder), "errors": n["error"], "warnings": n["warning"]}
        return json.dumps(doc, indent=2)


def verify_release(
    folder: str | os.PathLike[str],
    *,
    manifest: Manifest | None = None,
    full: bool = False,
    jobs: int = 4,
    progress: bool = False,
) -> VerifyReport:
    """Check the release in ``folder`` against ``manifest`` (by default the one it was downloaded with).

    Raises :class:`ManifestError` when ``manifest`` is None and the folder keeps none, and
    :class:`UsageError` for a missing folder or ``jobs < 1``. Everything else is a problem in the
    report. Nothing under ``folder`` is written. ``full`` decodes with Pillow's
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` as the process has it: left False, truncated images fail.
    """
    start = time.perf_counter()
    root = Path(folder)
    if jobs < 1:
        raise UsageError(f"jobs {jobs}: expected 1 or more")
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder")
    if manifest is None:
        manifest = _stored_manifest(root)
    report = VerifyReport(root, manifest.title, full)
    expected = _expected_files(manifest, report)
    present = _check_sizes(root, expected, report)
    if full:
        _check_hashes(root, present, report, jobs=jobs, progress=progress)
    _check_dataset(root, report, full=full, jobs=jobs, progress=progress)
    order = {k: i for i, k in enumerate(KINDS)}
    report.problems.sort(key=lambda p: (order[p.kind], p.path))
    report.seconds = time.perf_counter() - start
    return report


def _problem(kind: str, path: str, message: str) -> Problem:
    return Problem(kind, "warning" if kind in WARNINGS else "error", path, " ".join(message.split()))


def _rel(root: Path, path: str | os.PathLike[str]) -> str:
    rel = os.path.relpath(path, root)
    return os.fspath(path) if rel.startswith("..") else Path(rel).as_posix()


def _stored_manifest(root: Path) -> Manifest:
    path = root / STATE_DIR / MANIFEST_FILE
    if not os.path.lexists(path):
        raise ManifestError(
            f"{root}: no {STATE_DIR}/{MANIFEST_FILE}; not downloaded by svmlp download; pass --manifest"
        )
    # svmlp wrote it as a plain file: a link, a FIFO (which would block) or a huge file is not it
    data = read_file(path, limit=MANIFEST_LIMIT, follow=False, error=ManifestError, what="stored manifest")
    return read_manifest(data, source=path.resolve().as_uri(), need_urls=False)


def _expected_files(manifest: Manifest, report: VerifyReport) -> list[Expected]:
    """(path relative to the release folder, size, sha256) for every file the manifest puts in the folder."""
    out = []
    for entry in manifest.files:
        base = Path(entry.unpack_to)
        if not entry.is_archive:
            out.append(((base / entry.name).as_posix(), entry.size, entry.sha256))
        elif not entry.members:
            why = f"the manifest lists no members for {entry.name}; its files cannot be checked one by one"
            report.problems.append(_problem("unchecked_archive", base.as_posix(), why))
        out += [((base / m.path).as_posix(), m.size, m.sha256) for m in entry.members]
    return out


def _check_sizes(root: Path, expected: list[Expected], report: VerifyReport) -> list[Expected]:
    """Report missing and wrongly sized files; return those that are present with the right size."""
    present = []
    for rel, size, sha in expected:
        report.files_checked += 1
        try:
            st = os.stat(root / rel)
        except OSError as exc:  # missing, or a parent that is a file, or no permission
            found = "no file" if isinstance(exc, (FileNotFoundError, NotADirectoryError)) else exc.strerror
            report.problems.append(_problem("missing_file", rel, f"expected {size} bytes, found {found}"))
            continue
        if not stat.S_ISREG(st.st_mode):  # never opened: a FIFO would block, /dev/zero never end
            found = f"found {file_kind(st.st_mode)}, not a regular file"
            report.problems.append(_problem("missing_file", rel, f"expected {size} bytes, {found}"))
        elif st.st_size != size:
            report.problems.append(_problem("size", rel, f"expected {size} bytes, found {st.st_size}"))
        else:
            report.bytes_checked += size
            present.append((rel, size, sha))
    return present


def _check_hashes(
    root: Path, files: list[Expected], report: VerifyReport, *, jobs: int, progress: bool
) -> None:
    # biggest first, so one large file does not start last and leave the other threads idle
    files = sorted(files, key=lambda f: -f[1])
    with _ticker(progress, sum(f[1] for f in files), "sha256", unit="B") as tick:

        def one(item: Expected) -> str | None:
            rel, _, expected = item
            try:
                digest = sha256_file(root / rel, tick=tick)
            except OSError as exc:
                return f"cannot read it to check ({exc.strerror or exc})"
            if digest != expected.lower():
                return f"expected sha256 {expected}, found {digest}"
            return None

        with ThreadPoolExecutor(jobs) as pool:
            for (rel, _, _), message in zip(files, pool.map(one, files)):
                if message:
                    report.problems.append(_problem("sha256", rel, message))


def _check_dataset(root: Path, report: VerifyReport, *, full: bool, jobs: int, progress: bool) -> None:
    from svmlp.formats import read

    try:
        ds = read(root, probe=False)
    except SvmlpError as exc:  # no data set, or one that does not validate: nothing to look for
        report.problems.append(_problem("annotations", ".", str(exc)))
        return
    present = _check_present(root, ds, report)
    for path in _unreferenced(ds.roots.values(), {os.path.abspath(p) for p in present}):
        why = "an image no annotation file refers to"
        report.problems.append(_problem("unreferenced_image", _rel(root, path), why))
    if full:
        _check_schema(root, ds, report)
        _check_decodes(root, present, report, jobs=jobs, progress=progress)


def _check_schema(root: Path, ds: Dataset, report: VerifyReport) -> None:
    """``--full``: every native annotation file against the published JSON Schema itself (reading
    checks the same rules through its typed decode; this is the contract, run in full)."""
    from svmlp.formats._schema_check import schema_error

    for f in sorted(p for p in ds.inputs.files if str(p).endswith(".svmlp.json")):
        message = schema_error(Path(f))
        if message is not None:
            report.problems.append(_problem("schema", _rel(root, Path(f)), message))


def _check_present(root: Path, ds: Dataset, report: VerifyReport) -> list[Path]:
    """Report the data set's images that are not on disk; return the paths of those that are."""
    present = []
    for i in range(len(ds.images)):
        report.images_checked += 1
        p = ds.image_path(i)
        if p is not None and os.path.isfile(p):
            present.append(p)
            continue
        split, name = ds.images.split[i], ds.images.file_name[i]
        why = f"image {name} of split {split}: " + ("no such file" if p else "its split has no image folder")
        report.problems.append(_problem("missing_image", _rel(root, p) if p else str(name), why))
    return present


def _unreferenced(folders: Iterable[Path], referenced: set[str]) -> set[str]:
    """Image files under ``folders`` (recursively) whose absolute path is not in ``referenced``."""
    found: set[str] = set()
    for folder in set(folders):
        for dirpath, dirnames, filenames in walk(folder):
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
            images = (n for n in filenames if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES)
            found.update(
                p for p in (os.path.abspath(os.path.join(dirpath, n)) for n in images) if p not in referenced
            )
    return found


def _check_decodes(root: Path, paths: list[Path], report: VerifyReport, *, jobs: int, progress: bool) -> None:
    # Pillow releases the GIL while decoding, so threads decode in parallel
    with _ticker(progress, len(paths), "decode", unit="img") as tick, ThreadPoolExecutor(jobs) as pool:
        for path, message in zip(paths, pool.map(_decode_error, paths)):
            tick(1)
            if message:
                report.problems.append(_problem("undecodable_image", _rel(root, path), message))


def _decode_error(path: str | os.PathLike[str]) -> str | None:
    """Why Pillow cannot fully decode an image, or None when it can."""
    from PIL import Image, ImageFile

    if ImageFile.LOAD_TRUNCATED_IMAGES:  # another part of the process relaxed it: not for a check
        raise UsageError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set, so truncated images cannot be detected")
    try:
        fh = open_regular_file(path)  # it was a regular file when listed; it must still be one
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    try:
        with fh, Image.open(fh) as im:
            im.load()
    except Exception as exc:  # Pillow's plugins raise many types on broken files (struct.error, EOFError...)
        return f"cannot decode it ({type(exc).__name__}: {exc})"
    return None


@contextlib.contextmanager
def _ticker(enabled: bool, total: int, desc: str, *, unit: str) -> Iterator[Tick]:
    """A thread-safe ``tick(n)`` moving a tqdm bar on stderr when ``enabled``; a no-op otherwise."""
    if not enabled:
        yield lambda n: None
        return
    from svmlp._progress import bar_class

    lock = threading.Lock()
    with bar_class()(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False) as bar:

        def tick(n: int) -> None:
            with lock:  # tqdm.update is not atomic, and every hashing thread calls it
                bar.update(n)

        yield tick
