"""A thread pool map that stops at once when interrupted.

``ThreadPoolExecutor.map`` inside ``with`` waits, on Ctrl-C, for every queued item to run (a
convert of 100 000 images would go on copying them all, and a second Ctrl-C is swallowed by the
join). :func:`map_threads` cancels what has not started and waits only for the few items running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from svmlp._progress import stage

__all__ = ["map_threads"]

T = TypeVar("T")
R = TypeVar("R")


def map_threads(
    fn: Callable[[T], R], items: Iterable[T], *, threads: int, progress: str | None = None
) -> list[R]:
    """``[fn(x) for x in items]`` on ``threads`` threads, in order; the first exception (or an
    interrupt in the calling thread) cancels the rest and is raised once the running items end.
    ``progress`` names the step for a bar (:mod:`svmlp._progress`: on a terminal only)."""
    items = list(items)
    with stage(progress or "", len(items) if progress else 0) as tick:
        if threads <= 1 or len(items) <= 1:
            out = []
            for x in items:
                out.append(fn(x))
                tick(1)
            return out
        return _pooled(fn, items, threads, tick)


def _pooled(fn: Callable[[T], R], items: list[T], threads: int, tick: Callable[[int], None]) -> list[R]:
    pool = ThreadPoolExecutor(threads)
    try:
        out = []
        for r in pool.map(fn, items):
            out.append(r)
            tick(1)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out
