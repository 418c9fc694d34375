"""The native SVMLP format: ``annotations/<split>.svmlp.json`` beside ``images/<split>/``.

Each file is a COCO superset described by ``annotations_schema/svmlp.schema.json`` and is
validated against it on read; a COCO reader (pycocotools, FiftyOne) loads it as plain COCO.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from svmlp import _schemas
from svmlp.errors import SchemaError, where
from svmlp.formats import _cocoencode, _cocojson
from svmlp.formats._lenient import complain
from svmlp.formats.coco import find_files, read_files
from svmlp.model import Dataset, sort_splits
from svmlp.model.paths import check_destinations

__all__ = ["NAME", "image_destination", "read", "schema_path", "validate_document", "write"]

NAME = "svmlp"
SCHEMA = "svmlp.schema.json"


def schema_path() -> Path:
    """The native annotation schema file."""
    return _schemas.schema_path(SCHEMA)


def validate_document(path: Path, data: bytes) -> _cocojson._File:
    """Parse and validate one native file; raises :class:`SchemaError` citing the JSON path."""
    try:
        doc = msgspec.json.decode(data)
        error = _schemas.validation_error(SCHEMA, doc)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where(path, _cocojson._line_of(data, str(exc)))}: {exc}") from None
    except RecursionError:
        raise SchemaError(f"{path}: JSON nested too deeply to be a data set") from None
    if error is not None:
        complain("schema", f"{where(path, at=error[0])}: {error[1]} (schema: {SCHEMA})", error=SchemaError)
    return _cocojson.decode(path, data)


def read(path: str | Path, *, probe: bool = True) -> Dataset:
    """Read a native file, or every ``*.svmlp.json`` under a folder (or its ``annotations/``)."""
    return read_files(find_files(Path(path), native=True), native=True, probe=probe, given=Path(path))


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``annotations/<split>.svmlp.json`` for every split."""
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    splits = sort_splits(ds.images.split.tolist())
    check_destinations(out, [f"annotations/{split}.svmlp.json" for split in splits])
    for split in splits:
        (out / "annotations" / f"{split}.svmlp.json").write_bytes(_cocoencode.encode(ds, split, native=True))
    return []
