"""``probe analyze`` output: the capture's connection attempts for a person (text) or a
program (JSON).

Text::

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

The findings are check's sentences (see probe.analyze), laid out as check lays them out, with
the same console rules (no colour unless a colour terminal, ASCII glyphs on other encodings,
network text escaped). Large captures stay readable: past ``_BIG`` rows, server ports where
every attempt completed are counted instead of listed, at most ``_MAX_ROWS`` problem rows and
``_MAX_FINDINGS`` findings are written out, and the ``ok`` findings appear only with
``--verbose`` (which lifts every limit; ``--json`` has everything).

JSON: ``{"version": 1, "capture": {...}, "attempts", "summary", "notes", "findings": [...],
"servers": [...]}``; each finding has the contract's ``code``, ``server`` ("ip:port",
"[v6]:port"), ``client``, ``count``, ``first`` and ``last`` (ISO 8601, UTC), and check's
``severity``, ``summary``, ``evidence``, ``next_steps``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from probe.capture.analyze import (
    OK,
    PROBLEMS,
    Analysis,
    AnalyzeFinding,
    Outcome,
    ServerSummary,
    clock,
)
from probe.capture.reader import CaptureInfo
from probe.diagnosis.diagnose import port_list
from probe.model import TcpOptions
from probe.output.text import Pen, hang

__all__ = ["analysis_to_dict", "render_json", "render_text"]

_BIG = 50  # more table rows than this: the all-ok server ports are counted, not listed
_MAX_FINDINGS = 100  # problem findings written out in text (all of them in JSON)
_MAX_ROWS = 500  # table rows with a problem listed in text
_COLUMNS = ("SERVER", "OUTCOME", "ATTEMPTS", "SYNS", "ANSWERED BY", "TTL", "CLIENT", "FIRST")
_DETAIL_INDENT = 6
_STEP_INDENT = 2
_TABLE_INDENT = 2

# --------------------------------------------------------------------------- JSON


def render_json(info: CaptureInfo, analysis: Analysis) -> str:
    return json.dumps(analysis_to_dict(info, analysis), indent=2, ensure_ascii=False) + "\n"


def analysis_to_dict(info: CaptureInfo, analysis: Analysis) -> dict[str, Any]:
    return {
        "version": 1,
        "capture": _capture(info),
        "attempts": analysis.attempts,
        "summary": list(analysis.summary),
        "notes": _notes(info, analysis),
        "findings": [_finding(f) for f in analysis.findings],
        "servers": [_server(s) for s in analysis.servers],
    }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    whole = int(ts)
    micro = min(round((ts - whole) * 1e6), 999_999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micro:06d}Z"


def _capture(info: CaptureInfo) -> dict[str, Any]:
    span = None
    if info.first_ts is not None and info.last_ts is not None:
        span = round(info.last_ts - info.first_ts, 6)
    return {
        "path": info.path,
        "format": info.format,
        "link_types": list(info.link_names),
        "packets": info.packets,
        "tcp_segments": info.tcp,
        "icmp_errors": info.icmp_errors,
        "skipped": info.skipped,
        "first": _iso(info.first_ts),
        "last": _iso(info.last_ts),
        "duration_s": span,
        "truncated": info.truncated,
        "problem": info.problem,
    }


def _responder(o: Outcome) -> str | None:
    if o.responders:
        return o.responders[0][0]
    if o.ttls:
        return o.server  # a SYN/ACK or RST: from the server's address
    return None


def _finding(f: AnalyzeFinding) -> dict[str, Any]:
    o = f.outcome
    out: dict[str, Any] = {
        "code": f.code,
        "severity": str(f.severity),
        "server": o.endpoint,
        "address": o.server,
        "port": o.port,
        "client": o.clients[0] if o.clients else None,
        "clients": list(o.clients),
        "more_clients": o.more_clients,
        "count": o.count,
        "syns": o.syns,
        "tries": o.tries,
        "first": _iso(o.first),
        "last": _iso(o.last),
        "first_ts": round(o.first, 6),
        "last_ts": round(o.last, 6),
        "responder": _responder(o),
        "ttl": o.ttl,
        "summary": f.summary,
        "evidence": list(f.evidence),
        "next_steps": list(f.next_steps),
    }
    if o.window is not None:
        out["window"] = o.window
    if o.tcp_options is not None:
        out["tcp_options"] = _options(o.tcp_options)
    if f.code == OK:
        out["half_open"] = o.half_open
        out["retried"] = o.retried
    return out


def _options(o: TcpOptions) -> dict[str, Any]:
    return {
        "mss": o.mss,
        "wscale": o.wscale,
        "sack_permitted": o.sack_permitted,
        "timestamps": o.timestamps,
    }


def _server(s: ServerSummary) -> dict[str, Any]:
    return {
        "address": s.address,
        "status": s.status,
        "attempts": s.attempts,
        "ports_ok": list(s.ports_ok),
        "ports_failing": list(s.ports_failing),
        "ports": [{"port": p, "outcomes": dict(codes)} for p, codes in s.ports],
    }


def _notes(info: CaptureInfo, analysis: Analysis) -> list[str]:
    notes = []
    if info.truncated:
        notes.append(
            f"The capture is damaged or cut short ({info.problem}): only the {info.packets} "
            "packets before that point were analysed."
        )
    return notes + list(analysis.notes)


# --------------------------------------------------------------------------- text


def render_text(
    info: CaptureInfo, analysis: Analysis, console: Console, *, verbose: bool = False
) -> None:
    pen = Pen(console)
    hang(console, 0, pen.styled("Capture  ", "heading"), Text(pen.clean(_capture_line(info))))
    for note in _notes(info, analysis):
        hang(console, _STEP_INDENT, pen.styled("Note: ", "note"), Text(pen.clean(note)))
    if analysis.outcomes:
        _table(analysis.outcomes, console, pen, verbose)
    problems = [f for f in analysis.findings if f.code in PROBLEMS]
    shown = [*problems, *(f for f in analysis.findings if verbose and f.code == OK)]
    if shown:
        hang(console, 0, pen.styled("Findings", "heading"), Text())
        limit = len(shown) if verbose else _MAX_FINDINGS
        for f in shown[:limit]:
            render_finding(f, console, pen)
        if len(shown) > limit:
            more = f"{len(shown) - limit} more findings: --verbose or --json shows them all"
            console.print(Text(" " * _STEP_INDENT + more, style=pen.style("dim")))
    if analysis.servers:
        hang(console, 0, pen.styled("Servers", "heading"), Text())
        listed = analysis.servers[: None if verbose else _BIG]
        width = max(len(s.address) for s in listed)
        for s in listed:
            _render_server(s, width, console, pen)
        hidden = len(analysis.servers) - _BIG
        if not verbose and hidden > 0:
            line = f"{hidden} more servers: --verbose or --json shows them all"
            console.print(Text(" " * _STEP_INDENT + line, style=pen.style("dim")))
    style = "error" if analysis.problem else "ok" if analysis.servers else "info"
    hang(
        console,
        0,
        pen.styled("Verdict: ", "heading"),
        Text(pen.clean(" ".join(analysis.summary)), style=pen.style(style)),
    )


def _capture_line(info: CaptureInfo) -> str:
    links = ", ".join(info.link_names) or "no interface"
    errors = "error" if info.icmp_errors == 1 else "errors"
    parts = [
        f"{info.path}: {info.format}, {links}, {info.packets} packets "
        f"({info.tcp} TCP, {info.icmp_errors} ICMP {errors})"
    ]
    if info.first_ts is not None and info.last_ts is not None:
        parts.append(f"from {clock(info.first_ts)}, {info.last_ts - info.first_ts:.1f} s")
    return ", ".join(parts)


def _row(o: Outcome) -> tuple[str, ...]:
    client = o.clients[0] if o.clients else "-"
    if len(o.clients) > 1 or o.more_clients:
        client += f" +{len(o.clients) - 1}{'+' if o.more_clients else ''}"
    return (
        o.endpoint,
        o.code,
        str(o.count),
        str(o.syns),
        _responder(o) or "-",
        "-" if o.ttl is None else str(o.ttl),
        client,
        clock(o.first)[11:23],
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
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_COLUMNS)]
        head = "  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True)).rstrip()
        out = Text(pad)
        out.append(head, style=pen.style("heading"))
        for o, row in zip(shown, rows, strict=True):
            out.append("\n" + pad)
            cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
            out.append(pen.clean(cells[0]) + "  ")
            style = pen.style("open" if o.code == OK else "refused")
            out.append(cells[1], style=style)
            out.append(("  " + "  ".join(cells[2:])).rstrip())
        console.print(out, soft_wrap=True, no_wrap=True, overflow="ignore")
    if more_rows:
        line = f"{pad}{more_rows} more rows with problems: --verbose or --json shows them all"
        console.print(Text(line, style=pen.style("dim")), soft_wrap=True)
    if hidden:
        line = f"{pad}{hidden} server ports where every attempt completed not shown (--verbose)"
        console.print(Text(line, style=pen.style("dim")), soft_wrap=True)


def render_finding(f: AnalyzeFinding, console: Console, pen: Pen) -> None:
    head = pen.styled(f.code, "code")
    head.append(f" ({pen.clean(f.server)}): {pen.clean(f.summary)}")
    hang(console, _STEP_INDENT, pen.severity_mark(f.severity) + " ", head)
    for label, item in [*_labelled("evidence:", f.evidence), *_labelled("next:", f.next_steps)]:
        prefix = Text(f"{label:<10}", style=pen.style("dim"))
        hang(console, _DETAIL_INDENT, prefix, Text(pen.clean(item)))


def _labelled(label: str, items: Iterable[str]) -> list[tuple[str, str]]:
    return [(label if i == 0 else "", item) for i, item in enumerate(items)]


def _render_server(s: ServerSummary, width: int, console: Console, pen: Pen) -> None:
    mark = pen.mark("ok" if s.status == "ok" else "fail")
    words: list[str] = []
    if s.ports_ok:
        n = len(s.ports_ok)
        words.append(f"{_ports(s.ports_ok)} {'works' if n == 1 else 'work'}")
    if s.ports_failing:
        n = len(s.ports_failing)
        words.append(f"{_ports(s.ports_failing)} {'fails' if n == 1 else 'fail'}")
    mark.append(f" {pen.clean(s.address):<{width}}  ")
    hang(console, _STEP_INDENT, mark, Text(f"{s.status}: " + "; ".join(words)))


def _ports(ports: Sequence[int]) -> str:
    return f"{'port' if len(ports) == 1 else 'ports'} {port_list(ports)}"
