"""Moved to :mod:`svmlp.release.manifest`; this name stays so that old imports keep working."""

from __future__ import annotations

import warnings

from svmlp.release.manifest import *  # noqa: F403
from svmlp.release.manifest import __all__  # noqa: F401

warnings.warn(
    "svmlp.manifest moved to svmlp.release.manifest; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
