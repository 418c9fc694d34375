"""Moved to :mod:`svmlp.release.verification`; this name stays so that old imports keep working."""

from __future__ import annotations

import warnings

from svmlp.release.verification import *  # noqa: F403
from svmlp.release.verification import __all__  # noqa: F401

warnings.warn(
    "svmlp.verify moved to svmlp.release.verification; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
