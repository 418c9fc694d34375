"""Fetch one file from its mirrors: streamed, hashed while streaming, resumable, retried.

``http``, ``https`` and ``file`` URLs (local paths become ``file`` URLs) go through the same code:
bytes go to ``<dest>.part`` beside the destination, a ``<dest>.part.json`` record says which
file (size and sha256) the partial belongs to, and only a file whose size and sha256 match the
manifest is renamed to ``dest``. Neither is ever opened through a symbolic link: one planted there
is replaced (:func:`svmlp.release._state.own_file`). A partial is continued with a Range request when the
server answers 206; a 200 starts over. Connection errors, timeouts, 429 and 5xx are retried with
exponential backoff and jitter (``Retry-After`` honoured) within a bounded budget; a 4xx, an HTML
page where data was expected, or bytes that do not match move on to the next mirror.

Nothing a server sends is unbounded: a file's bytes stop at its declared size, a manifest's at
``max_bytes_unsized``, and a gzipped manifest is unpacked up to that same limit and no further.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import os
import queue
import random
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from svmlp._files import NotRegularFileError, open_regular, read_file
from svmlp.errors import DownloadError, SvmlpError
from svmlp.release._state import clear_path, own_file

__all__ = ["FetchPolicy", "fetch_bytes", "fetch_file", "looks_like_html"]

Progress = Callable[[int], None]
_THREADED_HASH_MIN = 16 << 20
_RECORD_LIMIT = 1 << 20  # a .part.json record: a size, a sha256 and the URLs tried
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b'<?xml version="1.0"?><!doctype html')


@dataclass(frozen=True)
class FetchPolicy:
    """Timeouts and retry limits. ``budget`` bounds the total waiting between attempts per file."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    budget: float = 600.0
    chunk: int = 1 << 20
    max_bytes_unsized: int = 64 << 20  # a manifest fetched without a known size

    def wait(self, attempt: int) -> float:
        """Exponential backoff with jitter: about backoff·2^(attempt−1), randomised down to half."""
        return min(self.max_wait, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


class _Retry(Exception):
    """Worth another attempt at the same URL (after ``wait`` seconds when the server said so)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class _NextMirror(Exception):
    """This URL will not give the file: try the next one. ``bad_bytes``: what it sent is wrong,
    so the partial is dropped; otherwise (a 404, say) it may still be continued elsewhere."""

    def __init__(self, message: str, *, bad_bytes: bool = False) -> None:
        super().__init__(message)
        self.bad_bytes = bad_bytes


def looks_like_html(first: bytes) -> bool:
    """Whether bytes open like an HTML page (a login or "virus scan" page saved as the data)."""
    head = first[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(_HTML_STARTS)


class _Hasher:
    """sha256 fed by a background thread for big files, so that hashing overlaps receiving and
    writing (all three release the GIL): a download then runs at network speed, not network plus
    hashing. Small files are hashed inline."""

    def __init__(self, threaded: bool) -> None:
        self.h = hashlib.sha256()
        self.q: queue.Queue[bytes | None] | None = queue.Queue(maxsize=8) if threaded else None
        self.thread: threading.Thread | None = None

    def update(self, data: bytes) -> None:
        if self.q is None:
            self.h.update(data)
            return
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="svmlp-sha256", daemon=True)
            self.thread.start()
        self.q.put(data)

    def _run(self) -> None:
        assert self.q is not None
        while (data := self.q.get()) is not None:
            self.h.update(data)
            self.q.task_done()
        self.q.task_done()

    def hexdigest(self) -> str:
        if self.q is not None:
            self.q.join()
        return self.h.hexdigest()

    def reset(self) -> None:
        if self.q is not None:
            self.q.join()
        self.h = hashlib.sha256()

    def close(self) -> None:
        if self.thread is not None and self.q is not None:
            self.q.put(None)
            self.thread.join()
            self.thread = None


class _Sink:
    """Where fetched bytes go: a ``.part`` file (or memory), hashed and counted as they arrive."""

    def __init__(self, fh: BinaryIO, size: int | None, limit: int, progress: Progress | None) -> None:
        self.fh, self.size, self.limit, self.progress = fh, size, limit, progress
        self.hasher = _Hasher(threaded=size is not None and size > _THREADED_HASH_MIN)
        self.written = 0
        self.pending: str | None = None  # a problem the status line showed, raised after the sniff

    def resume_from(self, existing: int) -> None:
        """Hash what an earlier run left in the file, so the digest covers the whole file."""
        self.fh.seek(0)
        while block := self.fh.read(1 << 22):
            self.hasher.update(block)
        self.written = existing
        if self.progress:
            self.progress(existing)

    def restart(self) -> None:
        self.fh.seek(0)
        self.fh.truncate()
        if self.progress and self.written:
            self.progress(-self.written)
        self.hasher.reset()
        self.written = 0

    def write(self, chunk: bytes) -> None:
        if self.written + len(chunk) > self.limit:
            raise _NextMirror(f"sent more than the {self.limit} bytes expected", bad_bytes=True)
        self.fh.write(chunk)
        self.hasher.update(chunk)
        self.written += len(chunk)
        if self.progress:
            self.progress(len(chunk))

    @property
    def complete(self) -> bool:
        return self.size is not None and self.written == self.size


_local = threading.local()


def _session() -> Any:
    import requests

    from svmlp._version import __version__

    if getattr(_local, "session", None) is None:
        s = requests.Session()
        # identity: a compressed transfer would break byte counts and Range offsets
        s.headers.update({"User-Agent": f"svmlp/{__version__}", "Accept-Encoding": "identity"})
        _local.session = s
    return _local.session


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _check_status(resp: Any, sink: _Sink, offset: int) -> None:
    """Decide from the status line what the body is; restart the sink when the server ignored Range."""
    status = resp.status_code
    if status == 416 and sink.complete:
        return
    if status in (429, 408) or status >= 500:
        raise _Retry(f"HTTP {status}", _retry_after(resp.headers.get("Retry-After")))
    if status == 416:
        sink.restart()
        raise _Retry("HTTP 416: the partial download does not fit this file; starting over", 0.0)
    if status >= 400 or status not in (200, 206):
        raise _NextMirror(f"HTTP {status}")
    if "text/html" in resp.headers.get("Content-Type", "").lower():
        raise _NextMirror("served an HTML page (Content-Type text/html), not the file")
    if status == 200 and offset:
        sink.restart()  # Range ignored: the body is the whole file
    if status == 206 and not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
        sink.restart()
        raise _Retry(
            f"HTTP 206 for the wrong range ({resp.headers.get('Content-Range')}); starting over", 0.0
        )
    length = resp.headers.get("Content-Length", "")
    if status == 200 and length.strip().isdigit() and sink.size is not None and int(length) != sink.size:
        # said after the first bytes are seen: an HTML page deserves that name, not just "wrong size"
        sink.pending = f"is {length} bytes, the manifest says {sink.size}"


def _http_chunks(url: str, sink: _Sink, policy: FetchPolicy) -> Iterator[bytes]:
    import requests

    offset = sink.written
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = _session().get(
            url, headers=headers, stream=True, timeout=(policy.connect_timeout, policy.read_timeout)
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    except requests.RequestException as exc:  # a bad URL, a redirect to a scheme requests cannot fetch
        raise _NextMirror(f"{type(exc).__name__}: {exc}") from None
    except ValueError as exc:  # http.client's InvalidURL, a URL it cannot encode
        raise _NextMirror(f"not a URL svmlp can fetch ({type(exc).__name__}: {exc})") from None
    with resp:
        _check_status(resp, sink, offset)
        if resp.status_code == 416:
            return
        yield from _body(resp, sink, policy)


def _body(resp: Any, sink: _Sink, policy: FetchPolicy) -> Iterator[bytes]:
    """The body as it arrives. ``read1`` hands over what came before a connection broke, so a
    resume starts exactly there (``iter_content`` would drop a partly filled chunk)."""
    import requests
    from urllib3.exceptions import HTTPError as Urllib3Error

    raw = resp.raw
    try:
        while block := raw.read1(policy.chunk, decode_content=False):
            yield block
    except (Urllib3Error, requests.RequestException, OSError) as exc:
        raise _Retry(f"connection lost after {sink.written} bytes ({type(exc).__name__})") from None


def _file_chunks(url: str, sink: _Sink, policy: FetchPolicy) -> Iterator[bytes]:
    parts = urlsplit(url)
    local = url2pathname(parts.path)
    path = Path(f"//{parts.netloc}{local}" if parts.netloc not in ("", "localhost") else local)
    try:
        # a FIFO would block the read forever, /dev/zero never end: regular files only
        fh = os.fdopen(open_regular(path), "rb")
    except FileNotFoundError:
        raise _NextMirror(f"no such file {path}") from None
    except NotRegularFileError as exc:
        raise _NextMirror(f"{path} is {exc.strerror}, not a regular file") from None
    except OSError as exc:
        raise _NextMirror(f"cannot read {path} ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL byte in the path
        raise _NextMirror(f"cannot read {path!r} ({exc})") from None
    with fh:
        fh.seek(sink.written)
        while block := fh.read(policy.chunk):
            yield block


def _once(url: str, sink: _Sink, policy: FetchPolicy, cancel: threading.Event) -> None:
    """One attempt: stream the rest of the file from ``url`` into ``sink``."""
    chunks = _file_chunks if urlsplit(url).scheme == "file" else _http_chunks
    first = sink.written == 0
    sink.pending = None
    for chunk in chunks(url, sink, policy):
        if first and chunk:
            if looks_like_html(chunk):
                raise _NextMirror("served an HTML page, not the file (a login or download-warning page?)")
            first = False
        if sink.pending:
            raise _NextMirror(sink.pending)
        if cancel.is_set():
            raise _Cancelled()
        sink.write(chunk)
    if sink.pending:
        raise _NextMirror(sink.pending)
    if sink.size is not None and sink.written < sink.size:
        raise _Retry(f"connection closed after {sink.written} of {sink.size} bytes")


class _Cancelled(Exception):
    """Another thread asked every fetch to stop (Ctrl-C)."""


def _attempts(
    urls: list[str],
    sink: _Sink,
    policy: FetchPolicy,
    check: Callable[[], str | None],
    cancel: threading.Event,
) -> None:
    """Try each URL in turn, retrying what is worth retrying; ``check`` vets a complete body."""
    failures, waited = [], 0.0
    for url in urls:
        attempt, progress_at, retried_from_zero = 0, sink.written, False
        while True:
            resumed = sink.written > 0
            try:
                _once(url, sink, policy, cancel)
                problem = check()
                if problem is None:
                    return
                if resumed and not retried_from_zero:  # the partial from before may be what is wrong
                    sink.restart()
                    retried_from_zero = True
                    continue
                raise _NextMirror(problem, bad_bytes=True)
            except _NextMirror as exc:
                failures.append(f"{url}: {exc}")
                if exc.bad_bytes:
                    sink.restart()
                break
            except _Retry as exc:
                if sink.written > progress_at:  # a flaky link that moves forward keeps its chances
                    attempt, progress_at = 0, sink.written
                attempt += 1
                if exc.wait is not None and exc.wait > policy.max_wait:
                    failures.append(
                        f"{url}: {exc}, and asked to wait {exc.wait:.0f} s (more than {policy.max_wait:.0f})"
                    )
                    break
                wait = exc.wait if exc.wait is not None else policy.wait(attempt)
                if attempt >= policy.attempts or waited + wait > policy.budget:
                    failures.append(f"{url}: {exc} (gave up after {attempt} attempts)")
                    break
                if cancel.wait(wait):
                    raise _Cancelled() from None
                waited += wait
    raise DownloadError("; ".join(failures) if failures else "no URL to fetch from")


def fetch_file(
    urls: list[str],
    dest: Path,
    *,
    size: int,
    sha256: str,
    policy: FetchPolicy | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Fetch a file of known ``size`` and ``sha256`` to ``dest``, resuming a matching partial.

    On success ``dest`` holds exactly those bytes (renamed into place, so it is never partial). On
    failure :class:`DownloadError` says what each URL did; a partial whose bytes may still be good
    (a lost connection, ``cancel`` set) is kept for the next run, one that proved wrong is deleted.
    """
    policy = policy or FetchPolicy()
    part, record = dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")
    wanted = {"size": size, "sha256": sha256}
    dest.parent.mkdir(parents=True, exist_ok=True)
    clear_path(part)  # a link (to ~/.bashrc, say) is removed here, never appended to
    if os.path.lexists(part) and _read_record(record) != wanted:  # a partial of another file
        part.unlink()
    _write_record(record, {**wanted, "urls": urls})
    with os.fdopen(own_file(part, os.O_RDWR | os.O_APPEND), "ab+") as fh:
        sink = _Sink(fh, size, size, progress)
        try:
            existing = fh.seek(0, os.SEEK_END)
            if existing <= size:
                sink.resume_from(existing)
            else:
                sink.restart()

            def check() -> str | None:
                if sink.written != size:
                    return f"gave {sink.written} bytes, the manifest says {size}"
                digest = sink.hasher.hexdigest()
                if digest == sha256:
                    return None
                return f"sha256 {digest[:12]}… differs from the manifest's {sha256[:12]}…"

            try:
                _attempts(urls, sink, policy, check, cancel or threading.Event())
            except (DownloadError, _Cancelled) as exc:
                fh.flush()
                kept = sink.written > 0
                if not kept:
                    fh.close()
                    part.unlink(missing_ok=True)
                    record.unlink(missing_ok=True)
                what = (
                    f"kept the {sink.written} bytes fetched in {part} to resume"
                    if kept
                    else "deleted the partial download"
                )
                why = "interrupted" if isinstance(exc, _Cancelled) else f"could not fetch it ({exc})"
                raise DownloadError(f"{dest.name}: {why}; {what}") from None
        finally:
            sink.hasher.close()
    clear_path(dest)  # a folder there is an error; os.replace already replaces a link itself
    os.replace(part, dest)
    record.unlink(missing_ok=True)


def _read_record(record: Path) -> dict[str, Any] | None:
    """What the partial beside ``record`` belongs to; None for anything but svmlp's own record."""
    try:
        data = json.loads(read_file(record, limit=_RECORD_LIMIT, follow=False, error=DownloadError))
    except (SvmlpError, ValueError, RecursionError):
        return None
    return {"size": data.get("size"), "sha256": data.get("sha256")} if isinstance(data, dict) else None


def _write_record(record: Path, doc: dict[str, Any]) -> None:
    """Write the record whole, by renaming a new file over it: whatever was at ``record`` (a
    link, say) is replaced, never written through. The temporary name is short, so a file name
    of up to 245 bytes still fits."""
    clear_path(record)
    fd, tmp = tempfile.mkstemp(prefix=".rec-", suffix=".tmp", dir=record.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(doc))
        os.replace(tmp, record)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _gunzip(data: bytes, limit: int) -> bytes | None:
    """``data`` (one or more gzip members) unpacked, or None when it is not valid gzip; raises
    ``_TooBig`` as soon as the output would pass ``limit`` bytes, so a bomb costs no memory."""
    out = bytearray()
    while data:
        if not data.startswith(b"\x1f\x8b"):
            return None
        unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += unpacker.decompress(data, limit + 1 - len(out))
        except zlib.error:
            return None
        if len(out) > limit:
            raise _TooBig()
        if not unpacker.eof:  # cut short
            return None
        data = unpacker.unused_data
    return bytes(out)


class _TooBig(Exception):
    """A compressed body unpacks to more than it may."""


def fetch_bytes(url: str, *, policy: FetchPolicy | None = None, what: str = "file") -> bytes:
    """A small file of unknown size and hash (a manifest) into memory, with the same retries."""
    policy = policy or FetchPolicy()
    buf = io.BytesIO()
    sink = _Sink(buf, None, policy.max_bytes_unsized, None)
    try:
        _attempts([url], sink, policy, lambda: None, threading.Event())
    except DownloadError as exc:
        raise DownloadError(f"could not fetch the {what}: {exc}") from None
    data = buf.getvalue()
    if data[:2] == b"\x1f\x8b":  # a server that gzips on the fly despite Accept-Encoding: identity
        try:
            unpacked = _gunzip(data, policy.max_bytes_unsized)
        except _TooBig:
            raise DownloadError(
                f"{url}: the {what} is gzip-compressed ({len(data)} bytes) and unpacks to more than "
                f"{policy.max_bytes_unsized} bytes, the most svmlp reads for a {what} (a decompression "
                "bomb?); svmlp stopped unpacking it"
            ) from None
        if unpacked is not None:  # not valid gzip: left as it came, the parser says what it is
            data = unpacked
    return data
