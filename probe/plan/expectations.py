"""The audit's records: what a port must do (``Expect``), each port's ``Expectation``, a
host's (``AuditHost``) and the file's (``AuditPlan``); and the form a file is checked in
before it is expanded (``AuditFile``: port ranges per source, so its size is known first).
``probe.plan.audit`` reads the file into them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from probe.model import PortRequest, PortState, Target
from probe.plan.ports import PortSet, merge, service_name
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
    """What a port must do; the member values are the audit file's keys."""

    OPEN = "open"
    BLOCKED = "blocked"
    FILTERED = "filtered"
    REFUSED = "refused"

    def holds(self, state: PortState) -> bool:
        if self is Expect.OPEN:
            return state is PortState.OPEN
        if self is Expect.BLOCKED:
            return state is not PortState.OPEN
        if self is Expect.FILTERED:
            return state is PortState.FILTERED
        return state is PortState.REFUSED


@dataclass(frozen=True)
class Expectation:
    """One port's expected state; ``sources`` says where it came from ("open",
    "profile camera"), ``service`` the name the port is known by."""

    port: int
    expect: Expect
    service: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The test's name: "port 80 open"."""
        return f"port {self.port} {self.expect}"


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
        """The ports to probe for this host, sorted, each once."""
        return requests_of(self.expectations)


def requests_of(expectations: Iterable[Expectation]) -> tuple[PortRequest, ...]:
    """The ports to probe for these expectations, sorted, each once, with a service name."""
    services: dict[int, str | None] = {}
    for e in expectations:
        if services.get(e.port) is None:
            services[e.port] = e.service
    return tuple(PortRequest(port, services[port]) for port in sorted(services))


@dataclass(frozen=True)
class AuditPlan:
    source: str  # the audit file, as named on the command line
    hosts: tuple[AuditHost, ...]

    @property
    def expectation_count(self) -> int:
        return sum(len(h.expectations) for h in self.hosts)


@dataclass(frozen=True)
class Listed:
    """Ports one source expects one way, not yet expanded: a profile's ports (open), or the
    list under one key. ``source`` is what an Expectation's ``sources`` will say."""

    expect: Expect
    source: str
    ports: PortSet


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
        """How many distinct ports this host will be probed on."""
        return len(PortSet(merge(r for x in self.listed for r in x.ports.ranges), {}))

    def expand(self) -> AuditHost:
        """One Expectation per port and expectation, in port order, then the file's keys'."""
        rank = {e: i for i, e in enumerate(Expect)}
        found: dict[tuple[int, int], Expectation] = {}
        for x in self.listed:
            names = x.ports.names
            for port in x.ports.ports():
                key = (port, rank[x.expect])
                service = names.get(port) or service_name(port)
                known = found.get(key)
                if known is None:
                    found[key] = Expectation(port, x.expect, service, (x.source,))
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

    def plan(self) -> AuditPlan:
        return AuditPlan(self.source, tuple(h.expand() for h in self.hosts))
