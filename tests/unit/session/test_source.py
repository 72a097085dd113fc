"""--source through the checklist, over a fake edge: every job of the run carries it, the
route and the ping are asked for it, and a target of the other family gets no route (data,
not an exception)."""

from __future__ import annotations

from dataclasses import replace

from conftest import run_check

from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    PortRequest,
    RouteResult,
    RouteStatus,
    Target,
)
from probe.session.edge import Edge, routing
from probe.session.options import CheckOptions
from probe.steps import route

HOST, HOST6 = "198.18.1.10", "2001:2:0:1::10"
SOURCE = "198.18.0.3"
ROUTE_OK = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")


def edge(engine: FakeEngine, **more: object) -> Edge:
    return Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (HOST, HOST6)),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: ROUTE_OK,
        ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
        open_engine=lambda method: engine,
        **more,  # type: ignore[arg-type]
    )


def opts(**kw: object) -> CheckOptions:
    return CheckOptions(ports=(PortRequest(80), PortRequest(53, protocol="udp")), **kw)  # type: ignore[arg-type]


def test_every_job_leaves_from_the_source() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    report = run_check([Target(HOST, "ipv4", HOST)], opts(source=SOURCE), edge(engine))
    assert engine.jobs and {j.source for j in engine.jobs} == {SOURCE}
    (t,) = report.targets
    assert t.route is not None and t.route.source == SOURCE  # a fake edge: the route's, put in
    assert {p.port: p.state.value for p in t.ports}[80] == "open"


def test_without_a_source_the_jobs_have_none() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    run_check([Target(HOST, "ipv4", HOST)], opts(), edge(engine))
    assert {j.source for j in engine.jobs} == {None}


def test_a_target_of_the_other_family_has_no_route() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    report = run_check([Target(HOST6, "ipv6", HOST6)], opts(source=SOURCE), edge(engine))
    (t,) = report.targets
    assert t.route is not None and t.route.status is RouteStatus.NO_ROUTE
    assert t.route.detail == (
        "the source address 198.18.0.3 is IPv4: it has no route to an IPv6 address"
    )
    assert engine.jobs == [] and t.ports == ()
    assert any(f.code == "no-route" for f in t.findings)


def test_a_name_is_probed_on_the_sources_family_only() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    report = run_check([Target("web.probe.test", "name")], opts(source=SOURCE), edge(engine))
    assert [t.address for t in report.targets] == [HOST]
    assert {j.address for j in engine.jobs} == {HOST}
    assert any("2001:2:0:1::10 not probed" in n for n in report.notes)


def test_the_real_edge_asks_route_and_ping_for_the_source() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    asked: list[tuple[str, ...]] = []

    def route_from(address: str, source: str) -> RouteResult:
        asked.append(("route", address, source))
        return replace(ROUTE_OK, source=source)

    def ping_from(address: str, timeout: float, source: str) -> PingResult:
        asked.append(("ping", address, source))
        return PingResult(PingStatus.OK, 3, 3, ttl=63)

    fake = edge(engine, route_from=route_from, ping_from=ping_from)
    run_check([Target(HOST, "ipv4", HOST)], opts(source=SOURCE), fake)
    assert sorted(asked) == [("ping", HOST, SOURCE), ("route", HOST, SOURCE)]
    asked.clear()
    run_check([Target(HOST, "ipv4", HOST)], opts(), fake)
    assert asked == []  # no source: the plain route and ping


def test_routing_without_a_source_is_the_edges_route() -> None:
    fake = edge(FakeEngine({}))
    assert routing(fake, None) is fake.route


def test_the_route_step_refuses_the_other_family_without_asking() -> None:
    got = route.lookup(HOST6, source=SOURCE)
    assert got.status is RouteStatus.NO_ROUTE and "IPv4" in (got.detail or "")
    got = route.lookup(HOST, source="2001:2::3")
    assert got.status is RouteStatus.NO_ROUTE and "IPv6" in (got.detail or "")
