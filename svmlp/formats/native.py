"""The native SVMLP format: ``annotations/<split>.svmlp.json`` beside ``images/<split>/``.

Each file is a COCO superset described by ``annotations_schema/svmlp.schema.json`` and is
validated against it on read; a COCO reader (pycocotools, FiftyOne) loads it as plain COCO.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import msgspec

from svmlp.errors import SchemaError, where
from svmlp.formats import _cocoencode, _cocojson
from svmlp.formats.coco import find_files, read_files
from svmlp.model import Dataset, sort_splits

__all__ = ["NAME", "image_destination", "read", "schema_path", "validate_document", "write"]

NAME = "svmlp"


def schema_path() -> Path:
    """The schema file: packaged beside the code in a wheel, at the repository root in a checkout."""
    here = Path(__file__).resolve().parent.parent
    for cand in (here / "annotations_schema", here.parent / "annotations_schema"):
        if (cand / "svmlp.schema.json").is_file():
            return cand / "svmlp.schema.json"
    raise FileNotFoundError("svmlp.schema.json is missing from this installation of svmlp")


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def validate_document(path: Path, data: bytes) -> _cocojson._File:
    """Parse and validate one native file; raises :class:`SchemaError` citing the JSON path."""
    import jsonschema

    try:
        doc = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where(path, _cocojson._line_of(data, str(exc)))}: {exc}") from None
    error = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if error is not None:
        raise SchemaError(
            f"{where(path, at=_json_path(error.absolute_path))}: {error.message} (schema: svmlp.schema.json)"
        )
    return _cocojson.decode(path, data)


def read(path: str | Path, *, probe: bool = True) -> Dataset:
    """Read a native file, or every ``*.svmlp.json`` under a folder (or its ``annotations/``)."""
    return read_files(find_files(Path(path), native=True), native=True, probe=probe)


def image_destination(split: str, file_name: str) -> str:
    return f"images/{split}/{file_name}"


def write(ds: Dataset, out: Path) -> list[str]:
    """Write ``annotations/<split>.svmlp.json`` for every split."""
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    for split in sort_splits(ds.images.split.tolist()):
        (out / "annotations" / f"{split}.svmlp.json").write_bytes(_cocoencode.encode(ds, split, native=True))
    return []
