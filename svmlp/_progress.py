"""Progress bars for the command line: on a terminal only, never in a library call by default.

The CLI turns them on for a command (:func:`shown`) when stderr is a terminal and neither ``-q``
nor ``--json`` was given; library code marks its long steps with :func:`stage` and stays silent
otherwise. Counts are whole items (images), so a bar reads "412/10000 img".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["MIN_ITEMS", "shown", "stage"]

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


def _nothing(n: int = 1) -> None:
    return None


@contextmanager
def stage(what: str, total: int, unit: str = "img") -> Iterator[Callable[[int], None]]:
    """A bar for ``total`` items of ``what``; yields the function that advances it by ``n``."""
    if not _ON.get() or total < MIN_ITEMS:
        yield _nothing
        return
    from tqdm import tqdm

    bar = tqdm(total=int(total), desc=what, unit=unit, leave=False, dynamic_ncols=True)
    try:
        yield bar.update
    finally:
        bar.close()
