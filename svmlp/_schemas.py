"""The JSON Schemas in ``annotations_schema/``: found, loaded once, and their errors as one line."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

__all__ = ["json_path", "schema_path", "validation_error", "validator"]


def schema_path(name: str) -> Path:
    """A schema file: packaged beside the code in a wheel, at the repository root in a checkout."""
    here = Path(__file__).resolve().parent
    for cand in (here / "annotations_schema", here.parent / "annotations_schema"):
        if (cand / name).is_file():
            return cand / name
    raise FileNotFoundError(f"{name} is missing from this installation of svmlp")


@functools.cache
def validator(name: str) -> Any:
    """A checked validator for the schema ``name`` (jsonschema, imported on first use)."""
    import jsonschema

    schema = json.loads(schema_path(name).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def json_path(parts: Any) -> str:
    """``$.annotations[3].bbox`` from a jsonschema error's path."""
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def validation_error(name: str, doc: Any) -> tuple[str, str] | None:
    """(JSON path, message) of the most relevant violation of schema ``name``, or None if valid."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator(name).iter_errors(doc))
    return None if error is None else (json_path(error.absolute_path), error.message)
