"""registry.py: the scenarios through every rule in order, what every finding must hold,
and the order of the gates and rules."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from diagnosis_cases import SCENARIOS, build, text

from probe.diagnosis.outcome import has_problem, worst_severity
from probe.diagnosis.registry import GATES, RULES, diagnose
from probe.model import Finding, Method, PortState, Severity


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(mk: Any, name: str) -> None:
    spec, mode, expected = SCENARIOS[name]
    findings = diagnose(build(mk, spec), mode=mode)
    assert [(f.code, f.ports) for f in findings] == list(expected.items())


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_finding_is_complete(mk: Any, name: str) -> None:
    spec, mode, _ = SCENARIOS[name]
    for f in diagnose(build(mk, spec), mode=mode):
        assert f.summary.endswith(".") and f.summary[0].isupper(), f.summary
        assert "\n" not in f.summary
        assert f.evidence and all(f.evidence), f.code
        assert f.next_steps and all(f.next_steps), f.code


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_port_not_open_is_in_an_error(mk: Any, name: str) -> None:
    # The exit status relies on this: no error finding means every probed port is open.
    spec, mode, _ = SCENARIOS[name]
    t = build(mk, spec)
    findings = diagnose(t, mode=mode)
    named = {p for f in findings if f.severity is Severity.ERROR for p in f.ports}
    not_open = {p.port for p in t.ports if p.state is not PortState.OPEN}
    assert not_open <= named
    silent_app = any(p.app is not None and p.app.status == "silent" for p in t.ports)
    duplicate = t.arp is not None and len(t.arp.macs) > 1
    if not not_open and not silent_app and not duplicate:
        assert not has_problem(findings)
    else:
        assert has_problem(findings)


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if s[1] is Method.CONNECT])
def test_connect_mode_claims_no_ttl_or_responder(mk: Any, name: str) -> None:
    spec, mode, _ = SCENARIOS[name]
    t = build(mk, {**spec, "ping": ("skipped",)})
    for f in diagnose(t, mode=mode):
        assert not re.search(r"TTL \d|hops?\b", text(f)), text(f)


def test_everything_open_and_ping_ok_has_no_findings(mk: Any) -> None:
    t = mk.target(*[(p, "open") for p in (22, 80, 443)])
    assert diagnose(t) == ()
    assert worst_severity(diagnose(t)) is None


def test_one_finding_per_code(mk: Any) -> None:
    for spec, mode, _ in SCENARIOS.values():
        codes = [f.code for f in diagnose(build(mk, spec), mode=mode)]
        assert len(codes) == len(set(codes))


def test_input_findings_are_ignored(mk: Any) -> None:
    t = mk.target((80, "open"))
    stale = Finding("port-filtered", Severity.ERROR, "old")
    assert diagnose(replace(t, findings=(stale,))) == ()


def test_rule_order() -> None:
    assert [r.__name__ for r in GATES] == ["dns_failure", "no_route"]
    assert [r.__name__ for r in RULES] == [
        "dns_hosts_override",
        "duplicate_ip",
        "host_down_on_link",
        "host_unreachable",
        "host_silent",
        "icmp_blocked",
        "port_refused_by_middlebox",
        "port_refused",
        "port_rejected",
        "port_filtered",
        "udp_no_answer",
        "icmp_rate_limited",
        "path_loss",
        "partial_reachability",
        "app_silent",
        "app_error",
        "tls_certificate",
        "mss_clamped",
        "tcp_options_stripped",
    ]
