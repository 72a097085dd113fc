"""``probe analyze --json``: ``{"version": 1, "capture": {...}, "attempts", "summary",
"notes", "findings": [...], "servers": [...]}``.

Each finding has the contract's ``code``, ``server`` ("ip:port", "[v6]:port"), ``client``,
``count``, ``first`` and ``last`` (ISO 8601, UTC), and check's ``severity``, ``summary``,
``evidence``, ``next_steps``. Unlike the other documents, non-ASCII text (a capture's path)
is written as it is, not as ``\\u`` escapes.
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from probe.capture.analyze.results import OK, AnalyzeFinding, ServerSummary
from probe.capture.reader import CaptureInfo
from probe.output.base import Format, FormatName
from probe.output.json.common import tcp_options_to_dict
from probe.output.views import CaptureAnalysis, responder

__all__ = ["AnalysisJson", "analysis_to_dict"]


class AnalysisJson(Format[CaptureAnalysis]):
    name = FormatName.JSON

    def render(self, result: CaptureAnalysis, out: TextIO) -> None:
        out.write(json.dumps(analysis_to_dict(result), indent=2, ensure_ascii=False) + "\n")


def analysis_to_dict(view: CaptureAnalysis) -> dict[str, Any]:
    analysis = view.analysis
    return {
        "version": 1,
        "capture": _capture(view.info),
        "attempts": analysis.attempts,
        "summary": list(analysis.summary),
        "notes": list(view.notes),
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
        "responder": responder(o),
        "ttl": o.ttl,
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
    return out


def _server(s: ServerSummary) -> dict[str, Any]:
    return {
        "address": s.address,
        "status": s.status,
        "attempts": s.attempts,
        "ports_ok": list(s.ports_ok),
        "ports_failing": list(s.ports_failing),
        "ports": [{"port": p, "outcomes": dict(codes)} for p, codes in s.ports],
    }
