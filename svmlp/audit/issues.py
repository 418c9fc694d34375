"""What an audit finds: uniform issue records, and the report that holds them.

Each check yields :class:`Issue` records: the image and box it is about (rows into the audited
data set; −1 when it is about a whole image or the whole data set), the check's name, a severity,
a score in [0, 1] where the check can rank its findings (1 = surely wrong), and a one-line message
naming the file and the box. Scores stay apart from decisions: the severity comes from the check's
configuration, the score from the data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svmlp.model import Dataset

__all__ = ["SEVERITIES", "AuditReport", "Issue"]

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


@dataclass
class AuditReport:
    """Everything an audit found in ``dataset`` (rows in the issues refer to it)."""

    dataset: Dataset
    source: str
    issues: list[Issue] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # the checks that ran, in order
    thresholds: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the audit could not do, and why

    def counts(self) -> dict[str, dict[str, int]]:
        """Issues per check and severity."""
        out: dict[str, dict[str, int]] = {}
        for (check, severity), n in Counter((i.check, i.severity) for i in self.issues).items():
            out.setdefault(check, {})[severity] = n
        return out

    def severity_counts(self) -> dict[str, int]:
        c = Counter(i.severity for i in self.issues)
        return {s: c.get(s, 0) for s in SEVERITIES}

    def exit_code(self, fail_on: str = "error") -> int:
        """0 when nothing at or above ``fail_on`` was found, else 1."""
        worst = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
        return 1 if any(i.severity in worst for i in self.issues) else 0

    def where(self, issue: Issue) -> str:
        """``split/file_name`` (and ``box id N (class)``) of an issue, for summaries and reports."""
        if issue.image < 0:
            return "(data set)"
        ds = self.dataset
        text = f"{ds.images.split[issue.image]}/{ds.images.file_name[issue.image]}"
        if issue.box < 0:
            return text
        category = ds.categories[int(ds.boxes.category[issue.box])].name
        return f"{text} box id {int(ds.boxes.id[issue.box])} ({category})"

    def image_path(self, issue: Issue) -> Path | None:
        return None if issue.image < 0 else self.dataset.image_path(issue.image)
