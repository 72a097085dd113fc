"""Evidence -> findings: what an engineer reading the capture would tell the helpdesk.

Pure: works on one ``TargetReport`` (DNS, route, ping, ARP, classified ports) and returns
``Finding`` records — code, severity, one plain sentence, the packet facts behind it, and
what to check next. No I/O.

How it is built:

- ``GATES`` run first. A DNS failure or a missing route means nothing was probed, so the
  first gate that fires is the whole diagnosis.
- ``RULES`` then run in order (host-level first, then per-port, then the application). Each
  rule is a small function ``(t, ctx) -> Finding | None`` and returns at most ONE finding:
  ports sharing a code are grouped into that finding's ``ports``.
- ``Context`` is computed once per target: ports by state, the "reference" answer known to
  come from the host itself (the farthest SYN/ACK or echo reply), which RSTs came from a
  device in front of the host, and whether the whole host is down/silent/unreachable — so a
  host-level finding can absorb the per-port ones it explains.

Every port that is not open ends up in the ``ports`` of at least one error finding.

Across targets: ``diagnose_family`` compares the IPv4 and IPv6 addresses of one name
(``family-mismatch``); ``attach_family_findings`` adds its findings to the reports.

Exit status: ``has_problem(findings)`` is true when any finding is an error or a warning.
Info findings (``icmp-blocked``: ping filtered but the ports answer; ``mss-clamped`` /
``tcp-options-stripped`` when every port of the host shows the same oddity) are remarks, not
problems. Because every non-open port gets an error finding, "no problem" implies "every
probed port open", the contract's exit status 0.
"""

from __future__ import annotations

import bisect
import ipaddress
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from probe.diagnosis import middlebox
from probe.diagnosis.classify import connect_errnos, hops_from_ttl, reason_text
from probe.model import (
    DnsResult,
    DnsStatus,
    Finding,
    PingResult,
    PingStatus,
    PortResult,
    PortState,
    RouteStatus,
    Severity,
    TargetReport,
)

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

# --------------------------------------------------------------------------- wording helpers


def port_list(ports: Iterable[int], limit: int = 12) -> str:
    """Ports in words, runs as ranges: "82, 8443", "1-21, 23-79", "..., and 310 more"."""
    ordered = sorted(set(ports))
    # Port minus its index is the same along a run of consecutive ports and grows between
    # runs, so each run's end is one bisection away (a full-range scan has 65535 ports here).
    keys = list(map(operator.sub, ordered, range(len(ordered))))
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(ordered) and len(runs) < limit:
        end = bisect.bisect_right(keys, keys[i], lo=i)
        runs.append((ordered[i], ordered[end - 1]))
        i = end
    words = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if i < len(ordered):
        return ", ".join(words) + f", and {len(ordered) - i} more"
    return ", ".join(words)


def _port_spec(ports: Sequence[int]) -> str:
    """Ports as a --ports argument to copy: "82,8443", "1-21,23-79"."""
    return port_list(ports, limit=len(ports)).replace(", ", ",")


def _ports(ports: Sequence[int]) -> str:
    """ "port 80" / "ports 82, 8443" """
    return f"{'port' if len(ports) == 1 else 'ports'} {port_list(ports)}"


def _verb(ports: Sequence[int], one: str, many: str) -> str:
    return one if len(ports) == 1 else many


def _probed(ports: Sequence[int]) -> str:
    """ "port 80" / "any of the 3 probed ports" """
    return f"port {ports[0]}" if len(ports) == 1 else f"any of the {len(ports)} probed ports"


def _hops(n: int) -> str:
    return f"{n} hop" if n == 1 else f"{n} hops"


def ttl_words(ttl: int) -> str:
    """ "TTL 63 (≈ 1 hop)": the hop count is a guess from the nearest initial TTL."""
    return f"TTL {ttl} (≈ {_hops(hops_from_ttl(ttl))})"


def _hop_gap(n: int, word: str) -> str:
    """ "one hop closer", "2 hops farther" """
    return f"one hop {word}" if n == 1 else f"{n} hops {word}"


def _numbers(ps: Iterable[PortResult]) -> tuple[int, ...]:
    return tuple(sorted({p.port for p in ps}))


def same_address(a: str, b: str) -> bool:
    """Two spellings of one address ("2001:2::1", "2001:0002:0::1"); a zone index on ``b``
    (the target as typed, "fe80::1%eth0") is not part of the address an answer comes from."""
    if a == b:  # the usual case, and the cheap one
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b.split("%")[0])
    except ValueError:
        return a == b


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _ping_line(ping: PingResult | None) -> str:
    if ping is None:
        return "ping was not run"
    if ping.status is PingStatus.OK:
        line = f"{ping.received}/{ping.sent} echo replies"
        if ping.ttl is not None:
            line += f" with {ttl_words(ping.ttl)}"
        if ping.rtt_avg_ms is not None:
            line += f", {ping.rtt_avg_ms:.2f} ms on average"
        return line
    if ping.status is PingStatus.NO_REPLY:
        return f"{ping.sent} echo requests, no reply"
    if ping.status is PingStatus.UNREACHABLE:
        who = f" from {ping.responder}" if ping.responder else ""
        detail = f" ({ping.detail})" if ping.detail else ""
        return f"echo requests answered by ICMP unreachable{who}{detail}"
    return f"ping skipped ({ping.detail})" if ping.detail else "ping skipped"


def _ping_status(t: TargetReport) -> PingStatus:
    return t.ping.status if t.ping is not None else PingStatus.SKIPPED


_port = operator.attrgetter("port")


def _group(ps: Iterable[PortResult], key: Callable[[PortResult], object]) -> list[list[PortResult]]:
    """Ports sharing the same facts (same TTL, responder, reason...), in port order: one
    evidence line per group keeps a full-range scan readable."""
    groups: dict[object, list[PortResult]] = {}
    for p in sorted(ps, key=_port):
        groups.setdefault(key(p), []).append(p)
    return list(groups.values())


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class Reference:
    """An answer known to come from the host itself, to compare a RST's distance with."""

    what: str  # "SYN/ACK on 80" or "echo reply"
    ttl: int
    hops: int


@dataclass(frozen=True)
class Context:
    """What every rule needs, computed once per target by ``context()``."""

    mode: str
    timeout: float | None
    host: str  # the address (or the name, when there is no address)
    by_state: Mapping[PortState, tuple[PortResult, ...]]
    reference: Reference | None
    host_refused: tuple[PortResult, ...]
    middlebox_refused: tuple[PortResult, ...]
    host_rejected: tuple[PortResult, ...]  # ICMP rejects sent by the target address itself
    host_answered: bool  # SYN/ACK, RST from the host, or the host's own ICMP reject
    link_down: bool  # on-link, no ARP answer, nothing answered
    host_unreachable: bool  # routers say unreachable, and nothing else answered
    host_silent: bool  # nothing at all answered

    @property
    def connect(self) -> bool:
        return self.mode == "connect"

    def state(self, state: PortState) -> tuple[PortResult, ...]:
        return self.by_state.get(state, ())


def context(t: TargetReport, mode: str = "syn", timeout: float | None = None) -> Context:
    grouped: dict[PortState, list[PortResult]] = {}
    for p in t.ports:
        grouped.setdefault(p.state, []).append(p)
    by_state = {s: tuple(grouped[s]) for s in PortState if s in grouped}
    opened = by_state.get(PortState.OPEN, ())
    ref = _reference(t, opened) if mode != "connect" else None
    refused = by_state.get(PortState.REFUSED, ())
    middle_list: list[PortResult] = []
    host_list: list[PortResult] = []
    if mode == "connect":
        host_list.extend(refused)
    else:
        # The verdict depends on who answered and with which TTL only: decided once per
        # (responder, TTL), as a full-range scan has 65535 RSTs and one or two of those.
        verdicts: dict[tuple[str | None, int | None], bool] = {}
        for p in refused:
            facts = (p.responder, p.ttl)
            m = verdicts.get(facts)
            if m is None:
                m = verdicts[facts] = _from_middlebox(t, p, ref)
            (middle_list if m else host_list).append(p)
    middle, host_refused = tuple(middle_list), tuple(host_list)
    host_rejected = tuple(
        p
        for p in by_state.get(PortState.REJECTED, ())
        if p.responder is not None
        and t.address is not None
        and same_address(p.responder, t.address)
    )
    host_answered = bool(opened or host_refused or host_rejected)
    anything = any(
        p.state in (PortState.OPEN, PortState.REFUSED, PortState.REJECTED) for p in t.ports
    )
    ping = _ping_status(t)
    link_down = (
        t.route is not None
        and t.route.on_link
        and t.arp is not None
        and not t.arp.macs
        and not anything
        and ping is not PingStatus.OK
    )
    told_unreachable = bool(by_state.get(PortState.UNREACHABLE)) or ping is PingStatus.UNREACHABLE
    host_unreachable = not link_down and told_unreachable and not anything
    all_silent = all(p.state is PortState.FILTERED for p in t.ports)
    host_silent = (
        not link_down
        and ping in (PingStatus.NO_REPLY, PingStatus.SKIPPED)
        and all_silent
        and (bool(t.ports) or ping is PingStatus.NO_REPLY)
    )
    return Context(
        mode=mode,
        timeout=timeout,
        host=t.address or t.input,
        by_state=by_state,
        reference=ref,
        host_refused=host_refused,
        middlebox_refused=middle,
        host_rejected=host_rejected,
        host_answered=host_answered,
        link_down=link_down,
        host_unreachable=host_unreachable,
        host_silent=host_silent,
    )


def _reference(t: TargetReport, opened: Sequence[PortResult]) -> Reference | None:
    """The farthest answer from the host itself: SYN/ACKs from its address, echo replies.

    The farthest, because a NAT router often answers ping (and its own admin ports) for its
    public address itself: the forwarded port's SYN/ACK is the one that shows the real host.
    On a tie a SYN/ACK is quoted rather than an echo reply.
    """
    candidates: list[Reference] = []
    for p in opened:
        from_host = p.responder is None or t.address is None or same_address(p.responder, t.address)
        if p.ttl is not None and from_host:
            candidates.append(Reference(f"SYN/ACK on {p.port}", p.ttl, hops_from_ttl(p.ttl)))
    if t.ping is not None and t.ping.status is PingStatus.OK and t.ping.ttl is not None:
        candidates.append(Reference("echo reply", t.ping.ttl, hops_from_ttl(t.ping.ttl)))
    return max(candidates, key=lambda r: r.hops, default=None)  # max keeps the first on ties


def _from_middlebox(t: TargetReport, p: PortResult, ref: Reference | None) -> bool:
    """A RST sent by something in front of the host: from another address, or from fewer hops
    away than the host's own answers (a NAT router or firewall answering in its name)."""
    if (
        p.responder is not None
        and t.address is not None
        and not same_address(p.responder, t.address)
    ):
        return True
    return p.ttl is not None and ref is not None and hops_from_ttl(p.ttl) < ref.hops


# --------------------------------------------------------------------------- gates

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
    """dns-nxdomain / dns-servfail / dns-timeout / dns-no-address."""
    dns = t.dns
    known = _DNS.get(dns.status)
    if known is None:
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
    took = "gave up after" if dns.status is DnsStatus.TIMEOUT else "took"
    evidence.append(f"{took} {dns.elapsed_ms:.0f} ms")
    return Finding(
        code=code,
        severity=ERROR,
        summary=summary.format(name=t.input),
        evidence=tuple(evidence),
        next_steps=_dns_steps(dns, t.input),
    )


def no_route(t: TargetReport, ctx: Context) -> Finding | None:
    """no-route: the client cannot send anything toward the target."""
    r = t.route
    if r is None or r.status is not RouteStatus.NO_ROUTE:
        return None
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
        severity=ERROR,
        summary=f"This computer has no route to {ctx.host}: packets to it cannot leave the client.",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


# --------------------------------------------------------------------------- rules: the host


def duplicate_ip(t: TargetReport, ctx: Context) -> Finding | None:
    """duplicate-ip: more than one MAC address answers ARP / neighbour solicitation."""
    if t.arp is None:
        return None
    macs = tuple(dict.fromkeys(m.lower() for m in t.arp.macs))
    if len(macs) < 2:
        return None
    asked = "neighbour advertisements" if t.family == 6 else "ARP replies"
    return Finding(
        code="duplicate-ip",
        severity=ERROR,
        summary=f"More than one device answers for {ctx.host} ({', '.join(macs)}): an IP address "
        "conflict, so connections reach one or the other at random.",
        evidence=(f"{asked} for {ctx.host} from {len(macs)} MAC addresses: {', '.join(macs)}",),
        next_steps=(
            "find the devices by MAC address: the switch's MAC address table or the DHCP "
            "server's leases (the first three bytes name the vendor of each network card)",
            "give one of them another address; the usual cause is a static address inside the "
            "DHCP pool",
        ),
    )


def host_down_on_link(t: TargetReport, ctx: Context) -> Finding | None:
    """host-down-on-link: the target is on the client's segment and nothing answers ARP."""
    if not ctx.link_down:
        return None
    asked = "no neighbour advertisement" if t.family == 6 else "no ARP reply"
    iface = f" on {t.route.interface}" if t.route is not None and t.route.interface else ""
    arp = t.arp
    tried = ""
    if arp is not None and arp.requests:
        what = "neighbour solicitations" if t.family == 6 else "ARP requests"
        tried = f" to {arp.requests} {what} within {arp.wait_s:g} s"
    segment = "(it is on the client's own network segment)"
    evidence = [f"{asked} for {ctx.host}{iface}{tried} {segment}"]
    evidence.append(_ping_line(t.ping))
    ports = _numbers(t.ports)
    if ports:
        evidence.append(f"no answer on {_ports(ports)}")
    return Finding(
        code="host-down-on-link",
        severity=ERROR,
        ports=ports,
        summary=f"Nothing on the local network answers for {ctx.host}: the device is off or "
        "disconnected, on another VLAN, or the address is wrong.",
        evidence=tuple(evidence),
        next_steps=(
            "check that the device is powered on and connected (cable and link light, Wi-Fi)",
            f"check the device's own IP address and subnet mask: is it really {ctx.host}?",
            "check that the device's switch port is in the same VLAN as the client",
        ),
    )


def host_unreachable(t: TargetReport, ctx: Context) -> Finding | None:
    """host-unreachable: routers answered ICMP host/network unreachable (named)."""
    unreach = ctx.state(PortState.UNREACHABLE)
    ping_unreach = t.ping is not None and t.ping.status is PingStatus.UNREACHABLE
    if ctx.link_down or not (unreach or (ping_unreach and not ctx.host_answered)):
        return None
    routers = list(dict.fromkeys(p.responder for p in unreach if p.responder))
    if ping_unreach and t.ping is not None and t.ping.responder and t.ping.responder not in routers:
        routers.append(t.ping.responder)
    nets = {p.reason for p in unreach} == {"net-unreach"}
    what = "network unreachable" if nets else "host unreachable"

    evidence: list[str] = []
    if ping_unreach:
        evidence.append(_ping_line(t.ping))
    for g in _group(unreach, lambda p: (p.responder, p.reason, p.ttl)):
        p, nums = g[0], _numbers(g)
        if p.responder is None:
            errnos = " or ".join(connect_errnos(p.reason)) or p.reason
            if ctx.connect:
                did = f"connect() to {_ports(nums)} failed"
            else:  # the raw engine's sendto() was refused: failed ARP or an unreachable route
                did = f"this computer's kernel refused to send to {_ports(nums)}"
            evidence.append(f"{did}: {what} ({errnos})")
        else:
            ttl = f", {ttl_words(p.ttl)}" if p.ttl is not None else ""
            evidence.append(
                f"{reason_text(p.reason)} from {p.responder} for the SYN to {_ports(nums)}{ttl}"
            )
    ports = list(_numbers(unreach))
    if ctx.host_unreachable:
        silent = _numbers(ctx.state(PortState.FILTERED))
        if silent:
            evidence.append(
                f"no answer at all on {_ports(silent)}: routers rate-limit their ICMP errors, so "
                "some probes get nothing back"
            )
            ports.extend(silent)

    probe_port = ports[0] if ports else 80
    steps = [f"probe trace {ctx.host} --port {probe_port} shows how far the SYN gets"]
    if routers:
        steps.append(f"check the routing table of {', '.join(routers)} toward {ctx.host}")
    steps.append(f"check that {ctx.host} is up and connected on its own network")

    if ctx.host_answered:
        up = _numbers(ctx.state(PortState.OPEN)) or _numbers(ctx.host_refused)
        by = f"the router at {', '.join(routers)}" if routers else "the network"
        summary = (
            f"{_cap(_ports(ports))} {_verb(ports, 'gets', 'get')} {what} from {by} although "
            f"the host answers on {_ports(up) if up else 'other ports'}: most likely a firewall "
            "rejecting with an unreachable message."
        )
        steps[1:1] = [f"look for a reject rule for {_ports(ports)} on {by}"]
    elif routers:
        who = "router at" if len(routers) == 1 else "routers at"
        says = "reports" if len(routers) == 1 else "report"
        summary = (
            f"The {who} {', '.join(routers)} {says} {ctx.host} as unreachable ({what}): the "
            "host is down, or that router has no working route to it."
        )
    else:
        summary = (
            f"The host {ctx.host} cannot be reached ({what}): a router on the way reported it "
            "unreachable, or nothing answered ARP on the local network."
        )
    return Finding(
        code="host-unreachable",
        severity=ERROR,
        ports=tuple(sorted(ports)),
        summary=summary,
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def _syn_lines(ps: Sequence[PortResult], ctx: Context) -> list[str]:
    """ "3 SYNs to 82, 8443, no answer within 2 s each" — one line per try count."""
    lines = []
    for g in _group(ps, lambda p: p.tries):
        n, nums = g[0].tries, _numbers(g)
        each = " each" if len(nums) > 1 or n > 1 else ""
        if ctx.connect:
            attempts = "connection attempt" if n == 1 else "connection attempts"
            within = f" after {ctx.timeout:g} s{each}" if ctx.timeout else ""
            lines.append(f"{n} {attempts} to {port_list(nums)} timed out{within}")
        else:
            syns = "SYN" if n == 1 else "SYNs"
            within = f" within {ctx.timeout:g} s{each}" if ctx.timeout else ""
            to = "to each of" if len(nums) > 1 else "to"
            lines.append(f"{n} {syns} {to} {port_list(nums)}, no answer{within}")
    return lines


def _host_answers(ctx: Context) -> str:
    """The host's own answers, as evidence that it is up: "SYN/ACK on 80; RST from the host
    on 22" (connect mode: "connected to 80; refused on 22"). Empty if it gave none."""
    opened = port_list(_numbers(ctx.state(PortState.OPEN)))
    refused = port_list(_numbers(ctx.host_refused))
    rejected = port_list(_numbers(ctx.host_rejected))
    said = [
        (f"connected to {opened}" if ctx.connect else f"SYN/ACK on {opened}") if opened else "",
        (f"refused on {refused}" if ctx.connect else f"RST from the host on {refused}")
        if refused
        else "",
        f"ICMP reject from the host itself on {rejected}" if rejected else "",
    ]
    return "; ".join(w for w in said if w)


def host_silent(t: TargetReport, ctx: Context) -> Finding | None:
    """host-silent: no ping reply (or no ping) and no answer on any port."""
    if not ctx.host_silent:
        return None
    ports = _numbers(t.ports)
    skipped = _ping_status(t) is PingStatus.SKIPPED
    if not ports:
        nothing = "no reply to ping (no ports were probed)"
    elif skipped:
        nothing = f"no answer on {_probed(ports)} (ping was skipped)"
    else:
        nothing = f"no reply to ping and no answer on {_probed(ports)}"
    evidence = [_ping_line(t.ping), *_syn_lines(t.ports, ctx)]
    steps = ["check that the host is up (console, hypervisor, someone on site)"]
    if t.address is not None and t.input != t.address:
        evidence.append(f"{t.input} resolved to {t.address}")
        steps.append(f"check that {t.address} is still the right address for {t.input}")
    else:
        steps.append(f"check that {ctx.host} is the right address")
    steps.append(
        f"probe trace {ctx.host} --port {ports[0] if ports else 80} shows where the packets stop"
    )
    steps.append("check the firewall in front of the host: a default-drop policy answers nothing")
    return Finding(
        code="host-silent",
        severity=ERROR,
        ports=ports,
        summary=f"The host {ctx.host} answers nothing: {nothing}, so the host is down or "
        "everything to it is dropped (firewall, wrong address, blackhole route).",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def icmp_blocked(t: TargetReport, ctx: Context) -> Finding | None:
    """icmp-blocked: ping got nothing (or an unreachable) but the host answered on TCP."""
    if (
        _ping_status(t) not in (PingStatus.NO_REPLY, PingStatus.UNREACHABLE)
        or not ctx.host_answered
    ):
        return None
    opened = _numbers(ctx.state(PortState.OPEN))
    up = f"on {_ports(opened)}" if opened else "TCP probes"
    return Finding(
        code="icmp-blocked",
        severity=INFO,
        summary=f"The host {ctx.host} is up (it answers {up}) but not to ping: ICMP echo is "
        "filtered, so ping is not a valid test for this host.",
        evidence=(
            _ping_line(t.ping),
            _host_answers(ctx),
        ),
        next_steps=(
            "test this host with a TCP port (probe check, Test-NetConnection, nc -vz) "
            "instead of ping",
            "if monitoring needs ping, allow ICMP echo on the host's firewall or the firewall "
            "in front of it",
        ),
    )


# --------------------------------------------------------------------------- rules: the ports


def port_refused_by_middlebox(t: TargetReport, ctx: Context) -> Finding | None:
    """port-refused-by-middlebox: the RST came from another address, or from fewer hops away
    than the host's own answers (NAT/PAT forwarding only some ports, or a resetting firewall)."""
    ps = ctx.middlebox_refused
    if not ps:
        return None
    ports = _numbers(ps)
    ref = ctx.reference
    evidence: list[str] = []
    for g in _group(ps, lambda p: (p.responder, p.ttl)):
        p, nums = g[0], port_list(_numbers(g))
        if (
            p.responder is not None
            and t.address is not None
            and not same_address(p.responder, t.address)
        ):
            evidence.append(f"RST on {nums} came from {p.responder}, not from {t.address}")
        if p.ttl is not None and ref is not None and hops_from_ttl(p.ttl) < ref.hops:
            evidence.append(
                f"{ref.what} with {ttl_words(ref.ttl)}; RST on {nums} with {ttl_words(p.ttl)}: "
                f"{_hop_gap(ref.hops - hops_from_ttl(p.ttl), 'closer')}"
            )
    # The proof (TTL-limited SYNs, when sent), forged SYN/ACKs, odd IP IDs: middlebox.py.
    own = [
        p
        for p in (*ctx.state(PortState.OPEN), *ctx.host_refused)
        if p.responder is None or t.address is None or same_address(p.responder, t.address)
    ]
    evidence += middlebox.evidence_lines(t, ps, own)
    opened = _numbers(ctx.state(PortState.OPEN))
    it = _verb(ports, "it", "them")
    if opened:
        fwd = f"{port_list(opened)} {_verb(opened, 'is', 'are')} forwarded"
        nat = f"a NAT/PAT router that forwards only some ports ({fwd})"
    else:
        nat = f"a NAT/PAT router without port forwarding for {it}"
    nums = port_list(ports)
    return Finding(
        code="port-refused-by-middlebox",
        severity=ERROR,
        ports=ports,
        summary=f"{_cap(_ports(ports))} {_verb(ports, 'is', 'are')} answered by a device in "
        f"front of {ctx.host}, not by the host: {nat}, or a firewall sending resets.",
        evidence=tuple(evidence),
        next_steps=(
            f"check the port forwarding (virtual server / PAT rule) for {nums} on the NAT router",
            f"check the firewall in front of {ctx.host} for a rule that resets {nums}",
            f"probe trace {ctx.host} --port {ports[0]} shows the hop that sends the RST",
        ),
    )


def port_refused(t: TargetReport, ctx: Context) -> Finding | None:
    """port-refused: RST from the host itself: nothing listens on the port."""
    ps = ctx.host_refused
    if not ps:
        return None
    ports = _numbers(ps)
    ref = ctx.reference
    unsure = ctx.connect
    evidence: list[str] = []
    for g in _group(ps, lambda p: (p.responder, p.ttl)):
        p, nums = g[0], port_list(_numbers(g))
        if ctx.connect:
            evidence.append(
                f"connect() to {nums} was refused (ECONNREFUSED): a RST came back, or an ICMP "
                "port unreachable; the connect() fallback sees neither the sender nor the TTL, "
                "so it cannot tell the host from a firewall or NAT answering in its name"
            )
            continue
        who = p.responder or ctx.host
        if p.ttl is None:
            evidence.append(f"RST from {who} on {nums} (no TTL recorded to compare)")
            unsure = True
        elif ref is None:
            evidence.append(
                f"RST from {who} on {nums} with {ttl_words(p.ttl)}; no SYN/ACK or echo reply to "
                "compare TTLs with, so a firewall answering in the host's name cannot be ruled out"
            )
            unsure = True
        else:
            farther = hops_from_ttl(p.ttl) - ref.hops
            same = (
                "the same distance as" if farther == 0 else f"{_hop_gap(farther, 'farther')} than"
            )
            evidence.append(
                f"RST from {who} on {nums} with {ttl_words(p.ttl)}: {same} the {ref.what} "
                f"with TTL {ref.ttl}"
            )
    nums = port_list(ports)
    steps = [
        f"check that the service runs on {ctx.host} (ss -ltnp on Linux, netstat -ano on Windows)",
        f"check that it listens on {_ports(ports)} and on this address, not only on 127.0.0.1 "
        "or another interface",
    ]
    if unsure:
        steps.append(f"if {ctx.host} is behind a NAT router, check the port forwarding for {nums}")
    return Finding(
        code="port-refused",
        severity=ERROR,
        ports=ports,
        summary=f"Nothing is listening on {_ports(ports)} on {ctx.host}: the application is not "
        "running or listens on another port or address.",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def port_rejected(t: TargetReport, ctx: Context) -> Finding | None:
    """port-rejected: a firewall answered ICMP prohibited / port unreachable (named)."""
    ps = ctx.state(PortState.REJECTED)
    if not ps:
        return None
    ports = _numbers(ps)
    source = t.route.source if t.route is not None and t.route.source else "this client"
    clauses: list[str] = []
    evidence: list[str] = []
    steps: list[str] = []
    for g in _group(ps, lambda p: (p.responder, p.reason)):
        p, nums = g[0], _numbers(g)
        what = reason_text(p.reason)
        if p.reason == "local-reject":
            clauses.append(f"this computer's own firewall blocks {_ports(nums)}")
            errnos = "/".join(connect_errnos(p.reason))
            evidence.append(
                f"sending to {port_list(nums)} failed with {errnos} before any packet left"
            )
            steps.append(
                "check this computer's outgoing firewall rules (nftables/iptables OUTPUT, Windows "
                "Defender Firewall, endpoint security software)"
            )
            continue
        for pg in _group(g, lambda p: p.ttl):
            ttl = f", {ttl_words(pg[0].ttl)}" if pg[0].ttl is not None else ""
            who = f" from {p.responder}" if p.responder else ""
            evidence.append(f"{what}{who} for the SYN to {port_list(_numbers(pg))}{ttl}")
        if p.responder is None:
            clauses.append(f"a firewall rejects {_ports(nums)} ({what})")
            steps.append(f"probe trace {ctx.host} --port {nums[0]} shows which hop rejects it")
        elif t.address is not None and same_address(p.responder, t.address):
            clauses.append(f"the firewall on {ctx.host} itself rejects {_ports(nums)} ({what})")
            steps.append(
                f"check the firewall on {ctx.host} (nftables/iptables, firewalld, Windows Defender "
                f"Firewall) for a reject rule on {_ports(nums)}"
            )
        else:
            clauses.append(f"the firewall at {p.responder} rejects {_ports(nums)} ({what})")
            steps.append(
                f"ask the owner of the firewall at {p.responder} to allow TCP {port_list(nums)} "
                f"from {source} to {ctx.host}"
            )
    return Finding(
        code="port-rejected",
        severity=ERROR,
        ports=ports,
        summary=_cap("; ".join(clauses)) + ".",
        evidence=tuple(evidence),
        next_steps=tuple(dict.fromkeys(steps)),
    )


def port_filtered(t: TargetReport, ctx: Context) -> Finding | None:
    """port-filtered: SYNs unanswered after every try."""
    ps = ctx.state(PortState.FILTERED)
    if not ps or ctx.host_silent or ctx.link_down or ctx.host_unreachable:
        return None
    ports = _numbers(ps)
    opened = _numbers(ctx.state(PortState.OPEN)) or _numbers(ctx.host_refused)
    evidence = _syn_lines(ps, ctx)
    if opened:
        up = f" although the host is up (it answers on {port_list(opened)})"
        evidence.append(_host_answers(ctx))
    elif _ping_status(t) is PingStatus.OK:
        up = " although the host is up (it answers ping)"
        evidence.append(_ping_line(t.ping))
    else:
        up = ""
    it = _verb(ports, "it", "them")
    nums = port_list(ports)
    return Finding(
        code="port-filtered",
        severity=ERROR,
        ports=ports,
        summary=f"{_cap(_ports(ports))} on {ctx.host} {_verb(ports, 'gets', 'get')} no answer"
        f"{up}: a firewall drops the SYNs silently, or a NAT has no forwarding for {it}.",
        evidence=tuple(evidence),
        next_steps=(
            f"probe trace {ctx.host} --port {ports[0]} finds the hop where the SYN dies",
            f"check the firewalls between this client and {ctx.host} for a rule dropping {nums}",
            f"if {ctx.host} is behind a NAT router, check the port forwarding for {nums}",
            f"check the firewall on {ctx.host} itself",
        ),
    )


# path-loss needs this many ports answered only at a retry, and this estimated loss per try.
PATH_LOSS_PORTS: Final = 3
PATH_LOSS_SHARE: Final = 0.05


def path_loss(t: TargetReport, ctx: Context) -> Finding | None:
    """path-loss: ports answered only to a retransmission, often enough that the path itself
    loses packets; unanswered ports may then have lost every try rather than be filtered."""
    if ctx.connect:
        return None  # the kernel's own retransmissions hide loss from connect()
    answered = ctx.state(PortState.OPEN) + ctx.state(PortState.REFUSED)
    retried = [p for p in answered if p.tries > 1]
    tries = sum(p.tries for p in answered)
    share = sum(p.tries - 1 for p in answered) / tries if tries else 0.0
    if len(retried) < PATH_LOSS_PORTS or share < PATH_LOSS_SHARE:
        return None
    ports = _numbers(retried)
    most = max(p.tries for p in retried)
    evidence = [
        f"{len(retried)} of {len(answered)} answering ports answered only a retransmission "
        f"(up to try {most}): about {share:.0%} of the SYNs or of their answers were lost"
    ]
    silent = _numbers(ctx.state(PortState.FILTERED))
    summary = f"The path to {ctx.host} loses packets (about {share:.0%} of tries)"
    steps = [
        f"probe trace {ctx.host} --port {ports[0]} (or mtr / trippy) to see which hop loses them",
        "check the links on the way for errors: interface counters (ip -s link), Wi-Fi signal, "
        "a duplex mismatch, an overloaded uplink",
    ]
    if silent:
        tried = max(p.tries for p in ctx.state(PortState.FILTERED))
        chance = share**tried
        summary += (
            f": {_ports(silent)} may have lost every try rather than be dropped by a firewall."
        )
        evidence.append(
            f"at that loss all {tried} tries fail by chance for about 1 port in "
            f"{round(1 / chance):,}; unanswered here: {port_list(silent)}"
        )
        steps.insert(
            0,
            f"probe check {ctx.host} -p {_port_spec(silent)} --tries "
            f"{max(tried + 2, 7)} again: a port a firewall drops stays filtered, a lost one "
            "answers",
        )
    else:
        summary += "; every port still answered in the end."
    return Finding(
        code="path-loss",
        severity=WARNING,
        ports=ports,
        summary=summary,
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def partial_reachability(t: TargetReport, ctx: Context) -> Finding | None:
    """partial-reachability: some ports open, others not: the problem is limited to those."""
    opened = _numbers(ctx.state(PortState.OPEN))
    closed = tuple(p for p in t.ports if p.state is not PortState.OPEN)
    if not opened or not closed:
        return None
    ports = _numbers(closed)
    evidence = [f"open: {port_list(opened)}"]
    for g in _group(closed, lambda p: p.state):
        evidence.append(f"{g[0].state}: {port_list(_numbers(g))}")
    return Finding(
        code="partial-reachability",
        severity=WARNING,
        ports=ports,
        summary=f"The host is up and {_ports(opened)} {_verb(opened, 'answers', 'answer')}; the "
        f"problem is limited to {_ports(ports)}.",
        evidence=tuple(evidence),
        next_steps=(
            f"the network path to {ctx.host} works: look only at the services and the "
            f"firewall/NAT rules for {port_list(ports)} (see the other findings)",
        ),
    )


def app_silent(t: TargetReport, ctx: Context) -> Finding | None:
    """app-silent: the handshake completes but the application says nothing."""
    ps = tuple(
        p for p in ctx.state(PortState.OPEN) if p.app is not None and p.app.status == "silent"
    )
    if not ps:
        return None
    ports = _numbers(ps)
    evidence = []
    for p in ps:
        assert p.app is not None
        shake = f"connect() to {p.port} succeeded" if ctx.connect else f"SYN/ACK on {p.port}"
        line = f"{shake}, then no answer to the {p.app.protocol} hello"
        evidence.append(f"{line} ({p.app.detail})" if p.app.detail else line)
    named = [p.app.protocol for p in ps if p.app is not None and p.app.protocol != "generic"]
    protocols = ", ".join(dict.fromkeys(named))
    speaks = (
        f"check that {_ports(ports)} really speaks {protocols} (for example TLS versus plain HTTP)"
        if protocols
        else f"find out which protocol {_ports(ports)} should speak and try its hello with "
        "--app-protocol (probe waited for a greeting, then tried HTTP)"
    )
    return Finding(
        code="app-silent",
        severity=ERROR,
        ports=ports,
        summary=f"The TCP handshake completes on {_ports(ports)} but the application sends "
        "nothing: it is hung, overloaded or out of resources, or it speaks another protocol.",
        evidence=tuple(evidence),
        next_steps=(
            f"check the application on {ctx.host}: is the process alive but stuck (its logs, "
            "CPU, memory, connection limits)?",
            speaks,
            "if a load balancer or proxy is in front, check that it has a healthy backend: it "
            "accepts connections even when it has nowhere to send them",
        ),
    )


def app_error(t: TargetReport, ctx: Context) -> Finding | None:
    """app-error: the handshake completes but the protocol hello fails: the service refuses
    the client, speaks another protocol, or a TLS handshake fails."""
    ps = tuple(
        p for p in ctx.state(PortState.OPEN) if p.app is not None and p.app.status == "error"
    )
    if not ps:
        return None
    ports = _numbers(ps)
    evidence = []
    for p in ps:
        assert p.app is not None
        line = f"the {p.app.protocol} hello on {p.port}: {p.app.detail or 'failed'}"
        evidence.append(f'{line}; it said "{p.app.banner}"' if p.app.banner else line)
    protocols = ", ".join(dict.fromkeys(p.app.protocol for p in ps if p.app is not None))
    return Finding(
        code="app-error",
        severity=WARNING,
        ports=ports,
        summary=f"{_cap(_ports(ports))} on {ctx.host} {_verb(ports, 'accepts', 'accept')} the "
        f"connection but the {protocols} hello fails: the service refuses this client, or "
        "speaks another protocol than expected.",
        evidence=tuple(evidence),
        next_steps=(
            f"check which service really listens on {_ports(ports)} (ss -ltnp on {ctx.host}); "
            "try another hello with --app-protocol",
            "if the server refused the client (too many connections, access denied), check "
            "the service's connection limits and access lists",
        ),
    )


_CERT_WORDS: Final[Mapping[str, str]] = {
    "expired": "has expired",
    "not yet valid": "is not valid yet",
    "name mismatch": "does not cover the name {name}",
}


def tls_certificate(t: TargetReport, ctx: Context) -> Finding | None:
    """tls-certificate: the certificate has expired, is not valid yet, or does not cover
    the name the client asked for (read with verification off, judged here)."""
    ps = tuple(p for p in ctx.state(PortState.OPEN) if p.app is not None and p.app.cert_problems)
    if not ps:
        return None
    ports = _numbers(ps)
    problems = list(dict.fromkeys(c for p in ps if p.app is not None for c in p.app.cert_problems))
    evidence: list[str] = []
    for p in ps:
        a = p.app
        assert a is not None
        line = f"TLS on {p.port}: certificate {a.cert_subject or '(no subject)'}"
        if a.cert_issuer:
            line += f", issued by {a.cert_issuer}"
        if a.cert_not_after:
            line += f", valid until {a.cert_not_after}"
        if a.cert_names:
            line += f", names {', '.join(a.cert_names)}"
        evidence.append(f"{line}: {', '.join(a.cert_problems)}")
    clauses = [_CERT_WORDS.get(c, c).format(name=t.input) for c in problems]
    steps: list[str] = []
    if "expired" in problems:
        steps.append(f"renew the certificate on {ctx.host} and reload the service")
    if "name mismatch" in problems:
        steps.append(
            f"install a certificate whose subjectAltName covers {t.input}, or connect with a "
            "name the certificate covers"
        )
        steps.append(
            "if the server hosts several sites, check that it picks the right certificate for "
            "this name (SNI, virtual host configuration)"
        )
    if "expired" in problems or "not yet valid" in problems:
        steps.append("check the date and time of this computer and of the server")
    return Finding(
        code="tls-certificate",
        severity=ERROR,
        ports=ports,
        summary=f"The TLS certificate on {_ports(ports)} of {ctx.host} {' and '.join(clauses)}: "
        "browsers and other clients that verify it refuse the connection.",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


# --------------------------------------------------------------------------- rules: TCP options

# What a SYN/ACK announces on a plain Ethernet path: MTU 1500 less the IP and TCP headers.
_ETHERNET_MSS: Final[Mapping[int, int]] = {4: 1460, 6: 1440}

# IPv4 MSS values that name their usual cause (IPv6: 20 bytes less).
_MSS_CAUSES: Final[Mapping[int, str]] = {
    1452: "PPPoE (MTU 1492, DSL lines)",
    1436: "a GRE tunnel (MTU 1476)",
    1380: "a Cisco ASA's default MSS rewrite, or WireGuard (MTU 1420)",
    536: "the TCP default, used when no MSS is announced",
}

# What our SYN offers (engine/raw.py), so that its absence in the SYN/ACK means something.
_OFFERED = "our SYN offered MSS 1460, SACK, timestamps and window scale 7"


def _mss(p: PortResult) -> int:
    assert p.tcp_options is not None and p.tcp_options.mss is not None
    return p.tcp_options.mss


def mss_clamped(t: TargetReport, ctx: Context) -> Finding | None:
    """mss-clamped: SYN/ACKs announce an MSS below the Ethernet one (1460, IPv6 1440): a
    tunnel or VPN on the way, or a device rewriting the MSS."""
    family = t.family or 4
    base = _ETHERNET_MSS[family]
    known = [
        p
        for p in ctx.state(PortState.OPEN)
        if p.tcp_options is not None and p.tcp_options.mss is not None
    ]
    low = [p for p in known if _mss(p) < base]
    if not low:
        return None
    ports = _numbers(low)
    evidence = []
    for g in _group(low, _mss):
        mss = _mss(g[0])
        cause = _MSS_CAUSES.get(mss + (20 if family == 6 else 0))
        typical = f" (typical of {cause})" if cause else ""
        evidence.append(
            f"SYN/ACK on {port_list(_numbers(g))} announces MSS {mss}: {base - mss} bytes less "
            f"than the {base} of an IPv{family} path with MTU 1500{typical}"
        )
    normal = [p for p in known if _mss(p) >= base]
    if normal:
        sizes = "/".join(str(m) for m in sorted({_mss(p) for p in normal}))
        evidence.append(f"SYN/ACK on {port_list(_numbers(normal))} announces MSS {sizes}")
        summary = (
            f"{_cap(_ports(ports))} on {ctx.host} {_verb(ports, 'announces', 'announce')} a "
            "smaller MSS than the host's other ports: a device in front of "
            f"{_verb(ports, 'that port', 'those ports')} (load balancer, proxy, firewall) "
            "rewrites the handshake."
        )
    else:
        sizes = "/".join(str(m) for m in sorted({_mss(p) for p in low}))
        summary = (
            f"The server announces MSS {sizes}, not the {base} of a plain Ethernet path: the "
            "path goes through a tunnel or VPN (PPPoE, IPsec, GRE), or a firewall rewrites "
            "the MSS."
        )
    probe_size = 1472 if family == 4 else 1452  # fills a 1500-byte packet with ICMP headers
    six = " -6" if family == 6 else ""
    first = (
        "capture on the server: if its own SYN/ACK on "
        f"{port_list(ports)} announces {base}, a device on the way rewrites it"
        if normal
        else "usually harmless and often deliberate: the clamp keeps packets small enough for "
        "the tunnel on the way"
    )
    return Finding(
        code="mss-clamped",
        severity=WARNING if normal else INFO,
        ports=ports,
        summary=summary,
        evidence=(*evidence, _OFFERED),
        next_steps=(
            first,
            "if small requests work but large transfers stall (pages half load, copies hang), "
            f"check the path MTU: ping{six} -M do -s {probe_size} {ctx.host} (Windows: ping "
            f"-f -l {probe_size} {ctx.host}) must not say 'message too long'",
            "if no tunnel is expected on this path, look for a firewall rewriting the MSS "
            "(Cisco ASA: sysopt connection tcpmss; iptables TCPMSS; nftables maxseg size set)",
        ),
    )


def _features(p: PortResult) -> dict[str, bool]:
    o = p.tcp_options
    assert o is not None
    return {
        "SACK": o.sack_permitted,
        "timestamps": o.timestamps,
        "window scaling": o.wscale is not None,
    }


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def tcp_options_stripped(t: TargetReport, ctx: Context) -> Finding | None:
    """tcp-options-stripped: a SYN/ACK without SACK, timestamps or window scaling where the
    host's other ports have them (a device in front of those ports), or none of the three
    on any port (an old stack, or a firewall normalising options). Timestamps missing
    everywhere alone is Windows' default and no finding."""
    known = [p for p in ctx.state(PortState.OPEN) if p.tcp_options is not None]
    if not known:
        return None
    feats = {p.port: _features(p) for p in known}
    somewhere = {n for f in feats.values() for n, on in f.items() if on}
    lacking: dict[int, tuple[str, ...]] = {}
    for p in known:
        missing = tuple(n for n, on in feats[p.port].items() if not on and n in somewhere)
        if missing:
            lacking[p.port] = missing
    bare = () if somewhere else _numbers(known)
    if not lacking and not bare:
        return None
    ports = tuple(sorted({*lacking, *bare}))
    evidence: list[str] = []
    if lacking:
        having = _numbers(p for p in known if p.port not in lacking)
        groups: dict[tuple[str, ...], list[int]] = {}
        for port, missing in lacking.items():
            groups.setdefault(missing, []).append(port)
        for missing, nums in groups.items():
            others = f"which the SYN/ACK on {port_list(having)} has" if having else ""
            evidence.append(
                f"SYN/ACK on {port_list(nums)} without {_and(missing)}"
                + (f", {others}" if others else "")
            )
        summary = (
            f"The handshake on {_ports(ports)} of {ctx.host} lacks TCP options "
            f"({_and(list(dict.fromkeys(n for m in lacking.values() for n in m)))}) that the "
            "host's other ports announce: a device in front of "
            f"{_verb(ports, 'that port', 'those ports')} (load balancer, proxy, firewall) "
            "answers or rewrites the handshake."
        )
        steps = [
            "capture on the server: if its own SYN/ACK carries the options, a device on the way "
            "strips them (firewall TCP normalisation such as a Cisco ASA tcp-map, or a load "
            "balancer's TCP profile)",
            f"probe trace {ctx.host} --port {ports[0]} shows the hops in front of the port",
        ]
    else:
        evidence.append(
            f"SYN/ACK on {port_list(bare)} with none of SACK, timestamps or window scaling"
        )
        summary = (
            f"{ctx.host} answers the handshake without SACK, timestamps or window scaling: an "
            "old or embedded TCP stack, or a firewall stripping TCP options; connections work "
            "but are slow on long or lossy paths."
        )
        steps = [
            "if the server runs a general-purpose OS, check its TCP settings (Linux: sysctl "
            "net.ipv4.tcp_sack, tcp_timestamps, tcp_window_scaling; Windows: netsh int tcp "
            "show global)",
            "otherwise look for a firewall normalising TCP options on the way",
        ]
    return Finding(
        code="tcp-options-stripped",
        severity=WARNING if lacking else INFO,
        ports=ports,
        summary=summary,
        evidence=(*evidence, _OFFERED),
        next_steps=tuple(steps),
    )


# --------------------------------------------------------------------------- diagnose

Rule = Callable[[TargetReport, Context], Finding | None]

GATES: Final[tuple[Rule, ...]] = (dns_failure, no_route)

RULES: Final[tuple[Rule, ...]] = (
    duplicate_ip,
    host_down_on_link,
    host_unreachable,
    host_silent,
    icmp_blocked,
    port_refused_by_middlebox,
    port_refused,
    port_rejected,
    port_filtered,
    path_loss,
    partial_reachability,
    app_silent,
    app_error,
    tls_certificate,
    mss_clamped,
    tcp_options_stripped,
)


def diagnose(
    t: TargetReport, *, mode: str = "syn", timeout: float | None = None
) -> tuple[Finding, ...]:
    """The findings for one target, most fundamental first.

    ``mode`` is the report's mode ("syn" or "connect"): in connect mode no evidence claims
    a TTL or a responder. ``timeout`` (seconds per try), when given, is quoted in the
    evidence of unanswered ports. ``t.findings`` is ignored.
    """
    ctx = context(t, mode, timeout)
    for gate in GATES:
        stop = gate(t, ctx)
        if stop is not None:
            return (stop,)
    return tuple(f for rule in RULES if (f := rule(t, ctx)) is not None)


# --------------------------------------------------------------------------- family mismatch

# How far the SYN got: a lower rank is a better answer. Differences between the families are
# reported on the family that did worse.
_RANK: Final[Mapping[PortState, int]] = {
    PortState.OPEN: 0,
    PortState.REFUSED: 1,
    PortState.REJECTED: 2,
    PortState.UNREACHABLE: 3,
    PortState.FILTERED: 4,
}

_HINT: Final[Mapping[PortState, str]] = {
    PortState.FILTERED: "an {fam} firewall rule is missing (the {fam} path drops the SYNs)",
    PortState.REFUSED: "the service does not listen on {fam} (bound to the {other} address only?)",
    PortState.REJECTED: "a firewall rejects the port on {fam} only",
    PortState.UNREACHABLE: "{fam} routing to the host is broken",
}


def _family_finding(r: TargetReport, others: Sequence[TargetReport]) -> Finding | None:
    fam, other = ("IPv6", "IPv4") if r.family == 6 else ("IPv4", "IPv6")
    best: dict[int, tuple[str, PortState]] = {}  # port -> the other family's best answer
    for o in others:
        for op in o.ports:
            seen = best.get(op.port)
            if o.address and (seen is None or _RANK[op.state] < _RANK[seen[1]]):
                best[op.port] = (o.address, op.state)
    worse: list[tuple[int, PortState, str, PortState]] = []  # (port, mine, their address, theirs)
    for p in sorted(r.ports, key=lambda p: p.port):
        answer = best.get(p.port)
        if answer is not None and _RANK[answer[1]] < _RANK[p.state]:
            worse.append((p.port, p.state, *answer))
    if not worse:
        return None
    ports = tuple(w[0] for w in worse)
    kinds = {(w[1], w[3]) for w in worse}
    if len(kinds) == 1:
        mine, theirs = next(iter(kinds))
        other_addrs = ", ".join(dict.fromkeys(w[2] for w in worse))
        hint = _HINT[mine].format(fam=fam, other=other)
        summary = (
            f"{_cap(_ports(ports))} on {r.input} {_verb(ports, 'is', 'are')} {theirs} on {other} "
            f"({other_addrs}) but {mine} on {fam} ({r.address}): {hint}."
        )
    else:
        summary = (
            f"{_cap(_ports(ports))} on {r.input} answer worse on {fam} ({r.address}) than on "
            f"{other}: the {fam} firewall rules or service bindings differ from the {other} ones."
        )
    groups: dict[tuple[PortState, str, PortState], list[int]] = {}  # same facts, one line
    for port, mine, addr, theirs in worse:
        groups.setdefault((mine, addr, theirs), []).append(port)
    record = "AAAA" if fam == "IPv6" else "A"
    other_record = "A" if fam == "IPv6" else "AAAA"
    return Finding(
        code="family-mismatch",
        severity=WARNING,
        ports=ports,
        summary=summary,
        evidence=tuple(
            f"{port_list(nums)}: {theirs} on {addr} ({other}), {mine} on {r.address} ({fam})"
            for (mine, addr, theirs), nums in groups.items()
        ),
        next_steps=(
            f"compare the {fam} and {other} firewall rules for {port_list(ports)} (ip6tables and "
            "iptables, nftables, cloud security groups: IPv6 rules are often kept separately)",
            f"check that the service listens on both families ([::]:{ports[0]} as well as "
            f"0.0.0.0:{ports[0]})",
            f"check that the {record} record of {r.input} points to the same server as its "
            f"{other_record} record",
        ),
    )


def diagnose_family(reports: Sequence[TargetReport]) -> tuple[tuple[Finding, ...], ...]:
    """``family-mismatch`` across reports: one tuple of extra findings per report, parallel to
    ``reports`` (``result[i]`` belongs to ``reports[i]``; mostly empty).

    Reports with the same ``input`` and an address of the other family are compared port by
    port; where the states differ, the finding goes to the report of the family that did
    worse (open beats refused beats rejected beats unreachable beats filtered): IPv4 80 open
    and IPv6 80 filtered puts "IPv6 firewall rule missing?" on the IPv6 report. Reports
    without an address (DNS failed) are skipped.
    """
    out: list[tuple[Finding, ...]] = []
    for r in reports:
        others = [
            o
            for o in reports
            if o.input == r.input
            and o.family is not None
            and r.family is not None
            and o.family != r.family
        ]
        f = _family_finding(r, others) if others else None
        out.append((f,) if f is not None else ())
    return tuple(out)


def attach_family_findings(reports: Sequence[TargetReport]) -> tuple[TargetReport, ...]:
    """``reports`` with their ``diagnose_family`` findings appended (new records, same order)."""
    extra = diagnose_family(reports)
    return tuple(
        replace(r, findings=r.findings + e) if e else r for r, e in zip(reports, extra, strict=True)
    )


# --------------------------------------------------------------------------- exit status

_SEVERITY_ORDER: Final = (ERROR, WARNING, INFO)


def worst_severity(findings: Iterable[Finding]) -> Severity | None:
    """The most severe severity among ``findings`` (error > warning > info), None if none."""
    seen = {f.severity for f in findings}
    return next((s for s in _SEVERITY_ORDER if s in seen), None)


def has_problem(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error or a warning (the CLI's exit status 1). Info
    findings alone are remarks: a host that answers on every port but not to ping is fine."""
    return worst_severity(findings) in (ERROR, WARNING)
