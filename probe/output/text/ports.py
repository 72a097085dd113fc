"""The ports table of ``probe check``'s text: one row per port, laid out by hand.

The default profile's closed ports on a host that opens some port (``outcome.aside``: no
problem) are one line per state instead of rows, unless ``verbose``: "21 other ports of the
profile closed: RST from the host". Big scans are summarised like nmap does: past
``_BIG_SCAN`` ports, filtered ports (and any other closed state with more than ``_HIDE_OVER``
ports) are counted in one line instead of listed, unless ``verbose``. The table is not
rich's Table, which needs tens of seconds for 65535 rows: the lines are joined into one Text
with the state cells as styled spans.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.text import Span, Text

from probe.diagnosis.classify import reason_text
from probe.diagnosis.context import from_middlebox, reference
from probe.diagnosis.words import group, plural
from probe.model import AppResult, PortResult, PortState, Protocol, TargetReport
from probe.output.text.pen import Pen, format_ms

__all__ = ["aside_word", "render_ports"]

_BIG_SCAN = 50  # more ports than this: summarise the closed ones instead of listing them
_HIDE_OVER = 25  # in a big scan, a closed state with more ports than this is summarised too
_BANNER_MAX = 80  # characters of an application banner shown
_TABLE_INDENT = 4

_SILENT = (PortState.FILTERED, PortState.OPEN_FILTERED)
_COLUMNS = ("PORT", "SERVICE", "STATE", "REASON", "ANSWERED BY", "TTL", "RTT", "TRIES")
_APP_STYLE = {"answered": "ok", "silent": "warning", "error": "fail"}


# What a state is called in the line of the ports set aside: nmap's "closed" for a RST.
_ASIDE_WORDS = {
    PortState.REFUSED: "closed",
    PortState.FILTERED: "filtered",
    PortState.REJECTED: "rejected",
    PortState.UNREACHABLE: "unreachable",
    PortState.OPEN_FILTERED: "open|filtered",
}


def render_ports(
    ports: Sequence[PortResult],
    console: Console,
    pen: Pen,
    verbose: bool,
    *,
    others: Sequence[PortResult] = (),
    target: TargetReport | None = None,
) -> None:
    """The table; ``others`` (the ports set aside) as one line per state, unless ``verbose``.
    ``target`` (the ports' own) tells the host's own answers from a device's in front."""
    if others and not verbose:
        skip = {id(p) for p in others}
        ports = [p for p in ports if id(p) not in skip]
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
    if verbose:
        return
    for g in group(others, lambda p: (p.state, p.protocol)):
        n = len(g)
        udp = " UDP" if g[0].protocol is Protocol.UDP else ""
        line = f"{pad}{n} other{udp} {plural(n, 'port')} of the profile {_ASIDE_WORDS[g[0].state]}"
        console.print(Text(f"{line}: {_aside_how(g, target)}"), soft_wrap=True)


def aside_word(others: Sequence[PortResult]) -> str:
    """ "closed" when every port set aside answered RST, else "not open"."""
    return "closed" if all(p.state is PortState.REFUSED for p in others) else "not open"


def _aside_how(ps: Sequence[PortResult], t: TargetReport | None) -> str:
    """What came back from the ports set aside in one state: "RST from the host". A RST
    from another address, or from fewer hops away than the host's own answers, came from a
    device in front of it (the same test as port-refused-by-middlebox)."""
    state = ps[0].state
    if state in (PortState.FILTERED, PortState.OPEN_FILTERED):
        return "no answer"
    tcp = all(p.protocol is Protocol.TCP for p in ps)  # UDP's refusal is an ICMP error
    if state is PortState.REFUSED and all(p.responder is None for p in ps):
        return "connection refused"  # connect(): neither sender nor TTL known
    if state is PortState.REFUSED and tcp and t is not None:
        ref = reference(t, [p for p in t.ports if p.state is PortState.OPEN])
        fronted = [from_middlebox(t, p, ref) for p in ps]
        if all(fronted):
            return "RST from a device in front of the host"
        return "RST from the host" if not any(fronted) else "RST from the host or a device in front"
    address = t.address if t is not None else None
    senders = {p.responder for p in ps if p.responder is not None}
    who = ", ".join(sorted("the host" if r == address else r for r in senders))
    what = (
        "RST"
        if state is PortState.REFUSED and tcp
        else ", ".join(sorted({reason_text(p.reason) for p in ps}))
    )
    return f"{what} from {who}" if who else what


def _visible(
    ports: Sequence[PortResult], verbose: bool
) -> tuple[list[PortResult], list[tuple[PortState, int, list[str]]]]:
    """The ports to list, and (state, count, reasons) for each state summarised instead."""
    if verbose or len(ports) <= _BIG_SCAN:
        return list(ports), []
    counts = Counter(p.state for p in ports)
    hide = {
        s for s, n in counts.items() if s in _SILENT or (s is not PortState.OPEN and n > _HIDE_OVER)
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
        str(p.port) if p.protocol is Protocol.TCP else f"{p.port}/{p.protocol}",
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
        extra = _tcp_detail(p) if p.protocol is Protocol.TCP else _udp_detail(p, pen)
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


def _udp_detail(p: PortResult, pen: Pen) -> str:
    """What a UDP port's answer decodes as ("NTP server, stratum 2"); with --app the same
    words are the application line below the row instead."""
    if p.decoded is None or p.app is not None:
        return ""
    return _cut(pen.clean(p.decoded), pen)


def _cut(text: str, pen: Pen) -> str:
    return text[:_BANNER_MAX] + pen.glyphs.ellipsis if len(text) > _BANNER_MAX else text


def _app_detail(a: AppResult, pen: Pen) -> str:
    text = f"{pen.clean(a.protocol)} {pen.clean(a.status)}"
    if a.banner:
        text += f': "{_cut(pen.clean(a.banner), pen)}"'
    if a.detail:
        text += f"; {pen.clean(a.detail)}"
    return text
