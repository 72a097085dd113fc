"""Rules about single ports: port-refused-by-middlebox, port-refused, port-rejected,
port-filtered, path-loss, partial-reachability. Every port that is not open, and not
explained by a host-level finding, ends up in one of these."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from typing import Final

from probe.diagnosis import middlebox
from probe.diagnosis.classify import connect_errnos, hops_from_ttl, reason_text, same_address
from probe.diagnosis.context import Context, from_host, ping_status
from probe.diagnosis.words import (
    cap,
    endpoints,
    group,
    hop_gap,
    numbers,
    plural,
    port_list,
    port_spec,
    port_words,
    ports_of,
    ports_words,
    sent_word,
    split,
    split_endpoints,
    split_list,
    split_words,
    ttl_words,
    udp_list,
    verb,
)
from probe.model import Finding, PingStatus, PortResult, PortState, Protocol, Severity, TargetReport

# path-loss needs this many ports answered only at a retry, and this estimated loss per try.
PATH_LOSS_PORTS: Final = 3
PATH_LOSS_SHARE: Final = 0.05
QUIC_PORT: Final = 443

# Group keys read at C speed: a full-range scan's RSTs are 65535 ports to group.
_FACTS: Final = operator.attrgetter("responder", "ttl")
_STATE: Final = operator.attrgetter("state")
_TRIES: Final = operator.attrgetter("tries")
_ANSWERED: Final = frozenset((PortState.OPEN, PortState.REFUSED))


def port_refused_by_middlebox(t: TargetReport, ctx: Context) -> Finding | None:
    """port-refused-by-middlebox: the RST came from another address, or from fewer hops away
    than the host's own answers (NAT/PAT forwarding only some ports, or a resetting firewall)."""
    ps = ctx.middlebox_refused
    if not ps:
        return None
    ports = numbers(ps)
    ref = ctx.reference
    evidence: list[str] = []
    for g in group(ps, _FACTS):
        p, nums = g[0], port_list(numbers(g))
        if not from_host(t, p):
            evidence.append(f"RST on {nums} came from {p.responder}, not from {t.address}")
        if p.ttl is not None and ref is not None and hops_from_ttl(p.ttl) < ref.hops:
            evidence.append(
                f"{ref.what} with {ttl_words(ref.ttl)}; RST on {nums} with {ttl_words(p.ttl)}: "
                f"{hop_gap(ref.hops - hops_from_ttl(p.ttl), 'closer')}"
            )
    # The proof (TTL-limited SYNs, when sent), forged SYN/ACKs, odd IP IDs: middlebox.py.
    own = [p for p in (*ctx.state(PortState.OPEN), *ctx.host_refused) if from_host(t, p)]
    evidence += middlebox.evidence_lines(t, ps, own)
    opened = numbers(ctx.state(PortState.OPEN))
    it = verb(ports, "it", "them")
    if opened:
        fwd = f"{port_list(opened)} {verb(opened, 'is', 'are')} forwarded"
        nat = f"a NAT/PAT router that forwards only some ports ({fwd})"
    else:
        nat = f"a NAT/PAT router without port forwarding for {it}"
    nums = port_list(ports)
    return Finding(
        code="port-refused-by-middlebox",
        severity=Severity.ERROR,
        ports=ports,
        summary=f"{cap(port_words(ports))} {verb(ports, 'is', 'are')} answered by a device in "
        f"front of {ctx.host}, not by the host: {nat}, or a firewall sending resets.",
        evidence=tuple(evidence),
        next_steps=(
            f"check the port forwarding (virtual server / PAT rule) for {nums} on the NAT router",
            f"check the firewall in front of {ctx.host} for a rule that resets {nums}",
            f"probe trace {ctx.host} --port {ports[0]} shows the hop that sends the RST",
        ),
    )


def port_refused(t: TargetReport, ctx: Context) -> Finding | None:
    """port-refused: RST from the host itself (UDP: its own ICMP port unreachable): nothing
    listens on the port."""
    ps = ctx.host_refused
    udp = tuple(p for p in ctx.udp if p.state is PortState.REFUSED)
    if not ps and not udp:
        return None
    ref = ctx.reference
    unsure = ctx.connect
    evidence: list[str] = []
    for g in group(ps, _FACTS):
        p, nums = g[0], port_list(numbers(g))
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
            same = "the same distance as" if farther == 0 else f"{hop_gap(farther, 'farther')} than"
            evidence.append(
                f"RST from {who} on {nums} with {ttl_words(p.ttl)}: {same} the {ref.what} "
                f"with TTL {ref.ttl}"
            )
    evidence += _udp_refused_lines(udp, ctx)
    every = split((*ps, *udp))
    ports, protocols = split_endpoints(every)
    nums = split_list(every)
    ss = " -ltnp" if ps else ""
    if udp:
        ss = f"{ss} / ss -lunp" if ss else " -lunp"
    steps = [
        f"check that the service runs on {ctx.host} (ss{ss} on Linux, netstat -ano on Windows)",
        f"check that it listens on {split_words(every)} and on this address, not only on "
        "127.0.0.1 or another interface",
    ]
    if unsure or (udp and ctx.connect):
        steps.append(f"if {ctx.host} is behind a NAT router, check the port forwarding for {nums}")
    return Finding(
        code="port-refused",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=f"Nothing is listening on {split_words(every)} on {ctx.host}: the application is "
        "not running or listens on another port or address.",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def _udp_refused_lines(udp: Sequence[PortResult], ctx: Context) -> list[str]:
    """A closed UDP port's own evidence: its host's ICMP port unreachable."""
    lines = []
    for g in group(udp, _FACTS):
        p, nums = g[0], udp_list(numbers(g))
        if p.responder is None:
            lines.append(
                f"sending to {nums} drew ECONNREFUSED: an ICMP port unreachable came back; the "
                "connect() fallback cannot see who sent it, the host or a firewall in its name"
            )
        else:
            ttl = f" with {ttl_words(p.ttl)}" if p.ttl is not None else ""
            lines.append(
                f"ICMP port unreachable from {p.responder} itself for the datagram to {nums}"
                f"{ttl}: its kernel has no socket on that port"
            )
    return lines


def port_rejected(t: TargetReport, ctx: Context) -> Finding | None:
    """port-rejected: a firewall answered ICMP prohibited / port unreachable (named)."""
    ps = (*ctx.state(PortState.REJECTED), *(p for p in ctx.udp if p.state is PortState.REJECTED))
    if not ps:
        return None
    ports, protocols = endpoints(ps)
    source = t.route.source if t.route is not None and t.route.source else "this client"
    clauses: list[str] = []
    evidence: list[str] = []
    steps: list[str] = []
    for g in group(ps, lambda p: (p.responder, p.reason)):
        p, nums, named = g[0], numbers(g), ports_words(g)
        what = reason_text(p.reason)
        if p.reason == "local-reject":
            clauses.append(f"this computer's own firewall blocks {named}")
            errnos = "/".join(connect_errnos(p.reason, p.protocol))
            evidence.append(f"sending to {ports_of(g)} failed with {errnos} before any packet left")
            steps.append(
                "check this computer's outgoing firewall rules (nftables/iptables OUTPUT, Windows "
                "Defender Firewall, endpoint security software)"
            )
            continue
        for pg in group(g, lambda p: (p.ttl, p.protocol)):
            ttl = f", {ttl_words(pg[0].ttl)}" if pg[0].ttl is not None else ""
            who = f" from {p.responder}" if p.responder else ""
            evidence.append(f"{what}{who} for {sent_word(pg[0])} to {ports_of(pg)}{ttl}")
        if p.responder is None:
            clauses.append(f"a firewall rejects {named} ({what})")
            steps.append(f"probe trace {ctx.host} --port {nums[0]} shows which hop rejects it")
        elif t.address is not None and same_address(p.responder, t.address):
            clauses.append(f"the firewall on {ctx.host} itself rejects {named} ({what})")
            steps.append(
                f"check the firewall on {ctx.host} (nftables/iptables, firewalld, Windows Defender "
                f"Firewall) for a reject rule on {named}"
            )
        else:
            clauses.append(f"the firewall at {p.responder} rejects {named} ({what})")
            for pg in group(g, lambda p: p.protocol):
                steps.append(
                    f"ask the owner of the firewall at {p.responder} to allow "
                    f"{str(pg[0].protocol).upper()} {port_list(numbers(pg))} from {source} to "
                    f"{ctx.host}"
                )
    return Finding(
        code="port-rejected",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=cap("; ".join(clauses)) + ".",
        evidence=tuple(evidence),
        next_steps=tuple(dict.fromkeys(steps)),
    )


def port_filtered(t: TargetReport, ctx: Context) -> Finding | None:
    """port-filtered: SYNs unanswered after every try."""
    ps = ctx.state(PortState.FILTERED)
    if not ps or ctx.host_silent or ctx.link_down or ctx.host_unreachable:
        return None
    ports = numbers(ps)
    opened = numbers(ctx.state(PortState.OPEN)) or numbers(ctx.host_refused)
    evidence = ctx.syn_lines(ps)
    if opened:
        up = f" although the host is up (it answers on {port_list(opened)})"
        evidence.append(ctx.answers_line())
    elif ping_status(t) is PingStatus.OK:
        up = " although the host is up (it answers ping)"
        evidence += ctx.ping_lines(t.ping)
    else:
        up = ""
    it = verb(ports, "it", "them")
    nums = port_list(ports)
    return Finding(
        code="port-filtered",
        severity=Severity.ERROR,
        ports=ports,
        summary=f"{cap(port_words(ports))} on {ctx.host} {verb(ports, 'gets', 'get')} no answer"
        f"{up}: a firewall drops the SYNs silently, or a NAT has no forwarding for {it}.",
        evidence=tuple(evidence),
        next_steps=(
            f"probe trace {ctx.host} --port {ports[0]} finds the hop where the SYN dies",
            f"check the firewalls between this client and {ctx.host} for a rule dropping {nums}",
            f"if {ctx.host} is behind a NAT router, check the port forwarding for {nums}",
            f"check the firewall on {ctx.host} itself",
        ),
    )


def path_loss(t: TargetReport, ctx: Context) -> Finding | None:
    """path-loss: ports answered only to a retransmission, often enough that the path itself
    loses packets; unanswered ports may then have lost every try rather than be filtered."""
    if ctx.connect:
        return None  # the kernel's own retransmissions hide loss from connect()
    # Every answer is a sample of the path's loss, a port set aside (outcome.aside) too.
    answered = list(itertools.compress(t.ports, map(_ANSWERED.__contains__, map(_STATE, t.ports))))
    tries = sum(map(_TRIES, answered))
    lost = tries - len(answered)  # the tries after each port's first
    if not lost:
        return None  # every port answered its first SYN: a full-range scan's usual case
    retried = [p for p in answered if p.tries > 1]
    share = lost / tries
    if len(retried) < PATH_LOSS_PORTS or share < PATH_LOSS_SHARE:
        return None
    ports = numbers(retried)
    most = max(p.tries for p in retried)
    evidence = [
        f"{len(retried)} of {len(answered)} answering ports answered only a retransmission "
        f"(up to try {most}): about {share:.0%} of the SYNs or of their answers were lost"
    ]
    silent = numbers(ctx.state(PortState.FILTERED))
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
            f": {port_words(silent)} may have lost every try rather than be dropped by a firewall."
        )
        evidence.append(
            f"at that loss all {tried} tries fail by chance for about 1 port in "
            f"{round(1 / chance):,}; unanswered here: {port_list(silent)}"
        )
        steps.insert(
            0,
            f"probe check {ctx.host} -p {port_spec(silent)} --tries "
            f"{max(tried + 2, 7)} again: a port a firewall drops stays filtered, a lost one "
            "answers",
        )
    else:
        summary += "; every port still answered in the end."
    return Finding(
        code="path-loss",
        severity=Severity.WARNING,
        ports=ports,
        summary=summary,
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def partial_reachability(t: TargetReport, ctx: Context) -> Finding | None:
    """partial-reachability: some ports open, others not: the problem is limited to those."""
    # The TCP ports come grouped by state already: only the UDP ones are looked at one by one.
    opened = [*ctx.state(PortState.OPEN), *(p for p in ctx.udp if p.state is PortState.OPEN)]
    udp_closed = [p for p in ctx.udp if p.state is not PortState.OPEN]
    closed = [
        *itertools.chain.from_iterable(
            ps for s, ps in ctx.by_state.items() if s is not PortState.OPEN
        ),
        *udp_closed,
    ]
    if not opened or not closed:
        return None
    shut = split(closed)
    ports, protocols = split_endpoints(shut)
    evidence = [f"open: {ports_of(opened)}"]
    for g in group(closed, _STATE):
        evidence.append(f"{g[0].state}: {ports_of(g)}")
    evidence += _quic_lines(opened, udp_closed)
    n = len({(p.port, p.protocol) for p in opened})
    return Finding(
        code="partial-reachability",
        severity=Severity.WARNING,
        ports=ports,
        protocols=protocols,
        summary=f"The host is up and {ports_words(opened)} {plural(n, 'answers', 'answer')}; "
        f"the problem is limited to {split_words(shut)}.",
        evidence=tuple(evidence),
        next_steps=(
            f"the network path to {ctx.host} works: look only at the services and the "
            f"firewall/NAT rules for {split_list(shut)} (see the other findings)",
        ),
    )


def _quic_lines(opened: Sequence[PortResult], udp_closed: Sequence[PortResult]) -> list[str]:
    """One port number open over TCP and not over UDP: for 443 that is QUIC (HTTP/3) blocked
    while HTTPS works — browsers fall back to TCP, slower, and rarely say so."""
    tcp_open = {p.port for p in opened if p.protocol is Protocol.TCP}
    lines = []
    for p in udp_closed:
        if p.port in tcp_open:
            line = f"{p.port}/tcp open but {p.port}/udp {p.state}"
            if p.port == QUIC_PORT:
                line += ": QUIC (HTTP/3) is blocked or not offered; browsers fall back to TCP"
            lines.append(line)
    return lines
