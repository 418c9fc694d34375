"""``svmlp download``: fetch every file of a release, check it, unpack it safely, remember it.

The destination keeps a ``.svmlp/`` folder: the manifest the release came with (for ``svmlp
verify``), a state file of what is installed, a lock so that two runs never write the same
folder, and the partial downloads a later run resumes. A file already installed with the right
size and sha256 is not fetched again unless ``force``.

svmlp reads and writes its state files without following symbolic links (:mod:`svmlp.release._state`),
refuses a ``.svmlp`` or ``downloads`` that is not a real folder, and never installs anything
that resolves into its state folder or out of the release folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svmlp._files import open_regular, read_file, write_atomic
from svmlp.errors import DownloadError, SvmlpError, UsageError
from svmlp.release._state import clear_path, folder_lock
from svmlp.release.digest import sha256_fd
from svmlp.release.manifest import MANIFEST_FILE, STATE_DIR, FileEntry, Manifest
from svmlp.release.transfer import FetchPolicy, fetch_file

__all__ = ["DownloadReport", "download"]

STATE_FILE, LOCK_FILE, DOWNLOADS = "state.json", "lock", "downloads"
_STATE_LIMIT = 256 << 20  # state.json: a line per file of the release


@dataclass
class DownloadReport:
    release: str
    folder: Path
    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"{self.release} in {self.folder}: {len(self.fetched)} file(s) fetched "
            f"({self.bytes_fetched / 1e6:.1f} MB, {self.seconds:.1f} s with unpacking), "
            f"{len(self.skipped)} already in place"
        ]
        return out + [f"check it any time: svmlp verify {self.folder}"]

    def to_json(self) -> str:
        return json.dumps({**self.__dict__, "folder": str(self.folder)}, indent=2)


def _target(folder: Path, entry: FileEntry) -> Path:
    """Where the entry goes; the manifest's parser already refuses '..', this refuses a symlink
    (left by an earlier archive) that leads out of the folder or into svmlp's state folder."""
    root = folder.resolve()
    target = (folder / entry.unpack_to).resolve()
    if target != root and root not in target.parents:
        raise DownloadError(f"{entry.name}: unpack_to {entry.unpack_to!r} leads outside {folder}")
    state = root / STATE_DIR
    if target == state or state in target.parents:
        raise DownloadError(
            f"{entry.name}: unpack_to {entry.unpack_to!r} leads into {STATE_DIR}/ (through a symbolic "
            f"link in {folder}), which svmlp keeps for itself; remove the link and run again"
        )
    return target


def _complete(path: Path, entry: FileEntry, *, follow: bool = True) -> bool:
    """Whether ``path`` is a regular file of the entry's size and sha256 (read no further than
    that size; a FIFO or device there is simply not complete)."""
    try:
        fd = open_regular(path, follow=follow)
    except (OSError, ValueError):
        return False
    try:
        return os.fstat(fd).st_size == entry.size and sha256_fd(fd) == entry.sha256
    finally:
        os.close(fd)


def _installed(entry: FileEntry, folder: Path, state: dict[str, Any]) -> bool:
    """Whether the entry is in place already: same release file, every member there at its size."""
    if not entry.is_archive:
        return _complete(_target(folder, entry) / entry.name, entry)
    record = state.get(entry.name)
    if not isinstance(record, dict) or record.get("sha256") != entry.sha256:
        return False
    root = _target(folder, entry)
    return all((root / m.path).is_file() and (root / m.path).stat().st_size == m.size for m in entry.members)


class _Bars:
    """On a terminal: one tqdm bar for the total, and one per file while it is being fetched."""

    def __init__(self, entries: list[FileEntry], quiet: bool) -> None:
        from svmlp._progress import bar_class

        self.tqdm, self.off = bar_class(), quiet or not sys.stderr.isatty()
        self.kw: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1024, "leave": False}
        self.total = self.tqdm(total=sum(e.size for e in entries), desc="total", disable=self.off, **self.kw)
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def file(self, entry: FileEntry) -> Iterator[Callable[[int], None]]:
        with self.lock:
            bar = self.tqdm(total=entry.size, desc=entry.name[:30], disable=self.off, **self.kw)

        def update(n: int) -> None:
            with self.lock:
                bar.update(n)
                self.total.update(n)

        try:
            yield update
        finally:
            with self.lock:
                bar.close()

    def close(self) -> None:
        self.total.close()


def _fetch_one(
    entry: FileEntry, downloads: Path, policy: FetchPolicy, bars: _Bars, cancel: threading.Event
) -> str:
    with bars.file(entry) as progress:
        fetch_file(
            list(entry.urls),
            downloads / entry.name,
            size=entry.size,
            sha256=entry.sha256,
            policy=policy,
            progress=progress,
            cancel=cancel,
        )
    return entry.name


def _fetch_all(
    entries: list[FileEntry], downloads: Path, *, jobs: int, policy: FetchPolicy, quiet: bool
) -> tuple[set[str], list[DownloadError]]:
    """Fetch in parallel; every file gets its chance even when another fails. Ctrl-C stops them all
    at their next chunk (what they fetched stays, to resume)."""
    bars, cancel = _Bars(entries, quiet), threading.Event()
    done: set[str] = set()
    errors: list[DownloadError] = []
    pool = ThreadPoolExecutor(max(1, jobs))
    try:
        futures = [pool.submit(_fetch_one, e, downloads, policy, bars, cancel) for e in entries]
        for fut in as_completed(futures):
            exc = fut.exception()
            if exc is None:
                done.add(fut.result())
            elif isinstance(exc, DownloadError):
                errors.append(exc)
            else:
                raise exc
    except BaseException:
        cancel.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bars.close()
    return done, errors


def _install(entry: FileEntry, fetched: Path, folder: Path) -> None:
    """Put a verified file in place: an archive unpacked safely and merged, any other file renamed."""
    from svmlp.release.installation import install_archive

    target = _target(folder, entry)
    if not entry.is_archive:
        target.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, target / entry.name)
        return
    reserved = (STATE_DIR,) if target == folder.resolve() else ()
    install_archive(
        fetched,
        target,
        scratch=folder / STATE_DIR,
        max_bytes=entry.unpack_limit(),
        reserved=reserved,
        root=folder.resolve(),
    )
    for m in entry.members:
        path = target / m.path
        if not path.is_file() or path.stat().st_size != m.size:
            raise DownloadError(
                f"{entry.name}: unpacked, but {m.path} is not the {m.size} bytes the manifest lists"
            )


def _read_state(path: Path) -> dict[str, Any]:
    """What earlier runs installed; an unreadable state only means checking everything again
    (a link, a FIFO or a huge file there is not svmlp's state: not followed, not read)."""
    try:
        state = json.loads(read_file(path, limit=_STATE_LIMIT, follow=False, error=DownloadError))
    except (SvmlpError, ValueError, RecursionError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_json(path: Path, doc: Any) -> None:
    # a new file renamed over the old one: a link planted at ``path`` is replaced, not written through
    clear_path(path)
    write_atomic(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))


def _state_folders(folder: Path) -> Path:
    """``folder/.svmlp`` and its downloads folder, made if missing. A symbolic link in their place
    is removed (svmlp would otherwise write its partial downloads wherever it points)."""
    state_dir = folder / STATE_DIR
    for path in (state_dir, state_dir / DOWNLOADS):
        if path.is_symlink():
            path.unlink()
        elif path.exists() and not path.is_dir():
            raise DownloadError(
                f"{path}: is not a folder; svmlp keeps its state there, remove it and run again"
            )
        path.mkdir(parents=True, exist_ok=True)
    return state_dir


def download(
    manifest: Manifest,
    folder: str | Path,
    *,
    jobs: int = 4,
    force: bool = False,
    quiet: bool = False,
    keep_archives: bool = False,
    policy: FetchPolicy | None = None,
) -> DownloadReport:
    """Fetch, check and install every file of ``manifest`` into ``folder``.

    >>> from svmlp.release.manifest import load_manifest, sample_manifest_url  # doctest: +SKIP
    >>> download(load_manifest(sample_manifest_url()), "data/sample")  # doctest: +SKIP
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    state_dir = _state_folders(folder)
    report = DownloadReport(manifest.title, folder)
    started = time.perf_counter()
    with folder_lock(state_dir / LOCK_FILE, folder):
        state_path = state_dir / STATE_FILE
        state = _read_state(state_path)
        todo = [e for e in manifest.files if force or not _installed(e, folder, state)]
        todo_names = {e.name for e in todo}
        report.skipped = [e.name for e in manifest.files if e.name not in todo_names]
        downloads = state_dir / DOWNLOADS
        # a file fetched by an earlier run that stopped before installing it is not fetched again
        ready = {e.name for e in todo if not force and _complete(downloads / e.name, e, follow=False)}
        needed = [e for e in todo if e.name not in ready]
        fetched_now, errors = _fetch_all(
            needed, downloads, jobs=jobs, policy=policy or FetchPolicy(), quiet=quiet
        )
        for entry in todo:  # install in manifest order what arrived, even if another file failed
            fetched = downloads / entry.name
            if entry.name not in ready | fetched_now:
                continue  # never an older copy left in downloads/ by an earlier run
            _install(entry, fetched, folder)
            state[entry.name] = {"sha256": entry.sha256, "size": entry.size, "installed": time.time()}
            _write_json(state_path, state)
            report.fetched.append(entry.name)
            report.bytes_fetched += entry.size
            if entry.is_archive and not keep_archives:
                fetched.unlink()
        _write_json(state_dir / MANIFEST_FILE, manifest.document)
    report.seconds = time.perf_counter() - started
    if errors:
        more = f" (and {len(errors) - 1} more file(s) failed)" if len(errors) > 1 else ""
        kept = any("to resume" in str(e) for e in errors)
        again = "; run the same command again to resume" if kept else ""
        raise DownloadError(f"{errors[0]}{more}{again}")
    return report
