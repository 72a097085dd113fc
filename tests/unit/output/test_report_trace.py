"""The trace output (text/trace.py, json/trace.py): JSON keys and values, the hop table."""

from __future__ import annotations

import io
import json

from rich.console import Console

from probe.model import (
    DnsResult,
    DnsStatus,
    Finding,
    Hop,
    PortState,
    Protocol,
    Severity,
    TraceReport,
    TraceVerdict,
)
from probe.output.base import FormatName
from probe.output.registry import render
from probe.output.text.trace import render_trace

HOST = "198.18.1.10"
ROUTER = "198.18.0.1"
FILTERED = TraceReport(
    input="web.example",
    address=HOST,
    port=82,
    dns=DnsResult(DnsStatus.OK, (HOST,)),
    hops=(
        Hop(1, "time-exceeded", ROUTER, 0.1234, "time-exceeded", 64, 1),
        Hop(2, "none", reason="no-response", tries=3),
    ),
    verdict=TraceVerdict(
        PortState.FILTERED,
        "Port 82 is filtered: the SYN got as far as hop 1 (198.18.0.1); after that nothing "
        "answers.",
        last_responder=ROUTER,
        stopped_at_ttl=1,
        reason="no-response",
    ),
)


def text(report: TraceReport, out: io.StringIO | None = None) -> str:
    out = out or io.StringIO()
    render_trace(report, Console(file=out, width=100))
    return out.getvalue()


def render_trace_json(report: TraceReport) -> str:
    out = io.StringIO()
    render(report, FormatName.JSON, out)
    return out.getvalue()


def test_json_keys_and_values() -> None:
    data = json.loads(render_trace_json(FILTERED))
    assert data == {
        "version": 1,
        "target": "web.example",
        "address": HOST,
        "port": 82,
        "protocol": "tcp",
        "max_hops": 30,
        "interrupted": False,
        "hops": [
            {
                "ttl": 1,
                "responder": ROUTER,
                "kind": "time-exceeded",
                "rtt_ms": 0.123,
                "reason": "time-exceeded",
                "reply_ttl": 64,
                "tries": 1,
            },
            {
                "ttl": 2,
                "responder": None,
                "kind": "none",
                "rtt_ms": None,
                "reason": "no-response",
                "reply_ttl": None,
                "tries": 3,
            },
        ],
        "verdict": {
            "state": "filtered",
            "last_responder": ROUTER,
            "stopped_at_ttl": 1,
            "summary": FILTERED.verdict.summary,
            "reason": "no-response",
        },
        "findings": [],
    }


def test_json_when_nothing_was_traced() -> None:
    finding = Finding("dns-nxdomain", Severity.ERROR, "The name does not exist.", evidence=("x",))
    report = TraceReport(
        input="nope.example",
        address=None,
        port=80,
        dns=DnsResult(DnsStatus.NXDOMAIN),
        verdict=TraceVerdict(None, finding.summary),
        findings=(finding,),
    )
    data = json.loads(render_trace_json(report))
    assert data["hops"] == [] and data["verdict"]["state"] is None
    assert [f["code"] for f in data["findings"]] == ["dns-nxdomain"]


def test_text_is_a_hop_table_and_a_conclusion() -> None:
    lines = text(FILTERED).splitlines()
    assert lines[0] == "web.example → 198.18.1.10, TCP port 82, up to 30 hops"
    assert lines[1].split() == ["HOP", "ANSWERED", "BY", "ANSWER", "TTL", "RTT", "TRIES"]
    assert lines[2].split() == ["1", ROUTER, "time-exceeded", "64", "0.12", "ms", "1"]
    assert lines[3].split() == ["2", "*", "none", "-", "-", "3"]
    assert lines[4].startswith("  Verdict: Port 82 is filtered: the SYN got as far as hop 1")
    assert "\x1b[" not in "\n".join(lines)


def test_text_rejected_hop_shows_the_icmp_reason_and_this_computer() -> None:
    report = TraceReport(
        input=HOST,
        address=HOST,
        port=82,
        dns=DnsResult(DnsStatus.LITERAL, (HOST,)),
        hops=(Hop(1, "rejected", None, reason="local-reject", tries=1),),
        verdict=TraceVerdict(PortState.REJECTED, "Port 82 is rejected at hop 1."),
        interrupted=True,
    )
    out = text(report)
    assert out.splitlines()[0] == "198.18.1.10, TCP port 82, up to 30 hops"
    assert "this computer  rejected (local-reject)" in out
    assert "Interrupted: partial trace" in out


def test_text_when_nothing_was_traced_prints_the_finding() -> None:
    finding = Finding("no-route", Severity.ERROR, "No route.", evidence=("e1",), next_steps=("n1",))
    report = TraceReport(
        input=HOST,
        address=HOST,
        port=80,
        dns=DnsResult(DnsStatus.LITERAL, (HOST,)),
        verdict=TraceVerdict(None, "No route."),
        findings=(finding,),
    )
    out = text(report)
    assert "HOP" not in out and "no-route: No route." in out and "Verdict: No route." in out


def test_text_ascii_console() -> None:
    class AsciiFile(io.StringIO):
        encoding = "ascii"

    out = text(FILTERED, AsciiFile())
    assert out.isascii() and out.startswith("web.example -> 198.18.1.10")


UDP_CLOSED = TraceReport(
    input=HOST,
    address=HOST,
    port=9002,
    dns=DnsResult(DnsStatus.LITERAL, (HOST,)),
    hops=(
        Hop(1, "time-exceeded", ROUTER, 0.2, "time-exceeded", 64, 1),
        Hop(2, "refused", HOST, 0.3, "port-unreach", 63, 1),
    ),
    verdict=TraceVerdict(PortState.REFUSED, "Port 9002/udp is refused: ...", HOST, 2),
    protocol=Protocol.UDP,
)


def test_udp_json_says_udp() -> None:
    data = json.loads(render_trace_json(UDP_CLOSED))
    assert data["protocol"] == "udp" and data["port"] == 9002
    assert [h["kind"] for h in data["hops"]] == ["time-exceeded", "refused"]


def test_udp_text_header_and_the_refusals_reason() -> None:
    lines = text(UDP_CLOSED).splitlines()
    assert lines[0] == "198.18.1.10, UDP port 9002, up to 30 hops"
    assert lines[3].split()[:4] == ["2", HOST, "refused", "(port-unreach)"]
