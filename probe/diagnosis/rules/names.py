"""The name, as this client resolves it: dns-hosts-override.

Applications resolve through the system resolver (hosts file first, then DNS, sometimes mDNS,
LDAP or systemd-resolved); probe probes the address they get and compares it with what the
DNS servers say. A hosts-file entry that disagrees with DNS is a classic cause of "it works
everywhere but here": an entry left from a server move or a test.
"""

from __future__ import annotations

from probe.diagnosis.context import Context
from probe.diagnosis.words import and_list, plural
from probe.model import (
    DnsResult,
    DnsStatus,
    Finding,
    Severity,
    SystemAnswer,
    SystemSource,
    SystemStatus,
    TargetReport,
)

_WINDOWS_HOSTS = r"C:\Windows\System32\drivers\etc\hosts"


def dns_hosts_override(t: TargetReport, ctx: Context) -> Finding | None:
    """dns-hosts-override: the system resolver gives an address DNS does not give."""
    mine = t.dns.system
    if mine is None or mine.status is not SystemStatus.OK or mine.source is SystemSource.DNS:
        return None
    theirs = set(t.dns.addresses) if t.dns.status is DnsStatus.OK else set()
    if not set(mine.addresses) - theirs:
        return None
    dns, name = t.dns, t.input
    gives = and_list(mine.addresses)
    if mine.source is SystemSource.HOSTS:
        who = f"This computer's hosts file maps {name} to {gives}"
        local = "the hosts file's address"
    else:
        who = (
            f"This computer's own resolver gives {gives} for {name}, from neither the hosts "
            "file nor DNS (mDNS, LDAP, systemd-resolved or a VPN client answers)"
        )
        local = "that address"
    if dns.status is DnsStatus.OK:
        severity = Severity.WARNING
        said = f"DNS says {and_list(dns.addresses)}"
        why = (
            f"applications here connect to {local}, every other computer to DNS's; a stale "
            "entry left from a server move or a test is the usual cause"
        )
    elif dns.status in (DnsStatus.NXDOMAIN, DnsStatus.NO_ANSWER):
        severity = Severity.INFO
        said = f"DNS does not know the name ({_status_word(dns)})"
        why = "only this computer finds it"
    else:
        severity = Severity.WARNING
        said = f"DNS could not answer for it ({_status_word(dns)})"
        why = "the local answer hides a DNS problem that other names and computers have"
    return Finding(
        code="dns-hosts-override",
        severity=severity,
        summary=f"{who}; {said}: {why}.",
        evidence=tuple(_evidence(t, mine)),
        next_steps=tuple(_steps(t, mine)),
    )


def _evidence(t: TargetReport, mine: SystemAnswer) -> list[str]:
    dns = t.dns
    lines = []
    if mine.source is SystemSource.HOSTS and mine.hosts_file:
        at = ", ".join(map(str, mine.hosts_lines))
        lines.append(
            f"{mine.hosts_file} {plural(len(mine.hosts_lines), 'line')} {at}: "
            f"{t.input} -> {', '.join(mine.addresses)}"
        )
    lines.append(
        f"getaddrinfo (what applications here use): {', '.join(mine.addresses)} in "
        f"{mine.elapsed_ms:.0f} ms"
    )
    asked = dns.answered_by or ", ".join(dns.nameservers) or "the system's DNS servers"
    if dns.status is DnsStatus.OK:
        lines.append(f"DNS ({asked}): {', '.join(dns.addresses)}")
    else:
        said = f": {dns.detail}" if dns.detail else ""
        lines.append(f"DNS ({asked}): {_status_word(dns)}{said}")
    if t.address is not None:
        lines.append(f"probed {t.address}, the address applications on this computer use")
    return lines


def _steps(t: TargetReport, mine: SystemAnswer) -> list[str]:
    dns, name = t.dns, t.input
    steps = []
    if mine.source is SystemSource.HOSTS:
        where = mine.hosts_file or "the hosts file"
        steps.append(
            f"if the entry is stale, remove or correct it in {where} (Windows: {_WINDOWS_HOSTS})"
        )
    else:
        steps.append(
            f"find which source of /etc/nsswitch.conf answers: getent ahosts {name}, "
            f"resolvectl query {name} (systemd-resolved), avahi-resolve -n {name} (mDNS)"
        )
    if dns.status is DnsStatus.OK:
        steps.append(f"probe check {dns.addresses[0]} shows whether the address DNS gives works")
        steps.append(
            "if the local answer is on purpose (testing a new server), remember that every "
            "other computer still goes to DNS's address"
        )
    elif dns.status in (DnsStatus.NXDOMAIN, DnsStatus.NO_ANSWER):
        steps.append(f"if {name} should work on other computers too, add it to DNS")
    else:
        steps.append(
            f"check the DNS servers ({', '.join(dns.nameservers) or 'the system resolvers'}): "
            f"probe check {name} --nameserver IP asks another one"
        )
    return steps


def _status_word(dns: DnsResult) -> str:
    return {
        DnsStatus.NXDOMAIN: "NXDOMAIN",
        DnsStatus.NO_ANSWER: "no address record",
        DnsStatus.SERVFAIL: "SERVFAIL",
        DnsStatus.REFUSED: "REFUSED",
        DnsStatus.TIMEOUT: "no answer",
    }.get(dns.status, str(dns.status))
