"""Gates: a DNS failure or a missing route means nothing was probed; the first gate that fires
is the whole diagnosis (``registry.GATES``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from probe.diagnosis.context import Context
from probe.model import DnsResult, DnsStatus, Finding, RouteStatus, Severity, TargetReport

_DNS: Final[Mapping[DnsStatus, tuple[str, str]]] = {
    DnsStatus.NXDOMAIN: (
        "dns-nxdomain",
        "The name {name} does not exist in DNS (NXDOMAIN), so there is no address to connect to.",
    ),
    DnsStatus.SERVFAIL: (
        "dns-servfail",
        "DNS could not resolve {name} (SERVFAIL): the name's own DNS servers are broken or "
        "unreachable, or its DNSSEC signatures do not validate.",
    ),
    DnsStatus.REFUSED: (
        "dns-refused",
        "The DNS server refused to resolve {name} (REFUSED): it does not serve this client "
        "(its network is not allowed to use it) or it answers only for its own zones.",
    ),
    DnsStatus.TIMEOUT: (
        "dns-timeout",
        "No DNS server answered for {name}: the client's resolvers are unreachable or not "
        "responding.",
    ),
    DnsStatus.NO_ANSWER: (
        "dns-no-address",
        "The name {name} exists in DNS but has no address record (A or AAAA), so there is "
        "nothing to connect to.",
    ),
}


def _dns_steps(dns: DnsResult, name: str) -> tuple[str, ...]:
    other = "try another resolver with --nameserver IP (for an internal name: the company's DNS)"
    if dns.status is DnsStatus.NXDOMAIN:
        return (
            f"check the spelling of {name} (for a short name, also the client's search domain)",
            f"{other}; if it resolves there, the name exists only in another DNS view "
            "(split-horizon DNS): connect the VPN or use the internal resolver",
            "if the name is new or was changed, check that the record exists in the zone",
        )
    if dns.status is DnsStatus.SERVFAIL:
        return (
            f"{other}: if that one answers, the client's resolver is at fault",
            f"check the zone's authoritative servers (dig +trace {name})",
            f"if the zone is DNSSEC-signed, check its signatures (dig +cd {name} answers when "
            "only validation fails)",
        )
    if dns.status is DnsStatus.REFUSED:
        server = dns.answered_by or ", ".join(dns.nameservers) or "the resolver"
        return (
            "use the DNS server this network hands out (DHCP, VPN), or try another with "
            "--nameserver IP",
            f"if {server} is yours: allow this client's network to use it for recursion (BIND "
            "allow-recursion, Unbound access-control, dnsmasq --local-service, Windows DNS "
            "recursion settings)",
            "on a VPN: the company's resolver often answers VPN clients only; connect the VPN "
            "first",
        )
    if dns.status is DnsStatus.TIMEOUT:
        asked = ", ".join(dns.nameservers) or "the client's resolvers"
        return (
            f"check that {asked} can be reached from the client (UDP and TCP port 53 through "
            "the firewalls)",
            other,
            "on a VPN: check the DNS servers the VPN hands out",
        )
    return (
        f"check the zone for an A (IPv4) or AAAA (IPv6) record for {name}",
        "if the address family was restricted with -4 or -6, try the other one",
        "if the name is an alias (CNAME), check that the name it points to has an address",
    )


def dns_failure(t: TargetReport, ctx: Context) -> Finding | None:
    """dns-nxdomain / dns-servfail / dns-refused / dns-timeout / dns-no-address: the name gave
    no address to probe (DNS failed, and the system resolver had nothing either)."""
    dns = t.dns
    known = _DNS.get(dns.status)
    if known is None or t.address is not None:
        return None
    code, summary = known
    evidence = [
        f"asked {', '.join(dns.nameservers)}" if dns.nameservers else "asked the system's resolvers"
    ]
    if dns.answered_by:
        evidence.append(f"answered by {dns.answered_by}")
    if dns.cname_chain:
        evidence.append(f"followed the alias chain {' -> '.join((t.input, *dns.cname_chain))}")
    if dns.detail:
        evidence.append(f"resolver said: {dns.detail}")
    if dns.system is not None:
        said = dns.system.detail or str(dns.system.status)
        evidence.append(f"this computer's own resolver (getaddrinfo) said: {said}")
    took = "gave up after" if dns.status is DnsStatus.TIMEOUT else "took"
    evidence.append(f"{took} {dns.elapsed_ms:.0f} ms")
    return Finding(
        code=code,
        severity=Severity.ERROR,
        summary=summary.format(name=t.input),
        evidence=tuple(evidence),
        next_steps=_dns_steps(dns, t.input),
    )


def _other_family(source: str, t: TargetReport, ctx: Context) -> Finding:
    """no-route when the source asked for (--source, serve's source_address) is of the other
    family: no packet of one IP version carries an address of the other."""
    mine, theirs = (6, 4) if t.family == 4 else (4, 6)
    return Finding(
        code="no-route",
        severity=Severity.ERROR,
        summary=(
            f"Nothing can go to {ctx.host} from {source}: an IPv{mine} source cannot "
            f"send to an IPv{theirs} address."
        ),
        evidence=(
            f"the probes were to leave from {source} (the source address asked for), "
            f"an IPv{mine} address",
        ),
        next_steps=(
            f"give an IPv{theirs} address of this computer as the source (ip addr), or none",
            f"or probe the target's IPv{mine} address, if it has one (-{mine})",
        ),
    )


def no_route(t: TargetReport, ctx: Context) -> Finding | None:
    """no-route: the client cannot send anything toward the target."""
    r = t.route
    if r is None or r.status is not RouteStatus.NO_ROUTE:
        return None
    if r.source is not None and (":" in r.source) != (t.family == 6):
        return _other_family(r.source, t, ctx)
    kind = f"a route of type {r.route_type}" if r.route_type else "no route"
    evidence = [f"the client's routing table has {kind} for {ctx.host}"]
    if r.detail:
        evidence.append(f"kernel said: {r.detail}")
    if r.source is None:
        evidence.append("no source address to send from")
    steps = [
        "check the client's IP address and default gateway (ip addr / ip route; ipconfig and "
        "route print on Windows)",
        "if the target is reached through a VPN, check that the VPN is connected and routes "
        "this network",
    ]
    if t.family == 6:
        steps.append(
            "for an IPv6 target: check that the client has a global IPv6 address and an IPv6 "
            "default route; without them, use the IPv4 address (-4)"
        )
    return Finding(
        code="no-route",
        severity=Severity.ERROR,
        summary=f"This computer has no route to {ctx.host}: packets to it cannot leave the client.",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )
