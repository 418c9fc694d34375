"""YOLO oriented boxes (ultralytics OBB): the YOLO layout with ``class x1 y1 x2 y2 x3 y3 x4 y4`` rows.

The four corners of each box, normalised by the image size (ultralytics' ``*-obb`` models read
these rows; ``data.yaml`` is the same as YOLO's). A box with ``corners`` (a plate's
quadrilateral) is written as them, clipped to the image; any other box as the four corners of
its box. Reading is YOLO's (:mod:`svmlp.formats.yolo`): a four-point row keeps its points as the
box's ``corners``, its enclosing box as ``xyxy``; where a plate's box is not its corners' bounds,
the sidecar keeps it.

Detection: a plain YOLO folder is ``yolo``, and so is an oriented one written by another tool
(the YOLO reader keeps its corners all the same); ``yolo-obb`` claims, just before ``yolo`` is
asked, only a folder whose ``svmlp.sidecar.json`` says it was written as ``yolo-obb``.
"""

from __future__ import annotations

from pathlib import Path

from svmlp.formats import yolo
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._yolo_side import sidecar_format
from svmlp.model import Dataset
from svmlp.model.strictness import STRICT, Findings

__all__ = ["LOOKS_FOR", "NAME", "PRIORITY", "ROUND_TRIP", "image_destination", "read", "sniff", "write"]

NAME = "yolo-obb"
#: just before ``yolo`` (30): the two share a layout, and this one claims only its own output
PRIORITY = 29
LOOKS_FOR = "svmlp's yolo-obb sidecar"
#: as YOLO: 10 significant digits, corners clipped to the image (the sidecar keeps them exact)
ROUND_TRIP = RoundTrip(tolerance=1e-6, clamps=True)


def sniff(path: Path) -> Sniff | None:
    """A YOLO layout (a folder, or its ``data.yaml``) whose sidecar was written as ``yolo-obb``."""
    folder = path.parent if path.is_file() else path
    if yolo.sniff(path) is None or sidecar_format(folder) != NAME:
        return None
    return Sniff(
        f"its {'folder' if path.is_file() else 'YOLO layout'} holds a svmlp.sidecar.json written as {NAME}"
    )


def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read the YOLO layout at ``path`` (see :func:`svmlp.formats.yolo.read`): every row kind,
    oriented rows keeping their corners."""
    return yolo.read(path, probe=probe, findings=findings)


def image_destination(split: str, file_name: str) -> str:
    return yolo.image_destination(split, file_name)


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``data.yaml``, oriented-box label files, empty image folders and the sidecar."""
    return yolo.write_rows(ds, out, fmt=NAME, oriented=True)
