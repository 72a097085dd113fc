"""``probe analyze`` for a person: the capture's connection attempts and UDP flows (their
rows say "/udp": "198.18.1.53:53/udp"), findings and servers.

    Capture  tcpdump.pcap: pcap, Ethernet, 42 packets (38 TCP, 1 ICMP error), 2024-05-01
             12:00:01.123 UTC, 4.2 s
      SERVER          OUTCOME         ATTEMPTS  SYNS  ANSWERED BY   TTL  CLIENT      FIRST
      198.18.1.10:80  ok              1         1     198.18.1.10   63   198.18.0.2  12:00:01.123
      198.18.1.10:82  syn-unanswered  1         3     -             -    198.18.0.2  12:00:01.200
    Findings
      ✘ syn-unanswered (198.18.1.10:82): Port 82 on 198.18.1.10 gets no answer ...
          evidence: 3 SYNs from 198.18.0.2 to 198.18.1.10:82 in 1 attempt (the triple SYN) ...
          next:     probe trace 198.18.1.10 --port 82 finds the hop where the SYN dies
    Servers
      ✘ 198.18.1.10  partial: port 80 works; port 82 fails
    Verdict: Connections to ... complete; the problem is limited to ...

The findings are check's sentences (see probe.capture.analyze), laid out as check lays them
out. Large captures stay readable: past ``_BIG`` rows, server ports where every attempt
completed are counted instead of listed, at most ``_MAX_ROWS`` problem rows and
``_MAX_FINDINGS`` findings are written out, and the ``ok`` findings appear only with
``--verbose`` (which lifts every limit; ``--json`` has everything). A scan's ports and a
group's (one server's many ports failing one way) are said once, by the scan's line or the
group's finding; their rows and findings appear with ``--verbose``.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from probe.capture.analyze.groups import PortGroup
from probe.capture.analyze.results import (
    FINE,
    PROBLEMS,
    AnalyzeFinding,
    Outcome,
    ServerSummary,
)
from probe.capture.reader import CaptureInfo
from probe.capture.times import clock
from probe.diagnosis.words import plural, port_words, verb
from probe.model import Protocol
from probe.output.text.pen import STEP_INDENT, Pen, TextFormat, hang, render_finding_block
from probe.output.views import CaptureAnalysis, responder

__all__ = ["AnalysisText", "render_analysis"]

_BIG = 50  # more table rows than this: the all-ok server ports are counted, not listed
_MAX_FINDINGS = 100  # problem findings written out in text (all of them in JSON)
_MAX_ROWS = 500  # table rows with a problem listed in text
_COLUMNS = ("SERVER", "OUTCOME", "ATTEMPTS", "SYNS", "ANSWERED BY", "TTL", "CLIENT", "FIRST")
_TABLE_INDENT = 2


class AnalysisText(TextFormat[CaptureAnalysis]):
    def draw(self, result: CaptureAnalysis, console: Console) -> None:
        render_analysis(result, console, verbose=self.options.verbose)


def render_analysis(view: CaptureAnalysis, console: Console, *, verbose: bool = False) -> None:
    pen = Pen(console)
    analysis = view.analysis
    hang(console, 0, pen.styled("Capture  ", "heading"), Text(pen.clean(_capture_line(view.info))))
    for note in (*view.info.remarks, *view.notes):
        hang(console, STEP_INDENT, pen.styled("Note: ", "note"), Text(pen.clean(note)))
    for scan in analysis.scans:
        hang(console, STEP_INDENT, pen.styled("Scan: ", "note"), Text(pen.clean(scan.words)))
    outcomes = analysis.outcomes
    findings = analysis.findings
    if (analysis.scans or analysis.groups) and not verbose:
        # a scan's or a group's ports: its summary or finding says it, -v lists them
        def said(o: Outcome) -> bool:
            return analysis.in_scan(o) or analysis.in_group(o)

        outcomes = tuple(o for o in outcomes if not said(o))
        findings = tuple(f for f in findings if not said(f.outcome))
    if outcomes:
        _table(outcomes, console, pen, verbose)
    problems = [f for f in findings if f.code in PROBLEMS]
    shown: list[AnalyzeFinding | PortGroup] = [
        *analysis.groups,
        *problems,
        *(f for f in findings if verbose and f.code in FINE),
    ]
    if shown:
        hang(console, 0, pen.styled("Findings", "heading"), Text())
        limit = len(shown) if verbose else _MAX_FINDINGS
        for f in shown[:limit]:
            _render_finding(f, console, pen)
        if len(shown) > limit:
            more = f"{len(shown) - limit} more findings: --verbose or --json shows them all"
            console.print(Text(" " * STEP_INDENT + more, style=pen.style("dim")))
    if analysis.servers:
        hang(console, 0, pen.styled("Servers", "heading"), Text())
        listed = analysis.servers[: None if verbose else _BIG]
        width = max(len(s.address) for s in listed)
        for s in listed:
            _render_server(s, width, console, pen)
        hidden = len(analysis.servers) - _BIG
        if not verbose and hidden > 0:
            line = f"{hidden} more servers: --verbose or --json shows them all"
            console.print(Text(" " * STEP_INDENT + line, style=pen.style("dim")))
    style = "error" if analysis.problem else "ok" if analysis.servers else "info"
    hang(
        console,
        0,
        pen.styled("Verdict: ", "heading"),
        Text(pen.clean(" ".join(analysis.summary)), style=pen.style(style)),
    )


def _capture_line(info: CaptureInfo) -> str:
    links = ", ".join(info.link_names) or "no interface"
    errors = plural(info.icmp_errors, "error")
    udp = f"{info.udp} UDP, " if info.udp else ""
    parts = [
        f"{info.path}: {info.format}{' (gzip)' if info.compressed else ''}, {links}, "
        f"{info.packets} packets "
        f"({info.tcp} TCP, {udp}{info.icmp_errors} ICMP {errors})"
    ]
    if info.first_ts is not None and info.last_ts is not None:
        start = clock(info.first_ts)
        if start is not None:
            parts.append(f"from {start}")
        parts.append(f"{info.last_ts - info.first_ts:.1f} s")
    if info.interrupted:
        parts.append("interrupted")
    return ", ".join(parts)


def _row(o: Outcome) -> tuple[str, ...]:
    client = o.clients[0] if o.clients else "-"
    start = clock(o.first)
    if len(o.clients) > 1 or o.more_clients:
        client += f" +{len(o.clients) - 1}{'+' if o.more_clients else ''}"
    return (
        o.label,
        o.code,
        str(o.count),
        str(o.sent),
        responder(o) or "-",
        "-" if o.answer_ttl is None else str(o.answer_ttl),
        client,
        "-" if start is None else start[11:23],
    )


def _table(outcomes: Sequence[Outcome], console: Console, pen: Pen, verbose: bool) -> None:
    shown = list(outcomes)
    hidden = 0
    if not verbose and len(shown) > _BIG:
        failing = {(o.server, o.port) for o in outcomes if o.code in PROBLEMS}
        shown = [o for o in outcomes if (o.server, o.port) in failing]
        hidden = len({(o.server, o.port) for o in outcomes}) - len(failing)
    more_rows = 0
    if not verbose and len(shown) > _MAX_ROWS:
        more_rows = len(shown) - _MAX_ROWS
        shown = shown[:_MAX_ROWS]
    pad = " " * _TABLE_INDENT
    if shown:
        rows = [_row(o) for o in shown]
        columns: tuple[str, ...] = _COLUMNS
        if any(o.protocol is Protocol.UDP for o in shown):  # SYNs for TCP, datagrams for UDP
            columns = tuple("SENT" if c == "SYNS" else c for c in _COLUMNS)
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(columns)]
        head = "  ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True)).rstrip()
        out = Text(pad)
        out.append(head, style=pen.style("heading"))
        for o, row in zip(shown, rows, strict=True):
            out.append("\n" + pad)
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
            out.append(pen.clean(cells[0]) + "  ")
            style = pen.style("open" if o.code in FINE else "refused")
            out.append(cells[1], style=style)
            out.append(("  " + "  ".join(cells[2:])).rstrip())
        console.print(out, soft_wrap=True, no_wrap=True, overflow="ignore")
    if more_rows:
        line = f"{pad}{more_rows} more rows with problems: --verbose or --json shows them all"
        console.print(Text(line, style=pen.style("dim")), soft_wrap=True)
    if hidden:
        line = f"{pad}{hidden} server ports where every attempt completed not shown (--verbose)"
        console.print(Text(line, style=pen.style("dim")), soft_wrap=True)


def _render_finding(f: AnalyzeFinding | PortGroup, console: Console, pen: Pen) -> None:
    head = pen.styled(f.code, "code")
    label = f.label if isinstance(f, PortGroup) else f.outcome.label
    head.append(f" ({pen.clean(label)}): {pen.clean(f.summary)}")
    render_finding_block(console, pen, f.severity, head, f.evidence, f.next_steps)


def _render_server(s: ServerSummary, width: int, console: Console, pen: Pen) -> None:
    mark = pen.mark("ok" if s.status == "ok" else "fail")
    words: list[str] = []
    if s.ports_ok:
        words.append(f"{port_words(s.ports_ok)} {verb(s.ports_ok, 'works', 'work')}")
    if s.ports_failing:
        words.append(f"{port_words(s.ports_failing)} {verb(s.ports_failing, 'fails', 'fail')}")
    if s.udp_ports_ok:
        ok = s.udp_ports_ok
        words.append(f"UDP {port_words(ok)} {verb(ok, 'answers', 'answer')}")
    if s.udp_ports_failing:
        bad = s.udp_ports_failing
        words.append(f"UDP {port_words(bad)} {verb(bad, 'fails', 'fail')}")
    if not words:
        words.append("UDP traffic one-way by design")
    mark.append(f" {pen.clean(s.address):<{width}}  ")
    hang(console, STEP_INDENT, mark, Text(f"{s.status}: " + "; ".join(words)))
