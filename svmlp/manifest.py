"""Moved to :mod:`svmlp.release.manifest`; this name stays so that old imports keep working."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

warnings.warn(
    "svmlp.manifest moved to svmlp.release.manifest; import it from there",
    DeprecationWarning,
    stacklevel=2,
)

_NEW = importlib.import_module("svmlp.release.manifest")
__all__ = list(_NEW.__all__)


def __getattr__(name: str) -> Any:  # every name of the new module, constants included
    return getattr(_NEW, name)


def __dir__() -> list[str]:
    return sorted(set(dir(_NEW)) | set(globals()))
