"""The label-noise audit: checks that yield issues, and the reports people act on (DESIGN.md §5)."""

from __future__ import annotations

from svmlp.audit.config import AuditConfig, load_config
from svmlp.audit.issues import SEVERITIES, Issue
from svmlp.audit.report import AuditReport
from svmlp.audit.runner import audit, run_audit

__all__ = ["SEVERITIES", "AuditConfig", "AuditReport", "Issue", "audit", "load_config", "run_audit"]
