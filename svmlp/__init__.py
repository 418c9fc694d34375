"""svmlp: get, trust and train on SVMLP, the small-vehicle multi-licence-plate data set.

>>> import svmlp
>>> ds = svmlp.read("data/sample")  # doctest: +SKIP
>>> svmlp.write(ds, "out", format="yolo")      # doctest: +SKIP

``import svmlp`` stays light: torch, FiftyOne and requests are imported only by the parts that
need them, and numpy and the format modules on first use of the names that need them (so that
``svmlp.cli`` can set its signal handlers before anything slow is imported).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from svmlp.errors import (
    AnnotationError,
    ArchiveError,
    ChecksumError,
    DownloadError,
    ExtraRequiredError,
    ImageError,
    ManifestError,
    OutputExistsError,
    SchemaError,
    SvmlpError,
    UsageError,
)

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from svmlp.formats import FORMATS, WriteReport, convert, detect, read, write
    from svmlp.model import BoxTable, Category, Dataset, ImageTable

from svmlp._version import __version__

__all__ = [
    "FORMATS",
    "AnnotationError",
    "ArchiveError",
    "BoxTable",
    "Category",
    "ChecksumError",
    "Dataset",
    "DownloadError",
    "ExtraRequiredError",
    "ImageError",
    "ImageTable",
    "ManifestError",
    "OutputExistsError",
    "SchemaError",
    "SvmlpError",
    "UsageError",
    "WriteReport",
    "__version__",
    "convert",
    "detect",
    "read",
    "write",
]

#: Public names imported on first use (PEP 562), and the module each comes from.
_LAZY = {
    **dict.fromkeys(("FORMATS", "WriteReport", "convert", "detect", "read", "write"), "svmlp.formats"),
    **dict.fromkeys(("BoxTable", "Category", "Dataset", "ImageTable"), "svmlp.model"),
}

if not TYPE_CHECKING:  # hidden from type checkers, so that they still flag a misspelt svmlp.name

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'svmlp' has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later look-ups skip this function
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
