"""diagnose.py: each rule, its negative cases, grouping, gates, family mismatch, exit status.

Scenarios are plain data: the target's ports as ``mk.port()`` arguments plus ping/route/arp
overrides, and the finding codes (in order) with the ports each one names.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from typing import Any

import pytest

from probe.diagnosis.diagnose import (
    GATES,
    RULES,
    attach_family_findings,
    diagnose,
    diagnose_family,
    has_problem,
    port_list,
    same_address,
    worst_severity,
)
from probe.model import (
    AppResult,
    ArpResult,
    DnsStatus,
    Finding,
    PortState,
    Severity,
    TargetReport,
    TcpOptions,
)

ROUTER = "198.18.0.1"
V6 = "2001:db8::7"

# id -> (target spec for mk.target, mode, {code: ports} in finding order)
Spec = dict[str, Any]
SCENARIOS: dict[str, tuple[Spec, str, dict[str, tuple[int, ...]]]] = {
    "all open, ping ok": (
        {"ports": [(80, "open"), (443, "open")]},
        "syn",
        {},
    ),
    "all open, ping filtered": (
        {"ports": [(80, "open")], "ping": ("no_reply",)},
        "syn",
        {"icmp-blocked": ()},
    ),
    "all open, ping skipped": (
        {"ports": [(80, "open")], "ping": ("skipped",)},
        "syn",
        {},
    ),
    "camera: NAT forwards 80, router resets 6036": (
        {"ports": [(80, "open", 63), (6036, "refused", 64)], "ping": ("ok", 64)},
        "syn",
        {"port-refused-by-middlebox": (6036,), "partial-reachability": (6036,)},
    ),
    "RST with the same TTL as the SYN/ACK": (
        {"ports": [(80, "open", 63), (22, "refused", 63)]},
        "syn",
        {"port-refused": (22,), "partial-reachability": (22,)},
    ),
    "RST from another address, same TTL": (
        {
            "ports": [
                (80, "open", 63),
                {"port": 22, "state": "refused", "ttl": 63, "responder": ROUTER},
            ]
        },
        "syn",
        {"port-refused-by-middlebox": (22,), "partial-reachability": (22,)},
    ),
    "RST from another address, no reference at all": (
        {
            "ports": [{"port": 22, "state": "refused", "ttl": 64, "responder": ROUTER}],
            "ping": ("no_reply",),
        },
        "syn",
        {"port-refused-by-middlebox": (22,)},
    ),
    "RST closer than the echo reply, no SYN/ACK": (
        {"ports": [(6036, "refused", 64)], "ping": ("ok", 63)},
        "syn",
        {"port-refused-by-middlebox": (6036,)},
    ),
    "RST as far as the echo reply": (
        {"ports": [(22, "refused", 63)], "ping": ("ok", 63)},
        "syn",
        {"port-refused": (22,)},
    ),
    "RST, nothing to compare with": (
        {"ports": [(22, "refused", 64)], "ping": ("no_reply",)},
        "syn",
        {"icmp-blocked": (), "port-refused": (22,)},
    ),
    "RST farther than the SYN/ACK": (
        {"ports": [(80, "open", 63), (22, "refused", 62)]},
        "syn",
        {"port-refused": (22,), "partial-reachability": (22,)},
    ),
    "RST vs Windows host at the same distance": (
        {"ports": [(3389, "open", 127), (445, "refused", 127)], "ping": ("ok", 127)},
        "syn",
        {"port-refused": (445,), "partial-reachability": (445,)},
    ),
    "NAT router answers ping itself, forwarded port farther": (
        {
            "ports": [(80, "open", 62), (6036, "refused", 64), (22, "refused", 62)],
            "ping": ("ok", 64),
        },
        "syn",
        {
            "port-refused-by-middlebox": (6036,),
            "port-refused": (22,),
            "partial-reachability": (22, 6036),
        },
    ),
    "connect mode: refused is plain port-refused": (
        {
            "ports": [
                {"port": 80, "ttl": None, "responder": None},
                {
                    "port": 6036,
                    "state": "refused",
                    "ttl": None,
                    "responder": None,
                    "reason": "conn-refused",
                },
            ],
            "ping": ("ok", 64),
        },
        "connect",
        {"port-refused": (6036,), "partial-reachability": (6036,)},
    ),
    "filtered ports are grouped": (
        {"ports": [(80, "open"), (82, "filtered"), (8443, "filtered")]},
        "syn",
        {"port-filtered": (82, 8443), "partial-reachability": (82, 8443)},
    ),
    "all filtered, ping answers": (
        {"ports": [(80, "filtered"), (443, "filtered")]},
        "syn",
        {"port-filtered": (80, 443)},
    ),
    "all filtered, no ping reply: host silent": (
        {"ports": [(80, "filtered"), (443, "filtered")], "ping": ("no_reply",)},
        "syn",
        {"host-silent": (80, 443)},
    ),
    "all filtered, ping skipped: host silent": (
        {"ports": [(80, "filtered")], "ping": ("skipped",)},
        "syn",
        {"host-silent": (80,)},
    ),
    "rejected by a firewall": (
        {"ports": [(80, "open"), {"port": 8443, "state": "rejected", "ttl": 254}]},
        "syn",
        {"port-rejected": (8443,), "partial-reachability": (8443,)},
    ),
    "rejected by the host's own firewall": (
        {
            "ports": [
                {
                    "port": 8443,
                    "state": "rejected",
                    "reason": "port-unreach",
                    "responder": "198.18.2.1",
                }
            ],
            "ping": ("no_reply",),
        },
        "syn",
        {"icmp-blocked": (), "port-rejected": (8443,)},
    ),
    "rejected locally (connect, EPERM)": (
        {
            "ports": [
                {
                    "port": 25,
                    "state": "rejected",
                    "reason": "local-reject",
                    "ttl": None,
                    "responder": None,
                }
            ]
        },
        "connect",
        {"port-rejected": (25,)},
    ),
    "all ports and ping unreachable": (
        {
            "ports": [(80, "unreachable", 254), (443, "unreachable", 254)],
            "ping": ("unreachable", None, {"responder": ROUTER}),
        },
        "syn",
        {"host-unreachable": (80, 443)},
    ),
    "unreachable, ICMP rate-limited on one port": (
        {"ports": [(80, "unreachable", 254), (443, "filtered")], "ping": ("no_reply",)},
        "syn",
        {"host-unreachable": (80, 443)},
    ),
    "ping unreachable, ports silent": (
        {"ports": [(80, "filtered")], "ping": ("unreachable", None, {"responder": ROUTER})},
        "syn",
        {"host-unreachable": (80,)},
    ),
    "one port unreachable while another is open": (
        {"ports": [(80, "open"), (22, "unreachable", 254)]},
        "syn",
        {"host-unreachable": (22,), "partial-reachability": (22,)},
    ),
    "ping unreachable but ports answer": (
        {"ports": [(80, "open")], "ping": ("unreachable", None, {"responder": ROUTER})},
        "syn",
        {"icmp-blocked": ()},
    ),
    "connect mode: EHOSTUNREACH": (
        {
            "ports": [{"port": 80, "state": "unreachable", "ttl": None, "responder": None}],
            "ping": ("skipped",),
        },
        "connect",
        {"host-unreachable": (80,)},
    ),
    "application silent": (
        {"ports": [{"port": 80, "app": "silent"}, {"port": 443, "app": "answered"}]},
        "syn",
        {"app-silent": (80,)},
    ),
    "duplicate IP": (
        {
            "ports": [(80, "open")],
            "route": {"gateway": None},
            "arp": ("00:11:22:33:44:55", "66:77:88:99:aa:bb"),
        },
        "syn",
        {"duplicate-ip": ()},
    ),
    "one MAC is no duplicate": (
        {"ports": [(80, "open")], "route": {"gateway": None}, "arp": ("00:11:22:33:44:55",)},
        "syn",
        {},
    ),
    "on-link, no ARP answer": (
        {
            "ports": [(80, "filtered"), (22, "filtered")],
            "route": {"gateway": None},
            "arp": (),
            "ping": ("no_reply",),
        },
        "syn",
        {"host-down-on-link": (22, 80)},
    ),
    "on-link, no ARP answer, connect mode EHOSTUNREACH": (
        {
            "ports": [{"port": 80, "state": "unreachable", "ttl": None, "responder": None}],
            "route": {"gateway": None},
            "arp": (),
            "ping": ("no_reply",),
        },
        "connect",
        {"host-down-on-link": (80,)},
    ),
    "on-link, ARP answered, nothing else": (
        {
            "ports": [(80, "filtered")],
            "route": {"gateway": None},
            "arp": ("00:11:22:33:44:55",),
            "ping": ("no_reply",),
        },
        "syn",
        {"host-silent": (80,)},
    ),
    "on-link, ARP not recorded": (
        {"ports": [(80, "filtered")], "route": {"gateway": None}, "ping": ("no_reply",)},
        "syn",
        {"host-silent": (80,)},
    ),
    "off-link, empty ARP": (
        {"ports": [(80, "filtered")], "arp": (), "ping": ("no_reply",)},
        "syn",
        {"host-silent": (80,)},
    ),
    "on-link, empty ARP but a port answers": (
        {
            "ports": [(80, "open", 64), (82, "filtered")],
            "route": {"gateway": None},
            "arp": (),
            "ping": ("no_reply",),
        },
        "syn",
        {"icmp-blocked": (), "port-filtered": (82,), "partial-reachability": (82,)},
    ),
    "everything at once, in rule order": (
        {
            "ports": [
                (80, "open", 63, {"app": "silent"}),
                (6036, "refused", 64),
                (22, "refused", 63),
                {"port": 8443, "state": "rejected"},
                (82, "filtered"),
            ],
            "ping": ("no_reply",),
        },
        "syn",
        {
            "icmp-blocked": (),
            "port-refused-by-middlebox": (6036,),
            "port-refused": (22,),
            "port-rejected": (8443,),
            "port-filtered": (82,),
            "partial-reachability": (22, 82, 6036, 8443),
            "app-silent": (80,),
        },
    ),
}


def build(mk: Any, spec: Spec) -> TargetReport:
    ports = []
    for p in spec.get("ports", ()):
        if isinstance(p, tuple) and p and isinstance(p[-1], dict):
            p = {**dict(zip(("port", "state", "ttl"), p[:-1], strict=False)), **p[-1]}
        ports.append(p)
    kw: dict[str, Any] = {}
    if "ping" in spec:
        status, *rest = spec["ping"]
        ttl = rest[0] if rest else 63
        extra = rest[1] if len(rest) > 1 else {}
        kw["ping"] = mk.ping(status, ttl, **extra)
    if "route" in spec:
        kw["route"] = mk.route(**spec["route"])
    if "arp" in spec:
        kw["arp"] = mk.arp(*spec["arp"])
    return mk.target(*ports, **kw)


def by_code(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.code: f for f in findings}


def text(f: Finding) -> str:
    return "\n".join((f.summary, *f.evidence, *f.next_steps))


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


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if s[1] == "connect"])
def test_connect_mode_claims_no_ttl_or_responder(mk: Any, name: str) -> None:
    spec, mode, _ = SCENARIOS[name]
    t = build(mk, {**spec, "ping": ("skipped",)})
    for f in diagnose(t, mode=mode):
        assert not re.search(r"TTL \d|hops?\b", text(f)), text(f)


# --------------------------------------------------------------------------- wording


def test_nat_case_names_nat_forwarding_port_and_both_ttls(mk: Any) -> None:
    t = build(mk, SCENARIOS["camera: NAT forwards 80, router resets 6036"][0])
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert f.severity is Severity.ERROR
    assert "NAT" in f.summary and "forward" in f.summary
    assert "6036" in f.summary and "80 is forwarded" in f.summary
    assert any("TTL 63" in e and "TTL 64" in e and "one hop closer" in e for e in f.evidence)
    assert any("port forwarding" in s and "6036" in s for s in f.next_steps)
    assert any("firewall" in s for s in f.next_steps)


def test_middlebox_against_echo_quotes_the_echo_reply(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST closer than the echo reply, no SYN/ACK"][0])
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert any(e.startswith("echo reply with TTL 63") and "TTL 64" in e for e in f.evidence)
    assert "without port forwarding" in f.summary


def test_middlebox_two_hops_closer(mk: Any) -> None:
    t = mk.target((80, "open", 62), (6036, "refused", 64), ping=mk.ping("ok", 64))
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert any("2 hops closer" in e for e in f.evidence)


def test_middlebox_from_another_address_names_it(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST from another address, same TTL"][0])
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert any(f"came from {ROUTER}, not from {mk.host}" in e for e in f.evidence)


def test_same_address_written_differently_is_the_host(mk: Any) -> None:
    t = mk.target(
        {"port": 22, "state": "refused", "responder": "2001:db8:0::7"},
        (80, "open"),
        address=V6,
    )
    assert "port-refused" in by_code(diagnose(t))


def test_refused_same_distance_evidence(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST with the same TTL as the SYN/ACK"][0])
    f = by_code(diagnose(t))["port-refused"]
    assert "Nothing is listening on port 22 on 198.18.2.1" in f.summary
    assert f.evidence == (
        "RST from 198.18.2.1 on 22 with TTL 63 (≈ 1 hop): the same distance as the SYN/ACK on 80 "
        "with TTL 63",
    )


def test_refused_without_comparison_says_so(mk: Any) -> None:
    t = build(mk, SCENARIOS["RST, nothing to compare with"][0])
    f = by_code(diagnose(t))["port-refused"]
    assert any("no SYN/ACK or echo reply to compare" in e for e in f.evidence)
    assert any("port forwarding" in s for s in f.next_steps)


def test_refused_in_connect_mode_cannot_tell_host_from_middlebox(mk: Any) -> None:
    t = build(mk, SCENARIOS["connect mode: refused is plain port-refused"][0])
    f = by_code(diagnose(t, mode="connect"))["port-refused"]
    assert any("cannot tell the host from" in e for e in f.evidence)


def test_refused_ports_are_grouped_by_ttl(mk: Any) -> None:
    t = mk.target((22, "refused"), (23, "refused"), (24, "refused"), (80, "open"), (25, "refused"))
    f = by_code(diagnose(t))["port-refused"]
    assert f.ports == (22, 23, 24, 25)
    assert "ports 22-25" in f.summary
    assert len(f.evidence) == 1 and "on 22-25 with TTL 63" in f.evidence[0]


def test_filtered_evidence_counts_syns_and_says_host_is_up(mk: Any) -> None:
    t = build(mk, SCENARIOS["filtered ports are grouped"][0])
    f = by_code(diagnose(t, timeout=2.0))["port-filtered"]
    assert "3 SYNs to each of 82, 8443, no answer within 2 s each" in f.evidence
    assert "SYN/ACK on 80" in f.evidence
    assert f.summary.startswith(
        "Ports 82, 8443 on 198.18.2.1 get no answer although the host is up"
    )
    assert "firewall drops" in f.summary and "NAT" in f.summary


def test_filtered_with_ping_only_says_it_answers_ping(mk: Any) -> None:
    t = build(mk, SCENARIOS["all filtered, ping answers"][0])
    f = by_code(diagnose(t))["port-filtered"]
    assert "it answers ping" in f.summary


def test_filtered_without_timeout_does_not_invent_one(mk: Any) -> None:
    t = mk.target((82, "filtered"), (80, "open"))
    f = by_code(diagnose(t))["port-filtered"]
    assert "3 SYNs to 82, no answer" in f.evidence
    assert not any("within" in e for e in f.evidence)


def test_filtered_in_connect_mode_speaks_of_attempts(mk: Any) -> None:
    t = mk.target(mk.connect_port(82, "filtered"), mk.connect_port(80, "open"))
    f = by_code(diagnose(t, mode="connect", timeout=1))["port-filtered"]
    assert "3 connection attempts to 82 timed out after 1 s each" in f.evidence


def test_host_silent_says_when_ping_was_skipped(mk: Any) -> None:
    t = build(mk, SCENARIOS["all filtered, ping skipped: host silent"][0])
    f = by_code(diagnose(t))["host-silent"]
    assert "ping was skipped" in f.summary
    t = build(mk, SCENARIOS["all filtered, no ping reply: host silent"][0])
    f = by_code(diagnose(t))["host-silent"]
    assert "no reply to ping" in f.summary and "2 probed ports" in f.summary


def test_rejected_names_the_firewall(mk: Any) -> None:
    t = build(mk, SCENARIOS["rejected by a firewall"][0])
    f = by_code(diagnose(t))["port-rejected"]
    assert f.summary == (
        f"The firewall at {ROUTER} rejects port 8443 (ICMP administratively prohibited)."
    )
    assert any(ROUTER in s and "192.0.2.10" in s for s in f.next_steps)


def test_rejected_by_the_host_itself(mk: Any) -> None:
    t = build(mk, SCENARIOS["rejected by the host's own firewall"][0])
    f = by_code(diagnose(t))["port-rejected"]
    assert "firewall on 198.18.2.1 itself" in f.summary and "port unreachable" in f.summary


def test_rejected_by_two_firewalls_names_both(mk: Any) -> None:
    t = mk.target(
        {"port": 8443, "state": "rejected"},
        {"port": 22, "state": "rejected", "responder": "198.18.1.1", "reason": "port-unreach"},
    )
    f = by_code(diagnose(t))["port-rejected"]
    assert ROUTER in f.summary and "198.18.1.1" in f.summary
    assert f.ports == (22, 8443)


def test_rejected_locally(mk: Any) -> None:
    t = build(mk, SCENARIOS["rejected locally (connect, EPERM)"][0])
    f = by_code(diagnose(t, mode="connect"))["port-rejected"]
    assert f.summary == "This computer's own firewall blocks port 25."
    assert any("EACCES/EPERM" in e for e in f.evidence)


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


def test_partial_reachability_wording(mk: Any) -> None:
    t = build(mk, SCENARIOS["camera: NAT forwards 80, router resets 6036"][0])
    f = by_code(diagnose(t))["partial-reachability"]
    assert f.severity is Severity.WARNING
    assert f.summary == "The host is up and port 80 answers; the problem is limited to port 6036."


def test_app_silent_wording(mk: Any) -> None:
    t = build(mk, SCENARIOS["application silent"][0])
    f = by_code(diagnose(t))["app-silent"]
    assert "handshake completes on port 80" in f.summary
    assert any("no answer to the http hello" in e for e in f.evidence)


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


# --------------------------------------------------------------------------- gates


DNS_CASES = [
    (DnsStatus.NXDOMAIN, "dns-nxdomain", "does not exist"),
    (DnsStatus.SERVFAIL, "dns-servfail", "SERVFAIL"),
    (DnsStatus.TIMEOUT, "dns-timeout", "No DNS server answered"),
    (DnsStatus.NO_ANSWER, "dns-no-address", "no address record"),
]


@pytest.mark.parametrize(("status", "code", "words"), DNS_CASES)
def test_dns_failure_is_the_whole_diagnosis(
    mk: Any, status: DnsStatus, code: str, words: str
) -> None:
    dns = mk.dns(status, answered_by="192.0.2.53", detail="the resolver's words", elapsed_ms=41.6)
    # Even if ports were somehow present, a failed name gets no port findings.
    t = mk.target(
        (80, "filtered"), input="cam.example", address=None, dns=dns, ping=None, route=None
    )
    findings = diagnose(t)
    assert [f.code for f in findings] == [code]
    f = findings[0]
    assert f.severity is Severity.ERROR and f.ports == ()
    assert words in f.summary and "cam.example" in f.summary
    assert "asked 192.0.2.53" in f.evidence
    assert "resolver said: the resolver's words" in f.evidence
    assert any("42 ms" in e for e in f.evidence)
    assert any("--nameserver" in s or "-4 or -6" in s for s in f.next_steps)


def test_nxdomain_suggests_spelling_and_split_horizon(mk: Any) -> None:
    t = mk.target(address=None, dns=mk.dns("nxdomain"), ping=None, route=None)
    (f,) = diagnose(t)
    assert any("spelling" in s for s in f.next_steps)
    assert any("split-horizon" in s for s in f.next_steps)


@pytest.mark.parametrize("status", [DnsStatus.OK, DnsStatus.LITERAL])
def test_dns_success_is_no_finding(mk: Any, status: DnsStatus) -> None:
    assert diagnose(mk.target((80, "open"), dns=mk.dns(status))) == ()


def test_no_route_is_the_whole_diagnosis(mk: Any) -> None:
    route = mk.route(None, "no_route", route_type="unreachable", source=None, interface=None)
    t = mk.target(route=route, ping=None)
    (f,) = diagnose(t)
    assert f.code == "no-route" and f.severity is Severity.ERROR
    assert "the client's routing table has a route of type unreachable for 198.18.2.1" in f.evidence
    assert "no source address to send from" in f.evidence
    assert any("default gateway" in s for s in f.next_steps)
    assert any("VPN" in s for s in f.next_steps)


def test_no_route_ipv6_suggests_ipv4(mk: Any) -> None:
    t = mk.target(address=V6, route=mk.route(None, "no_route"), ping=None)
    (f,) = diagnose(t)
    assert any("-4" in s for s in f.next_steps)


def test_rule_order() -> None:
    assert [r.__name__ for r in GATES] == ["dns_failure", "no_route"]
    assert [r.__name__ for r in RULES] == [
        "duplicate_ip",
        "host_down_on_link",
        "host_unreachable",
        "host_silent",
        "icmp_blocked",
        "port_refused_by_middlebox",
        "port_refused",
        "port_rejected",
        "port_filtered",
        "path_loss",
        "partial_reachability",
        "app_silent",
        "app_error",
        "tls_certificate",
        "mss_clamped",
        "tcp_options_stripped",
    ]


# --------------------------------------------------------------------------- path loss


def lossy(mk: Any, retried: dict[int, int], clean: int = 20, filtered: tuple[int, ...] = ()) -> Any:
    """A host whose ports 1..clean answered at once, ``retried`` {port: try} later, and
    ``filtered`` ports never (after 7 tries)."""
    ports = [mk.port(n, "refused") for n in range(1, clean + 1)]
    ports += [mk.port(n, "refused", tries=k) for n, k in retried.items()]
    ports += [mk.port(n, "filtered", tries=7) for n in filtered]
    return mk.target(*ports)


def test_path_loss_when_ports_answer_only_retransmissions(mk: Any) -> None:
    t = lossy(mk, {101: 2, 102: 2, 103: 3, 104: 2, 105: 4}, filtered=(200, 201, 202, 300))
    (f,) = [f for f in diagnose(t) if f.code == "path-loss"]
    assert f.severity is Severity.WARNING and f.ports == (101, 102, 103, 104, 105)
    # 5 of 25 answering ports needed a retry: 8 lost tries of 33 in all.
    assert f.summary == (
        "The path to 198.18.2.1 loses packets (about 24% of tries): ports 200-202, 300 may "
        "have lost every try rather than be dropped by a firewall."
    )
    assert f.evidence[0].startswith("5 of 25 answering ports answered only a retransmission")
    assert "up to try 4" in f.evidence[0]
    assert f.evidence[1] == (
        "at that loss all 7 tries fail by chance for about 1 port in 20,322; unanswered "
        "here: 200-202, 300"
    )
    assert f.next_steps[0].startswith("probe check 198.18.2.1 -p 200-202,300 --tries 9 again")
    assert "port-filtered" in {x.code for x in diagnose(t)}  # still reported as such


def test_path_loss_without_silent_ports_says_everything_answered(mk: Any) -> None:
    (f,) = [f for f in diagnose(lossy(mk, {101: 2, 102: 2, 103: 2})) if f.code == "path-loss"]
    assert f.summary.endswith("; every port still answered in the end.")
    assert f.next_steps[0].startswith("probe trace 198.18.2.1 --port 101")


@pytest.mark.parametrize(
    ("retried", "clean"),
    [
        ({101: 2, 102: 2}, 20),  # two retried ports: a blip, not a lossy path
        ({101: 2, 102: 2, 103: 2}, 200),  # three of 203: 1.5 % lost, under the 5 % bar
    ],
    ids=["few ports", "small share"],
)
def test_no_path_loss_for_a_blip(mk: Any, retried: dict[int, int], clean: int) -> None:
    assert "path-loss" not in {f.code for f in diagnose(lossy(mk, retried, clean))}


def test_no_path_loss_in_connect_mode(mk: Any) -> None:
    t = lossy(mk, {101: 2, 102: 2, 103: 3})
    assert "path-loss" not in {f.code for f in diagnose(t, mode="connect")}


# --------------------------------------------------------------------------- family mismatch


def dual(
    mk: Any, v4: list[Any], v6: list[Any], *, input: str = "web.example"
) -> list[TargetReport]:
    return [
        mk.target(*v4, input=input, address=mk.host),
        mk.target(
            *[{"port": p, "state": s, "responder": V6} for p, s in v6], input=input, address=V6
        ),
    ]


def test_family_mismatch_goes_to_the_family_that_fails(mk: Any) -> None:
    reports = dual(mk, [(80, "open"), (443, "open")], [(80, "filtered"), (443, "open")])
    v4, v6 = diagnose_family(reports)
    assert v4 == ()
    (f,) = v6
    assert (f.code, f.severity, f.ports) == ("family-mismatch", Severity.WARNING, (80,))
    assert "open on IPv4 (198.18.2.1) but filtered on IPv6 (2001:db8::7)" in f.summary
    assert "IPv6 firewall rule is missing" in f.summary
    assert f.evidence == ("80: open on 198.18.2.1 (IPv4), filtered on 2001:db8::7 (IPv6)",)


def test_family_mismatch_the_other_way_round(mk: Any) -> None:
    reports = dual(mk, [(80, "filtered")], [(80, "open")])
    v4, v6 = diagnose_family(reports)
    assert [f.code for f in v4] == ["family-mismatch"] and v6 == ()
    assert "IPv4 firewall rule" in v4[0].summary


def test_family_mismatch_refused_on_v6_means_not_listening(mk: Any) -> None:
    _, v6 = diagnose_family(dual(mk, [(80, "open")], [(80, "refused")]))
    assert "does not listen on IPv6" in v6[0].summary


def test_family_mismatch_mixed_states(mk: Any) -> None:
    _, v6 = diagnose_family(
        dual(mk, [(80, "open"), (22, "open")], [(80, "refused"), (22, "filtered")])
    )
    assert v6[0].ports == (22, 80)
    assert len(v6[0].evidence) == 2


def test_family_mismatch_evidence_is_grouped(mk: Any) -> None:
    ports = [21, 22, 23, 80]
    _, v6 = diagnose_family(
        dual(mk, [(p, "open") for p in ports], [(p, "filtered") for p in ports])
    )
    assert v6[0].evidence == (
        "21-23, 80: open on 198.18.2.1 (IPv4), filtered on 2001:db8::7 (IPv6)",
    )


@pytest.mark.parametrize(
    ("v4", "v6", "input_v6"),
    [
        ([(80, "open")], [(80, "open")], "web.example"),  # same state
        ([(80, "filtered")], [(80, "filtered")], "web.example"),
        ([(80, "open")], [(80, "filtered")], "other.example"),  # different names
        ([(80, "open")], [(443, "filtered")], "web.example"),  # no common port
    ],
)
def test_no_family_mismatch(mk: Any, v4: list[Any], v6: list[Any], input_v6: str) -> None:
    r4, r6 = dual(mk, v4, v6)
    r6 = replace(r6, input=input_v6)
    assert diagnose_family([r4, r6]) == ((), ())


def test_family_skips_failed_names_and_stays_parallel(mk: Any) -> None:
    failed = mk.target(input="web.example", address=None, dns=mk.dns("nxdomain"))
    reports = [failed, *dual(mk, [(80, "open")], [(80, "filtered")])]
    extra = diagnose_family(reports)
    assert len(extra) == 3
    assert extra[0] == () and extra[1] == () and extra[2][0].code == "family-mismatch"


def test_attach_family_findings_appends(mk: Any) -> None:
    r4, r6 = dual(mk, [(80, "open")], [(80, "filtered")])
    own = diagnose(r6)
    r6 = replace(r6, findings=own)
    out = attach_family_findings([r4, r6])
    assert out[0] is r4
    assert [f.code for f in out[1].findings] == [*(f.code for f in own), "family-mismatch"]


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ([80], "80"),
        ([8443, 82], "82, 8443"),
        ([1, 2, 3, 5, 7, 8], "1-3, 5, 7-8"),
        (list(range(1, 30, 2)), "1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, and 3 more"),
    ],
)
def test_port_list(ports: list[int], words: str) -> None:
    assert port_list(ports) == words


def test_port_list_of_a_full_range_scan() -> None:
    refused = [p for p in range(1, 65536) if p not in (22, 80, 82, 8081, 8082)]
    assert port_list(refused, limit=3) == "1-21, 23-79, 81, and 65451 more"
    assert port_list(refused) == "1-21, 23-79, 81, 83-8080, 8083-65535"
    assert port_list([65535, *range(1, 65535)]) == "1-65535"


def test_port_list_agrees_with_walking_the_runs() -> None:
    rng = random.Random(7)
    for _ in range(200):
        ports = rng.sample(range(1, 200), rng.randint(1, 150))
        runs: list[list[int]] = []
        for p in sorted(ports):
            if runs and runs[-1][-1] == p - 1:
                runs[-1].append(p)
            else:
                runs.append([p])
        limit = rng.randint(1, 15)
        words = [str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs[:limit]]
        rest = sum(len(r) for r in runs[limit:])
        expected = ", ".join(words) + (f", and {rest} more" if rest else "")
        assert port_list(ports, limit=limit) == expected


@pytest.mark.parametrize(
    ("severities", "worst", "problem"),
    [
        ([], None, False),
        ([Severity.INFO], Severity.INFO, False),
        ([Severity.INFO, Severity.WARNING], Severity.WARNING, True),
        ([Severity.WARNING, Severity.ERROR, Severity.INFO], Severity.ERROR, True),
    ],
)
def test_worst_severity_and_has_problem(
    severities: list[Severity], worst: Severity | None, problem: bool
) -> None:
    findings = [Finding("x", s, "s.") for s in severities]
    assert worst_severity(findings) == worst
    assert has_problem(findings) is problem


# --------------------------------------------------------------------------- handshake options

FULL = {"mss": 1460, "wscale": 7, "sack_permitted": True, "timestamps": True}


def opened(mk: Any, port: int, **options: Any) -> Any:
    """An open port whose SYN/ACK carried ``options`` (over the full Linux set)."""
    return mk.port(port, "open", tcp_options=TcpOptions(**{**FULL, **options}))


def test_mss_clamped_on_every_port_is_a_remark(mk: Any) -> None:
    t = mk.target(opened(mk, 80, mss=1380), opened(mk, 443, mss=1380))
    f = by_code(diagnose(t))["mss-clamped"]
    assert (f.severity, f.ports) == (Severity.INFO, (80, 443))
    assert "MSS 1380" in f.summary and "tunnel" in f.summary
    assert "80, 443 announces MSS 1380: 80 bytes less than the 1460" in f.evidence[0]
    assert "Cisco ASA" in f.evidence[0]
    assert any("ping -M do -s 1472 198.18.2.1" in s for s in f.next_steps)
    assert not has_problem(diagnose(t))


def test_mss_clamped_on_some_ports_points_at_a_device_in_front(mk: Any) -> None:
    t = mk.target(opened(mk, 80), opened(mk, 9445, mss=1360))
    f = by_code(diagnose(t))["mss-clamped"]
    assert (f.severity, f.ports) == (Severity.WARNING, (9445,))
    assert "device in front of that port" in f.summary
    assert "SYN/ACK on 80 announces MSS 1460" in f.evidence


@pytest.mark.parametrize(
    ("address", "mss", "clamped"),
    [
        ("198.18.2.1", 1460, False),
        ("198.18.2.1", 8960, False),  # jumbo frames: bigger is fine
        ("198.18.2.1", 1459, True),
        (V6, 1440, False),
        (V6, 1432, True),  # PPPoE on IPv6
        ("198.18.2.1", None, False),  # no MSS option: the stripping rule's business
    ],
)
def test_mss_baseline_per_family(mk: Any, address: str, mss: int | None, clamped: bool) -> None:
    t = mk.target(opened(mk, 80, mss=mss), address=address)
    assert ("mss-clamped" in by_code(diagnose(t))) is clamped


def test_mss_clamped_ipv6_names_pppoe(mk: Any) -> None:
    t = mk.target(opened(mk, 80, mss=1432), address=V6)
    f = by_code(diagnose(t))["mss-clamped"]
    assert "1440 of an IPv6 path" in f.evidence[0] and "PPPoE" in f.evidence[0]
    assert any(f"ping -6 -M do -s 1452 {V6}" in s for s in f.next_steps)


def test_options_stripped_on_one_port(mk: Any) -> None:
    bare = {"wscale": None, "sack_permitted": False, "timestamps": False}
    t = mk.target(opened(mk, 80), opened(mk, 443), opened(mk, 9445, **bare))
    f = by_code(diagnose(t))["tcp-options-stripped"]
    assert (f.severity, f.ports) == (Severity.WARNING, (9445,))
    assert f.evidence[0] == (
        "SYN/ACK on 9445 without SACK, timestamps and window scaling, which the SYN/ACK on "
        "80, 443 has"
    )
    assert "our SYN offered" in f.evidence[-1]
    assert "device in front of that port" in f.summary
    assert any("probe trace 198.18.2.1 --port 9445" in s for s in f.next_steps)


def test_options_stripped_groups_by_what_is_missing(mk: Any) -> None:
    t = mk.target(
        opened(mk, 80),
        opened(mk, 81, sack_permitted=False),
        opened(mk, 82, sack_permitted=False),
        opened(mk, 83, timestamps=False),
    )
    f = by_code(diagnose(t))["tcp-options-stripped"]
    assert f.ports == (81, 82, 83)
    assert f.evidence[:2] == (
        "SYN/ACK on 81-82 without SACK, which the SYN/ACK on 80 has",
        "SYN/ACK on 83 without timestamps, which the SYN/ACK on 80 has",
    )
    assert "(SACK and timestamps)" in f.summary


def test_no_options_anywhere_is_a_remark_about_the_stack(mk: Any) -> None:
    bare = {"mss": 536, "wscale": None, "sack_permitted": False, "timestamps": False}
    t = mk.target(opened(mk, 80, **bare), opened(mk, 554, **bare))
    f = by_code(diagnose(t))["tcp-options-stripped"]
    assert (f.severity, f.ports) == (Severity.INFO, (80, 554))
    assert "old or embedded TCP stack" in f.summary
    assert any("tcp_sack" in s for s in f.next_steps)


def test_windows_without_timestamps_is_normal(mk: Any) -> None:
    t = mk.target(opened(mk, 80, timestamps=False), opened(mk, 3389, timestamps=False))
    assert diagnose(t) == ()


def test_no_options_rules_without_syn_ack_options(mk: Any) -> None:
    # connect() fallback or options not recorded: nothing to judge.
    t = mk.target(mk.connect_port(80), mk.connect_port(443))
    assert diagnose(t, mode="connect") == ()


# --------------------------------------------------------------------------- TLS and app errors


def tls(problems: tuple[str, ...]) -> AppResult:
    return AppResult(
        "answered",
        "tls",
        detail="TLSv1.3, certificate web.example",
        tls_version="TLSv1.3",
        cert_subject="CN=other.example",
        cert_issuer="CN=Lab CA",
        cert_not_after="2020-01-01T00:00:00Z",
        cert_names=("other.example", "*.other.example"),
        cert_problems=problems,
    )


def test_tls_certificate_expired_and_mismatched(mk: Any) -> None:
    t = mk.target(
        mk.port(443, app=tls(("expired", "name mismatch"))),
        mk.port(80, app=AppResult("answered", "http", "HTTP/1.1 200 OK")),
        input="web.example",
    )
    findings = diagnose(t)
    f = by_code(findings)["tls-certificate"]
    assert (f.severity, f.ports) == (Severity.ERROR, (443,))
    assert f.summary == (
        "The TLS certificate on port 443 of 198.18.2.1 has expired and does not cover the name "
        "web.example: browsers and other clients that verify it refuse the connection."
    )
    assert f.evidence == (
        "TLS on 443: certificate CN=other.example, issued by CN=Lab CA, valid until "
        "2020-01-01T00:00:00Z, names other.example, *.other.example: expired, name mismatch",
    )
    steps = " ".join(f.next_steps)
    assert "renew" in steps and "subjectAltName covers web.example" in steps
    assert "date and time" in steps
    assert has_problem(findings)


def test_tls_certificate_not_yet_valid_suggests_the_clock(mk: Any) -> None:
    t = mk.target(mk.port(443, app=tls(("not yet valid",))))
    f = by_code(diagnose(t))["tls-certificate"]
    assert "is not valid yet" in f.summary
    assert f.next_steps == ("check the date and time of this computer and of the server",)


def test_good_certificate_is_no_finding(mk: Any) -> None:
    assert diagnose(mk.target(mk.port(443, app=tls(())))) == ()


def test_app_error_quotes_what_the_server_said(mk: Any) -> None:
    refused = AppResult("error", "smtp", "421 too busy", "the smtp server refuses the connection")
    t = mk.target(mk.port(25, app=refused), mk.port(80, app="answered"))
    f = by_code(diagnose(t))["app-error"]
    assert (f.severity, f.ports) == (Severity.WARNING, (25,))
    assert "smtp hello fails" in f.summary
    assert f.evidence == (
        'the smtp hello on 25: the smtp server refuses the connection; it said "421 too busy"',
    )
    assert any("--app-protocol" in s for s in f.next_steps)


def test_app_answered_is_no_finding(mk: Any) -> None:
    assert diagnose(mk.target(mk.port(22, app="answered"))) == ()


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


# --------------------------------------------------------------------------- middlebox proof


def _rst_proof(port: int, answer: str, responder: str, **kw: Any) -> Any:
    """A TTL-limited confirmation SYN's evidence (middlebox.py), sent with TTL 1."""
    from probe.model import AnswerKind, PortEvidence

    return PortEvidence(
        "198.18.2.1", port, "syn", AnswerKind(answer), 1, responder=responder, probe_ttl=1, **kw
    )


def _camera(mk: Any, *confirmations: Any) -> TargetReport:
    t = mk.target((80, "open", 63), (6036, "refused", 64), ping=mk.ping("ok", 64))
    return replace(t, confirmations=confirmations)


def test_middlebox_without_proof_keeps_its_evidence(mk: Any) -> None:
    f = by_code(diagnose(_camera(mk)))["port-refused-by-middlebox"]
    assert f.evidence == (
        "SYN/ACK on 80 with TTL 63 (≈ 1 hop); RST on 6036 with TTL 64 (≈ 0 hops): one hop closer",
    )


def test_middlebox_cites_the_ttl_limited_proof(mk: Any) -> None:
    t = _camera(mk, _rst_proof(6036, "rst", "198.18.2.1", ttl=64, window=0))
    f = by_code(diagnose(t))["port-refused-by-middlebox"]
    assert f.evidence[0].endswith("one hop closer")  # the suspicion, then its proof
    assert f.evidence[1] == (
        "a SYN to 6036 with TTL 1 — enough for hop 1, too short to reach the host — still "
        "drew the RST from 198.18.2.1: the device at hop 1 answers for the host"
    )


def test_middlebox_says_when_the_proof_fails(mk: Any) -> None:
    t = _camera(mk, _rst_proof(6036, "icmp", ROUTER, icmp_type=11, icmp_code=0, ttl=64))
    found = by_code(diagnose(t))
    assert "port-refused" not in found
    proof = found["port-refused-by-middlebox"].evidence[1]
    assert "time exceeded from 198.18.0.1" in proof and "not confirmed" in proof


def test_middlebox_flags_a_syn_proxy_and_another_ip_stack(mk: Any) -> None:
    forged = mk.port(443, "open", 64, window=0, tcp_options=TcpOptions(), ip_id=0)
    t = mk.target(
        mk.port(80, "open", 62, ip_id=4711),
        forged,
        mk.port(6036, "refused", 64, ip_id=0),
        ping=mk.ping("ok", 62),
    )
    evidence = by_code(diagnose(t))["port-refused-by-middlebox"].evidence
    assert any(e.startswith("SYN/ACK on 443 with window 0 and no TCP options") for e in evidence)
    assert any(
        e.startswith("RST on 6036 with IP ID 0, the host's own answers (SYN/ACK on 80)")
        for e in evidence
    )


def test_proof_for_a_host_refused_port_is_not_quoted(mk: Any) -> None:
    t = mk.target((80, "open", 63), (81, "refused", 63))
    t = replace(t, confirmations=(_rst_proof(81, "rst", "198.18.2.1", ttl=63),))
    found = by_code(diagnose(t))
    assert "port-refused-by-middlebox" not in found
    assert not any("TTL 1" in e for f in found.values() for e in f.evidence)


def test_mss_clamped_on_some_ports_asks_for_a_server_capture(mk: Any) -> None:
    t = mk.target(opened(mk, 80), opened(mk, 9445, mss=1360))
    f = by_code(diagnose(t))["mss-clamped"]
    assert f.next_steps[0].startswith("capture on the server: if its own SYN/ACK on 9445")


def test_app_silent_on_an_unknown_service_suggests_a_hello(mk: Any) -> None:
    generic = AppResult("silent", "generic", detail="no greeting within 1.5 s")
    t = mk.target(mk.port(9000, app=generic))
    f = by_code(diagnose(t))["app-silent"]
    assert any("--app-protocol" in s for s in f.next_steps)
    assert not any("speaks generic" in s for s in f.next_steps)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("198.18.1.10", "198.18.1.10", True),
        ("2001:2::1", "2001:0002:0::1", True),
        ("fe80::1", "fe80::1%eth0", True),  # the zone index is the client's, not the address
        ("198.18.0.1", "198.18.1.10", False),
        ("camera.example", "camera.example", True),
        ("camera.example", "198.18.1.10", False),
    ],
)
def test_same_address(a: str, b: str, same: bool) -> None:
    assert same_address(a, b) is same
