"""``probe trace`` for a person: a hop table and a one-line conclusion.

    web.example → 198.18.1.10, TCP port 82, up to 30 hops
        HOP  ANSWERED BY  ANSWER         TTL  RTT      TRIES
        1    198.18.0.1   time-exceeded  64   0.12 ms  1
        2    *            none           -    -        3
        3    *            none           -    -        3
        4    *            none           -    -        3
      Verdict: Port 82 is filtered: the SYN got as far as hop 1 (198.18.0.1); after that ...

TTL is the TTL the answer arrived with (the hop's own distance shows in it); TRIES the SYNs
(``--udp``: the datagrams, and the first line says "UDP port") sent with that TTL. When the
trace could not start (DNS, route), the finding that says why is printed as ``probe check``
prints it.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from probe.model import Hop, PortState, TraceReport
from probe.output.text.pen import STEP_INDENT, Pen, TextFormat, format_ms, hang, render_finding

__all__ = ["TraceText", "render_trace"]

_COLUMNS = ("HOP", "ANSWERED BY", "ANSWER", "TTL", "RTT", "TRIES")
_KIND_STYLE = {
    "syn-ack": "open",
    "udp-response": "open",
    "rst": "refused",
    "refused": "refused",
    "rejected": "rejected",
    "unreachable": "unreachable",
    "none": "dim",
}
_STATE_STYLE = {
    PortState.OPEN: "ok",
    PortState.FILTERED: "warning",
    PortState.OPEN_FILTERED: "warning",
}
_REASON_SHOWN = ("rejected", "unreachable", "refused")  # kinds whose ICMP reason is shown


class TraceText(TextFormat[TraceReport]):
    def draw(self, result: TraceReport, console: Console) -> None:
        render_trace(result, console)


def render_trace(report: TraceReport, console: Console) -> None:
    pen = Pen(console)
    head = Text(pen.clean(report.input), style=pen.style("target"))
    if report.address is not None and report.address != report.input:
        head.append(f" {pen.glyphs.arrow} {report.address}")
    head.append(f", {report.protocol.upper()} port {report.port}, up to {report.max_hops} hops")
    console.print(head, soft_wrap=True)
    if report.hops:
        _table(report, console, pen)
    for finding in report.findings:
        render_finding(finding, console, pen)
    if report.interrupted:
        console.print(Text("  Interrupted: partial trace", style=pen.style("interrupted")))
    v = report.verdict
    style = _STATE_STYLE.get(v.state, "error") if v.state is not None else "error"
    hang(
        console,
        STEP_INDENT,
        Text("Verdict: ", style=pen.style("heading")),
        Text(pen.clean(v.summary), style=pen.style(style)),
    )


def _table(report: TraceReport, console: Console, pen: Pen) -> None:
    rows = [_row(h) for h in report.hops]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
    pad = "    "
    head = pad + "  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)).rstrip()
    console.print(Text(head, style=pen.style("heading")), soft_wrap=True)
    for h, row in zip(report.hops, rows, strict=True):
        line = Text(pad)
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            if i:
                line.append("  ")
            styled = i == 2 and h.kind in _KIND_STYLE
            line.append(
                pen.clean(cell).ljust(w), style=pen.style(_KIND_STYLE[h.kind]) if styled else ""
            )
        line.rstrip()
        console.print(line, soft_wrap=True)


def _row(h: Hop) -> tuple[str, ...]:
    answer = h.kind
    if h.kind in _REASON_SHOWN and h.reason:
        answer = f"{h.kind} ({h.reason})"
    return (
        str(h.ttl),
        h.responder or ("*" if h.kind == "none" else "this computer"),
        answer,
        "-" if h.reply_ttl is None else str(h.reply_ttl),
        "-" if h.rtt_ms is None else f"{format_ms(h.rtt_ms)} ms",
        str(h.tries),
    )
