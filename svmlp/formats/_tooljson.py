"""Decoding the JSON of Label Studio and LabelMe files: bounded reads, typed shapes, one-line errors.

Both tools write JSON that svmlp reads through :mod:`msgspec` structs, so a value of the wrong
type is reported with its JSON path (``$[0].annotations[0].result[2].value.x``), never deep in
a traceback; JSON nested past any sense, invalid UTF-8 or a file too large is one line too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from svmlp.errors import AnnotationError, where
from svmlp.formats._cocojson import _line_of
from svmlp.formats._layout import read_bytes

__all__ = ["JSON_LIMIT", "decode_json", "finite"]

#: the most one annotation file may hold
JSON_LIMIT = 1 << 30

T = TypeVar("T")


def decode_json(path: Path, kind: type[T], *, what: str, limit: int = JSON_LIMIT) -> T:
    """``path`` decoded as ``kind``, or an :class:`AnnotationError` naming the file and the JSON path."""
    data = read_bytes(path, limit=limit, what=what)
    try:
        return msgspec.json.decode(data, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        at = text.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in text else None
        raise AnnotationError(f"{where(path, at=at)}: {text.split(' - at `')[0]} ({what})") from None
    except msgspec.DecodeError as exc:
        text = str(exc)
        raise AnnotationError(f"{where(path, _line_of(data, text))}: {text} ({what})") from None
    except RecursionError:
        raise AnnotationError(f"{path}: JSON nested too deeply to be a {what}") from None


def finite(values: list[float], path: Path, at: str) -> list[float]:
    """``values`` when every one is a finite number, else an :class:`AnnotationError` at ``at``."""
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= 2.0**31 for v in values):
        raise AnnotationError(f"{where(path, at=at)}: coordinates must be finite numbers within ±2^31")
    return values


def as_str(value: Any) -> str | None:
    """A JSON id (a string or a number) as a string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (str, int)):
        return str(value)
    return None
