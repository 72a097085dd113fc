"""diagnose.py: each rule, its negative cases, grouping, gates, family mismatch, exit status.

Scenarios are plain data: the target's ports as ``mk.port()`` arguments plus ping/route/arp
overrides, and the finding codes (in order) with the ports each one names.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from probe.diagnose import (
    GATES,
    RULES,
    attach_family_findings,
    diagnose,
    diagnose_family,
    has_problem,
    port_list,
    worst_severity,
)
from probe.model import DnsStatus, Finding, PortState, Severity, TargetReport

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
        "partial_reachability",
        "app_silent",
    ]


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
