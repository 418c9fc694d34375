"""Reports of an audit: a short summary for people, JSON for machines, one HTML page to look at.

The JSON follows ``annotations_schema/audit-report.schema.json`` and names every image and box by
split, file name and id (never by row), so it keeps its meaning without the data set. The HTML page
is a single file with no outside references (thumbnails are ``data:`` URIs): it opens from disk,
offline, and can be mailed. Writing a report reads images but never changes them.

>>> from svmlp.audit import AuditReport, Issue
>>> from svmlp.synth import generate_annotations
>>> ds = generate_annotations(4, seed=1)
>>> report = AuditReport(ds, "synth", [Issue("tiny_box", "warning", 0, 0, "2 px wide", 0.8)], ["tiny_box"])
>>> print(summary_lines(report)[-1])
  - train/scene_000000.jpg box id 1 (vehicle): 2 px wide
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svmlp.audit._present import count_rows, header, sorted_issues, worst_first
from svmlp.audit.issues import SEVERITIES, Issue
from svmlp.model import Dataset

__all__ = ["AuditReport", "render_html", "shown_path", "summary_lines", "to_dict", "to_json"]

#: 1.1: each issue names its image's annotation file (``label_file``)
FORMAT_VERSION = "1.1"


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
        """``split/file_name`` (and ``box id N (class)``) of an issue, and the annotation file it
        came from (``in labels/train/a.txt``) where the data set knows it, for summaries."""
        if issue.image < 0:
            return "(data set)"
        ds = self.dataset
        text = f"{ds.images.split[issue.image]}/{ds.images.file_name[issue.image]}"
        if issue.box >= 0:
            category = ds.categories[int(ds.boxes.category[issue.box])].name
            text = f"{text} box id {int(ds.boxes.id[issue.box])} ({category})"
        label_file = self.label_file(issue.image)
        return f"{text} in {label_file}" if label_file else text

    def label_file(self, row: int) -> str:
        """The annotation file image ``row``'s labels were read from (the XML, the label file, the
        JSON), relative to the audited folder when it lies inside it; "" when not known."""
        column = self.dataset.images.label_file
        if row < 0 or column is None or not column[row]:
            return ""
        return shown_path(str(column[row]), self.source)

    def shown_image_path(self, row: int) -> str:
        """The image file of ``row`` as :meth:`label_file` shows paths; "" when not known."""
        path = self.dataset.image_path(row) if row >= 0 else None
        return "" if path is None else shown_path(str(path), self.source)

    def image_path(self, issue: Issue) -> Path | None:
        return None if issue.image < 0 else self.dataset.image_path(issue.image)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON document: :func:`to_dict`."""
        return to_dict(self)

    def to_json(self) -> str:
        """The report as JSON text: :func:`to_json`."""
        return to_json(self)


def summary_lines(report: AuditReport, *, examples: int = 3) -> list[str]:
    """A short summary: a header, one line per check with its counts per severity (worst checks
    first) and, under each check with errors or warnings, its ``examples`` worst issues; then the
    audit's notes. Checks that ran and found nothing share one line.
    """
    lines, clean = [header(report)], []
    rows = count_rows(report)
    width = max([len("check"), *(len(c) for c, n in rows if any(n.values()))])
    lines.append(f"{'check':<{width}}  " + "  ".join(f"{s:>7}" for s in SEVERITIES))
    by_check: dict[str, list[Issue]] = {}
    for issue in report.issues:
        by_check.setdefault(issue.check, []).append(issue)
    for check, n in rows:
        if not any(n.values()):
            clean.append(check)
            continue
        lines.append(f"{check:<{width}}  " + "  ".join(f"{n[s]:>7}" for s in SEVERITIES))
        if n["error"] or n["warning"]:
            worst = worst_first(report, by_check[check])[:examples]
            lines += [f"  - {report.where(i)}: {i.message}" for i in worst]
    if clean:
        lines.append(f"no issues: {', '.join(clean)}")
    return lines + [f"note: {note}" for note in report.notes]


# -- JSON -----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON value for a threshold: numpy scalars and arrays unwrapped, NaN and ±inf as null."""
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in (sorted(value, key=str) if isinstance(value, set | frozenset) else value)]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value if value is None or isinstance(value, str | int | bool) else str(value)


def _number(v: float) -> float | None:
    return round(float(v), 3) if math.isfinite(v) else None  # JSON has no NaN or infinity


def _base_of(source: str) -> str:
    """The folder paths in a report are shown relative to: the one audited, or the file's."""
    base = os.path.abspath(source) if source else os.getcwd()
    return os.path.dirname(base) if os.path.isfile(base) else base


def shown_path(path: str, source: str) -> str:
    """``path`` relative to the audited folder (``source``, or its folder when a file) when it
    lies inside it, else as it is: short, and unambiguous next to the report's ``source``.

    >>> shown_path("/data/plates/labels/train/a.txt", "/data/plates/")
    'labels/train/a.txt'
    >>> shown_path("/elsewhere/a.json", "/data/plates")
    '/elsewhere/a.json'
    """
    base, full = _base_of(source), os.path.abspath(path)
    if full.startswith(base.rstrip(os.sep) + os.sep):
        return Path(os.path.relpath(full, base)).as_posix()
    return path


def _image_ref(report: AuditReport, row: int) -> dict[str, Any]:
    im = report.dataset.images
    return {"split": str(im.split[row]), "file_name": str(im.file_name[row]), "image_id": int(im.id[row])}


def _xywh(xyxy: Any) -> list[float | None]:
    x0, y0, x1, y1 = (float(v) for v in xyxy)
    return [_number(x0), _number(y0), _number(x1 - x0), _number(y1 - y0)]


def _box_fields(report: AuditReport, row: int) -> dict[str, Any]:
    ds = report.dataset
    c = int(ds.boxes.category[row])
    return {
        "box_id": int(ds.boxes.id[row]),
        "category": ds.categories[c].name if 0 <= c < len(ds.categories) else None,
        "bbox": _xywh(ds.boxes.xyxy[row]),
    }


def _issue_dict(report: AuditReport, issue: Issue) -> dict[str, Any]:
    out: dict[str, Any] = {"check": issue.check, "severity": issue.severity}
    out["score"] = None if issue.score is None else _number(issue.score)
    out["message"] = issue.message
    out.update({"split": None, "file_name": None, "image_id": None})
    if issue.image >= 0:
        out.update(_image_ref(report, issue.image))
    out["label_file"] = report.label_file(issue.image) or None
    out.update({"box_id": None, "category": None, "bbox": None})
    if issue.box >= 0:
        out.update(_box_fields(report, issue.box))
    out["related_box_ids"] = [int(report.dataset.boxes.id[r]) for r in issue.related]
    out["other"] = _image_ref(report, issue.other_image) if issue.other_image >= 0 else None
    out["proposed_bbox"] = None if issue.bbox is None else _xywh(issue.bbox)
    return out


def to_dict(report: AuditReport) -> dict[str, Any]:
    """The report as a JSON document (``annotations_schema/audit-report.schema.json``); issues in
    the order of :func:`sorted_issues`."""
    ds = report.dataset
    return {
        "svmlp_audit": FORMAT_VERSION,
        "source": str(report.source),
        "images": len(ds.images),
        "boxes": len(ds.boxes),
        "seconds": round(max(float(report.seconds), 0.0), 3),
        "checks": list(report.checks),
        "thresholds": _plain(dict(report.thresholds)),
        "counts": dict(count_rows(report)),
        "totals": report.severity_counts(),
        "notes": [str(n) for n in report.notes],
        "issues": [_issue_dict(report, i) for i in sorted_issues(report)],
    }


def to_json(report: AuditReport) -> str:
    """:func:`to_dict` as text: the same report always gives the same bytes."""
    return json.dumps(to_dict(report), indent=1, ensure_ascii=False, allow_nan=False)


def render_html(report: AuditReport, path: Path, *, thumb: int = 360, max_images: int = 2000) -> int:
    """The self-contained HTML page (see :mod:`svmlp.audit.html`); returns the number of cards."""
    from svmlp.audit.html import render_html as render

    return render(report, path, thumb=thumb, max_images=max_images)
