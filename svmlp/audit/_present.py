"""How every report presents issues: their order, their colours and the one-line header.

Shared by the text/JSON reports (:mod:`svmlp.audit.report`) and the HTML page
(:mod:`svmlp.audit.html`), so that both rank the same issues the same way.

>>> rank("error") < rank("warning") < rank("info") < rank("unknown")
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from svmlp.audit.issues import SEVERITIES, Issue

if TYPE_CHECKING:
    from svmlp.audit.report import AuditReport

__all__ = [
    "COLOURS",
    "GREY",
    "count_rows",
    "header",
    "location",
    "rank",
    "score_key",
    "sorted_issues",
    "worst_first",
]

_RANK = {s: k for k, s in enumerate(SEVERITIES)}

#: box colours per severity (RGB) in thumbnails; the page's CSS uses the same
COLOURS = {"error": (220, 38, 38), "warning": (234, 140, 0), "info": (37, 99, 235)}
GREY = (128, 128, 128)


# -- ordering -------------------------------------------------------------------------------------


def rank(severity: str) -> int:
    return _RANK.get(severity, len(SEVERITIES))  # an unknown severity sorts last rather than failing


def score_key(issue: Issue) -> float:
    """For sorting: higher is worse; unscored (or NaN) issues after every scored one."""
    s = issue.score
    return -1.0 if s is None or not math.isfinite(s) else float(s)


def location(report: AuditReport, issue: Issue) -> tuple[str, str, int]:
    ds = report.dataset
    if issue.image < 0:
        return ("", "", -1)
    box = int(ds.boxes.id[issue.box]) if issue.box >= 0 else -1
    return (str(ds.images.split[issue.image]), str(ds.images.file_name[issue.image]), box)


def sorted_issues(report: AuditReport) -> list[Issue]:
    """Issues by severity, check, split, file name and box id (the message breaks what ties remain)."""
    key = lambda i: (rank(i.severity), i.check, location(report, i), i.message)  # noqa: E731
    return sorted(report.issues, key=key)


def worst_first(report: AuditReport, issues: list[Issue]) -> list[Issue]:
    key = lambda i: (rank(i.severity), -score_key(i), location(report, i), i.message)  # noqa: E731
    return sorted(issues, key=key)


def count_rows(report: AuditReport) -> list[tuple[str, dict[str, int]]]:
    """(check, counts per severity) for every check that ran or found something, worst first."""
    counts = report.counts()
    names = list(dict.fromkeys([*report.checks, *sorted(counts)]))
    rows = [(c, {s: counts.get(c, {}).get(s, 0) for s in SEVERITIES}) for c in names]

    def key(row: tuple[str, dict[str, int]]) -> tuple[int, int, int]:
        worst = next((k for k, s in enumerate(SEVERITIES) if row[1][s]), len(SEVERITIES))
        n = row[1][SEVERITIES[worst]] if worst < len(SEVERITIES) else 0
        return (worst, -n, -sum(row[1].values()))

    return sorted(rows, key=key)  # stable: checks that tie keep the order they ran in


# -- the header -----------------------------------------------------------------------------------


def header(report: AuditReport) -> str:
    ds, t = report.dataset, report.severity_counts()
    found = ", ".join(f"{t[s]} {s}{'s' if s != 'info' and t[s] != 1 else ''}" for s in SEVERITIES)
    return (
        f"audit of {report.source}: {len(ds.images)} images, {len(ds.boxes)} boxes, "
        f"{report.seconds:.1f} s; {found}"
    )
