"""Errors raised by svmlp.

Every error a user can cause with bad input is an :class:`SvmlpError`. The subclasses also
inherit the builtin exception they refine, so ``except ValueError`` keeps working for callers
that do not know svmlp. A message names what was checked, where (file and line, JSON path or
annotation id), what was expected and what was found, and how to fix it.
"""

from __future__ import annotations

import os

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
        # messages quote parser errors and file content; keep them to the one line the CLI prints
        super().__init__(" ".join(str(message).split()), *args)


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
