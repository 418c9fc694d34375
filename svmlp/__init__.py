"""svmlp: get, trust and train on SVMLP, the small-vehicle multi-licence-plate data set.

>>> import svmlp
>>> ds = svmlp.read("data/sample")  # doctest: +SKIP
>>> svmlp.write(ds, "out", format="yolo")      # doctest: +SKIP

``import svmlp`` stays light: torch, FiftyOne and requests are imported only by the parts that
need them.
"""

from __future__ import annotations

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
from svmlp.formats import FORMATS, WriteReport, convert, detect, read, write
from svmlp.model import BoxTable, Category, Dataset, ImageTable

__version__ = "0.1.0"

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
