"""Import heavy optional dependencies on demand, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from svmlp.errors import ExtraRequiredError

__all__ = ["require"]


def require(module: str, *, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`ExtraRequiredError` naming ``pip install svmlp[extra]``.

    >>> require("json", extra="core").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ExtraRequiredError(
            f"{top} is not installed; this feature needs it: pip install 'svmlp[{extra}]'"
        ) from exc
