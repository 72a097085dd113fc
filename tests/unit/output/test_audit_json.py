"""``probe audit --json`` on a host whose every port fails for one reason: each expectation
quotes the explaining finding for its own port, so the document grows with the ports, not
with their square."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from probe.diagnosis.expect import AuditResult, evaluate
from probe.diagnosis.registry import diagnose
from probe.model import (
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    PortResult,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    TargetReport,
)
from probe.output.base import FormatName
from probe.output.registry import render
from probe.plan.audit import parse_audit

HOST = "198.18.1.10"


def refused_everywhere(n: int) -> str:
    plan = parse_audit(f'[[hosts]]\ntarget = "{HOST}"\nopen = ["1-{n}"]\n', "x.toml", print)
    ports = tuple(
        PortResult(p, PortState.REFUSED, "reset", 1, responder=HOST, ttl=63)
        for p in range(1, n + 1)
    )
    t = TargetReport(
        HOST,
        HOST,
        DnsResult(DnsStatus.LITERAL, (HOST,)),
        RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1"),
        PingResult(PingStatus.OK, 3, 3, ttl=63),
        ports=ports,
    )
    report = Report((replace(t, findings=diagnose(t)),))
    out = io.StringIO()
    render(AuditResult(plan, report, evaluate(plan, report)), FormatName.JSON, out)
    return out.getvalue()


def test_each_expectation_quotes_the_finding_for_its_own_port() -> None:
    data = json.loads(refused_everywhere(300))
    (host,) = data["audit"]["hosts"]
    assert len(host["expectations"]) == 300
    for e in host["expectations"]:
        assert e["finding"]["code"] == "port-refused"
        assert e["finding"]["ports"] == [e["port"]] and e["finding"]["ports_total"] == 300
        assert e["protocol"] == "tcp" and e["finding"]["protocols"] == ["tcp"]
    (target,) = data["targets"]
    (whole,) = [f for f in target["findings"] if f["code"] == "port-refused"]
    assert whole["ports"] == list(range(1, 301))  # the target's findings keep it whole


def test_the_document_grows_linearly_with_the_ports() -> None:
    small, large = len(refused_everywhere(500)), len(refused_everywhere(2000))
    assert large < 5 * small  # four times the ports: quadratic growth would be sixteen
