"""The native file's schema check, shared by the native format and the COCO-style reader.

It lives apart from both so that :mod:`svmlp.formats.coco` (which reads native files as the
COCO superset they are) and :mod:`svmlp.formats.native` (which finds them) need not import each
other.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from svmlp import _schemas
from svmlp.errors import SchemaError, where
from svmlp.formats import _cocojson, _native_fast
from svmlp.model.strictness import STRICT, Findings

__all__ = ["SCHEMA", "schema_error", "validate_document"]

#: the schema every native file is checked against, in ``annotations_schema/``
SCHEMA = "svmlp.schema.json"


def validate_document(
    path: Path, data: bytes, *, findings: Findings = STRICT, full: bool = False
) -> _cocojson._File | _cocojson._FileRaw:
    """Parse and validate one native file; a schema violation is a :class:`SchemaError` citing the
    JSON path (recorded in ``findings`` when reading leniently: the rest of the file still reads).

    The typed decode of :mod:`svmlp.formats._native_fast` is the check (jsonschema over a large file
    takes seconds); jsonschema runs when that decode refuses the document, to decide and word the
    error, or always with ``full`` (``svmlp verify``).

    >>> from svmlp.model.strictness import Findings
    >>> lenient = Findings(strict=False)
    >>> validate_document(Path("a.svmlp.json"), b'{"images": []}', findings=lenient).images
    []
    >>> lenient.found
    [('schema', "a.svmlp.json at $: 'svmlp' is a required property (schema: svmlp.schema.json)")]
    """
    if not full and (fast := _native_fast.decode(data)) is not None:
        return fast
    try:
        doc = msgspec.json.decode(data)
        error = _schemas.validation_error(SCHEMA, doc)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where(path, _cocojson._line_of(data, str(exc)))}: {exc}") from None
    except RecursionError:
        raise SchemaError(f"{path}: JSON nested too deeply to be a data set") from None
    if error is not None:
        findings.complain(
            "schema", f"{where(path, at=error[0])}: {error[1]} (schema: {SCHEMA})", error=SchemaError
        )
    return _cocojson.decode(path, data)


def schema_error(path: Path) -> str | None:
    """What the published schema says is wrong with the native file ``path`` (jsonschema, in
    full), or None."""
    from svmlp.formats._layout import read_bytes

    data = read_bytes(path, what="native annotation file")
    try:
        error = _schemas.validation_error(SCHEMA, msgspec.json.decode(data))
    except (msgspec.DecodeError, RecursionError) as exc:
        return f"not JSON ({str(exc)[:120]})"
    return None if error is None else f"at {error[0]}: {error[1]} (schema: {SCHEMA})"
