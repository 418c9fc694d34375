"""Work handed to a forked child process, beside the caller's own, where that is safe.

A convert spends much of its time in system calls and small Python steps that threads cannot
overlap (the GIL: two threads reading image headers took longer than one). A child process made
with ``fork`` shares the caller's memory as it was, copy-on-write, so it can read 100 000 image
headers or create as many label files while the caller builds columns or the sidecar, on another
core, with nothing to send it.

Forking is used only where it is safe and can pay: Linux, more than one CPU, and no other thread
in the process (a fork copies only the calling thread; a lock another thread held would stay
locked in the child). ``SVMLP_NO_FORK=1`` turns it off. The child never returns into the
caller's code: it runs the one function, sends its bytes back through a pipe and leaves with
``os._exit`` (no ``atexit``, no flushing of the caller's buffers). Anything short of a complete
answer (the child raised, was killed, or the pipe broke) is reported as None, and the caller does
the work itself: a failed child never changes a result, only the time it takes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import sys
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["Child", "can_fork"]

_HEADER = struct.Struct("<Q")  # the answer's length, so a cut-off answer is never taken as whole


def can_fork() -> bool:
    """Whether work may go to a forked child here and now."""
    return (
        sys.platform == "linux"
        and hasattr(os, "fork")
        and (os.cpu_count() or 1) > 1
        and threading.active_count() == 1
        and os.environ.get("SVMLP_NO_FORK", "") in ("", "0")
    )


class Child:
    """``fn()`` run in a forked child; :meth:`result` waits for its bytes (None when it failed).

    Use as a context manager: leaving the block without :meth:`result` (the caller raised, or
    was interrupted) kills and reaps the child, so none outlives its work.
    """

    def __init__(self, fn: Callable[[], bytes]) -> None:
        self._pid: int | None = None
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _run_child(fn, read, write)
        os.close(write)
        self._pid, self._fd = pid, read

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cancel()

    def result(self) -> bytes | None:
        """The child's answer once it has ended, or None when it failed."""
        if self._pid is None:
            return None
        parts = []
        try:
            while chunk := os.read(self._fd, 1 << 20):
                parts.append(chunk)
        finally:
            status = self._reap()
        data = b"".join(parts)
        if status != 0 or len(data) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(data)
        return data[_HEADER.size :] if len(data) == _HEADER.size + size else None

    def cancel(self) -> None:
        """Stop the child if it still runs (its answer is dropped)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> int:
        pid, self._pid = self._pid, None
        os.close(self._fd)
        if pid is None:
            return -1
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                return os.waitstatus_to_exitcode(status)
            except InterruptedError:  # pragma: no cover - retried by Python itself since 3.5
                continue
            except ChildProcessError:
                return -1


def _run_child(fn: Callable[[], bytes], read: int, write: int) -> None:  # pragma: no cover - child
    code = 1
    try:
        os.close(read)
        # a Ctrl-C reaches the whole process group: the child just ends, the caller reports it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        data = fn()
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            view = view[os.write(write, view) :]
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)
