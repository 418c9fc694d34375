"""What an audit finds: uniform issue records (the report that holds them is in :mod:`svmlp.audit.report`).

Each check yields :class:`Issue` records: the image and box it is about (rows into the audited
data set; −1 when it is about a whole image or the whole data set), the check's name, a severity,
a score in [0, 1] where the check can rank its findings (1 = surely wrong), and a one-line message
naming the file and the box. Scores stay apart from decisions: the severity comes from the check's
configuration, the score from the data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SEVERITIES", "Issue"]

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Issue:
    check: str
    severity: str
    image: int  # row into the data set's images, or -1 for the whole data set
    box: int  # row into its boxes, or -1 for the whole image
    message: str
    score: float | None = None  # how sure, in [0, 1]; None where the check cannot rank
    related: tuple[int, ...] = ()  # other box rows involved (the duplicate, the vehicle, ...)
    other_image: int = -1  # another image involved (the same picture in another split)
    bbox: tuple[float, float, float, float] | None = None  # xyxy of a box not in the data (a missed one)
