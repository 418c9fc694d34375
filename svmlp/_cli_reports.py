"""Reports the command line writes (``--json-out``, ``audit --html``): never over or
inside what the command read, and whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["guard_report", "inputs_of", "write_text"]


def write_text(path: Path, text: str) -> None:
    """Whole or not at all: a temporary file beside it, renamed (removed if anything fails)."""
    from svmlp._files import write_atomic

    write_atomic(path, text.encode("utf-8"))


def inputs_of(*files: Path | None) -> Any:
    """The files among ``files`` (None left out) as :class:`~svmlp.model.Inputs`."""
    from svmlp.model import Inputs

    return Inputs.of(files=[f for f in files if f is not None])


def guard_report(flag: str, path: Path | None, read: Any) -> None:
    """A report may not replace, or land inside, anything the command read."""
    if path is None:
        return
    from svmlp.errors import UsageError

    conflict = read.report_conflict(path)
    if conflict is not None:
        raise UsageError(
            f"{flag} {path}: {conflict}; write it outside the data set (svmlp never writes into what it reads)"
        )
