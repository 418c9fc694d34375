"""Ctrl-C and SIGTERM for the command line: stop within moments, clean up, say so in one line.

SIGINT raises KeyboardInterrupt and SIGTERM :class:`Terminated` in the main thread, so every
``finally`` on the way out runs (an output's temporary folder is removed) — but never while the
main thread is inside code an exception must not cut (a lock held between acquire and release):
there the raise waits for the first safe moment. Exit codes are 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from types import CodeType, FrameType
from typing import Any

__all__ = ["Signals", "Terminated"]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as SIGINT raises KeyboardInterrupt: every ``finally`` and
    ``except BaseException`` on the way out runs (the output's temporary folder is removed)."""


#: Exit code and word for the signals a run stops on (128 + the signal's number, as shells do).
_STOPS = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}
_RETRY_S = 0.01  # how soon a stop that had to wait for a safe moment looks again
_GIVE_UP_S = 2.0  # a stop that finds no safe moment in this long ends the process as it is
_CLEANUP_S = 10.0  # and one whose cleanup still waits for a thread (stuck on a dead mount) after this
_EXIT_GRACE_S = 3.0  # after a stop, how long the interpreter's exit may wait for threads

_STDLIB = os.path.dirname(contextlib.__file__)
_FUTURES = os.path.join(_STDLIB, "concurrent", "futures") + os.sep
_THREADING = threading.__file__
#: Code an exception from a signal handler must not cut through. Between a lock's acquire and the
#: ``with`` or ``try`` that releases it (threading's Condition.__enter__, ThreadPoolExecutor.submit,
#: the import lock) it would leave the lock held, and the worker threads, which the cleanup then
#: waits for, block on it forever; in contextlib's ``__enter__``/``__exit__`` it would skip the
#: cleanup of a context manager (the output's temporary folder and lock); in an extension module's
#: import it comes out as a confusing ImportError.
_UNSAFE_CODE = (
    *(os.path.join(_STDLIB, n) for n in ("threading.py", "contextlib.py", "queue.py", "weakref.py")),
    *(os.path.join(_STDLIB, n) for n in ("_weakrefset.py", "logging" + os.sep)),
    _FUTURES,
    "<frozen importlib.",
)
#: Functions of that code an exception may unwind through: all they hold is released by a ``with``
#: or ``finally`` of their own (waiting for futures, events, queues and threads)
_THROUGH = {
    *((os.path.join(_FUTURES, "_base.py"), n) for n in ("result", "result_iterator", "_result_or_cancel")),
    *((os.path.join(_FUTURES, "_base.py"), n) for n in ("wait", "as_completed")),
    (os.path.join(_FUTURES, "thread.py"), "shutdown"),
    (_THREADING, "wait"),  # Event.wait (Condition.wait is innermost, checked by line)
    (_THREADING, "join"),
    *((os.path.join(_STDLIB, "queue.py"), n) for n in ("get", "put")),
}
#: Where the main thread blocks inside that code, the lines of the ``try`` whose ``finally`` or
#: ``except`` puts the lock right (found in the source: they differ between Python versions)
_BLOCKING = tuple(
    f.__code__
    for f in (threading.Condition.wait, getattr(threading.Thread, "_wait_for_tstate_lock", None))
    if f is not None  # Thread.join waits in C from Python 3.13
)
_try_lines: dict[CodeType, frozenset[int]] = {}


def _lines_in_try(code: CodeType) -> frozenset[int]:
    found = _try_lines.get(code)
    if found is not None:
        return found
    try:  # read plainly, from inside a signal handler: no import, no lock
        with open(code.co_filename, encoding="utf-8") as fh:
            source = fh.read().splitlines()
    except OSError:  # no source (a zipped standard library): never safe, so the stop waits
        source = []
    lines: set[int] = set()
    inside = False
    for number in range(code.co_firstlineno, min(len(source), code.co_firstlineno + 200) + 1):
        text = source[number - 1].strip()
        if text.startswith(("finally:", "except")) or (
            number > code.co_firstlineno and text.startswith("def ")
        ):
            break
        if inside:
            lines.add(number)
        inside = inside or text.startswith("try:")
    _try_lines[code] = found = frozenset(lines)
    return found


def _safe_to_raise(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` unwinds cleanly (see :data:`_UNSAFE_CODE`)."""
    if frame is None:
        return False
    innermost = True
    while frame is not None:
        code = frame.f_code
        unsafe = (
            code.co_filename.startswith(_UNSAFE_CODE) and (code.co_filename, code.co_name) not in _THROUGH
        )
        if unsafe and not (innermost and code in _BLOCKING and frame.f_lineno in _lines_in_try(code)):
            return False
        innermost = False
        frame = frame.f_back
    return True


def _exit_later(code: int) -> None:
    """End the process with ``code`` in :data:`_EXIT_GRACE_S` if the interpreter's exit is still
    waiting then (a non-daemon thread that does not end)."""

    def watch() -> None:
        time.sleep(_EXIT_GRACE_S)
        os._exit(code)

    threading.Thread(target=watch, name="svmlp-exit-watch", daemon=True).start()


class Signals:
    """SIGINT and SIGTERM during one :func:`svmlp.cli.main` call.

    The first signal raises KeyboardInterrupt or :class:`Terminated` in the main thread, at once
    or, if the main thread is inside code that must not be cut (:data:`_UNSAFE_CODE`), at the
    first safe moment (looked for every few milliseconds with SIGALRM). The run then unwinds,
    cleans up and says so in one line. In a process that :func:`svmlp.cli.main` owns (no ``argv`` given: the
    console script, ``python -m svmlp``) a second signal while stopping, a stop that finds no safe
    moment or whose cleanup waits for a thread for seconds, or a signal once the command is over
    ends the process at once, so that nothing waits on a stuck thread; what that leaves
    beside an output folder, the next run to it removes. Called with ``argv`` (tests, scripts),
    the caller's handlers come back at the end.
    """

    def __init__(self, *, owner: bool) -> None:
        self.owner = owner
        self.prog = "svmlp"
        self.signum: int | None = None  # the first signal that arrived
        self.pending: type[BaseException] | None = None  # to raise at the next safe moment
        self.give_up_at = 0.0
        self.raised = False
        self.reported = False
        self.exit_code: int | None = None  # set when the command is over: a signal then exits with it
        self.previous: dict[int, Any] = {}
        self.can_retry = False

    def install(self) -> None:
        for signum in _STOPS:
            try:
                previous = signal.getsignal(signum)
                if previous == signal.SIG_IGN:  # started ignored (nohup, `cmd &`): the user wants it so
                    continue
                signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: signals are the caller's business
                return
            self.previous[signum] = signal.SIG_DFL if previous is None else previous
        alarm = getattr(signal, "SIGALRM", None)
        if alarm is not None and hasattr(signal, "setitimer") and signal.getsignal(alarm) == signal.SIG_DFL:
            signal.signal(alarm, self._retry)
            self.previous[alarm] = signal.SIG_DFL
            self.can_retry = True

    def restore(self) -> None:
        self._cancel_retry()
        for signum, previous in self.previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, previous)
        self.previous.clear()

    def outcome(self) -> tuple[int, str]:
        # a KeyboardInterrupt raised by code rather than by a signal counts as Ctrl-C
        return _STOPS.get(
            signal.Signals(self.signum) if self.signum else signal.SIGINT, _STOPS[signal.SIGINT]
        )

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self.exit_code is not None:  # the command is over and has printed: just go
            os._exit(self.exit_code)
        if self.raised or self.pending is not None:  # asked again while stopping
            if self.owner:  # stop now, even mid-cleanup
                self._exit_now()
            if self.raised:
                raise KeyboardInterrupt if signum == signal.SIGINT else Terminated
            return
        self.pending = KeyboardInterrupt if signum == signal.SIGINT else Terminated
        self.give_up_at = time.monotonic() + _GIVE_UP_S
        self._raise_when_safe(frame)

    def _retry(self, signum: int, frame: FrameType | None) -> None:
        if self.exit_code is not None:
            return
        if self.pending is not None:
            self._raise_when_safe(frame)
        elif self.raised and self.owner:  # raised, and the cleanup has not ended in _CLEANUP_S:
            if len(sys._current_frames()) > 1:  # waiting for a thread that may never end (no
                self._exit_now()  # threading.enumerate() here: its lock may be the one cut)
            signal.setitimer(signal.ITIMER_REAL, _CLEANUP_S)  # busy removing files itself: let it

    def _raise_when_safe(self, frame: FrameType | None) -> None:
        late = time.monotonic() > self.give_up_at
        if _safe_to_raise(frame) or not self.can_retry or (late and not self.owner):
            pending, self.pending = self.pending, None
            self.raised = True
            if self.owner and self.can_retry:
                signal.setitimer(signal.ITIMER_REAL, _CLEANUP_S)
            if pending is not None:
                raise pending
        if late:
            self._exit_now()
        signal.setitimer(signal.ITIMER_REAL, _RETRY_S)

    def _cancel_retry(self) -> None:
        self.pending = None
        if self.can_retry:
            with contextlib.suppress(ValueError, OSError):
                signal.setitimer(signal.ITIMER_REAL, 0)

    def _exit_now(self) -> None:
        """Report and end the process, from inside a handler (sys.stderr may be mid-write)."""
        code, word = self.outcome()
        if not self.reported:
            self.reported = True
            with contextlib.suppress(OSError):
                os.write(2, f"{self.prog}: {word}\n".encode())
        os._exit(code)

    def report(self) -> int:
        """Print the one line for a stop; returns the exit code."""
        code, word = self.outcome()
        if not self.reported:
            self.reported = True
            with contextlib.suppress(OSError, ValueError):
                print(f"{self.prog}: {word}", file=sys.stderr, flush=True)
        return code

    def done(self, code: int) -> int:
        """The command is over, with ``code``: its own (``svmlp view`` stops on Ctrl-C with 0), the
        stop's, or its own when a signal came too late to stop it."""
        if self.owner:
            self.exit_code = code  # first: a signal from here on ends the process with it
        self._cancel_retry()
        if not self.owner:
            self.restore()
            return code
        _flush_output()
        if not _threads_left():
            # nothing can hold the exit up: ignore signals from here, as the interpreter's
            # shutdown resets handlers and a late one would kill it with no exit code of ours
            for signum in _STOPS:
                if signum in self.previous:
                    signal.signal(signum, signal.SIG_IGN)
        elif self.signum is not None:
            _exit_later(code)  # the interpreter's exit joins threads, which may never end
        return code


def _flush_output() -> None:
    """Flush stdout and stderr now; a reader that went away (``| head``) is not an error, and the
    interpreter's own flush at exit must not report it either."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):
            pass


def _threads_left() -> bool:
    """Whether a non-daemon thread is still running (the interpreter's exit would wait for it)."""
    main_thread = threading.main_thread()
    return any(t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate())
