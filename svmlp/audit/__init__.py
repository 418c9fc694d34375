"""The label-noise audit: checks that yield issues, and the reports people act on (DESIGN.md §5)."""

from __future__ import annotations

from svmlp.audit.issues import SEVERITIES, AuditReport, Issue

__all__ = ["SEVERITIES", "AuditReport", "Issue"]
