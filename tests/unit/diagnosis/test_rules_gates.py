"""rules/gates.py: a DNS failure or no route is the whole diagnosis."""

from __future__ import annotations

from typing import Any

import pytest
from diagnosis_cases import V6

from probe.diagnosis.registry import diagnose
from probe.model import DnsStatus, Severity

# --------------------------------------------------------------------------- gates


DNS_CASES = [
    (DnsStatus.NXDOMAIN, "dns-nxdomain", "does not exist"),
    (DnsStatus.SERVFAIL, "dns-servfail", "SERVFAIL"),
    (DnsStatus.REFUSED, "dns-refused", "REFUSED"),
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
    t = mk.target(address=V6, route=mk.route(None, "no_route", source=None), ping=None)
    (f,) = diagnose(t)
    assert any("-4" in s for s in f.next_steps)


def test_no_route_from_a_source_of_the_other_family(mk: Any) -> None:
    # --source 198.18.0.3 (serve: source_address) toward an IPv6 address: the route step's
    # answer keeps the source asked for.
    route = mk.route(None, "no_route", source="198.18.0.3", interface=None)
    (f,) = diagnose(mk.target(address=V6, route=route, ping=None))
    assert f.code == "no-route" and f.severity is Severity.ERROR
    assert f.summary == (
        f"Nothing can go to {V6} from 198.18.0.3: an IPv4 source cannot send to an IPv6 address."
    )
    assert f.evidence == (
        "the probes were to leave from 198.18.0.3 (the source address asked for), an IPv4 address",
    )
    assert (
        f.next_steps[0] == "give an IPv6 address of this computer as the source (ip addr), or none"
    )
    assert "(-4)" in f.next_steps[1]
