"""What every text renderer shares: the Pen (styles, glyphs, escaping), hanging lines, the
finding block and millisecond numbers.

The console decides about colour: nothing is styled unless it is a terminal with a colour
system and without no_color, so redirected output never carries escape codes. Glyphs fall
back to ASCII when the console's encoding is not UTF-8. Everything that came from the network
(banners, names, the resolver's words) has its control characters escaped: a banner must not
be able to drive the user's terminal.
"""

from __future__ import annotations

import codecs
import sys
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from typing import NamedTuple, TextIO, TypeVar

from rich.console import Console
from rich.text import Text

from probe.errors import printable
from probe.model import Finding, Severity
from probe.output.base import Format, FormatName, Options

__all__ = [
    "DETAIL_INDENT",
    "STEP_INDENT",
    "Pen",
    "TextFormat",
    "format_ms",
    "hang",
    "render_finding",
    "render_finding_block",
]

R = TypeVar("R")

STEP_INDENT = 2  # a step, a finding, a verdict under its heading
DETAIL_INDENT = 6  # a finding's evidence and next steps
_MIN_WRAP = 30  # narrowest column a wrapped detail gets, however narrow the console
_MAX_RANGES = 8  # port ranges listed in a finding's heading


class _Glyphs(NamedTuple):
    ok: str
    fail: str
    skip: str
    warning: str
    info: str
    arrow: str
    ellipsis: str
    branch: str


_UNICODE = _Glyphs("✔", "✘", "\N{EN DASH}", "!", "i", "→", "…", "└")
_ASCII = _Glyphs("+", "x", "-", "!", "i", "->", "...", "`")

_STYLES: dict[str, str] = {
    "ok": "green",
    "fail": "red",
    "skip": "dim",
    "error": "red",
    "warning": "yellow",
    "info": "blue",
    "open": "green",
    "refused": "red",
    "rejected": "red",
    "unreachable": "red",
    "filtered": "yellow",
    "open|filtered": "yellow",
    "target": "bold",
    "heading": "bold",
    "code": "bold",
    "note": "yellow",
    "dim": "dim",
    "interrupted": "bold yellow",
}


class Pen:
    """What this console can show: styles or none, Unicode glyphs or ASCII."""

    def __init__(self, console: Console) -> None:
        self.plain = not console.is_terminal or console.no_color or console.color_system is None
        try:
            self.encoding = codecs.lookup(console.encoding).name
        except LookupError:
            self.encoding = "ascii"
        self.glyphs = _UNICODE if self.encoding.startswith("utf") else _ASCII

    def style(self, name: str) -> str:
        return "" if self.plain else _STYLES[name]

    def clean(self, value: str) -> str:
        """Network-supplied text made safe and printable on this console: controls,
        bidirectional overrides (U+202E) and other unprintable characters escaped."""
        value = printable(value, limit=sys.maxsize)  # banners are cut where they are shown
        if not self.encoding.startswith("utf"):
            value = value.encode(self.encoding, "backslashreplace").decode(self.encoding)
        return value

    def styled(self, text: str, name: str) -> Text:
        """Text styled as a span, so that what is appended to it stays unstyled."""
        out = Text(text)
        out.stylize(self.style(name))
        return out

    def mark(self, outcome: str) -> Text:
        glyph = {"ok": self.glyphs.ok, "fail": self.glyphs.fail, "skip": self.glyphs.skip}
        return self.styled(glyph[outcome], outcome)

    def severity_mark(self, severity: Severity) -> Text:
        glyph = {
            Severity.ERROR: self.glyphs.fail,
            Severity.WARNING: self.glyphs.warning,
            Severity.INFO: self.glyphs.info,
        }[severity]
        return self.styled(glyph, severity.value)


class TextFormat(Format[R]):
    """A text format: renders onto a rich console built around the output stream."""

    name = FormatName.TEXT

    def render(self, result: R, out: TextIO) -> None:
        self.draw(result, console_for(out, self.options))

    @abstractmethod
    def draw(self, result: R, console: Console) -> None:
        """Print the result on the console."""


def console_for(out: TextIO, options: Options) -> Console:
    """A console writing to ``out``, styled as ``options.color`` says (None: if a terminal)."""
    return Console(file=out, highlight=False, force_terminal=options.color)


def hang(console: Console, indent: int, prefix: Text, body: Text) -> None:
    """Print prefix and body on one line; the body wraps to the console, hanging under itself.

    Done by hand rather than with a rich grid, which pads every line to its full width.
    """
    lead = indent + prefix.cell_len
    lines = body.wrap(console, max(console.width - lead, _MIN_WRAP), overflow="fold")
    out = Text(" " * indent)
    out.append_text(prefix)
    for i, line in enumerate(lines):
        if i:
            out.append("\n" + " " * lead)
        line.rstrip()
        out.append_text(line)
    console.print(out, soft_wrap=True)


def render_finding_block(
    console: Console,
    pen: Pen,
    severity: Severity,
    head: Text,
    evidence: Sequence[str],
    next_steps: Sequence[str],
) -> None:
    """A finding as check, trace, audit and analyze print it: the severity mark and ``head``
    (code, where, summary), then its evidence and next steps, labelled on their first line."""
    hang(console, STEP_INDENT, pen.severity_mark(severity) + " ", head)
    for label, items in (("evidence:", evidence), ("next:", next_steps)):
        for i, item in enumerate(items):
            prefix = Text(f"{label if i == 0 else '':<10}", style=pen.style("dim"))
            hang(console, DETAIL_INDENT, prefix, Text(pen.clean(item)))


def render_finding(f: Finding, console: Console, pen: Pen) -> None:
    """A finding of check (and of trace and audit, which quote check's findings)."""
    head = pen.styled(pen.clean(f.code), "code")
    if f.ports:
        label = "port" if len(f.ports) == 1 else "ports"
        protocols = f.protocols or ("tcp",) * len(f.ports)  # none given: every port is TCP
        tcp = [p for p, proto in zip(f.ports, protocols, strict=True) if proto != "udp"]
        udp = [p for p, proto in zip(f.ports, protocols, strict=True) if proto == "udp"]
        parts = [_port_ranges(tcp, pen.glyphs.ellipsis)] if tcp else []
        if udp:
            parts.append("UDP " + _port_ranges(udp, pen.glyphs.ellipsis))
        head.append(f" ({label} {'; '.join(parts)})")
    head.append(f": {pen.clean(f.summary)}")
    render_finding_block(console, pen, f.severity, head, f.evidence, f.next_steps)


def _port_ranges(ports: Iterable[int], ellipsis: str) -> str:
    """80, 443, 8000-8080: consecutive ports as ranges, the first few only."""
    ranges: list[tuple[int, int]] = []
    for port in sorted(set(ports)):
        if ranges and port == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], port)
        else:
            ranges.append((port, port))
    words = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:_MAX_RANGES]]
    if len(ranges) > _MAX_RANGES:
        rest = sum(b - a + 1 for a, b in ranges[_MAX_RANGES:])
        words.append(f"{ellipsis} +{rest} more")
    return ", ".join(words)


def format_ms(value: float) -> str:
    """Milliseconds with the precision that matters at that size: 0.41, 12.3, 250."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
