"""trace.py: hops from evidence, the waves, where the trace ends, the verdict's words, and the
walk over fake adapters (no packet is sent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from probe.diagnosis import trace
from probe.engine import fake
from probe.engine.base import Job
from probe.errors import NoPermission
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    Hop,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortState,
    RouteResult,
    RouteStatus,
    Target,
    TraceReport,
)
from probe.session import trace as trace_run
from probe.session.core import Session
from probe.session.edge import Edge
from probe.session.options import TraceOptions
from probe.status import ExitStatus

HOST = "198.18.1.10"
R1, R2, R3 = "198.18.0.1", "198.18.9.1", "198.18.9.2"
ROUTE_OK = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", R1)


def ev(sent: int, answer: str = "none", responder: str | None = None, **kw: Any) -> PortEvidence:
    """Evidence for the SYN sent with TTL ``sent``; "te" is ICMP time exceeded, "rej" ICMP
    administratively prohibited."""
    if answer in ("te", "rej"):
        kw.update(icmp_type=11 if answer == "te" else 3, icmp_code=0 if answer == "te" else 13)
        answer = "icmp"
    kind = AnswerKind(answer)
    tries = kw.pop("tries", 3 if kind is AnswerKind.NONE else 1)
    return PortEvidence(HOST, 82, "syn", kind, tries, responder=responder, probe_ttl=sent, **kw)


def hops(*spec: tuple[Any, ...]) -> list[Hop]:
    return [trace.hop_of(ev(i + 1, *s)) for i, s in enumerate(spec)]


# --------------------------------------------------------------------------- hop_of


@pytest.mark.parametrize(
    ("evidence", "kind", "reason"),
    [
        (ev(1, "te", R1, ttl=64), "time-exceeded", "time-exceeded"),
        (
            ev(1, "icmp", R1, icmp_type=3, icmp_code=0, icmp_v6=True),
            "time-exceeded",
            "time-exceeded",
        ),
        (ev(2, "syn-ack", HOST, ttl=63), "syn-ack", "syn-ack"),
        (ev(2, "rst", HOST, ttl=63), "rst", "reset"),
        (ev(2, "icmp", R1, icmp_type=3, icmp_code=13), "rejected", "admin-prohibited"),
        (ev(2, "icmp", R1, icmp_type=3, icmp_code=3), "rejected", "port-unreach"),
        (ev(2, "icmp", R1, icmp_type=3, icmp_code=1), "unreachable", "host-unreach"),
        (ev(2, "icmp", R1, icmp_type=1, icmp_code=1, icmp_v6=True), "rejected", "admin-prohibited"),
        (ev(1, "icmp", errno_name="EPERM"), "rejected", "local-reject"),
        (ev(3), "none", "no-response"),
    ],
)
def test_hop_of(evidence: PortEvidence, kind: str, reason: str) -> None:
    hop = trace.hop_of(evidence)
    assert (hop.ttl, hop.kind, hop.reason) == (evidence.probe_ttl, kind, reason)
    assert hop.responder == evidence.responder and hop.tries == evidence.tries


def test_hop_keeps_rtt_and_the_answers_ttl() -> None:
    hop = trace.hop_of(ev(1, "te", R1, ttl=64, rtt_ms=0.4))
    assert (hop.rtt_ms, hop.reply_ttl) == (0.4, 64)


def test_jobs_are_one_per_ttl_to_the_same_port() -> None:
    assert trace.jobs(HOST, 82, range(1, 4)) == [Job(HOST, 82, ttl=t) for t in (1, 2, 3)]


# --------------------------------------------------------------------------- waves and the end


@pytest.mark.parametrize(
    ("seen", "max_hops", "silent", "expected"),
    [
        ([], 30, 3, range(1, 9)),
        ([], 5, 3, range(1, 6)),
        ([("te", R1)] + [()] * 7, 30, 3, range(0)),  # 7 silent hops past hop 1
        ([("te", R1)] * 8, 30, 3, range(9, 17)),  # still answering: next wave
        ([("te", R1)] * 6 + [(), ()], 30, 3, range(9, 17)),  # 2 silent < 3: go on
        ([("te", R1)] * 5 + [(), (), ()], 30, 3, range(0)),  # exactly 3 silent: the end
        ([("te", R1)] * 8, 8, 3, range(0)),  # max reached
        ([("te", R1), ("syn-ack", HOST)] + [()] * 6, 30, 3, range(0)),  # reached the target
        ([("te", R1), ("rej", R1)], 30, 3, range(0)),  # a reject ends it
        ([()] * 8, 30, 10, range(9, 17)),  # 8 silent < 10
        ([("te", R1)] * 8, 12, 3, range(9, 13)),  # the last wave stops at max
    ],
)
def test_wave(seen: list[tuple[Any, ...]], max_hops: int, silent: int, expected: range) -> None:
    assert trace.wave(hops(*seen), max_hops, silent) == expected


def test_cut_at_the_first_final_hop() -> None:
    seen = hops(("te", R1), ("syn-ack", HOST), ("syn-ack", HOST))
    assert [h.ttl for h in trace.cut(seen, 3)] == [1, 2]


def test_cut_keeps_silent_hops_past_the_last_answer() -> None:
    seen = hops(("te", R1), (), ("te", R2), (), (), (), (), ())
    assert [h.ttl for h in trace.cut(seen, 3)] == [1, 2, 3, 4, 5, 6]


def test_cut_when_nothing_answers() -> None:
    assert [h.ttl for h in trace.cut(hops(*[()] * 8), 3)] == [1, 2, 3]


def test_contiguous_stops_at_a_missing_ttl() -> None:
    got = trace.contiguous([ev(9, "te", R1), ev(11, "te", R1), ev(10)], 9)
    assert [h.ttl for h in got] == [9, 10, 11]
    assert [h.ttl for h in trace.contiguous([ev(9), ev(11)], 9)] == [9]


# --------------------------------------------------------------------------- verdicts


def verdict_of(*spec: tuple[Any, ...], max_hops: int = 30, port: int = 82) -> Any:
    return trace.verdict(hops(*spec), HOST, port, max_hops)


def test_filtered_after_the_last_router() -> None:
    v = verdict_of(("te", R1), ("te", R2), (), (), ())
    assert (v.state, v.last_responder, v.stopped_at_ttl, v.reason) == (
        PortState.FILTERED,
        R2,
        2,
        "no-response",
    )
    assert "got as far as hop 2 (198.18.9.1); after that nothing answers" in v.summary
    assert "right after 198.18.9.1" in v.summary


def test_filtered_with_a_silent_router_in_the_middle() -> None:
    v = verdict_of(("te", R1), (), ("te", R3), (), (), ())
    assert (v.stopped_at_ttl, v.last_responder) == (3, R3)


def test_filtered_from_the_first_hop() -> None:
    v = verdict_of((), (), ())
    assert (v.state, v.last_responder, v.stopped_at_ttl) == (PortState.FILTERED, None, None)
    assert "nothing answers from hop 1 on" in v.summary


def test_open() -> None:
    v = verdict_of(("te", R1), ("syn-ack", HOST), port=80)
    assert (v.state, v.last_responder, v.stopped_at_ttl) == (PortState.OPEN, HOST, 2)
    assert v.summary == "Port 80 is open: the SYN reached 198.18.1.10 at hop 2 and got a SYN/ACK."


def test_refused_by_the_host() -> None:
    v = verdict_of(("te", R1), ("rst", HOST), port=81)
    assert v.state is PortState.REFUSED
    assert "198.18.1.10 answers RST at hop 2; the SYN got as far as hop 1" in v.summary


def test_refused_by_another_address() -> None:
    v = verdict_of(("rst", R1), port=81)
    assert (v.state, v.last_responder, v.stopped_at_ttl) == (PortState.REFUSED, R1, 1)
    assert "not from 198.18.1.10" in v.summary and "in its name" in v.summary


def test_rejected_by_the_router_it_crosses() -> None:
    v = verdict_of(("te", R1), ("rej", R1), port=8443)
    assert (v.state, v.last_responder, v.stopped_at_ttl, v.reason) == (
        PortState.REJECTED,
        R1,
        2,
        "admin-prohibited",
    )
    assert "198.18.0.1, the router at hop 1, refuses to forward the SYN" in v.summary
    assert "administratively prohibited" in v.summary


def test_rejected_by_a_new_device() -> None:
    built = [
        trace.hop_of(ev(1, "te", R1)),
        trace.hop_of(ev(2, "icmp", R2, icmp_type=3, icmp_code=3)),
    ]
    v = trace.verdict(built, HOST, 8444, 30)
    assert "rejected at hop 2 by 198.18.9.1 (ICMP port unreachable)" in v.summary
    assert "got as far as hop 1 (198.18.0.1)" in v.summary


def test_rejected_by_the_target_itself() -> None:
    built = [
        trace.hop_of(ev(1, "te", R1)),
        trace.hop_of(ev(2, "icmp", HOST, icmp_type=3, icmp_code=13)),
    ]
    assert "by 198.18.1.10 itself" in trace.verdict(built, HOST, 8443, 30).summary


def test_rejected_by_this_computer() -> None:
    v = trace.verdict([trace.hop_of(ev(1, "icmp", errno_name="EPERM"))], HOST, 82, 30)
    assert v.state is PortState.REJECTED and "this computer's own firewall" in v.summary


def test_unreachable() -> None:
    built = [
        trace.hop_of(ev(1, "te", R1)),
        trace.hop_of(ev(2, "icmp", R1, icmp_type=3, icmp_code=1)),
    ]
    v = trace.verdict(built, HOST, 82, 30)
    assert v.state is PortState.UNREACHABLE
    assert "198.18.0.1 at hop 2 reports ICMP host unreachable" in v.summary


def test_still_travelling_at_max_hops() -> None:
    v = verdict_of(("te", R1), ("te", R2), max_hops=2)
    assert (v.state, v.reason, v.stopped_at_ttl) == (PortState.UNREACHABLE, "time-exceeded", 2)
    assert "more than 2 hops away" in v.summary and "--max-hops" in v.summary


# --------------------------------------------------------------------------- the walk


class FakeEngine(fake.FakeEngine):
    """Answers each Job with ``answer(job)`` (none from ``interrupt_at`` on: the scan is
    interrupted); ``scans`` are every scan's TTLs."""

    def __init__(self, answer: Callable[[Job], PortEvidence], interrupt_at: int | None = None):
        def script(job: Job) -> PortEvidence | None:
            return None if interrupt_at is not None and job.ttl >= interrupt_at else answer(job)

        super().__init__(script)

    @property
    def scans(self) -> list[list[int]]:  # type: ignore[override]
        return [[j.ttl for j in jobs] for jobs in super().scans]


def path(*routers: str, end: str = "none") -> Callable[[Job], PortEvidence]:
    """Routers at hops 1..n, then the target's answer ``end`` (or silence) at n+1 and on."""

    def answer(job: Job) -> PortEvidence:
        if job.ttl <= len(routers):
            return ev(job.ttl, "te", routers[job.ttl - 1], ttl=65 - job.ttl)
        if end == "none":
            return ev(job.ttl)
        return ev(job.ttl, end, HOST, ttl=64 - len(routers))

    return answer


def adapters(engine: FakeEngine, **kw: Any) -> Edge:
    return Edge(
        resolve=kw.get(
            "resolve", lambda name, ns, t, fams: DnsResult(DnsStatus.OK, ("2001:2::9", HOST))
        ),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=kw.get("route", lambda a: ROUTE_OK),
        ping=lambda a, t: PingResult(PingStatus.SKIPPED),
        open_engine=lambda method: engine,
    )


def run_trace(target: Target, opts: TraceOptions, io: Edge) -> TraceReport:
    """``probe trace`` over ``io`` in a session of its own (closed at the end, as the CLI's)."""
    with Session(io) as session:
        return session.trace(target, opts)


LITERAL = Target(HOST, "ipv4", HOST)


def test_walk_stops_after_silent_hops_in_one_wave() -> None:
    engine = FakeEngine(path(R1))
    report = run_trace(LITERAL, TraceOptions(port=82), adapters(engine))
    assert engine.scans == [list(range(1, 9))] and engine.closed
    assert [h.kind for h in report.hops] == ["time-exceeded", "none", "none", "none"]
    assert report.verdict.state is PortState.FILTERED and report.verdict.stopped_at_ttl == 1
    assert trace_run.exit_status(report) is ExitStatus.PROBLEM


def test_every_hop_probe_leaves_from_the_source() -> None:
    sources: set[str | None] = set()
    answer = path(R1)
    engine = FakeEngine(lambda job: sources.add(job.source) or answer(job))
    run_trace(LITERAL, TraceOptions(port=82, source="198.18.0.3"), adapters(engine))
    assert sources == {"198.18.0.3"}


def test_walk_sends_more_waves_while_routers_answer() -> None:
    engine = FakeEngine(path(*[f"198.18.9.{i}" for i in range(1, 11)], end="syn-ack"))
    report = run_trace(LITERAL, TraceOptions(port=80), adapters(engine))
    assert engine.scans == [list(range(1, 9)), list(range(9, 17))]
    assert len(report.hops) == 11 and report.hops[-1].kind == "syn-ack"
    assert trace_run.exit_status(report) is ExitStatus.OK


def test_walk_never_passes_max_hops() -> None:
    engine = FakeEngine(path(*[f"198.18.9.{i}" for i in range(1, 41)]))
    report = run_trace(LITERAL, TraceOptions(port=80, max_hops=12), adapters(engine))
    assert engine.scans == [list(range(1, 9)), list(range(9, 13))]
    assert report.verdict.reason == "time-exceeded" and report.verdict.stopped_at_ttl == 12


def test_walk_uses_the_first_ipv4_address_of_a_name() -> None:
    engine = FakeEngine(path(R1, end="syn-ack"))
    report = run_trace(Target("web", "name"), TraceOptions(port=80), adapters(engine))
    assert report.address == HOST and report.input == "web"


def test_walk_ipv6_only() -> None:
    seen: list[str] = []
    engine = FakeEngine(path(R1, end="syn-ack"))
    opts = TraceOptions(port=80, families=(6,))
    io = adapters(engine, route=lambda a: seen.append(a) or ROUTE_OK)
    report = run_trace(Target("web", "name"), opts, io)
    assert report.address == "2001:2::9" and seen == ["2001:2::9"]


def test_walk_prefers_a_family_with_a_route() -> None:
    engine = FakeEngine(path(R1, end="syn-ack"))
    no_v4 = RouteResult(RouteStatus.NO_ROUTE)
    io = adapters(engine, route=lambda a: no_v4 if a == HOST else ROUTE_OK)
    report = run_trace(Target("web", "name"), TraceOptions(port=80), io)
    assert report.address == "2001:2::9"


def test_dns_failure_is_a_report_without_hops() -> None:
    engine = FakeEngine(path(R1))
    io = adapters(engine, resolve=lambda *a: DnsResult(DnsStatus.NXDOMAIN))
    report = run_trace(Target("nope", "name"), TraceOptions(port=80), io)
    assert engine.scans == [] and engine.closed
    assert report.hops == () and report.verdict.state is None
    assert [f.code for f in report.findings] == ["dns-nxdomain"]
    assert report.verdict.summary == report.findings[0].summary
    assert trace_run.exit_status(report) is ExitStatus.PROBLEM


def test_no_address_of_the_family() -> None:
    engine = FakeEngine(path(R1))
    io = adapters(engine, resolve=lambda *a: DnsResult(DnsStatus.OK, ("2001:2::9",)))
    report = run_trace(Target("web", "name"), TraceOptions(port=80, families=(4,)), io)
    assert [f.code for f in report.findings] == ["dns-no-address"] and engine.scans == []


def test_no_route_exits_3() -> None:
    engine = FakeEngine(path(R1))
    io = adapters(engine, route=lambda a: RouteResult(RouteStatus.NO_ROUTE))
    report = run_trace(LITERAL, TraceOptions(port=80), io)
    assert engine.scans == [] and [f.code for f in report.findings] == ["no-route"]
    assert trace_run.exit_status(report) is ExitStatus.CANNOT_PROBE


def test_no_permission_is_raised_before_anything_is_asked() -> None:
    asked: list[str] = []

    def refuse(method: Method) -> FakeEngine:
        raise NoPermission("raw sockets need root or CAP_NET_RAW")

    io = Edge(
        resolve=lambda *a: asked.append("dns") or DnsResult(DnsStatus.NXDOMAIN),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: asked.append("route") or ROUTE_OK,
        ping=lambda a, t: PingResult(PingStatus.SKIPPED),
        open_engine=refuse,
    )
    with pytest.raises(NoPermission, match="connect\\(\\) cannot trace"):
        run_trace(LITERAL, TraceOptions(port=80), io)
    assert asked == []


def test_interrupted_keeps_the_hops_measured() -> None:
    engine = FakeEngine(path(R1, R2, R3), interrupt_at=3)
    report = run_trace(LITERAL, TraceOptions(port=80), adapters(engine))
    assert report.interrupted and [h.ttl for h in report.hops] == [1, 2]
    assert trace_run.exit_status(report) is ExitStatus.INTERRUPTED
    assert engine.closed


def test_default_adapters_refuse_without_raw_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    from probe.engine import raw

    def no_raw(**_: Any) -> None:
        raise NoPermission("raw sockets need root or CAP_NET_RAW")

    monkeypatch.setattr(raw, "RawEngine", no_raw)
    with pytest.raises(NoPermission) as exc, Session() as session:
        session.trace(LITERAL, TraceOptions(port=80))
    assert str(exc.value) == trace_run.NO_RAW and "\n" not in str(exc.value)
