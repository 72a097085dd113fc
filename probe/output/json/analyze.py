"""``probe analyze --json``: ``{"version": 1, "interrupted": false, "capture": {...},
"attempts", "udp_flows", "summary", "notes", "findings": [...], "servers": [...]}``.

Each finding has the contract's ``code``, ``server`` ("ip:port", "[v6]:port"), ``protocol``
("tcp" or "udp"; a UDP finding has ``datagrams``, ``replies``, ``resent``, ``service`` and
``size`` instead of SYNs: its ``syns`` is null), ``client``,
``count``, ``first`` and ``last`` (ISO 8601, UTC; null for a timestamp that is no date of the
years 1-9999, and a note says so), and check's ``severity``, ``summary``, ``evidence``,
``next_steps``. ``interrupted``: Ctrl-C stopped the reading (exit 130); the report covers
the packets read until then.

One server's many ports failing one way (``probe.capture.analyze.groups``) are also one
finding, written before the others: the keys of a port's finding with ``port`` null,
``"group": true``, ``clients_total``, and the ports as a list (``ports``), a count
(``ports_total``) and runs (``port_ranges``: ``[[1000, 1999], [3000, 3100]]``). The ports'
own findings follow, unchanged but for ``"in_group": true``. Unlike the other documents,
non-ASCII text (a capture's path, "≈" in evidence) is written as it is, not as ``\\u`` escapes.

Findings and servers are written as they are rendered (``writer.Stream``): a capture with
150 000 server ports never holds their dicts, or the whole text, at once.
"""

from __future__ import annotations

from typing import Any, TextIO

from probe.capture.analyze.groups import Member, PortGroup, member
from probe.capture.analyze.results import OK, RST_INJECTED, AnalyzeFinding, ServerSummary
from probe.capture.analyze.scans import Scan
from probe.capture.reader import CaptureInfo
from probe.capture.times import iso
from probe.model import Protocol
from probe.output.base import Format, FormatName
from probe.output.json.common import tcp_options_to_dict
from probe.output.json.writer import Stream, dumps, write
from probe.output.views import CaptureAnalysis, responder

__all__ = ["AnalysisJson", "analysis_data", "analysis_to_dict"]


class AnalysisJson(Format[CaptureAnalysis]):
    name = FormatName.JSON

    def render(self, result: CaptureAnalysis, out: TextIO) -> None:
        write(analysis_data(result, stream=True), out, ensure_ascii=False)


def analysis_to_dict(view: CaptureAnalysis) -> dict[str, Any]:
    """The document as plain JSON-ready data (dicts, lists, str, int, float, bool, None)."""
    return analysis_data(view, stream=False)


def analysis_data(view: CaptureAnalysis, *, stream: bool) -> dict[str, Any]:
    """The document's data; with ``stream`` its findings and servers are ``Stream``s."""
    analysis = view.analysis
    grouped = analysis.grouped
    items: tuple[AnalyzeFinding | PortGroup, ...] = (*analysis.groups, *analysis.findings)
    findings: Any = (
        Stream(items, lambda f, indent: dumps(_item(f, grouped), indent, ensure_ascii=False))
        if stream
        else [_item(f, grouped) for f in items]
    )
    servers: Any = (
        Stream(analysis.servers, _server_text) if stream else [_server(s) for s in analysis.servers]
    )
    return {
        "version": 1,
        "interrupted": view.info.interrupted,
        "capture": _capture(view.info),
        "attempts": analysis.attempts,
        "udp_flows": analysis.flows,
        "summary": list(analysis.summary),
        "notes": [*view.info.remarks, *view.notes],
        "scans": [_scan(s) for s in analysis.scans],
        "findings": findings,
        "servers": servers,
    }


def _item(f: AnalyzeFinding | PortGroup, grouped: frozenset[Member]) -> dict[str, Any]:
    if isinstance(f, PortGroup):
        return _group(f)
    out = _finding(f)
    if member(f.outcome) in grouped:
        out["in_group"] = True
    return out


def _group(g: PortGroup) -> dict[str, Any]:
    """A group's finding: the keys of a port's, ``port`` null, and its ports."""
    return {
        "code": g.code,
        "severity": str(g.severity),
        "server": g.server,
        "address": g.server,
        "port": None,
        "protocol": str(g.protocol),
        "client": g.clients[0] if g.clients else None,
        "clients": list(g.clients),
        "more_clients": g.more_clients or g.clients_total > len(g.clients),
        "clients_total": g.clients_total,
        "count": g.count,
        "syns": None if g.protocol is Protocol.UDP else g.sent,
        "tries": g.tries,
        "first": iso(g.first),
        "last": iso(g.last),
        "first_ts": round(g.first, 6),
        "last_ts": round(g.last, 6),
        "responder": g.responder,
        "ttl": g.ttl,
        "summary": g.summary,
        "evidence": list(g.evidence),
        "next_steps": list(g.next_steps),
        "group": True,
        "ports": list(g.ports),
        "ports_total": len(g.ports),
        "port_ranges": [[a, b] for a, b in g.ranges],
    }


def _server_text(s: ServerSummary, indent: str) -> str:
    return dumps(_server(s), indent, ensure_ascii=False)


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
        "udp_datagrams": info.udp,
        "icmp_errors": info.icmp_errors,
        "skipped": info.skipped,
        "first": iso(info.first_ts),
        "last": iso(info.last_ts),
        "duration_s": span,
        "truncated": info.truncated,
        "problem": info.problem,
        "compressed": info.compressed,
    }


def _finding(f: AnalyzeFinding) -> dict[str, Any]:
    o = f.outcome
    out: dict[str, Any] = {
        "code": f.code,
        "severity": str(f.severity),
        "server": o.endpoint,
        "address": o.server,
        "port": o.port,
        "protocol": str(o.protocol),
        "client": o.clients[0] if o.clients else None,
        "clients": list(o.clients),
        "more_clients": o.more_clients,
        "count": o.count,
        "syns": o.syns,
        "tries": o.tries,
        "first": iso(o.first),
        "last": iso(o.last),
        "first_ts": round(o.first, 6),
        "last_ts": round(o.last, 6),
        "responder": responder(o),
        "ttl": o.answer_ttl,
        "summary": f.summary,
        "evidence": list(f.evidence),
        "next_steps": list(f.next_steps),
    }
    if o.window is not None:
        out["window"] = o.window
    if o.tcp_options is not None:
        out["tcp_options"] = tcp_options_to_dict(o.tcp_options)
    if f.code == OK:
        out["half_open"] = o.half_open
        out["retried"] = o.retried
    if o.protocol is Protocol.UDP:  # "ttl" is the first reply's, or the ICMP sender's
        out["syns"] = None
        out["datagrams"] = o.datagrams
        out["replies"] = o.replies
        out["resent"] = o.resent
        out["service"] = o.service
        out["size"] = o.size
    if f.code == RST_INJECTED:  # "ttl" is the RST's
        out["synack_ttl"] = o.synack_ttl
        out["completed"] = o.completed
        out["rst_bad_ack"] = o.bad_ack
        out["rst_copied_ip_id"] = o.copied_ipid
    return out


def _scan(s: Scan) -> dict[str, Any]:
    return {
        "scanner": s.scanner,
        "protocol": str(s.protocol),
        "targets": list(s.targets),
        "ports_tried": s.ports_tried,
        "open": list(s.open),
        "closed": s.closed,
        "filtered": s.filtered,
        "summary": s.words,
    }


def _server(s: ServerSummary) -> dict[str, Any]:
    return {
        "address": s.address,
        "status": s.status,
        "attempts": s.attempts,
        "ports_ok": list(s.ports_ok),
        "ports_failing": list(s.ports_failing),
        "udp_ports_ok": list(s.udp_ports_ok),
        "udp_ports_failing": list(s.udp_ports_failing),
        "ports": [
            *({"port": p, "protocol": "tcp", "outcomes": dict(codes)} for p, codes in s.ports),
            *({"port": p, "protocol": "udp", "outcomes": dict(codes)} for p, codes in s.udp_ports),
        ],
    }
