"""``svmlp view``: build the FiftyOne data set and serve the FiftyOne App until Ctrl-C."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from svmlp.errors import SvmlpError
from svmlp.fiftyone._db import connect
from svmlp.fiftyone.export import to_fiftyone
from svmlp.model import Dataset

__all__ = ["AppError", "view"]


class AppError(SvmlpError, OSError):
    """The FiftyOne App could not be started."""


def view(
    dataset: Dataset,
    *,
    audit: Any = None,
    predictions: Any = None,
    name: str | None = None,
    port: int = 5151,
    address: str | None = None,
    remote: bool = False,
    keep: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Serve ``dataset`` in the FiftyOne App and block until Ctrl-C; return the exit code.

    Without ``remote`` the App also opens in this machine's browser. The FiftyOne data set is
    named ``name`` (default ``svmlp-<folder>``), replaced when it exists, and deleted when the App
    stops unless ``keep``.
    """
    fo = connect()
    if name is None:
        name = f"svmlp-{dataset.source.name if dataset.source is not None else 'dataset'}"
    fo_ds = to_fiftyone(
        dataset, name=name, audit=audit, predictions=predictions, overwrite=True, persistent=keep
    )
    for note in fo_ds.info.get("svmlp", {}).get("notes", []):
        say(f"note: {note}")
    try:
        session = fo.launch_app(fo_ds, port=port, address=address, remote=remote, auto=False)
    except Exception as exc:  # noqa: BLE001 - FiftyOne's server start raises assorted types
        if not keep:
            fo_ds.delete()
        raise AppError(
            f"cannot start the FiftyOne App on port {port}: {' '.join(str(exc).split())}"
        ) from None
    host = address or "localhost"
    boxes = fo_ds.count(f"{fo_ds.info['svmlp']['label_field']}.detections")
    say(
        f"FiftyOne App: http://{host}:{port}/ (data set {name!r}, {len(fo_ds)} samples, "
        f"{boxes} boxes); Ctrl-C stops it"
    )
    if not remote:
        session.open()
    sys.stdout.flush()
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()
        if not keep:
            fo_ds.delete()
    say("stopped")
    return 0
