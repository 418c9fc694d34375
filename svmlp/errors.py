"""Errors raised by svmlp.

Every error a user can cause with bad input is an :class:`SvmlpError`. The subclasses also
inherit the builtin exception they refine, so ``except ValueError`` keeps working for callers
that do not know svmlp. A message names what was checked, where (file and line, JSON path or
annotation id), what was expected and what was found, and how to fix it.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "AnnotationError",
    "ArchiveError",
    "ChecksumError",
    "DownloadError",
    "ExtraRequiredError",
    "ImageError",
    "ManifestError",
    "OutputExistsError",
    "SchemaError",
    "SvmlpError",
    "UsageError",
    "where",
]


class SvmlpError(Exception):
    """Base class of every error svmlp raises on purpose. Its message is always one line."""

    def __init__(self, message: str = "", *args: object) -> None:
        message = str(message)
        #: the traceback of the DataLoader worker (or torch thread) that raised this error, if any
        self.worker_traceback: str | None = None
        original = _worker_original(message, type(self))
        if original is not None:
            self.worker_traceback, message = message, original
        # messages quote parser errors and file content; keep them to the one line the CLI prints,
        # and show a control character left in a name (an escape sequence) instead of sending it
        # to the terminal
        super().__init__(_UNPRINTABLE.sub(_escaped, " ".join(message.split())), *args)


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _escaped(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


def _worker_original(message: str, cls: type[BaseException]) -> str | None:
    r"""The original message inside the one torch builds to re-raise a DataLoader worker's error.

    A worker's exception reaches the main process as its type and its formatted traceback only:
    ``torch._utils.ExceptionWrapper.reraise`` calls ``cls("Caught ImageError in DataLoader worker
    process 0.\nOriginal Traceback (most recent call last):\n  File ...\nsvmlp.errors.ImageError:
    /x/a.jpg: image file not found\n")``. Collapsed to one line, that would paste the worker's
    whole traceback into the message the user sees; the user should see what the worker said.
    The original is found by the line traceback formats for the exception itself (``module.Class:
    message``, after any chained exceptions, so the last such line), not by splitting at ``": "``,
    which a message may hold. None when ``message`` is not in torch's form.
    """
    first, sep, rest = message.partition("\n")
    if not (
        sep
        and first.startswith(f"Caught {cls.__name__} ")
        and first.endswith(".")
        and rest.startswith("Original Traceback (most recent call last):\n")
    ):
        return None
    name = cls.__qualname__
    if cls.__module__ not in ("__main__", "builtins"):
        name = f"{cls.__module__}.{name}"
    at = rest.rfind(f"\n{name}: ")
    if at >= 0:
        return rest[at + len(name) + 3 :]  # the message, with any lines it (or a note) ran on to
    return "" if rest.rstrip("\n").endswith(f"\n{name}") else None  # raised with no message


class AnnotationError(SvmlpError, ValueError):
    """An annotation file is malformed or contradicts itself."""


class SchemaError(AnnotationError):
    """A native SVMLP annotation file does not validate against its JSON Schema."""


class ImageError(SvmlpError, OSError):
    """An image is missing, unreadable, or not an image."""


class OutputExistsError(SvmlpError, FileExistsError):
    """An output folder is not empty and overwriting was not asked for."""


class UsageError(SvmlpError, ValueError):
    """Options that cannot work together, or a value out of range."""


class ChecksumError(SvmlpError, ValueError):
    """A file's size or sha256 differs from what its manifest declares."""


class DownloadError(SvmlpError, OSError):
    """A download failed on every mirror."""


class ManifestError(SvmlpError, ValueError):
    """A release manifest is malformed, fails its schema, or names no release."""


class ArchiveError(SvmlpError, ValueError):
    """An archive is malformed or hostile (paths escaping the folder, links, devices, a bomb)."""


class ExtraRequiredError(SvmlpError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


def where(path: str | os.PathLike[str], line: int | None = None, *, at: str | None = None) -> str:
    """Format a location for a message: ``file``, ``file:line`` or ``file at $.json.path``."""
    text = os.fspath(path)
    if line is not None:
        text = f"{text}:{line}"
    if at:
        text = f"{text} at {at}"
    return text
