"""Moved to :mod:`svmlp.release.download`; this name stays so that old imports keep working."""

from __future__ import annotations

import warnings

from svmlp.release.download import *  # noqa: F403
from svmlp.release.download import __all__  # noqa: F401

warnings.warn(
    "svmlp.download moved to svmlp.release.download; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
