"""Strict or lenient reading, as an argument: raise on the first broken thing, or record it.

``svmlp audit`` reads leniently, so that duplicate ids, impossible boxes or label files without
images become findings in its report instead of stopping it. A reader takes a :class:`Findings`
and hands it to every helper that may complain and to the :class:`~svmlp.model.Dataset` it
builds; nothing is read from global state, so two reads in one process (or thread) never see
each other's mode.
"""

from __future__ import annotations

from svmlp.errors import AnnotationError

__all__ = ["STRICT", "Findings"]


class Findings:
    """Where a reader's complaints go: raised at once (``strict``) or kept in :attr:`found`.

    >>> lenient = Findings(strict=False)
    >>> lenient.complain("duplicate_id", "a.json: image id 3 appears twice")
    >>> lenient.found
    [('duplicate_id', 'a.json: image id 3 appears twice')]
    >>> STRICT.complain("duplicate_id", "a.json: image id 3 appears twice")
    Traceback (most recent call last):
    ...
    svmlp.errors.AnnotationError: a.json: image id 3 appears twice
    """

    __slots__ = ("_strict", "found")

    def __init__(self, *, strict: bool = True) -> None:
        self._strict = strict
        #: (check, message) of every complaint read past, in the order they came
        self.found: list[tuple[str, str]] = []

    @property
    def strict(self) -> bool:
        """Whether a complaint raises (read-only: :data:`STRICT` is shared by every reader)."""
        return self._strict

    def __repr__(self) -> str:
        return f"Findings(strict={self.strict}, found={len(self.found)})"

    def complain(self, check: str, message: str, *, error: type[AnnotationError] = AnnotationError) -> None:
        """Raise ``error(message)`` when strict; otherwise record (check, message) on one line."""
        if self._strict:
            raise error(message)
        self.found.append((check, " ".join(message.split())))


#: the default of every reader: raise on the first complaint (it never records, so one is shared)
STRICT = Findings(strict=True)
