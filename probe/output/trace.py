"""Transitional: cli/main.py's old names for trace output. Delete once the CLI renders
through ``probe.output.registry``."""

from __future__ import annotations

import io

from rich.console import Console

from probe.model import TraceReport
from probe.output.base import FormatName
from probe.output.registry import render
from probe.output.text.trace import render_trace


def render_trace_json(report: TraceReport) -> str:
    buf = io.StringIO()
    render(report, FormatName.JSON, buf)
    return buf.getvalue()


def render_trace_text(report: TraceReport, console: Console) -> None:
    render_trace(report, console)
