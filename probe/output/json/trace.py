"""``probe trace --json``::

    {"version": 1, "target": "web.example", "address": "198.18.1.10", "port": 82,
     "protocol": "tcp", "max_hops": 30, "interrupted": false,
     "hops": [{"ttl": 1, "responder": "198.18.0.1", "kind": "time-exceeded", "rtt_ms": 0.12,
               "reason": "time-exceeded", "reply_ttl": 64, "tries": 1}, ...],
     "verdict": {"state": "filtered", "last_responder": "198.18.0.1", "stopped_at_ttl": 1,
                 "summary": "...", "reason": "no-response"},
     "findings": []}

``protocol`` is "tcp" (SYNs) or "udp" (``--udp``: datagrams). ``kind`` is one of
"time-exceeded", "syn-ack", "rst", "udp-response", "refused" (UDP: the target's own ICMP port
unreachable), "rejected", "unreachable" (with the ICMP reason in ``reason``: admin-prohibited,
port-unreach, host-unreach, ...) or "none". ``verdict.state`` is a port state word
("open|filtered" for UDP's silence), or null when nothing was traced.
"""

from __future__ import annotations

from typing import Any, TextIO

from probe.model import Hop, TraceReport
from probe.output.base import Format, FormatName
from probe.output.json.common import finding_to_dict, ms
from probe.output.json.writer import write

__all__ = ["TraceJson", "trace_to_dict"]


class TraceJson(Format[TraceReport]):
    name = FormatName.JSON

    def render(self, result: TraceReport, out: TextIO) -> None:
        write(trace_to_dict(result), out)


def trace_to_dict(report: TraceReport) -> dict[str, Any]:
    v = report.verdict
    return {
        "version": report.version,
        "target": report.input,
        "address": report.address,
        "port": report.port,
        "protocol": report.protocol.value,
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
        "rtt_ms": ms(h.rtt_ms),
        "reason": h.reason,
        "reply_ttl": h.reply_ttl,
        "tries": h.tries,
    }
