"""What every rule needs to know about one target, computed once: ``context(t)``.

The facts the rules share travel here, so that no rule reads another's sentences: the ports
that count, by state (TCP's; UDP's apart, as a rule speaks either of SYNs and RSTs or of
datagrams and ICMP errors; the default profile's closed ports on a host that opens some port
are set aside by ``outcome.aside``: no rule speaks of them), the "reference" answer known to
come from the host itself (the farthest SYN/ACK or echo reply), which RSTs came from a
device in front of the host, and whether the whole host is down, silent or unreachable (a
host-level finding then absorbs the per-port ones it explains). The caller's circumstances
travel here too: how the probes were sent (``Method``), the timeout per try, and where the
evidence comes from (``Source``: probe's own checklist, or a capture read by ``probe
analyze``).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from probe.diagnosis import words
from probe.diagnosis.classify import hops_from_ttl, same_address
from probe.diagnosis.outcome import aside
from probe.model import (
    Method,
    PingResult,
    PingStatus,
    PortResult,
    PortState,
    Protocol,
    TargetReport,
)


class Source(StrEnum):
    """Where the evidence comes from, which decides what the findings can quote."""

    PROBE = "probe"  # probe check sent the packets: a ping step, and its own count of tries
    # probe analyze read them from a capture: no ping step, and the capture's own line
    # counts the unanswered SYNs (with who sent them and when)
    CAPTURE = "capture"


@dataclass(frozen=True)
class Reference:
    """An answer known to come from the host itself, to compare a RST's distance with."""

    what: str  # "SYN/ACK on 80" or "echo reply"
    ttl: int
    hops: int


@dataclass(frozen=True)
class Context:
    """What every rule needs, computed once per target by ``context()``."""

    mode: Method
    timeout: float | None
    source: Source
    host: str  # the address (or the name, when there is no address)
    by_state: Mapping[PortState, tuple[PortResult, ...]]  # the ports that count
    aside: tuple[PortResult, ...]  # closed, but not asked for: no problem (outcome.aside)
    reference: Reference | None
    host_refused: tuple[PortResult, ...]
    middlebox_refused: tuple[PortResult, ...]
    host_rejected: tuple[PortResult, ...]  # ICMP rejects sent by the target address itself
    host_answered: bool  # SYN/ACK, RST from the host, or the host's own ICMP reject
    link_down: bool  # on-link, no ARP answer, nothing answered
    host_unreachable: bool  # routers say unreachable, and nothing else answered
    host_silent: bool  # nothing at all answered
    # The UDP ports that count (the TCP ones are ``by_state``: the TCP rules read only those).
    udp: tuple[PortResult, ...] = ()

    @property
    def connect(self) -> bool:
        return self.mode is Method.CONNECT

    def state(self, state: PortState) -> tuple[PortResult, ...]:
        return self.by_state.get(state, ())

    @property
    def ping_step(self) -> bool:
        """The run had a ping step (even a skipped one); a capture has none."""
        return self.source is Source.PROBE

    def ping_lines(self, ping: PingResult | None) -> list[str]:
        """The ping step's evidence line; none without a ping step."""
        return [words.ping_line(ping)] if self.ping_step else []

    def syn_lines(self, ps: Sequence[PortResult]) -> list[str]:
        """The unanswered tries of ``ps``; none for a capture, whose own line counts them."""
        if self.source is not Source.PROBE:
            return []
        return words.syn_lines(ps, connect=self.connect, timeout=self.timeout)

    def answers_line(self) -> str:
        """The host's own answers (SYN/ACKs, its RSTs and ICMP rejects) in one line."""
        return words.answers_line(
            words.numbers(self.state(PortState.OPEN)),
            words.numbers(self.host_refused),
            words.numbers(self.host_rejected),
            connect=self.connect,
        )


def ping_status(t: TargetReport) -> PingStatus:
    """The ping step's status; a target without one counts as skipped."""
    return t.ping.status if t.ping is not None else PingStatus.SKIPPED


def context(
    t: TargetReport,
    mode: Method = Method.RAW,
    timeout: float | None = None,
    source: Source = Source.PROBE,
) -> Context:
    set_aside = aside(t.ports)
    counted: Sequence[PortResult] = t.ports
    if set_aside:
        counted = [p for p in t.ports if p.asked or p.state is PortState.OPEN]
    udp: list[PortResult] = []
    if Protocol.UDP in map(_protocol, counted):
        udp = [p for p in counted if p.protocol is Protocol.UDP]
        counted = [p for p in counted if p.protocol is not Protocol.UDP]
    by_state = _by_state(counted)
    udp_open = any(p.state is PortState.OPEN for p in udp)
    opened = by_state.get(PortState.OPEN, ())
    connect = mode is Method.CONNECT
    ref = None if connect else reference(t, opened)
    refused = by_state.get(PortState.REFUSED, ())
    middle_list: list[PortResult] = []
    host_list: list[PortResult] = []
    if connect:
        host_list.extend(refused)
    else:
        # The verdict depends on who answered and with which TTL only: decided once per
        # (responder, TTL), as a full-range scan has 65535 RSTs and one or two of those.
        if refused and _alike(refused, _responder) and _alike(refused, _ttl):
            (middle_list if from_middlebox(t, refused[0], ref) else host_list).extend(refused)
        else:
            verdicts: dict[tuple[str | None, int | None], bool] = {}
            for p in refused:
                facts = (p.responder, p.ttl)
                m = verdicts.get(facts)
                if m is None:
                    m = verdicts[facts] = from_middlebox(t, p, ref)
                (middle_list if m else host_list).append(p)
    middle, host_refused = tuple(middle_list), tuple(host_list)
    host_rejected = tuple(
        p
        for p in by_state.get(PortState.REJECTED, ())
        if p.responder is not None
        and t.address is not None
        and same_address(p.responder, t.address)
    )
    # A UDP answer, or the host's own ICMP port unreachable, shows it up as well as TCP does.
    udp_own = [p for p in udp if p.state is not PortState.OPEN and _own_icmp(t, p)]
    host_answered = bool(opened or host_refused or host_rejected or udp_open or udp_own)
    states = set(map(_state, t.ports))
    anything = not states.isdisjoint((PortState.OPEN, PortState.REFUSED, PortState.REJECTED))
    ping = ping_status(t)
    link_down = (
        t.route is not None
        and t.route.on_link
        and t.arp is not None
        and not t.arp.macs
        and not anything
        and ping is not PingStatus.OK
    )
    told_unreachable = PortState.UNREACHABLE in states or ping is PingStatus.UNREACHABLE
    host_unreachable = not link_down and told_unreachable and not anything
    all_silent = states.issubset(_SILENT)
    host_silent = (
        not link_down
        and ping in (PingStatus.NO_REPLY, PingStatus.SKIPPED)
        and all_silent
        and (bool(t.ports) or ping is PingStatus.NO_REPLY)
    )
    return Context(
        mode=mode,
        timeout=timeout,
        source=source,
        host=t.address or t.input,
        by_state=by_state,
        aside=set_aside,
        reference=ref,
        host_refused=host_refused,
        middlebox_refused=middle,
        host_rejected=host_rejected,
        host_answered=host_answered,
        link_down=link_down,
        host_unreachable=host_unreachable,
        host_silent=host_silent,
        udp=tuple(udp),
    )


_SILENT = (PortState.FILTERED, PortState.OPEN_FILTERED)
# Read at C speed: a full-range scan has 65535 ports to look at.
_state = operator.attrgetter("state")
_protocol = operator.attrgetter("protocol")
_responder = operator.attrgetter("responder")
_ttl = operator.attrgetter("ttl")


def _alike(ps: Sequence[PortResult], field: operator.attrgetter[Any]) -> bool:
    """Every one of ``ps`` (not empty) has the same value in ``field``."""
    values = list(map(field, ps))
    return values.count(values[0]) == len(values)


def _by_state(ps: Sequence[PortResult]) -> dict[PortState, tuple[PortResult, ...]]:
    """``ps`` by state, in PortState's order, each state's ports in their order."""
    states = list(map(_state, ps))
    distinct = set(states)
    if len(distinct) == 1:  # a host that refuses, or drops, everything
        return {states[0]: tuple(ps)}
    grouped: dict[PortState, list[PortResult]] = {s: [] for s in distinct}
    for p, s in zip(ps, states, strict=True):
        grouped[s].append(p)
    return {s: tuple(grouped[s]) for s in PortState if s in grouped}


def _own_icmp(t: TargetReport, p: PortResult) -> bool:
    """An ICMP error on a UDP port sent by the target address itself."""
    who = p.responder
    return who is not None and t.address is not None and same_address(who, t.address)


def from_host(t: TargetReport, p: PortResult) -> bool:
    """The answer on ``p`` came from the target address (or nothing says otherwise)."""
    return p.responder is None or t.address is None or same_address(p.responder, t.address)


def reference(t: TargetReport, opened: Sequence[PortResult]) -> Reference | None:
    """The farthest answer from the host itself: SYN/ACKs from its address, echo replies.

    The farthest, because a NAT router often answers ping (and its own admin ports) for its
    public address itself: the forwarded port's SYN/ACK is the one that shows the real host.
    On a tie a SYN/ACK is quoted rather than an echo reply.
    """
    candidates: list[Reference] = []
    for p in opened:
        if p.ttl is not None and from_host(t, p):
            candidates.append(Reference(f"SYN/ACK on {p.port}", p.ttl, hops_from_ttl(p.ttl)))
    if t.ping is not None and t.ping.status is PingStatus.OK and t.ping.ttl is not None:
        candidates.append(Reference("echo reply", t.ping.ttl, hops_from_ttl(t.ping.ttl)))
    return max(candidates, key=lambda r: r.hops, default=None)  # max keeps the first on ties


def from_middlebox(t: TargetReport, p: PortResult, ref: Reference | None) -> bool:
    """A RST sent by something in front of the host: from another address, or from fewer hops
    away than the host's own answers (a NAT router or firewall answering in its name)."""
    if not from_host(t, p):
        return True
    return p.ttl is not None and ref is not None and hops_from_ttl(p.ttl) < ref.hops
