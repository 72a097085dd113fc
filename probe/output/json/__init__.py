"""The ``--json`` format: what a program reads, one module per result kind.

Every document goes through ``writer`` (exactly ``json.dumps(data, indent=2)``, streamed where
a list can be 65535 items long); ``common`` holds the pieces several kinds share. Inside this
package ``import json`` is absolute (Python 3), so the standard library is what it gets.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Transitional: cli/main.py still imports write_json from here; goes when it uses the
    # registry (probe.output.registry).
    if name == "write_json":
        from probe.output.json.check import write_report

        return write_report
    raise AttributeError(name)
