"""A real HTTP server on 127.0.0.1 for download tests, with faults switched on per test.

It serves files from memory or disk, honours Range requests (206) unless told to ignore them, and
counts every body byte it sends, so a test can prove that a resumed download fetched only what
was missing.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024


@dataclass
class Faults:
    """What goes wrong. Counters (``*_times``) say how many requests the fault hits before it stops."""

    statuses: list[int] = field(default_factory=list)  # answered in turn, one per request, before serving
    retry_after: str | None = None  # sent with those statuses
    not_found: set[str] = field(default_factory=set)  # paths answered with 404
    drop_after: int | None = None  # close the connection after this many body bytes...
    drop_times: int = 0  # ...on this many requests
    short_body: bool = False  # announce the full length, send half, close (every request)
    wrong_bytes: bool = False  # flip a byte in the middle of the body
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    html: bool = False  # a 200 HTML page instead of the file
    html_content_type: bool = True
    trickle: float | None = None  # seconds between 1-byte writes...
    trickle_times: int = 0  # ...on this many requests


@dataclass
class Request:
    path: str
    range: str | None


class FaultServer:
    """``with FaultServer() as srv: srv.files["/r/a.bin"] = b"..."; srv.url("/r/a.bin")``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | Path] = {}
        self.faults = Faults()
        self.requests: list[Request] = []
        self.bytes_sent: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def sent(self, path: str) -> int:
        return self.bytes_sent.get(path, 0)

    # -- serving ---------------------------------------------------------------------------------

    def _body(self, path: str) -> bytes | Path | None:
        return self.files.get(path)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        f = self.faults
        path = h.path.split("?")[0]
        rng = h.headers.get("Range")
        with self.lock:
            self.requests.append(Request(path, rng))
            status = f.statuses.pop(0) if f.statuses else None
            drop = f.drop_after if f.drop_times > 0 else None
            f.drop_times -= drop is not None
            trickle = f.trickle if f.trickle_times > 0 else None
            f.trickle_times -= trickle is not None
        if status is not None:
            return self._status(h, status, f.retry_after)
        body = self._body(path)
        if body is None or path in f.not_found:
            return self._status(h, 404, None)
        if f.html:
            return self._send_html(h)
        size = body.stat().st_size if isinstance(body, Path) else len(body)
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and not f.ignore_range:
            start = int(match.group(1))
            if start >= size:
                return self._status(h, 416, None, extra={"Content-Range": f"bytes */{size}"})
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            h.send_response(200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(size - start))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        limit = size - start
        if f.short_body:
            limit //= 2
        if drop is not None:
            limit = min(limit, drop)
        self._stream(h, path, body, start, limit, size, trickle)
        if limit < size - start:
            h.close_connection = True
            with_socket(h, socket.SHUT_RDWR)

    def _stream(
        self, h: Any, path: str, body: bytes | Path, start: int, limit: int, size: int, trickle: float | None
    ) -> None:
        flip_at = size // 2 if self.faults.wrong_bytes else -1
        fh = open(body, "rb") if isinstance(body, Path) else None  # noqa: SIM115 - closed in finally
        try:
            pos, end = start, start + limit
            while pos < end:
                n = 1 if trickle else min(CHUNK if fh is None else 1 << 20, end - pos)
                if fh is not None:
                    fh.seek(pos)
                    chunk = fh.read(n)
                else:
                    chunk = body[pos : pos + n]  # type: ignore[index]
                if pos <= flip_at < pos + len(chunk):
                    k = flip_at - pos
                    chunk = chunk[:k] + bytes([chunk[k] ^ 0xFF]) + chunk[k + 1 :]
                try:
                    h.wfile.write(chunk)
                    h.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                with self.lock:
                    self.bytes_sent[path] = self.bytes_sent.get(path, 0) + len(chunk)
                pos += len(chunk)
                if trickle:
                    time.sleep(trickle)
        finally:
            if fh is not None:
                fh.close()

    def _status(
        self, h: Any, status: int, retry_after: str | None, extra: dict[str, str] | None = None
    ) -> None:
        body = f"status {status}".encode()
        h.send_response(status)
        if retry_after is not None:
            h.send_header("Retry-After", retry_after)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _send_html(self, h: Any) -> None:
        body = b"<!DOCTYPE html><html><body>Google Drive can't scan this file for viruses.</body></html>"
        h.send_response(200)
        h.send_header(
            "Content-Type",
            "text/html; charset=utf-8" if self.faults.html_content_type else "application/octet-stream",
        )
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def with_socket(h: Any, how: int) -> None:
    with contextlib.suppress(OSError):
        h.connection.shutdown(how)
