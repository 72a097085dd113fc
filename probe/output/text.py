"""Human output: each target as a network engineer's checklist, written with rich.

    camera.example.com → 198.18.2.1
      ✔ DNS    198.18.2.1 via 198.18.1.53 in 3.10 ms
      ✔ Route  eth0, source 198.18.0.2, gateway 198.18.0.1
      ✔ Ping   3/3 replies, rtt 0.10/0.20/0.30 ms, TTL 64
      ✘ Ports  1 open, 1 refused
        PORT  SERVICE  STATE    REASON   ANSWERED BY  TTL  RTT      TRIES
        80    http     open     syn-ack  198.18.2.1   63   0.40 ms  1      mss 1460 ws 7 ...
        6036  -        refused  reset    198.18.2.1   64   0.20 ms  1
      Findings
      ✘ port-refused-by-middlebox (port 6036): ...
          evidence: ...
          next:     ...
      Verdict: ...

One line per step, marked ✔ (passed), ✘ (failed) or an en dash (skipped, with why). A step
that fails in a way that stops the walk (DNS, route) leaves the later steps shown as skipped.

The console passed in decides about colour: nothing is styled unless it is a terminal with a
colour system and without no_color, so redirected output never carries escape codes. Glyphs
fall back to ASCII when the console's encoding is not UTF-8. Everything that came from the
network (banners, names, the resolver's words) has its control characters escaped: a banner
must not be able to drive the user's terminal.

Big scans are summarised like nmap does: past ``_BIG_SCAN`` ports, filtered ports (and any
other closed state with more than ``_HIDE_OVER`` ports) are counted in one line instead of
listed, unless ``verbose``. The port table is laid out by hand, not with rich's Table, which
needs tens of seconds for 65535 rows.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rich.console import Console
from rich.text import Span, Text

from probe.model import (
    AppResult,
    ArpResult,
    DnsResult,
    DnsStatus,
    Finding,
    PingResult,
    PingStatus,
    PortResult,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    TargetReport,
)

__all__ = ["render_text"]

_BIG_SCAN = 50  # more ports than this: summarise the closed ones instead of listing them
_HIDE_OVER = 25  # in a big scan, a closed state with more ports than this is summarised too
_MAX_ADDRESSES = 4  # DNS answers listed on the DNS line
_MAX_RANGES = 8  # port ranges listed in a finding's heading
_BANNER_MAX = 80  # characters of an application banner shown

_NAME_WIDTH = 7  # the step names' column: "Route" and two spaces
_MIN_WRAP = 30  # narrowest column a wrapped detail gets, however narrow the console
_STEP_INDENT = 2
_TABLE_INDENT = 4
_DETAIL_INDENT = 6


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
    "target": "bold",
    "heading": "bold",
    "code": "bold",
    "note": "yellow",
    "dim": "dim",
    "interrupted": "bold yellow",
}

_APP_STYLE = {"answered": "ok", "silent": "warning", "error": "fail"}

# C0 controls, DEL and C1 controls, written as Python would escape them.
_ESCAPES: dict[int, str] = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES |= {ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


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
        """Network-supplied text made safe and printable on this console."""
        value = value.translate(_ESCAPES)
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


@dataclass(frozen=True)
class _Step:
    name: str
    outcome: str  # "ok" | "fail" | "skip"
    detail: str


# --------------------------------------------------------------------------- entry point


def render_text(report: Report, console: Console, *, verbose: bool = False) -> None:
    """Print the report for a person: notes, then one checklist per target, then a verdict."""
    pen = Pen(console)
    for note in report.notes:
        hang(console, 0, pen.styled("Note: ", "note"), Text(pen.clean(note)))
    if report.notes and report.targets:
        console.print()
    for index, target in enumerate(report.targets):
        if index:
            console.print()
        _render_target(target, report.mode, console, pen, verbose)
    if report.interrupted:
        if report.targets or report.notes:
            console.print()
        console.print(Text("Interrupted: partial results", style=pen.style("interrupted")))


def _render_target(t: TargetReport, mode: str, console: Console, pen: Pen, verbose: bool) -> None:
    console.print(_header(t, pen))
    steps = _steps(t, mode, pen, verbose)
    for step in steps:
        prefix = pen.mark(step.outcome)
        prefix.append(f" {step.name:<{_NAME_WIDTH}}")
        hang(console, _STEP_INDENT, prefix, Text(step.detail))
    if t.ports:
        _render_ports(t.ports, console, pen, verbose)
    if t.findings:
        hang(console, _STEP_INDENT, Text("Findings", style=pen.style("heading")), Text())
        for finding in t.findings:
            render_finding(finding, console, pen)
    style, verdict = _verdict(t, steps)
    hang(
        console,
        _STEP_INDENT,
        Text("Verdict: ", style=pen.style("heading")),
        Text(pen.clean(verdict), style=pen.style(style)),
    )


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


def _header(t: TargetReport, pen: Pen) -> Text:
    text = Text(pen.clean(t.input), style=pen.style("target"))
    if t.address is None:
        text.append(" (no address)")
    elif t.address != t.input:
        text.append(f" {pen.glyphs.arrow} {t.address}")
    return text


# --------------------------------------------------------------------------- steps


def _steps(t: TargetReport, mode: str, pen: Pen, verbose: bool) -> list[_Step]:
    """The checklist, in the order the pipeline walks; ``blocked`` says why the rest was not run."""
    dns = _dns_step(t.dns, pen, verbose)
    steps = [dns]
    blocked = "DNS failed" if dns.outcome == "fail" else None

    if t.route is None:
        steps.append(_Step("Route", "skip", _not_run(blocked)))
    else:
        route = _route_step(t.route, t.address, pen)
        steps.append(route)
        if route.outcome == "fail" and blocked is None:
            blocked = "no route"

    if t.ping is None:
        steps.append(_Step("Ping", "skip", _not_run(blocked)))
    else:
        steps.append(_ping_step(t.ping, pen))

    if t.arp is not None:
        steps.append(_arp_step(t.arp, t.family))

    if t.ports:
        steps.append(_ports_step(t.ports, mode))
    else:
        steps.append(_Step("Ports", "skip", _not_run(blocked) if blocked else "none probed"))
    return steps


def _not_run(blocked: str | None) -> str:
    return f"skipped ({blocked})" if blocked else "not run"


def _dns_step(d: DnsResult, pen: Pen, verbose: bool) -> _Step:
    asked = pen.clean(", ".join(d.nameservers)) or "the system's resolvers"
    took = f"in {format_ms(d.elapsed_ms)} ms"
    said = f"; {pen.clean(d.detail)}" if d.detail else ""
    if d.status is DnsStatus.LITERAL:
        return _Step("DNS", "skip", "not needed (address literal)")
    if d.status is DnsStatus.OK and d.addresses:
        shown = ", ".join(d.addresses[:_MAX_ADDRESSES])
        if len(d.addresses) > _MAX_ADDRESSES:
            shown += f" +{len(d.addresses) - _MAX_ADDRESSES} more"
        parts = [shown]
        if d.answered_by:
            parts.append(f"via {d.answered_by}")
        parts.append(took)
        if d.cname_chain:
            chain = f" {pen.glyphs.arrow} ".join(pen.clean(name) for name in d.cname_chain)
            parts.append(f"(CNAME {chain})")
        if verbose:
            parts.append(f"(asked {asked})")
        return _Step("DNS", "ok", " ".join(parts))
    failure = {
        DnsStatus.NXDOMAIN: f"NXDOMAIN: the name does not exist (asked {asked}, {took})",
        DnsStatus.SERVFAIL: f"SERVFAIL from {d.answered_by or asked} {took}",
        DnsStatus.TIMEOUT: f"no answer from {asked} {took}",
        DnsStatus.NO_ANSWER: f"the name has no address records (asked {asked}, {took})",
    }.get(d.status, f"no address (asked {asked}, {took})")
    return _Step("DNS", "fail", failure + said)


def _route_step(r: RouteResult, address: str | None, pen: Pen) -> _Step:
    said = f"; {pen.clean(r.detail)}" if r.detail else ""
    if r.status is RouteStatus.NO_ROUTE:
        kind = f" ({r.route_type} route)" if r.route_type else ""
        return _Step("Route", "fail", f"no route to {address or 'the target'}{kind}{said}")
    parts = [pen.clean(r.interface)] if r.interface else []
    if r.source:
        parts.append(f"source {r.source}")
    parts.append(f"gateway {r.gateway}" if r.gateway else "on-link (no gateway)")
    return _Step("Route", "ok", ", ".join(parts))


def _ping_step(p: PingResult, pen: Pen) -> _Step:
    said = f"; {pen.clean(p.detail)}" if p.detail else ""
    if p.status is PingStatus.SKIPPED:
        return _Step("Ping", "skip", f"skipped ({pen.clean(p.detail or '--no-ping')})")
    if p.status is PingStatus.UNREACHABLE:
        by = f", reported by {p.responder}" if p.responder else ""
        return _Step("Ping", "fail", f"unreachable{by}{said}")
    parts = [f"{p.received}/{p.sent} replies"]
    if p.rtt_min_ms is not None and p.rtt_avg_ms is not None and p.rtt_max_ms is not None:
        parts.append(
            f"rtt {format_ms(p.rtt_min_ms)}/{format_ms(p.rtt_avg_ms)}/{format_ms(p.rtt_max_ms)} ms"
        )
    if p.ttl is not None:
        parts.append(f"TTL {p.ttl}")
    outcome = "ok" if p.status is PingStatus.OK and p.received else "fail"
    return _Step("Ping", outcome, ", ".join(parts) + said)


def _arp_step(a: ArpResult, family: int | None) -> _Step:
    name = "NDP" if family == 6 else "ARP"
    if not a.macs:
        return _Step(name, "fail", "no answer")
    if len(a.macs) == 1:
        return _Step(name, "ok", f"{a.macs[0]} answers")
    return _Step(name, "fail", f"{len(a.macs)} MAC addresses answer: {', '.join(a.macs)}")


def _ports_step(ports: Sequence[PortResult], mode: str) -> _Step:
    counts = Counter(p.state for p in ports)
    detail = ", ".join(f"{counts[s]} {s.value}" for s in PortState if counts[s])
    if mode == "connect":
        detail += " (connect() fallback)"
    outcome = "ok" if counts[PortState.OPEN] == len(ports) else "fail"
    return _Step("Ports", outcome, detail)


# --------------------------------------------------------------------------- ports table

_COLUMNS = ("PORT", "SERVICE", "STATE", "REASON", "ANSWERED BY", "TTL", "RTT", "TRIES")


def _render_ports(ports: Sequence[PortResult], console: Console, pen: Pen, verbose: bool) -> None:
    shown, hidden = _visible(ports, verbose)
    pad = " " * _TABLE_INDENT
    if shown:
        rows = [_row(p) for p in shown]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_COLUMNS)]
        console.print(_lines_text(_table_lines(pad, widths, shown, rows, pen)), soft_wrap=True)
    for state, count, reasons in hidden:
        why = f" ({reasons[0]})" if len(reasons) == 1 else ""
        line = f"{pad}{count} {state.value} ports not shown{why}"
        console.print(Text(line, style=pen.style("dim")), soft_wrap=True)


def _visible(
    ports: Sequence[PortResult], verbose: bool
) -> tuple[list[PortResult], list[tuple[PortState, int, list[str]]]]:
    """The ports to list, and (state, count, reasons) for each state summarised instead."""
    if verbose or len(ports) <= _BIG_SCAN:
        return list(ports), []
    counts = Counter(p.state for p in ports)
    hide = {
        s
        for s, n in counts.items()
        if s is PortState.FILTERED or (s is not PortState.OPEN and n > _HIDE_OVER)
    }
    reasons: dict[PortState, set[str]] = {s: set() for s in hide}
    shown: list[PortResult] = []
    for p in ports:
        if p.state in hide:
            reasons[p.state].add(p.reason)
        else:
            shown.append(p)
    hidden: list[tuple[PortState, int, list[str]]] = [
        (s, counts[s], sorted(reasons[s])) for s in PortState if s in hide
    ]
    return shown, hidden


def _row(p: PortResult) -> tuple[str, ...]:
    return (
        str(p.port),
        p.service or "-",
        p.state.value,
        p.reason,
        p.responder or "-",
        "-" if p.ttl is None else str(p.ttl),
        "-" if p.rtt_ms is None else f"{format_ms(p.rtt_ms)} ms",
        str(p.tries),
    )


def _table_lines(
    pad: str,
    widths: list[int],
    ports: Sequence[PortResult],
    rows: list[tuple[str, ...]],
    pen: Pen,
) -> Iterable[tuple[str, str, int, int]]:
    """(line, style, start, end): each line with the span of it to style, if any."""
    head = "  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True))
    yield pad + head.rstrip(), pen.style("heading"), len(pad), len(pad) + len(head.rstrip())
    state_at = len(pad) + widths[0] + widths[1] + 4  # two columns and their separators
    for p, row in zip(ports, rows, strict=True):
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=True)]
        extra = _tcp_detail(p)
        if extra:
            cells.append(extra)
        line = pad + "  ".join(cells).rstrip()
        yield line, pen.style(p.state.value), state_at, state_at + len(row[2])
        if p.app is not None:
            app_pad = " " * (len(pad) + widths[0] + 2)
            app_line = f"{app_pad}{pen.glyphs.branch} {_app_detail(p.app, pen)}"
            app_style = pen.style(_APP_STYLE.get(p.app.status, "dim"))
            yield app_line, app_style, len(app_pad), len(app_line)


def _lines_text(lines: Iterable[tuple[str, str, int, int]]) -> Text:
    """One Text for many lines: far cheaper than a Text (or a print) per line."""
    parts: list[str] = []
    spans: list[Span] = []
    offset = 0
    for line, style, start, end in lines:
        if style:
            spans.append(Span(offset + start, offset + end, style))
        parts.append(line)
        offset += len(line) + 1
    return Text("\n".join(parts), spans=spans, no_wrap=True, overflow="ignore")


def _tcp_detail(p: PortResult) -> str:
    if p.state is not PortState.OPEN:
        return ""
    parts: list[str] = []
    o = p.tcp_options
    if o is not None:
        if o.mss is not None:
            parts.append(f"mss {o.mss}")
        if o.wscale is not None:
            parts.append(f"ws {o.wscale}")
        if o.sack_permitted:
            parts.append("sack")
        if o.timestamps:
            parts.append("ts")
    if p.window is not None:
        parts.append(f"win {p.window}")
    return " ".join(parts)


def _app_detail(a: AppResult, pen: Pen) -> str:
    text = f"{pen.clean(a.protocol)} {pen.clean(a.status)}"
    if a.banner:
        banner = pen.clean(a.banner)
        if len(banner) > _BANNER_MAX:
            banner = banner[:_BANNER_MAX] + pen.glyphs.ellipsis
        text += f': "{banner}"'
    if a.detail:
        text += f"; {pen.clean(a.detail)}"
    return text


# --------------------------------------------------------------------------- findings


def render_finding(f: Finding, console: Console, pen: Pen) -> None:
    head = pen.styled(pen.clean(f.code), "code")
    if f.ports:
        label = "port" if len(f.ports) == 1 else "ports"
        head.append(f" ({label} {_port_ranges(f.ports, pen.glyphs.ellipsis)})")
    head.append(f": {pen.clean(f.summary)}")
    hang(console, _STEP_INDENT, pen.severity_mark(f.severity) + " ", head)
    for label, item in [*_labelled("evidence:", f.evidence), *_labelled("next:", f.next_steps)]:
        prefix = Text(f"{label:<10}", style=pen.style("dim"))
        hang(console, _DETAIL_INDENT, prefix, Text(pen.clean(item)))


def _labelled(label: str, items: Sequence[str]) -> list[tuple[str, str]]:
    return [(label if i == 0 else "", item) for i, item in enumerate(items)]


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


# --------------------------------------------------------------------------- verdict


def _verdict(t: TargetReport, steps: Sequence[_Step]) -> tuple[str, str]:
    """(style, sentence): the first error finding says it best; otherwise what the steps say."""
    for f in t.findings:
        if f.severity is Severity.ERROR:
            return "error", f.summary
    if t.ports and all(p.state is PortState.OPEN for p in t.ports):
        return "ok", "All probed ports are open"
    for f in t.findings:
        if f.severity is Severity.WARNING:
            return "warning", f.summary
    for step in steps:
        if step.outcome == "fail":
            return "error", f"{step.name}: {step.detail}"
    if not t.ports:
        return "info", "No problem found; no ports were probed"
    return "ok", "No problem found"


def format_ms(value: float) -> str:
    """Milliseconds with the precision that matters at that size: 0.41, 12.3, 250."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
