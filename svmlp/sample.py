"""Moved to :mod:`svmlp.release.sample`; this name stays so that old imports keep working."""

from __future__ import annotations

import warnings

from svmlp.release.sample import *  # noqa: F403
from svmlp.release.sample import __all__  # noqa: F401

warnings.warn(
    "svmlp.sample moved to svmlp.release.sample; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
