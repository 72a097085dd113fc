"""Which addresses of a target to probe, and their routes: shared by check and trace.

A literal is probed as given. A name is resolved, then the first address of each asked
family is taken — of the addresses this client's applications get (the system resolver:
hosts file, NSS) when it answered, else of DNS's: the client's own view is what the
checklist is about, and a hosts file that disagrees with DNS is a finding. A family this
client cannot route at all is not the server's problem — a real client (happy eyeballs)
would not use it either — so it is left out with a note unless it is all there is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from probe.model import DnsResult, DnsStatus, RouteResult, RouteStatus, SystemStatus, Target
from probe.plan.targets import first_per_family
from probe.session.edge import Edge, routing


@dataclass(frozen=True)
class Resolved:
    dns: DnsResult
    addresses: tuple[tuple[str, RouteResult], ...] = ()  # to probe, routable ones first
    notes: tuple[str, ...] = ()


def resolve_target(
    target: Target,
    nameservers: tuple[str, ...],
    dns_timeout: float,
    families: tuple[int, ...],
    edge: Edge,
    source: str | None = None,
) -> Resolved:
    """``source`` (--source): routes for packets from it; an address of the other family
    gets no route (the probes would have no source to leave from)."""
    route = routing(edge, source)
    if target.address is not None:
        address = target.address
        return Resolved(edge.literal(address), ((address, route(address)),))
    dns = edge.resolve(target.input, nameservers, dns_timeout, families)
    found = client_addresses(dns)
    if not found:
        return Resolved(dns)
    chosen = first_per_family(found, families)
    if not chosen:
        if dns.status is not DnsStatus.OK:
            return Resolved(dns)
        wanted = " or ".join(f"IPv{f}" for f in families)
        return Resolved(replace(dns, status=DnsStatus.NO_ANSWER, detail=f"no {wanted} address"))
    routes = [(a, route(a)) for a in chosen]
    routed = tuple((a, r) for a, r in routes if r.status is RouteStatus.OK)
    notes = tuple(
        f"{target.input}: {a} not probed: this client has no route for IPv{6 if ':' in a else 4}."
        for a, r in routes
        if routed and r.status is not RouteStatus.OK
    )
    return Resolved(dns, routed or tuple(routes[:1]), notes)


def client_addresses(dns: DnsResult) -> tuple[str, ...]:
    """The addresses this client's applications use for the name: the system resolver's
    when it answered, else DNS's; none when neither gave one."""
    if dns.system is not None and dns.system.status is SystemStatus.OK:
        return dns.system.addresses
    return dns.addresses if dns.status is DnsStatus.OK else ()
