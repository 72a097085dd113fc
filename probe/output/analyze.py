"""Transitional: cli/main.py's old names for analyze output. Delete once the CLI renders
through ``probe.output.registry``."""

from __future__ import annotations

import io

from rich.console import Console

from probe.capture.analyze.results import Analysis
from probe.capture.reader import CaptureInfo
from probe.output.base import FormatName
from probe.output.registry import render
from probe.output.text.analyze import render_analysis
from probe.output.views import CaptureAnalysis


def render_json(info: CaptureInfo, analysis: Analysis) -> str:
    buf = io.StringIO()
    render(CaptureAnalysis(info, analysis), FormatName.JSON, buf)
    return buf.getvalue()


def render_text(
    info: CaptureInfo, analysis: Analysis, console: Console, *, verbose: bool = False
) -> None:
    render_analysis(CaptureAnalysis(info, analysis), console, verbose=verbose)
