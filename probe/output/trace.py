"""Output of ``probe trace``: a hop table and a one-line conclusion for a person
(``render_trace_text``), or the JSON object for a program (``render_trace_json``).

For a person::

    web.example → 198.18.1.10, TCP port 82, up to 30 hops
        HOP  ANSWERED BY  ANSWER         TTL  RTT      TRIES
        1    198.18.0.1   time-exceeded  64   0.12 ms  1
        2    *            none           -    -        3
        3    *            none           -    -        3
        4    *            none           -    -        3
      Verdict: Port 82 is filtered: the SYN got as far as hop 1 (198.18.0.1); after that ...

TTL is the TTL the answer arrived with (the hop's own distance shows in it); TRIES the SYNs
sent with that TTL. When the trace could not start (DNS, route), the finding that says why
is printed as ``probe check`` prints it.

For a program::

    {"version": 1, "target": "web.example", "address": "198.18.1.10", "port": 82,
     "max_hops": 30, "interrupted": false,
     "hops": [{"ttl": 1, "responder": "198.18.0.1", "kind": "time-exceeded", "rtt_ms": 0.12,
               "reason": "time-exceeded", "reply_ttl": 64, "tries": 1}, ...],
     "verdict": {"state": "filtered", "last_responder": "198.18.0.1", "stopped_at_ttl": 1,
                 "summary": "...", "reason": "no-response"},
     "findings": []}

``kind`` is one of "time-exceeded", "syn-ack", "rst", "rejected", "unreachable" (with the
ICMP reason in ``reason``: admin-prohibited, port-unreach, host-unreach, ...) or "none".
``verdict.state`` is a port state word, or null when nothing was traced.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from probe.model import Hop, PortState, TraceReport
from probe.output.json import finding_to_dict
from probe.output.text import Pen, format_ms, hang, render_finding

__all__ = ["render_trace_json", "render_trace_text", "trace_to_dict"]

_COLUMNS = ("HOP", "ANSWERED BY", "ANSWER", "TTL", "RTT", "TRIES")
_KIND_STYLE = {
    "syn-ack": "open",
    "rst": "refused",
    "rejected": "rejected",
    "unreachable": "unreachable",
    "none": "dim",
}
_STATE_STYLE = {PortState.OPEN: "ok", PortState.FILTERED: "warning"}


# --------------------------------------------------------------------------- JSON


def trace_to_dict(report: TraceReport) -> dict[str, Any]:
    v = report.verdict
    return {
        "version": report.version,
        "target": report.input,
        "address": report.address,
        "port": report.port,
        "max_hops": report.max_hops,
        "interrupted": report.interrupted,
        "hops": [_hop(h) for h in report.hops],
        "verdict": {
            "state": None if v.state is None else v.state.value,
            "last_responder": v.last_responder,
            "stopped_at_ttl": v.stopped_at_ttl,
            "summary": v.summary,
            "reason": v.reason,
        },
        "findings": [finding_to_dict(f) for f in report.findings],
    }


def _hop(h: Hop) -> dict[str, Any]:
    return {
        "ttl": h.ttl,
        "responder": h.responder,
        "kind": h.kind,
        "rtt_ms": None if h.rtt_ms is None else round(h.rtt_ms, 3),
        "reason": h.reason,
        "reply_ttl": h.reply_ttl,
        "tries": h.tries,
    }


def render_trace_json(report: TraceReport) -> str:
    return json.dumps(trace_to_dict(report), indent=2) + "\n"


# --------------------------------------------------------------------------- text


def render_trace_text(report: TraceReport, console: Console) -> None:
    pen = Pen(console)
    head = Text(pen.clean(report.input), style=pen.style("target"))
    if report.address is not None and report.address != report.input:
        head.append(f" {pen.glyphs.arrow} {report.address}")
    head.append(f", TCP port {report.port}, up to {report.max_hops} hops")
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
        2,
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
    if h.kind in ("rejected", "unreachable") and h.reason:
        answer = f"{h.kind} ({h.reason})"
    return (
        str(h.ttl),
        h.responder or ("*" if h.kind == "none" else "this computer"),
        answer,
        "-" if h.reply_ttl is None else str(h.reply_ttl),
        "-" if h.rtt_ms is None else f"{format_ms(h.rtt_ms)} ms",
        str(h.tries),
    )
