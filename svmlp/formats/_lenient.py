"""Strict reading (the default) raises on the first broken thing; lenient reading records it.

``svmlp audit`` reads leniently, so that duplicate ids, impossible boxes or label files without
images become findings in its report instead of stopping it. Readers call :func:`complain` where
a problem leaves the rest of the file readable.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from svmlp.errors import AnnotationError

__all__ = ["complain", "is_strict", "lenient"]

_FOUND: ContextVar[list[tuple[str, str]] | None] = ContextVar("svmlp_lenient", default=None)


def is_strict() -> bool:
    return _FOUND.get() is None


def complain(check: str, message: str, *, error: type[AnnotationError] = AnnotationError) -> None:
    """Raise ``error`` when reading strictly; otherwise record (check, message)."""
    found = _FOUND.get()
    if found is None:
        raise error(message)
    found.append((check, " ".join(message.split())))


@contextlib.contextmanager
def lenient() -> Iterator[list[tuple[str, str]]]:
    """Read leniently inside the block; yields the list the complaints go to."""
    found: list[tuple[str, str]] = []
    token = _FOUND.set(found)
    try:
        yield found
    finally:
        _FOUND.reset(token)
