"""A check's own cancel event and deadline: they stop that run alone (with what it measured,
marked interrupted), the session's event still stops every run, and the caller's event is
never set by the run. ``allow`` keeps refused addresses from every packet."""

from __future__ import annotations

import threading
import time

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
from probe.session.cancel import RunCancel
from probe.session.core import Session
from probe.session.edge import Edge
from probe.session.options import CheckOptions

HOST = "198.18.1.10"
OTHER = "198.18.1.11"


def session(engine: FakeEngine, pings: list[str] | None = None) -> Session:
    def ping(address: str, timeout: float) -> PingResult:
        if pings is not None:
            pings.append(address)
        return PingResult(PingStatus.OK, 3, 3, ttl=63)

    edge = Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (HOST,)),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1"),
        ping=ping,
        open_engine=lambda method: engine,
    )
    return Session(edge)


def literal(address: str) -> Target:
    return Target(address, "ipv4", address)


SILENT = CheckOptions(ports=(PortRequest(82),), tries=3, timeout=1.0, ping=False)


def test_run_cancel_reads_every_linked_event_and_the_deadline() -> None:
    now = [100.0]
    outer, mine = threading.Event(), threading.Event()
    stop = RunCancel(outer, mine, deadline=101.0, clock=lambda: now[0])
    assert not stop.is_set()
    now[0] = 101.0
    assert stop.is_set() and stop.expired
    assert not outer.is_set() and not mine.is_set()  # the run's stop is its own
    later = RunCancel(outer, None)
    outer.set()
    assert later.is_set() and later.wait(0)


def test_run_cancel_wait_wakes_at_the_deadline() -> None:
    stop = RunCancel(deadline=time.monotonic() + 0.1)
    begin = time.monotonic()
    assert stop.wait(5)
    assert 0.05 < time.monotonic() - begin < 1.0


def test_a_deadline_stops_this_check_alone() -> None:
    engine = FakeEngine({82: AnswerKind.NONE, 80: AnswerKind.SYN_ACK}, delay=0.05)
    with session(engine) as s:
        out: dict[str, float] = {}

        def free() -> None:
            begin = time.monotonic()
            report = s.check([literal(OTHER)], SILENT)  # 3 tries x 1 s of silence
            out["free"] = time.monotonic() - begin
            assert not report.interrupted

        other = threading.Thread(target=free)
        other.start()
        begin = time.monotonic()
        report = s.check([literal(HOST)], SILENT, deadline=time.monotonic() + 0.3)
        took = time.monotonic() - begin
        other.join(10)
    assert report.interrupted and took < 1.0
    assert out["free"] >= 2.5  # the other run went on to its end
    assert not s.cancel.is_set()


def test_the_callers_event_stops_the_run_and_is_left_as_it_was() -> None:
    engine = FakeEngine(delay=0.05)
    mine = threading.Event()
    threading.Timer(0.2, mine.set).start()
    with session(engine) as s:
        begin = time.monotonic()
        report = s.check([literal(HOST)], SILENT, cancel=mine)
    assert report.interrupted and time.monotonic() - begin < 1.0
    assert not s.cancel.is_set()


def test_the_sessions_cancel_still_stops_a_run_with_a_deadline() -> None:
    engine = FakeEngine(delay=0.05)
    with session(engine) as s:
        threading.Timer(0.2, s.cancel.set).start()
        begin = time.monotonic()
        report = s.check([literal(HOST)], SILENT, deadline=time.monotonic() + 30)
    assert report.interrupted and time.monotonic() - begin < 1.0


def test_an_address_not_allowed_gets_no_packet() -> None:
    engine = FakeEngine(default=AnswerKind.SYN_ACK)
    pings: list[str] = []
    opts = CheckOptions(ports=(PortRequest(80),))
    with session(engine, pings) as s:
        report = s.check([literal(HOST), literal(OTHER)], opts, allow=lambda a: a == OTHER)
    assert {job.address for job in engine.jobs} == {OTHER}
    assert pings == [OTHER]
    refused = next(t for t in report.targets if t.address == HOST)
    assert refused.ports == ()
    assert any(HOST in note and "not an allowed target" in note for note in report.notes)
