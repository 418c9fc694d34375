"""The label map: category id ↔ contiguous training index ↔ name, fixed for a run.

A detector learns indices 0..K-1; the data keeps its own category ids. The map is built once from
the data set's categories (all splits together, so train, val and test agree), saved with a run
and loaded to read another split or release the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from svmlp._files import read_file, write_atomic
from svmlp.errors import UsageError
from svmlp.model import Category, Dataset

__all__ = ["LabelMap"]

_FORMAT = "svmlp-label-map/1"
#: bytes a label map file may have (a class takes well under 200 bytes of it)
MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class LabelMap:
    """Training index ``k`` is category ``ids[k]`` named ``names[k]`` with role ``roles[k]``.

    >>> from svmlp.model import Category
    >>> lm = LabelMap.from_categories([Category(7, "plate", role="child"), Category(3, "car", role="parent")])
    >>> lm.names, lm.index_of_id(7)
    (('car', 'plate'), 1)
    """

    ids: tuple[int, ...]
    names: tuple[str, ...]
    roles: tuple[str | None, ...]

    def __post_init__(self) -> None:
        if not (len(self.ids) == len(self.names) == len(self.roles)):
            raise UsageError("label map: ids, names and roles differ in length")
        for what, seq in (("id", self.ids), ("name", self.names)):
            seen = set()
            for v in seq:
                if v in seen:
                    raise UsageError(f"label map: {what} {v!r} appears twice")
                seen.add(v)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_categories(
        cls, categories: Iterable[Category], *, classes: Sequence[str] | None = None
    ) -> LabelMap:
        """Indices in order of category id; ``classes`` keeps only those names, in that order."""
        cats = sorted(categories, key=lambda c: c.id)
        if classes is not None:
            by_name = {c.name: c for c in cats}
            missing = [n for n in classes if n not in by_name]
            if missing:
                have = ", ".join(sorted(by_name))
                raise UsageError(f"classes {missing} are not in the data set (its classes: {have})")
            cats = [by_name[n] for n in classes]
        return cls(tuple(c.id for c in cats), tuple(c.name for c in cats), tuple(c.role for c in cats))

    @classmethod
    def from_dataset(cls, ds: Dataset, *, classes: Sequence[str] | None = None) -> LabelMap:
        return cls.from_categories(ds.categories, classes=classes)

    def index_of_id(self, category_id: int) -> int:
        try:
            return self.ids.index(int(category_id))
        except ValueError:
            raise UsageError(f"category id {category_id} is not in the label map {list(self.ids)}") from None

    def parent_indices(self) -> tuple[int, ...]:
        """Training indices of the vehicle classes (role ``parent``)."""
        return tuple(k for k, r in enumerate(self.roles) if r == "parent")

    def child_indices(self) -> tuple[int, ...]:
        """Training indices of the plate classes (role ``child``)."""
        return tuple(k for k, r in enumerate(self.roles) if r == "child")

    def lookup(self, ds: Dataset) -> np.ndarray:
        """Per category row of ``ds``, its training index (−1 for a class the map leaves out).

        A class the map names must have the same id in ``ds``: a map saved with a run reads another
        split or release only if their categories agree, else :class:`UsageError` says which differs.
        """
        out = np.full(len(ds.categories) + 1, -1, dtype=np.int64)  # the extra slot serves row −1
        known = {name: (k, cid) for k, (cid, name) in enumerate(zip(self.ids, self.names, strict=True))}
        for row, c in enumerate(ds.categories):
            if c.name in known:
                k, cid = known[c.name]
                if cid != c.id:
                    raise UsageError(
                        f"class {c.name!r} has id {c.id} in the data set but {cid} in the label map"
                    )
                out[row] = k
            elif c.id in self.ids:
                other = self.names[self.ids.index(c.id)]
                raise UsageError(
                    f"category id {c.id} is {c.name!r} in the data set but {other!r} in the label map"
                )
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "format": _FORMAT,
            "classes": [
                {"index": k, "id": i, "name": n, "role": r}
                for k, (i, n, r) in enumerate(zip(self.ids, self.names, self.roles, strict=True))
            ],
        }

    @classmethod
    def from_dict(cls, doc: object, *, source: str = "label map") -> LabelMap:
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise UsageError(f'{source}: not a label map (no "format": "{_FORMAT}")')
        try:
            rows = sorted(doc["classes"], key=lambda r: r["index"])
            ids = tuple(int(r["id"]) for r in rows)
            names = tuple(str(r["name"]) for r in rows)
            roles = tuple(r.get("role") for r in rows)
            indices = [r["index"] for r in rows]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: not a label map ({type(exc).__name__}: {exc})") from None
        if indices != list(range(len(rows))):
            raise UsageError(f"{source}: the class indices are {indices}, not 0..{len(rows) - 1}")
        return cls(ids, names, roles)

    def save(self, path: str | os.PathLike[str]) -> None:
        write_atomic(path, (json.dumps(self.to_dict(), indent=1) + "\n").encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LabelMap:
        # a regular file only, read to its size and no further than MAX_BYTES: a FIFO would block
        # and /dev/zero never end
        data = read_file(path, limit=MAX_BYTES, error=UsageError, what="label map")
        try:
            doc = json.loads(data.decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested past the stack
            raise UsageError(f"{path}: cannot read the label map ({type(exc).__name__}: {exc})") from None
        return cls.from_dict(doc, source=os.fspath(path))
