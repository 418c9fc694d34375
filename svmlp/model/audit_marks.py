"""An audit report's findings laid on a data set's rows, for the adapters that show them where
people look at labels (FiftyOne, a Label Studio import). Reads the report's JSON document only:
the audit itself sits above the adapters' layer, not below it."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svmlp._files import read_file
from svmlp.errors import UsageError
from svmlp.model.dataset import Dataset

__all__ = ["AuditMarks", "map_audit"]


@dataclass
class AuditMarks:
    """An audit's findings, keyed by rows of the data set."""

    image_tags: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    image_messages: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    box_tags: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    box_messages: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    proposed: dict[int, list[tuple[str, list[float], str]]] = field(default_factory=lambda: defaultdict(list))
    whole: list[str] = field(default_factory=list)


def _audit_issues(audit: Any) -> tuple[str, list[dict[str, Any]]]:
    """``(source, issues as report-JSON dicts)`` from an AuditReport (anything with a ``to_dict()``
    giving the report document: the audit sits beside this adapter, not below it), a report dict
    or its file."""
    as_document = getattr(audit, "to_dict", None)
    if callable(as_document):
        audit, label = as_document(), "the audit"
    else:
        label = "the audit report"
    if isinstance(audit, Mapping):
        doc, source = audit, label
    else:
        source = str(audit)
        data = read_file(Path(audit), error=UsageError, what="audit report")
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError as exc:
            raise UsageError(f"{source}: not JSON ({exc})") from None
        except RecursionError:
            raise UsageError(f"{source}: JSON nested too deeply") from None
    if not isinstance(doc, Mapping) or "svmlp_audit" not in doc or not isinstance(doc.get("issues"), list):
        raise UsageError(
            f"{source}: not an svmlp audit report (svmlp audit --json-out REPORT.json writes one)"
        )
    return source, list(doc["issues"])


def map_audit(ds: Dataset, audit: Any) -> tuple[AuditMarks, list[str]]:
    """An audit's findings (an AuditReport, its dict or its JSON file) by rows of ``ds``, and
    notes; a report that names none of ``ds``'s images is a :class:`UsageError`."""
    source, issues = _audit_issues(audit)
    im, bx = ds.images, ds.boxes
    image_row = {(str(s), int(i)): k for k, (s, i) in enumerate(zip(im.split.tolist(), im.id.tolist()))}
    split_of_box = im.split[bx.image].tolist() if len(bx) else []
    box_row = {(str(s), int(b)): k for k, (s, b) in enumerate(zip(split_of_box, bx.id.tolist()))}
    out, missing = AuditMarks(), 0
    for issue in issues:
        check, text = str(issue.get("check")), f"{issue.get('check')}: {issue.get('message')}"
        if issue.get("image_id") is None:
            out.whole.append(text)
            continue
        row = image_row.get((str(issue.get("split")), int(issue["image_id"])))
        if row is None:
            missing += 1
            continue
        if check not in out.image_tags[row]:
            out.image_tags[row].append(check)
        out.image_messages[row].append(text)
        if issue.get("box_id") is not None:
            b = box_row.get((str(issue.get("split")), int(issue["box_id"])))
            if b is not None:
                if check not in out.box_tags[b]:
                    out.box_tags[b].append(check)
                out.box_messages[b].append(text)
        if issue.get("proposed_bbox") is not None:
            out.proposed[row].append((check, list(map(float, issue["proposed_bbox"])), text))
    notes = []
    if issues and missing == len(issues) - len(out.whole) and missing:
        raise UsageError(
            f"{source}: none of its {missing} issue(s) names an image of this data set; "
            "was the report made for another data set or split?"
        )
    if missing:
        notes.append(f"{source}: {missing} issue(s) name images not in this data set; left out")
    return out, notes
