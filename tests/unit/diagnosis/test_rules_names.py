"""rules/names.py and the DNS gate beside it: the name as this client resolves it
(dns-hosts-override), DNS's own failures (dns-refused) and when they stop the walk."""

from __future__ import annotations

from typing import Any

import pytest

from probe.diagnosis.outcome import target_problem
from probe.diagnosis.registry import diagnose
from probe.model import (
    DnsResult,
    DnsStatus,
    Severity,
    SystemAnswer,
    SystemSource,
    SystemStatus,
)

NS = "198.18.1.53"
HOSTS_ADDR = "198.18.1.12"
DNS_ADDR = "198.18.1.10"


def hosts(*addresses: str, lines: tuple[int, ...] = (4,)) -> SystemAnswer:
    return SystemAnswer(
        SystemStatus.OK,
        addresses or (HOSTS_ADDR,),
        SystemSource.HOSTS,
        hosts_file="/etc/hosts",
        hosts_lines=lines,
        elapsed_ms=0.2,
    )


def dns(status: str = "ok", *addresses: str, system: SystemAnswer | None = None) -> DnsResult:
    if status == "ok" and not addresses:
        addresses = (DNS_ADDR, "2001:2:0:1::10")
    detail = None if status == "ok" else f"{NS} said {status}"
    return DnsResult(
        DnsStatus(status),
        addresses,
        nameservers=(NS,),
        answered_by=NS if status == "ok" else None,
        detail=detail,
        system=system,
    )


def target(mk: Any, d: DnsResult, address: str | None = HOSTS_ADDR) -> Any:
    return mk.target((80, "open"), input="web.probe.test", address=address, dns=d)


# (DNS status, its addresses, severity, summary)
OVERRIDES = [
    (
        "ok",
        (),
        Severity.WARNING,
        "This computer's hosts file maps web.probe.test to 198.18.1.12; DNS says 198.18.1.10 "
        "and 2001:2:0:1::10: applications here connect to the hosts file's address, every "
        "other computer to DNS's; a stale entry left from a server move or a test is the usual "
        "cause.",
    ),
    (
        "nxdomain",
        (),
        Severity.INFO,
        "This computer's hosts file maps web.probe.test to 198.18.1.12; DNS does not know the "
        "name (NXDOMAIN): only this computer finds it.",
    ),
    (
        "no_answer",
        (),
        Severity.INFO,
        "This computer's hosts file maps web.probe.test to 198.18.1.12; DNS does not know the "
        "name (no address record): only this computer finds it.",
    ),
    (
        "timeout",
        (),
        Severity.WARNING,
        "This computer's hosts file maps web.probe.test to 198.18.1.12; DNS could not answer "
        "for it (no answer): the local answer hides a DNS problem that other names and "
        "computers have.",
    ),
    (
        "refused",
        (),
        Severity.WARNING,
        "This computer's hosts file maps web.probe.test to 198.18.1.12; DNS could not answer "
        "for it (REFUSED): the local answer hides a DNS problem that other names and "
        "computers have.",
    ),
]


@pytest.mark.parametrize(("status", "addresses", "severity", "summary"), OVERRIDES)
def test_hosts_override(
    mk: Any, status: str, addresses: tuple[str, ...], severity: Severity, summary: str
) -> None:
    findings = diagnose(target(mk, dns(status, *addresses, system=hosts())))
    # the hosts file's answer was probed: no DNS gate, the port's findings as usual
    assert [f.code for f in findings] == ["dns-hosts-override"]
    (f,) = findings
    assert (f.severity, f.summary, f.ports) == (severity, summary, ())
    assert f.evidence[0] == "/etc/hosts line 4: web.probe.test -> 198.18.1.12"
    assert f.evidence[1] == "getaddrinfo (what applications here use): 198.18.1.12 in 0 ms"
    assert f.evidence[-1] == "probed 198.18.1.12, the address applications on this computer use"
    assert f.next_steps[0].startswith("if the entry is stale, remove or correct it in /etc/hosts")


def test_hosts_override_evidence_quotes_both_answers(mk: Any) -> None:
    (f,) = diagnose(target(mk, dns(system=hosts(lines=(4, 7)))))
    assert f.evidence[0].startswith("/etc/hosts lines 4, 7:")
    assert f"DNS ({NS}): 198.18.1.10, 2001:2:0:1::10" in f.evidence
    assert f"probe check {DNS_ADDR} shows whether the address DNS gives works" in f.next_steps
    (nx,) = diagnose(target(mk, dns("nxdomain", system=hosts())))
    assert f"DNS ({NS}): NXDOMAIN: {NS} said nxdomain" in nx.evidence
    assert "if web.probe.test should work on other computers too, add it to DNS" in nx.next_steps


def test_another_source_than_the_hosts_file(mk: Any) -> None:
    other = SystemAnswer(SystemStatus.OK, ("10.0.0.5",), SystemSource.OTHER)
    (f,) = diagnose(target(mk, dns(system=other), "10.0.0.5"))
    assert (f.code, f.severity) == ("dns-hosts-override", Severity.WARNING)
    assert f.summary.startswith(
        "This computer's own resolver gives 10.0.0.5 for web.probe.test, from neither the "
        "hosts file nor DNS"
    )
    assert "getent ahosts web.probe.test" in f.next_steps[0]


@pytest.mark.parametrize(
    "system",
    [
        None,  # --nameserver: not asked
        hosts(DNS_ADDR),  # the hosts file agrees with DNS
        SystemAnswer(SystemStatus.OK, (DNS_ADDR,), SystemSource.DNS),
        # DNS's own answer, in another order or a subset: no override
        SystemAnswer(SystemStatus.OK, ("2001:2:0:1::10",), SystemSource.DNS),
        SystemAnswer(SystemStatus.NOT_FOUND, detail="name or service not known"),
        SystemAnswer(SystemStatus.TIMEOUT),
    ],
)
def test_no_override(mk: Any, system: SystemAnswer | None) -> None:
    assert diagnose(target(mk, dns(system=system), DNS_ADDR)) == ()


def test_an_override_alone_is_no_problem(mk: Any) -> None:
    for status in ("ok", "nxdomain", "timeout"):
        t = target(mk, dns(status, system=hosts()))
        assert not target_problem(mk.target(*t.ports, dns=t.dns, findings=diagnose(t)))


# --------------------------------------------------------------------------- the DNS gate


def test_the_gate_quotes_the_system_resolver_too(mk: Any) -> None:
    missing = SystemAnswer(SystemStatus.NOT_FOUND, detail="name or service not known")
    t = target(mk, dns("nxdomain", system=missing), None)
    (f,) = diagnose(t)
    assert f.code == "dns-nxdomain"
    assert "this computer's own resolver (getaddrinfo) said: name or service not known" in (
        f.evidence
    )
    assert target_problem(t)


def test_dns_refused(mk: Any) -> None:
    d = DnsResult(
        DnsStatus.REFUSED,
        nameservers=(NS,),
        answered_by=NS,
        detail=f"{NS} answered REFUSED",
        elapsed_ms=2.0,
    )
    (f,) = diagnose(mk.target(input="web.probe.test", address=None, dns=d, route=None, ping=None))
    assert (f.code, f.severity) == ("dns-refused", Severity.ERROR)
    assert f.summary == (
        "The DNS server refused to resolve web.probe.test (REFUSED): it does not serve this "
        "client (its network is not allowed to use it) or it answers only for its own zones."
    )
    assert f"resolver said: {NS} answered REFUSED" in f.evidence
    assert any(f"if {NS} is yours" in s and "allow-recursion" in s for s in f.next_steps)
    assert any("--nameserver" in s for s in f.next_steps)
