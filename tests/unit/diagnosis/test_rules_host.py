"""rules/host.py: duplicate-ip, host-down-on-link, host-unreachable, host-silent,
icmp-blocked."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from diagnosis_cases import ROUTER, SCENARIOS, V6, build, by_code

from probe.diagnosis.context import Source
from probe.diagnosis.outcome import has_problem
from probe.diagnosis.registry import diagnose
from probe.model import ArpResult, Severity


def test_host_silent_says_when_ping_was_skipped(mk: Any) -> None:
    t = build(mk, SCENARIOS["all filtered, ping skipped: host silent"][0])
    f = by_code(diagnose(t))["host-silent"]
    assert "ping was skipped" in f.summary
    t = build(mk, SCENARIOS["all filtered, no ping reply: host silent"][0])
    f = by_code(diagnose(t))["host-silent"]
    assert "no reply to ping" in f.summary and "2 probed ports" in f.summary


def test_a_capture_has_no_ping_step_and_counts_its_own_syns(mk: Any) -> None:
    # probe analyze's evidence: nothing was pinged, and its own line counts the SYNs.
    t = mk.literal(ports=((82, "filtered"), (83, "filtered")), ping=None)
    checked = by_code(diagnose(t))["host-silent"]
    captured = by_code(diagnose(t, source=Source.CAPTURE))["host-silent"]
    assert checked.summary.startswith(
        "The host 198.18.2.1 answers nothing: no answer on any of the 2 probed ports (ping was "
        "skipped), so the host is down"
    )
    # ... and nothing in a capture was probed by probe: its ports were attempted by clients.
    assert captured.summary == checked.summary.replace(" (ping was skipped)", "").replace(
        "2 probed ports", "2 attempted ports"
    )
    assert checked.evidence == ("ping was not run", "3 SYNs to each of 82-83, no answer")
    assert captured.evidence == ()
    assert captured.next_steps == checked.next_steps


def test_host_unreachable_names_the_router(mk: Any) -> None:
    t = build(mk, SCENARIOS["all ports and ping unreachable"][0])
    f = by_code(diagnose(t))["host-unreachable"]
    assert f"router at {ROUTER}" in f.summary and "host unreachable" in f.summary


def test_unreachable_beside_an_open_port_points_at_a_reject_rule(mk: Any) -> None:
    t = build(mk, SCENARIOS["one port unreachable while another is open"][0])
    f = by_code(diagnose(t))["host-unreachable"]
    assert "although the host answers on port 80" in f.summary


def test_icmp_blocked_is_info_and_not_a_problem(mk: Any) -> None:
    t = build(mk, SCENARIOS["all open, ping filtered"][0])
    findings = diagnose(t)
    f = by_code(findings)["icmp-blocked"]
    assert f.severity is Severity.INFO
    assert "ping is not a valid test" in f.summary
    assert not has_problem(findings)


def test_duplicate_ip_lists_the_macs(mk: Any) -> None:
    t = build(mk, SCENARIOS["duplicate IP"][0])
    f = by_code(diagnose(t))["duplicate-ip"]
    assert f.severity is Severity.ERROR
    assert "00:11:22:33:44:55" in f.evidence[0] and "66:77:88:99:aa:bb" in f.evidence[0]


def test_host_down_on_link_says_no_arp(mk: Any) -> None:
    t = build(mk, SCENARIOS["on-link, no ARP answer"][0])
    f = by_code(diagnose(t))["host-down-on-link"]
    assert f.severity is Severity.ERROR
    assert f.evidence[0].startswith("no ARP reply for 198.18.2.1 on eth0")


def test_host_down_on_link_counts_the_requests(mk: Any) -> None:
    t = mk.target(
        (80, "filtered"),
        route=mk.route(None),
        ping=mk.ping("no_reply"),
        arp=ArpResult(macs=(), requests=3, wait_s=1.0, interface="eth0"),
    )
    f = by_code(diagnose(t))["host-down-on-link"]
    assert f.evidence[0] == (
        "no ARP reply for 198.18.2.1 on eth0 to 3 ARP requests within 1 s (it is on the "
        "client's own network segment)"
    )
    t6 = replace(t, address=V6)
    f6 = by_code(diagnose(t6))["host-down-on-link"]
    assert "no neighbour advertisement" in f6.evidence[0]
    assert "3 neighbour solicitations" in f6.evidence[0]
