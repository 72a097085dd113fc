"""Transitional: cli/main.py imports ScanProgress from here; it lives in
``probe.output.text.progress``. Delete once the CLI imports it from there."""

from probe.output.text.progress import ScanProgress

__all__ = ["ScanProgress"]
