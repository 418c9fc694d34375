"""Progress bars for the command line: on a terminal only, never in a library call by default.

The CLI turns them on for a command (:func:`shown`) when stderr is a terminal and neither ``-q``
nor ``--json`` was given; library code marks its long steps with :func:`stage` and stays silent
otherwise. Counts are whole items (images), so a bar reads "412/10000 img".
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["MIN_ITEMS", "bar_class", "shown", "stage"]

_ON: ContextVar[bool] = ContextVar("svmlp_progress", default=False)
#: fewer items than this are done before a bar would be worth drawing
MIN_ITEMS = 200


@contextmanager
def shown(on: bool) -> Iterator[None]:
    """Bars on (or off) for what runs inside, in this thread."""
    token = _ON.set(on)
    try:
        yield
    finally:
        _ON.reset(token)


@functools.cache
def bar_class() -> Any:
    """tqdm, without its monitor thread: that thread would outlive the bar, and svmlp does not
    fork beside another thread (:mod:`svmlp._fork`). The monitor only retunes redraws of slow bars."""
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[type-arg, misc]
        monitor_interval = 0

    return Bar


def _nothing(n: int = 1) -> None:
    return None


@contextmanager
def stage(what: str, total: int, unit: str = "img") -> Iterator[Callable[[int], None]]:
    """A bar for ``total`` items of ``what``; yields the function that advances it by ``n``."""
    if not _ON.get() or total < MIN_ITEMS:
        yield _nothing
        return
    bar = bar_class()(total=int(total), desc=what, unit=unit, leave=False, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()
