"""Many failing ports of one server, grouped by pattern (issue 17, item 6): a host whose
clients hit hundreds of closed or filtered ports, a NAT device refusing a whole range. Not a
scan (several clients, or ports a scan does not explain): the ports fail the same way, and
one finding says so instead of one per port.

A pattern is the server, the protocol, the outcome code and who answered how: the RSTs'
commonest TTL (syn-refused), the first ICMP sender, its type, code and TTL (syn-rejected,
udp-refused, udp-rejected, udp-unreachable), nothing (silence). At least ``GROUP_MIN``
distinct ports of one pattern make a group. Ports where some attempt completed stay on
their own: their finding says the problem comes and goes, which a group would hide. The
per-port findings stay in the analysis for ``-v`` and ``--json``.

Linear: one pass over the outcomes, a dictionary keyed by pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from probe.capture.analyze.findings import span
from probe.capture.analyze.results import (
    OK,
    REFUSED,
    REJECTED,
    UDP_OK,
    UDP_REFUSED,
    UDP_REJECTED,
    UDP_UNANSWERED,
    UDP_UNREACHABLE,
    UNANSWERED,
    Outcome,
    ttl_words,
)
from probe.capture.analyze.udpfindings import icmp_what
from probe.diagnosis.words import plural, port_list
from probe.model import Protocol, Severity

GROUP_MIN: Final = 20  # distinct failing ports of one pattern on one server, at least
MAX_CLIENTS: Final = 5  # client addresses a group names (it counts them all)
_GROUPED: Final = frozenset(
    {REFUSED, UNANSWERED, REJECTED, UDP_REFUSED, UDP_REJECTED, UDP_UNREACHABLE, UDP_UNANSWERED}
)
_ICMP: Final = frozenset({REJECTED, UDP_REFUSED, UDP_REJECTED, UDP_UNREACHABLE})

Member = tuple[Protocol, str, int, str]  # protocol, server, port, code
Pattern = tuple[str, Protocol, str, tuple[str, bool, int, int, int] | int | None]


@dataclass(frozen=True)
class PortGroup:
    """One server's ports that failed the same way, and the finding that says so."""

    server: str
    protocol: Protocol
    code: str
    ports: tuple[int, ...]  # sorted
    count: int  # attempts (TCP) or flows (UDP)
    sent: int  # SYNs or datagrams
    tries: int  # the most SYNs (UDP: datagrams) one attempt sent
    clients: tuple[str, ...]  # the first MAX_CLIENTS, in the outcomes' order
    clients_total: int  # distinct addresses seen (each outcome lists a few: at least this)
    more_clients: bool  # an outcome had more clients than it listed
    first: float
    last: float
    responder: str | None  # who answered: the server's RSTs, the ICMP sender; None: silence
    ttl: int | None
    summary: str
    evidence: tuple[str, ...]
    next_steps: tuple[str, ...]
    severity: Severity = Severity.ERROR

    @property
    def members(self) -> frozenset[Member]:
        return frozenset((self.protocol, self.server, p, self.code) for p in self.ports)

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        """The ports as runs of consecutive numbers: ((1000, 1999), (3000, 3100))."""
        runs: list[tuple[int, int]] = []
        for p in self.ports:
            if runs and runs[-1][1] == p - 1:
                runs[-1] = (runs[-1][0], p)
            else:
                runs.append((p, p))
        return tuple(runs)

    @property
    def label(self) -> str:
        """ "198.18.1.10, 300 ports", "198.18.1.10, 300 UDP ports" """
        udp = "UDP " if self.protocol is Protocol.UDP else ""
        return f"{self.server}, {len(self.ports):,} {udp}ports"


def member(o: Outcome) -> Member:
    return (o.protocol, o.server, o.port, o.code)


def find_groups(
    outcomes: Sequence[Outcome], skip: Callable[[Outcome], bool] = lambda o: False
) -> tuple[PortGroup, ...]:
    """The groups among ``outcomes`` (sorted by server and port, as ``explain`` sorts them);
    ``skip`` leaves out outcomes said elsewhere (a scan's)."""
    working = {(o.protocol, o.server, o.port) for o in outcomes if o.code in (OK, UDP_OK)}
    # The TTL of each server's SYN/ACKs: RSTs with it come from the host itself
    synack: dict[str, int] = {}
    for o in outcomes:
        if o.code == OK and o.ttl is not None:
            synack.setdefault(o.server, o.ttl)
    by_pattern: dict[Pattern, list[Outcome]] = {}
    for o in outcomes:
        if o.code in _GROUPED and (o.protocol, o.server, o.port) not in working and not skip(o):
            by_pattern.setdefault(_pattern(o), []).append(o)
    return tuple(
        _group(mine, synack.get(mine[0].server))
        for mine in by_pattern.values()
        if len(mine) >= GROUP_MIN
    )


def _pattern(o: Outcome) -> Pattern:
    if o.code in _ICMP and o.responders:
        return (o.server, o.protocol, o.code, o.responders[0][:5])
    return (o.server, o.protocol, o.code, o.ttl if o.code == REFUSED else None)


def _group(mine: Sequence[Outcome], synack: int | None) -> PortGroup:
    """The group of ``mine``, one pattern's outcomes; ``synack``: the TTL of the server's
    SYN/ACKs on other ports, if any."""
    o = mine[0]
    clients: dict[str, None] = {}
    for x in mine:
        clients.update(dict.fromkeys(x.clients))
    shown = tuple(list(clients)[:MAX_CLIENTS])
    more = any(x.more_clients for x in mine)
    count = sum(x.count for x in mine)
    sent = sum(x.sent for x in mine)
    first, last = min(x.first for x in mine), max(x.last for x in mine)
    ports = tuple(sorted(x.port for x in mine))
    who: str | None = o.server
    ttl = o.ttl
    if o.code in _ICMP and o.responders:
        who, ttl = o.responders[0][0], o.responders[0][4]
    if o.code in (UNANSWERED, UDP_UNANSWERED):
        who, ttl = None, None
    udp = o.protocol is Protocol.UDP
    n = f"{len(ports):,} {'UDP ' if udp else ''}{plural(len(ports), 'port')}"
    tried = f"that {_clients_words(len(clients), shown, more)} tried"
    what = _what(o)
    attempts = f"{count:,} {plural(count, 'flow' if udp else 'attempt')}"
    sent_words = f"{sent:,} {plural(sent, 'datagram' if udp else 'SYN')}"
    evidence = [
        f"{plural(len(ports), 'port')} {port_list(ports, 10)} ({len(ports):,} in all)",
        f"{attempts} ({sent_words}) from {_clients_words(len(clients), shown, more, full=True)}"
        f", {span(first, last)}",
    ]
    server = o.server
    if o.code == REFUSED:
        summary = (
            f"{server} refused {n} {tried}: nothing listens there, or a firewall resets them "
            f"({_rst_words(server, ttl, synack)})."
        )
        ttl_said = f" with {ttl_words(ttl, server)}" if ttl is not None else ""
        evidence.append(f"every one answered by RST from {server}{ttl_said}")
        if synack is not None and ttl is not None:
            evidence.append(f"its SYN/ACKs on other ports: {ttl_words(synack, server)}")
        steps = (
            f"check which services should listen on these ports of {server} (ss -tlpn there), "
            "and its firewall's rules for them",
            "if the clients should not try these ports, find out why they do (an old "
            "configuration, a list of retired servers, a scan spread over several addresses)",
        )
    elif o.code in (UNANSWERED, UDP_UNANSWERED):
        packets = "datagrams" if udp else "SYNs"
        summary = (
            f"{server} did not answer on {n} {tried}: a firewall drops the {packets} "
            f"silently{', or no service answers there' if udp else ''}."
        )
        evidence.append(f"no answer and no ICMP error to any of the {sent_words}")
        steps = (
            f"probe trace {server} --port {ports[0]}{'/udp' if udp else ''} finds the hop "
            f"where the {packets} die",
            f"look at the firewalls between the clients and {server} for a rule dropping "
            f"{'UDP' if udp else 'TCP'} to these ports",
        )
    else:
        who_said = who or server
        if who_said == server:
            summary = f"{server} answered {what} on {n} {tried}: "
        else:
            summary = f"{who_said} answered {what} for {n} of {server} {tried}: "
        if o.code == UDP_REFUSED and who_said == server:
            summary += "nothing listens there."
        elif o.code == UDP_UNREACHABLE:
            summary += "a router cannot reach the host (a routing problem, or it is down)."
        else:
            summary += "a firewall or router refuses them."
        evidence.append(
            f"every one answered by {what} from {who_said}"
            + (f", {ttl_words(ttl, server)}" if ttl is not None else "")
        )
        steps = (
            f"look at the rules of {who_said} for {'UDP' if udp else 'TCP'} to {server} on "
            "these ports",
            f"probe check {server} -p {ports[0]}{'/udp' if udp else ''} confirms it from a client",
        )
    evidence.append("the ports one by one: -v (text) or --json")
    return PortGroup(
        server=server,
        protocol=o.protocol,
        code=o.code,
        ports=ports,
        count=count,
        sent=sent,
        tries=max(x.tries for x in mine),
        clients=shown,
        clients_total=len(clients),
        more_clients=more,
        first=first,
        last=last,
        responder=who,
        ttl=ttl,
        summary=summary,
        evidence=tuple(evidence),
        next_steps=steps,
    )


def _rst_words(server: str, ttl: int | None, synack: int | None) -> str:
    """Who sent the RSTs, as far as their TTL tells: "the RSTs come from the host itself, TTL
    63"; "the RSTs come with TTL 64, the host's SYN/ACKs with 63: a device 1 hop closer
    answers in its name"; "the RSTs carry the host's address, TTL 63"."""
    field = "hop limit" if ":" in server else "TTL"
    if ttl is None:
        return "the RSTs carry the host's address"
    if synack is None:
        return f"the RSTs carry the host's address, {field} {ttl}"
    if synack == ttl:
        return f"the RSTs come from the host itself, {field} {ttl} like its SYN/ACKs"
    gap = abs(ttl - synack)
    where = "closer" if ttl > synack else "further"
    return (
        f"the RSTs come with {field} {ttl}, the host's SYN/ACKs with {synack}: a device "
        f"{gap} {plural(gap, 'hop')} {where} answers in its name"
    )


def _what(o: Outcome) -> str:
    """The ICMP error of the pattern in words: "ICMP port unreachable"."""
    if o.code not in _ICMP or not o.responders:
        return ""
    _, v6, typ, code, _, _ = o.responders[0]
    return icmp_what(v6, typ, code)


def _clients_words(n: int, shown: tuple[str, ...], more: bool, *, full: bool = False) -> str:
    """ "198.18.0.2", "3 clients", full: "3 clients (198.18.0.2, 198.18.0.3, 198.18.0.4)" """
    if n == 1 and not more:
        return shown[0]
    count = f"more than {n:,}" if more else f"{n:,}"
    if not full:
        return f"{count} clients"
    examples = ", ".join(shown) + (", ..." if more or n > len(shown) else "")
    return f"{count} clients ({examples})"
