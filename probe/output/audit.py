"""Transitional: cli/main.py's old names for audit output. Delete once the CLI renders
through ``probe.output.registry``."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from probe.diagnosis.expect import AuditResult
from probe.output.base import FormatName
from probe.output.registry import render
from probe.output.text.audit import render_audit


def render_audit_json(result: AuditResult) -> str:
    buf = io.StringIO()
    render(result, FormatName.JSON, buf)
    return buf.getvalue()


def render_audit_text(result: AuditResult, console: Console, junit: Path | None = None) -> None:
    render_audit(result, console, junit)
