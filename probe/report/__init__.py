"""Output formats: each turns a finished Report into text for a person or a program.

- ``text``: the checklist for a terminal (rich), ``render_text(report, console)``.
- ``json``: the contract's ``--json`` document, ``render_json(report)`` / ``report_to_dict``.

Pure formatting: no network, no exit codes; cli.py picks the format and the stream.
"""

from probe.report.json import finding_to_dict, render_json, report_to_dict
from probe.report.text import render_text

__all__ = ["finding_to_dict", "render_json", "render_text", "report_to_dict"]
