"""The audit's records: what a port must do (``Expect``), each port's ``Expectation``, a
host's (``AuditHost``) and the file's (``AuditPlan``); and the form a file is checked in
before it is expanded (``AuditFile``: port ranges per source, so its size is known first).
``probe.plan.audit`` reads the file into them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from probe.model import PortRequest, PortState, Protocol, Target
from probe.plan.ports import PortSet, merge
from probe.plan.targets import count_addresses

__all__ = [
    "AuditFile",
    "AuditHost",
    "AuditPlan",
    "Expect",
    "Expectation",
    "HostEntry",
    "Listed",
    "requests_of",
]


class Expect(StrEnum):
    """What a port must do; the member values are the audit file's keys for TCP, and with
    ``udp_`` in front (``key``) for UDP.

    UDP has no handshake: silence (``open|filtered``) is a firewall dropping the datagram or a
    service ignoring the request, and nothing tells the two apart. So ``udp_open`` holds only
    on an answer; ``udp_blocked`` holds on silence too (nothing on the way answered), and
    ``udp_filtered`` holds on silence (the audit says so in words, see diagnosis.expect).
    """

    OPEN = "open"
    BLOCKED = "blocked"
    FILTERED = "filtered"
    REFUSED = "refused"

    def key(self, protocol: Protocol) -> str:
        """The audit file's key: "open" for TCP, "udp_open" for UDP."""
        return self.value if protocol is Protocol.TCP else f"{protocol}_{self.value}"

    def holds(self, state: PortState, protocol: Protocol = Protocol.TCP) -> bool:
        if self is Expect.OPEN:
            return state is PortState.OPEN
        if self is Expect.BLOCKED:
            return state is not PortState.OPEN
        if self is Expect.FILTERED:
            return state is PortState.FILTERED or (
                protocol is Protocol.UDP and state is PortState.OPEN_FILTERED
            )
        return state is PortState.REFUSED


@dataclass(frozen=True)
class Expectation:
    """One port's expected state; ``sources`` says where it came from ("open",
    "profile camera"), ``service`` the name the port is known by."""

    port: int
    expect: Expect
    service: str | None = None
    sources: tuple[str, ...] = ()
    protocol: Protocol = Protocol.TCP

    @property
    def port_label(self) -> str:
        """ "80" for TCP (as probe has always written it), "53/udp" for UDP."""
        return f"{self.port}/{self.protocol}" if self.protocol is Protocol.UDP else str(self.port)

    @property
    def key(self) -> str:
        """The audit file's key this expectation came from: "open", "udp_open"."""
        return self.expect.key(self.protocol)

    @property
    def name(self) -> str:
        """The test's name: "port 80 open", "port 53/udp open"."""
        return f"port {self.port_label} {self.expect}"


@dataclass(frozen=True)
class AuditHost:
    """One ``[[hosts]]`` entry: ``entry`` is its 1-based position, ``line`` its header's line."""

    target: Target
    expectations: tuple[Expectation, ...]
    profile: str | None = None
    entry: int = 1
    line: int | None = None

    @property
    def name(self) -> str:
        return self.target.input

    def requests(self) -> tuple[PortRequest, ...]:
        """The ports to probe for this host, in port order (TCP first on the same number),
        each (port, protocol) once."""
        return requests_of(self.expectations)


def requests_of(expectations: Iterable[Expectation]) -> tuple[PortRequest, ...]:
    """The ports to probe for these expectations, in port order (TCP first on the same
    number), each (port, protocol) once, with a service name."""
    services: dict[tuple[int, bool], str | None] = {}
    for e in expectations:
        key = (e.port, e.protocol is Protocol.UDP)
        if services.get(key) is None:
            services[key] = e.service
    return tuple(
        PortRequest(port, services[port, udp], protocol=_PROTOCOL[udp])
        for port, udp in sorted(services)
    )


@dataclass(frozen=True)
class AuditPlan:
    source: str  # the audit file, as named on the command line
    hosts: tuple[AuditHost, ...]

    @property
    def expectation_count(self) -> int:
        return sum(len(h.expectations) for h in self.hosts)


_PROTOCOL = {False: Protocol.TCP, True: Protocol.UDP}  # keyed by "is it UDP", as sorted


@dataclass(frozen=True)
class Listed:
    """Ports one source expects one way, not yet expanded: a profile's ports (open), or the
    list under one key; ``ports`` knows their protocol. ``source`` is what an Expectation's
    ``sources`` will say."""

    expect: Expect
    source: str
    ports: PortSet

    @property
    def protocol(self) -> Protocol:
        return self.ports.protocol


@dataclass(frozen=True)
class HostEntry:
    """One ``[[hosts]]`` entry, checked in full but with its port ranges not yet expanded."""

    target: Target
    listed: tuple[Listed, ...]
    profile: str | None = None
    entry: int = 1
    line: int | None = None

    @property
    def name(self) -> str:
        return self.target.input

    def port_count(self) -> int:
        """How many distinct (port, protocol) pairs this host will be probed on."""
        return sum(
            len(PortSet(merge(r for x in self.listed if x.protocol is p for r in x.ports.ranges)))
            for p in Protocol
        )

    def expand(self) -> AuditHost:
        """One Expectation per port and expectation, in port order (TCP first on the same
        number), then the file's keys'."""
        rank = {e: i for i, e in enumerate(Expect)}
        found: dict[tuple[int, bool, int], Expectation] = {}
        for x in self.listed:
            udp = x.protocol is Protocol.UDP
            for port in x.ports.ports():
                key = (port, udp, rank[x.expect])
                service = x.ports.name(port)
                known = found.get(key)
                if known is None:
                    found[key] = Expectation(port, x.expect, service, (x.source,), x.protocol)
                else:  # a profile's port listed under open too: one test, both sources
                    found[key] = replace(
                        known, service=known.service or service, sources=(*known.sources, x.source)
                    )
        return AuditHost(
            target=self.target,
            expectations=tuple(found[key] for key in sorted(found)),
            profile=self.profile,
            entry=self.entry,
            line=self.line,
        )


@dataclass(frozen=True)
class AuditFile:
    """An audit file checked in full, its size known before anything is expanded: a few
    kilobytes listing "all" for many hosts would otherwise fill the memory before the CLI
    could ask for --yes. ``plan()`` expands it."""

    source: str
    hosts: tuple[HostEntry, ...]

    def addresses(self) -> int:
        return count_addresses(h.target for h in self.hosts)

    def probes(self) -> int:
        return sum(h.port_count() for h in self.hosts)

    def has(self, protocol: Protocol) -> bool:
        """Whether any host expects something of a port over ``protocol``."""
        return any(x.protocol is protocol for h in self.hosts for x in h.listed)

    def plan(self) -> AuditPlan:
        return AuditPlan(self.source, tuple(h.expand() for h in self.hosts))
