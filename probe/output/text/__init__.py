"""The text format: what a person reads in the terminal, one module per result kind.

``pen`` holds what they share (glyphs, styles, escaping of network text, hanging lines, the
finding block). Everything here is written with rich, which is imported only when a text
result is rendered (the registry loads these modules on demand), so ``probe --help`` never
pays for it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Transitional: cli/main.py still imports render_text from here; goes when it uses the
    # registry (probe.output.registry).
    if name == "render_text":
        from probe.output.text.check import render_check

        return render_check
    raise AttributeError(name)
