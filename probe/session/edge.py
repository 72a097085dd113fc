"""The network edge besides the engine, as plain functions: what a Session calls to resolve,
route, ping, ask ARP/ND, say hello to an application and open an engine.

``Edge`` is the one seam between the checklist and the network: tests build one from fakes,
``default_edge()`` wires in the real steps (dnspython, netlink/iproute2, icmplib, packet
sockets, the raw or connect() engine). Each step's library loads when the step first runs: a
check of address literals with --no-ping never imports dnspython or icmplib.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from probe.engine.base import Engine, PacketLog
from probe.model import (
    AppResult,
    ArpResult,
    DnsResult,
    Method,
    PingResult,
    RouteResult,
    RouteStatus,
)

# (name, nameservers, timeout, families) -> what DNS said
ResolveFn = Callable[[str, Sequence[str], float, tuple[int, ...]], DnsResult]
# (address, seconds to wait for each echo reply) -> the ping step's result
PingFn = Callable[[str, float], PingResult]
# ARP/ND: every on-link (address, route) at once, seconds to collect answers -> each
# address's answer (None or absent: could not be asked)
NeighboursFn = Callable[[Sequence[tuple[str, RouteResult]], float], Mapping[str, ArpResult | None]]
# A protocol hello on an open port: (address, port, protocol or service name, the host name
# the user typed or None, timeout) -> what the application said
HelloFn = Callable[[str, int, str | None, str | None, float], AppResult]
# ICMP echo to many addresses at once (host discovery): (addresses, seconds to wait, packets
# a second or None, cancel, --pcap's log) -> the addresses that answered; None: could not be
# asked here
SweepFn = Callable[
    [Sequence[str], float, float | None, threading.Event | None, PacketLog | None],
    frozenset[str] | None,
]
# The engine for a method; Method.RAW raises NoPermission without the privilege.
OpenEngineFn = Callable[[Method], Engine]


@dataclass(frozen=True)
class Edge:
    resolve: ResolveFn
    literal: Callable[[str], DnsResult]
    route: Callable[[str], RouteResult]
    ping: PingFn
    open_engine: OpenEngineFn
    arp: NeighboursFn | None = None  # None: ARP/ND cannot be asked here
    app: HelloFn | None = None  # None: no protocol hellos
    sweep: SweepFn | None = None  # None: host discovery sends no ICMP echo
    # --source: the route for packets from a source, (address, source); a ping from it,
    # (address, timeout, source). None: the plain ones (a test's fake edge).
    route_from: Callable[[str, str], RouteResult] | None = None
    ping_from: Callable[[str, float, str], PingResult] | None = None


def routing(edge: Edge, source: str | None) -> Callable[[str], RouteResult]:
    """The edge's route lookup toward an address, for packets from ``source`` when given."""
    if source is None:
        return edge.route
    route_from = edge.route_from
    if route_from is not None:
        return lambda address: route_from(address, source)

    def plain(address: str) -> RouteResult:
        from probe.steps.route import other_family

        if (":" in source) != (":" in address):
            return RouteResult(
                RouteStatus.NO_ROUTE, source=source, detail=other_family(source, address)
            )
        found = edge.route(address)
        return found if found.status is not RouteStatus.OK else replace(found, source=source)

    return plain


def pinging(edge: Edge, source: str | None) -> PingFn:
    """The edge's ping, from ``source`` when given."""
    ping_from = edge.ping_from
    if source is None or ping_from is None:
        return edge.ping
    return lambda address, timeout: ping_from(address, timeout, source)


def default_edge() -> Edge:
    """The real network edge."""
    from probe.plan.targets import literal_dns
    from probe.steps import route

    return Edge(
        resolve=resolve_name,
        literal=literal_dns,
        route=route.lookup,
        ping=_ping,
        open_engine=open_engine,
        arp=_neighbours,
        app=_hello,
        sweep=_sweep,
        route_from=route.lookup,
        ping_from=_ping,
    )


def resolve_name(
    name: str, nameservers: Sequence[str], timeout: float, families: tuple[int, ...]
) -> DnsResult:
    """What DNS says, and beside it what this client's applications get (getaddrinfo: hosts
    file, NSS), asked at the same time. With ``nameservers`` the user asked for those
    servers' answer: the system resolver is not asked."""
    from probe.steps import dns, system

    if nameservers:
        return dns.resolve(name, nameservers=nameservers, timeout=timeout, families=families)
    pending = system.lookup(name, families)
    found = dns.resolve(name, timeout=timeout, families=families)
    return system.beside(found, pending, timeout)


def open_engine(method: Method) -> Engine:
    if method is Method.CONNECT:
        from probe.engine.connect import ConnectEngine

        return ConnectEngine()
    from probe.engine.raw import RawEngine

    return RawEngine()


def _ping(address: str, timeout: float, source: str | None = None) -> PingResult:
    from probe.errors import NoPermission
    from probe.model import PingStatus
    from probe.steps import ping

    try:
        return ping.ping(address, count=3, interval=0.2, timeout=min(timeout, 1.0), source=source)
    except NoPermission as exc:
        # No way to send ICMP here: not a reason to stop the port checks.
        return PingResult(status=PingStatus.SKIPPED, detail=str(exc))


def _neighbours(
    asked: Sequence[tuple[str, RouteResult]], wait: float
) -> Mapping[str, ArpResult | None]:
    from probe.errors import NoPermission
    from probe.steps import arp

    try:
        return arp.neighbours_many(asked, wait=max(0.3, min(wait, arp.DEFAULT_WAIT)))
    except (NoPermission, OSError):
        # not measured: the report says nothing rather than "no answer"
        return {address: None for address, _ in asked}


def _sweep(
    addresses: Sequence[str],
    wait: float,
    rate: float | None,
    cancel: threading.Event | None,
    packet_log: PacketLog | None,
) -> frozenset[str] | None:
    from probe.errors import NoPermission
    from probe.steps import sweep

    try:
        return sweep.sweep(addresses, min(wait, 1.0), rate, cancel, packet_log)
    except (NoPermission, OSError):
        return None  # not asked: discovery says so, and counts on its TCP probes


def _hello(
    address: str, port: int, protocol: str | None, name: str | None, timeout: float
) -> AppResult:
    from probe.steps import hello

    return hello.hello(address, port, protocol, name, timeout=max(timeout, hello.DEFAULT_TIMEOUT))


@dataclass(frozen=True)
class EngineChoice:
    engine: Engine
    note: str | None = None  # why evidence is reduced, when it is


CONNECT_NOTE = (
    "No raw-socket privilege: ports were probed with connect() only. Missing evidence: who "
    "answered (a router or firewall cannot be told from the host), TTLs, ICMP types, TCP "
    "options. For full evidence run this command with sudo, or give CAP_NET_RAW to this "
    'command alone as an ambient capability (the README\'s "Without privileges" shows how); '
    "not setcap on the system's Python, which would give every script on the machine raw "
    "sockets."
)
CONNECT_FORCED_NOTE = (
    "--connect: ports were probed with connect() only, so who answered, TTLs, ICMP types and "
    "TCP options are not known."
)


def choose_engine(open_engine: OpenEngineFn, connect: bool) -> EngineChoice:
    """Raw packets when the privilege is there; connect() otherwise, saying what is lost."""
    from probe.errors import NoPermission

    if connect:
        return EngineChoice(open_engine(Method.CONNECT), CONNECT_FORCED_NOTE)
    try:
        return EngineChoice(open_engine(Method.RAW))
    except NoPermission:
        return EngineChoice(open_engine(Method.CONNECT), CONNECT_NOTE)
