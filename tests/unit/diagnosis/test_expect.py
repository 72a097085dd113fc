"""Audit verdicts for UDP: expectations meet port results by (port, protocol), UDP silence
is read as the docstring of probe.diagnosis.expect says, and the finding that explains a
failure is the one about that port over that protocol."""

from __future__ import annotations

from typing import Any

import pytest

from probe.diagnosis import expect
from probe.diagnosis.expect import Verdict
from probe.model import Finding, Method, Protocol, Report, Severity, TargetReport
from probe.plan import audit as audit_file

TCP, UDP = Protocol.TCP, Protocol.UDP


def verdicts(text: str, target: TargetReport, mode: Method = Method.RAW) -> expect.HostResult:
    plan = audit_file.parse_audit(
        '[[hosts]]\ntarget = "pbx.example"\n' + text, "site.toml", lambda n: pytest.fail(n)
    )
    (host,) = expect.evaluate(plan, Report(targets=(target,), mode=mode))
    return host


def pbx(mk: Any, *findings: Finding) -> TargetReport:
    """53 open over TCP and silent over UDP; 123/udp answers; 161/udp refused (ICMP port
    unreachable from the host); 514/udp silent."""
    return mk.target(
        (53, "open", 63),
        {"port": 53, "state": "open|filtered", "protocol": "udp"},
        {"port": 123, "state": "open", "protocol": "udp", "decoded": "NTP server, stratum 2"},
        {"port": 161, "state": "refused", "protocol": "udp"},
        {"port": 514, "state": "open|filtered", "protocol": "udp"},
        input="pbx.example",
        findings=findings,
    )


@pytest.mark.parametrize(
    ("text", "verdict", "message"),
    [
        ("udp_open = [123]", Verdict.PASS, "expected open, observed open"),
        (
            "udp_open = [53]",
            Verdict.FAIL,
            "expected open, observed open|filtered: the service did not answer the request",
        ),
        ("udp_open = [161]", Verdict.FAIL, "expected open, observed refused"),
        (
            "udp_blocked = [514]",
            Verdict.PASS,
            "expected blocked, observed open|filtered (taken as blocked: nothing answered, "
            "though a service that ignores the request is silent too)",
        ),
        ("udp_blocked = [161]", Verdict.PASS, "expected blocked, observed refused"),
        ("udp_blocked = [123]", Verdict.FAIL, "expected blocked, observed open"),
        (
            "udp_filtered = [514]",
            Verdict.PASS,
            "expected filtered, observed open|filtered (silence",
        ),
        ("udp_filtered = [161]", Verdict.FAIL, "expected filtered, observed refused"),
        ("udp_refused = [161]", Verdict.PASS, "expected refused, observed refused"),
        (
            "udp_refused = [514]",
            Verdict.FAIL,
            "expected refused, observed open|filtered: no ICMP port unreachable came back",
        ),
        ("open = [53]", Verdict.PASS, "expected open, observed open"),  # 53/tcp, not 53/udp
        ("blocked = [123]", Verdict.ERROR, "expected blocked, not checked"),  # 123/tcp: not probed
    ],
)
def test_udp_verdicts(mk: Any, text: str, verdict: Verdict, message: str) -> None:
    (r,) = verdicts(text, pbx(mk)).results
    assert r.verdict is verdict, r.message
    assert r.message.startswith(message), r.message


def test_the_explaining_finding_is_about_the_same_protocol(mk: Any) -> None:
    tcp_53 = Finding("port-refused", Severity.ERROR, "53/tcp words", ports=(53,))
    udp_53 = Finding(
        "udp-no-answer", Severity.WARNING, "53/udp words", ports=(53, 514), protocols=(UDP, UDP)
    )
    (r,) = verdicts("udp_open = [53]", pbx(mk, tcp_53, udp_53)).results
    assert r.finding is udp_53  # the TCP error naming 53 explains nothing about 53/udp
    mixed = Finding("x", Severity.ERROR, "both", ports=(53, 53), protocols=(TCP, UDP))
    (r,) = verdicts("udp_open = [53]", pbx(mk, mixed)).results
    assert r.finding is mixed


def test_an_open_udp_port_expected_blocked_is_explained_in_udp_words(mk: Any) -> None:
    (r,) = verdicts("udp_blocked = [123]", pbx(mk)).results
    f = r.finding
    assert f is not None and f.code == expect.PORT_OPEN_CODE
    assert f.ports == (123,) and f.protocols == (UDP,)
    assert f.summary.startswith(f"Port 123/udp on {mk.host} is open: something answers")
    assert f.evidence == (
        f"UDP answer from {mk.host} on 123/udp (NTP server, stratum 2) with TTL 63",
    )
    assert any("drops UDP 123 from" in s for s in f.next_steps)
    (r,) = verdicts("udp_blocked = [123]", pbx(mk), Method.CONNECT).results
    assert r.finding is not None
    assert r.finding.evidence == (f"a connected UDP socket to 123/udp on {mk.host} got an answer",)


def test_tcp_open_explanation_is_unchanged(mk: Any) -> None:
    (r,) = verdicts("blocked = [53]", pbx(mk)).results
    assert r.finding is not None and r.finding.protocols == ()
    assert r.finding.evidence == (f"SYN/ACK from {mk.host} on 53 with TTL 63",)
    assert "drops TCP 53 from" in r.finding.next_steps[1]


def test_ports_are_looked_up_once_per_target(mk: Any) -> None:
    """Thousands of UDP expectations on one target, each meeting its own port."""
    many = mk.target(
        *({"port": p, "state": "open|filtered", "protocol": "udp"} for p in range(1, 5001)),
        input="pbx.example",
    )
    host = verdicts('udp_filtered = ["1-5000"]', many)
    assert host.count(Verdict.PASS) == 5000
