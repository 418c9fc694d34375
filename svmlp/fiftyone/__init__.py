"""FiftyOne: look at a data set, its links and an audit's findings (extra: ``svmlp[fiftyone]``).

>>> from svmlp.fiftyone import to_fiftyone, from_fiftyone          # doctest: +SKIP
>>> fo_ds = to_fiftyone(svmlp.read("data/"), name="svmlp-train")     # doctest: +SKIP
>>> dataset2 = from_fiftyone(fo_ds.match_tags("reviewed"))           # doctest: +SKIP

The database set-up for machines without internet access is ``scripts/fiftyone_dbsetup.py`` in
svmlp's source tree (not in the wheel: it changes other packages' installed files).
"""

from __future__ import annotations

from svmlp.fiftyone._db import DatabaseError
from svmlp.fiftyone.export import to_fiftyone
from svmlp.fiftyone.imports import from_fiftyone

__all__ = ["DatabaseError", "from_fiftyone", "to_fiftyone"]
