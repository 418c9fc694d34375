"""Run the checks over a data set and collect what they find. Nothing is ever written to the data."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from svmlp.audit.checks_data import check_duplicates, check_geometry, check_integrity
from svmlp.audit.checks_hygiene import check_hygiene
from svmlp.audit.checks_predictions import check_predictions
from svmlp.audit.checks_relations import check_classes, check_relations
from svmlp.audit.config import AuditConfig, load_config
from svmlp.audit.context import Context
from svmlp.audit.issues import Issue
from svmlp.audit.report import AuditReport
from svmlp.links import with_roles
from svmlp.model import Dataset
from svmlp.model.predictions import Predictions, load_predictions

__all__ = ["GROUPS", "audit", "run_audit"]

#: the checks in the order they run, by group
GROUPS: list[tuple[str, Callable[[Context], Iterator[Issue]]]] = [
    ("integrity", check_integrity),
    ("geometry", check_geometry),
    ("duplicates", check_duplicates),
    ("relations", check_relations),
    ("classes", check_classes),
    ("hygiene", check_hygiene),
    ("predictions", check_predictions),
]


def run_audit(
    ds: Dataset,
    *,
    config: AuditConfig | None = None,
    predictions: Predictions | None = None,
    scan: bool = True,
    source: str = "",
) -> AuditReport:
    """Every check over ``ds``; ``scan=False`` skips reading the image files (integrity of the
    files and split hygiene then cannot be checked, and the report says so)."""
    from svmlp.audit.scan import scan_images

    started = time.perf_counter()
    config = config or AuditConfig()
    ctx = Context(ds, config, predictions=predictions)
    notes = list(predictions.notes) if predictions else []
    if scan and ds.roots:
        ctx.scan = scan_images(ds, decode=bool(config["decode_images"]))
    else:
        notes.append("image files were not read: missing, undecodable and duplicate images were not checked")
    if not {"parent", "child"} <= {c.role for c in ds.categories}:
        have = ", ".join(f"{c.name} ({c.role or 'no role'})" for c in ds.categories)
        notes.append(
            f"no vehicle or no plate class, so plates and vehicles were not checked together (classes: {have}; "
            "name them with --parents/--children, or parents=/children= in Python)"
        )
    issues: list[Issue] = []
    # boxes far past any image (read leniently, they are findings) overflow in the geometry: the
    # checks report them, numpy need not warn of them on stderr (errstate is per thread)
    with np.errstate(all="ignore"):
        for (
            _,
            check,
        ) in GROUPS:  # a check turned off in the configuration yields nothing, wherever it comes from
            issues.extend(i for i in check(ctx) if config.enabled.get(i.check, True))
    return AuditReport(
        dataset=ds,
        source=source or str(ds.source or ""),
        issues=issues,
        checks=[name for name, on in config.enabled.items() if on],
        thresholds=dict(config.thresholds),
        seconds=time.perf_counter() - started,
        notes=notes,
    )


def audit(
    path: str | Path,
    *,
    format: str | None = None,
    config: Path | AuditConfig | None = None,
    predictions: Path | None = None,
    split: str | None = None,
    scan: bool = True,
    parents: Sequence[str] | None = None,
    children: Sequence[str] | None = None,
    **read_options: object,
) -> AuditReport:
    """Read a data set leniently (so its flaws are findings, not a crash) and audit it.

    ``parents``/``children`` name the vehicle and plate classes where the alias table does not
    know them (``number``, ``lp_plate``), as for :func:`svmlp.links.link_plates`; the relational
    checks then run on them.

    >>> from svmlp.audit import audit  # doctest: +SKIP
    >>> report = audit("data/plates")  # doctest: +SKIP
    >>> report.exit_code("error")       # doctest: +SKIP
    """
    from svmlp.formats import read

    started = time.perf_counter()
    cfg = config if isinstance(config, AuditConfig) else load_config(config)
    with np.errstate(all="ignore"):
        ds = read(path, format=format, strict=False, **read_options)
    read_issues = ds.read_issues
    if parents is not None or children is not None:
        ds = with_roles(ds, parents=parents, children=children, strict=False)
    if split is not None:
        ds = ds.split(split)
    ds.read_issues = read_issues
    with np.errstate(all="ignore"):
        preds = load_predictions(Path(predictions), ds) if predictions else None
    report = run_audit(ds, config=cfg, predictions=preds, scan=scan, source=str(path))
    # what the reader repaired or inferred (a 0-based VOC origin, images found by their XML's
    # name, stale sizes) and what naming the roles changed: the audit's reader needs to know it
    report.notes = [*ds.notes, *report.notes]
    report.seconds = time.perf_counter() - started  # the read included
    return report
