"""Output formats: each turns a finished Report into text for a person or a program.

- ``text``: the checklist for a terminal (rich), ``render_text(report, console)``.
- ``json``: the contract's ``--json`` document, ``render_json(report)`` / ``report_to_dict``.

Pure formatting: no network, no exit codes; cli.py picks the format and the stream. The
names below load their module on first use, so ``--json`` output never imports rich.
"""

from __future__ import annotations

from typing import Any

__all__ = ["finding_to_dict", "render_json", "render_text", "report_to_dict"]

_HOMES = {
    "finding_to_dict": "json",
    "render_json": "json",
    "report_to_dict": "json",
    "render_text": "text",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'probe.report' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"probe.report.{home}"), name)
