"""The native SVMLP format: ``annotations/<split>.svmlp.json`` beside ``images/<split>/``.

Each file is a COCO superset described by ``annotations_schema/svmlp.schema.json`` and is
validated against it on read; a COCO reader (pycocotools, FiftyOne) loads it as plain COCO.
"""

from __future__ import annotations

from pathlib import Path

from svmlp import _schemas
from svmlp.formats import _cocoencode
from svmlp.formats._cocojson import json_head
from svmlp.formats._peek import kind_of_json
from svmlp.formats._plugin import RoundTrip, Sniff
from svmlp.formats._schema_check import SCHEMA, validate_document
from svmlp.formats.coco import find_files, read_files
from svmlp.model import Dataset, sort_splits
from svmlp.model.paths import check_destinations
from svmlp.model.strictness import STRICT, Findings

__all__ = [
    "LOOKS_FOR",
    "NAME",
    "PRIORITY",
    "ROUND_TRIP",
    "image_destination",
    "read",
    "schema_path",
    "sniff",
    "validate_document",
    "write",
]

NAME = "svmlp"
#: asked first: its files are COCO files too, and its marker is the strongest sign there is
PRIORITY = 10
LOOKS_FOR = "*.svmlp.json"
#: lossless: coordinates as written (repr), every attribute in the file itself
ROUND_TRIP = RoundTrip(tolerance=0.0)


def schema_path() -> Path:
    """The native annotation schema file."""
    return _schemas.schema_path(SCHEMA)


def sniff(path: Path) -> Sniff | None:
    """A ``.json`` file that says ``"svmlp"`` early on (or is named so), or a folder holding
    ``*.svmlp.json`` files itself or in ``annotations/``."""
    if path.is_file():
        if path.suffix != ".json":
            return None
        head = json_head(path)  # read first: an unreadable file is an error whatever its name
        if path.name.endswith(".svmlp.json"):
            return Sniff("its name ends in .svmlp.json")
        return Sniff('its top-level object has an "svmlp" key') if kind_of_json(head) == "svmlp" else None
    if next(path.glob("*.svmlp.json"), None):
        return Sniff("it holds *.svmlp.json files")
    ann = path / "annotations"
    if ann.is_dir() and next(ann.glob("*.svmlp.json"), None):
        return Sniff("annotations/ holds *.svmlp.json files")
    return None


def read(path: str | Path, *, probe: bool = True, findings: Findings = STRICT) -> Dataset:
    """Read a native file, or every ``*.svmlp.json`` under a folder (or its ``annotations/``)."""
    files = find_files(Path(path), native=True)
    return read_files(files, native=True, probe=probe, given=Path(path), findings=findings)


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``annotations/<split>.svmlp.json`` for every split."""
    splits = sort_splits(ds.images.split.tolist())
    check_destinations(out, [f"annotations/{split}.svmlp.json" for split in splits])
    # every COCO reader joins file_name to its image folder, images/<split>/ here: a split or file
    # name that climbs out is refused too, though this writer joins neither itself
    check_destinations(out, [*(f"images/{split}" for split in splits), *ds.images.file_name.tolist()])
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in splits:
        (out / "annotations" / f"{split}.svmlp.json").write_bytes(_cocoencode.encode(ds, split, native=True))
    return []
