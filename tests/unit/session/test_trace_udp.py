"""session/trace.py with --udp: each TTL of a wave is a scan of its own, all at once on one
engine (a datagram's answers carry no TTL cookie), each carrying the port's request; cancel
and Ctrl-C keep the hops measured. Over the scripted engine: no packet is sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from typing import Any

import pytest

from probe import payloads
from probe.diagnosis.trace import WAVE
from probe.engine import fake
from probe.engine.base import EngineConfig, EngineRun, Job, PacketLog, ProgressFn
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortState,
    Protocol,
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
R1, R2 = "198.18.0.1", "198.18.9.1"
LITERAL = Target(HOST, "ipv4", HOST)
UDP = Protocol.UDP


def answer(job: Job, kind: AnswerKind, responder: str | None, **kw: Any) -> PortEvidence:
    tries = 3 if kind is AnswerKind.NONE else 1
    return PortEvidence(
        job.address,
        job.port,
        Method.RAW,
        kind,
        tries,
        responder=responder,
        probe_ttl=job.ttl,
        protocol=job.protocol,
        **kw,
    )


def path(*routers: str, end: str = "none", reply: bytes = b"pong") -> Callable[[Job], PortEvidence]:
    """Routers at hops 1..n (time exceeded), then the target: "udp" answers ``reply``,
    "closed" is its own ICMP port unreachable, "none" is silence."""

    def script(job: Job) -> PortEvidence:
        if job.ttl <= len(routers):
            return answer(job, AnswerKind.ICMP, routers[job.ttl - 1], icmp_type=11, icmp_code=0)
        if end == "udp":
            return answer(job, AnswerKind.UDP, HOST, ttl=63, reply=reply)
        if end == "closed":
            return answer(job, AnswerKind.ICMP, HOST, ttl=63, icmp_type=3, icmp_code=3)
        return answer(job, AnswerKind.NONE, None)

    return script


class Engine(fake.FakeEngine):
    """The scripted engine, counting how many scans run at once and what each was given."""

    def __init__(self, script: Callable[[Job], PortEvidence], **kw: Any) -> None:
        super().__init__(script, **kw)
        self.running = 0
        self.most = 0
        self.logs: list[PacketLog | None] = []
        self._count = threading.Lock()

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
        cancel: threading.Event | None = None,
    ) -> EngineRun:
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
            self.logs.append(packet_log)
        try:
            return super().scan(jobs, config, packet_log=packet_log, cancel=cancel)
        finally:
            with self._count:
                self.running -= 1


def edge_for(engine: fake.FakeEngine) -> Edge:
    return Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (HOST,)),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", R1),
        ping=lambda a, t: PingResult(PingStatus.SKIPPED),
        open_engine=lambda method: engine,
    )


def run(engine: fake.FakeEngine, session: Session | None = None, **kw: Any) -> TraceReport:
    opts = TraceOptions(protocol=UDP, **{"port": 9002, **kw})
    if session is not None:
        return session.trace(LITERAL, opts)
    with Session(edge_for(engine)) as own:
        return own.trace(LITERAL, opts)


def test_each_ttl_is_a_scan_of_its_own_carrying_the_ports_request() -> None:
    engine = Engine(path(R1, end="udp"))
    report = run(engine, port=123)
    assert sorted(len(scan) for scan in engine.scans) == [1] * 8  # one wave: TTL 1..8
    assert sorted(j.ttl for j in engine.jobs) == list(range(1, 9))
    assert {(j.protocol, j.payloads) for j in engine.jobs} == {(UDP, payloads.payloads_for(123))}
    assert report.protocol is UDP and report.port == 123
    assert [(h.ttl, h.kind) for h in report.hops] == [(1, "time-exceeded"), (2, "udp-response")]
    assert report.verdict.state is PortState.OPEN and report.verdict.stopped_at_ttl == 2
    assert "Port 123/udp is open: the datagram reached" in report.verdict.summary
    assert trace_run.exit_status(report) is ExitStatus.OK


def test_an_unknown_port_gets_an_empty_datagram_and_its_answer_in_bytes() -> None:
    engine = Engine(path(R1, end="udp", reply=b"abc"))
    report = run(engine, port=9999)
    assert {j.payloads for j in engine.jobs} == {()}
    assert report.verdict.summary.endswith("got a UDP answer (3 bytes).")


def test_the_scans_of_a_wave_run_at_once() -> None:
    # Silence is known after tries x timeout: 8 TTLs one after the other would take 8 x 0.3 s.
    engine = Engine(path(R1), delay=0.01)
    start = time.monotonic()
    report = run(engine, tries=1, timeout=0.3)
    assert time.monotonic() - start < 1.5
    assert 1 < engine.most <= WAVE
    assert [h.kind for h in report.hops] == ["time-exceeded", "none", "none", "none"]
    assert report.verdict.state is PortState.OPEN_FILTERED and not report.interrupted


def test_a_final_answer_stops_the_scans_of_the_ttls_past_it() -> None:
    # The target answers TTL 2 at once; TTL 3 and on stay silent (its ICMP tokens spent):
    # their 3 x 2 s of retries are beyond the end of the path, and are not waited for.
    closed = path(R1, end="closed")

    def script(job: Job) -> PortEvidence:
        return closed(job) if job.ttl <= 2 else answer(job, AnswerKind.NONE, None)

    engine = Engine(script, delay=0.01)
    start = time.monotonic()
    report = run(engine, tries=3, timeout=2.0)
    assert time.monotonic() - start < 1.5 and engine.running == 0
    assert [(h.ttl, h.kind) for h in report.hops] == [(1, "time-exceeded"), (2, "refused")]
    assert not report.interrupted and report.verdict.state is PortState.REFUSED


def test_waves_follow_each_other_until_the_target_answers() -> None:
    routers = [f"198.18.9.{i}" for i in range(1, 11)]
    engine = Engine(path(*routers, end="closed"))
    report = run(engine)
    assert sorted(j.ttl for j in engine.jobs) == list(range(1, 17))  # two waves
    assert all(len(scan) == 1 for scan in engine.scans)
    assert report.hops[-1].kind == "refused" and report.hops[-1].ttl == 11
    assert report.verdict.state is PortState.REFUSED and report.verdict.reason == "port-unreach"
    assert trace_run.exit_status(report) is ExitStatus.PROBLEM


def test_the_packet_log_reaches_every_scan() -> None:
    engine = Engine(path(R1, end="udp"))
    seen: list[tuple[float, bytes, bool]] = []

    def log(at: float, pkt: bytes, out: bool) -> None:
        seen.append((at, pkt, out))

    with Session(edge_for(engine)) as session:
        session.trace(LITERAL, TraceOptions(port=53, protocol=UDP), packet_log=log)
    assert engine.logs == [log] * 8


def test_cancel_keeps_the_hops_measured() -> None:
    engine = Engine(path(R1), delay=0.01)
    with Session(edge_for(engine)) as session:
        threading.Timer(0.3, session.cancel.set).start()
        start = time.monotonic()
        report = run(engine, session, tries=3, timeout=2.0)
    assert time.monotonic() - start < 2.0  # not the 6 s the silent hops would take
    assert report.interrupted and [(h.ttl, h.kind) for h in report.hops] == [(1, "time-exceeded")]
    assert trace_run.exit_status(report) is ExitStatus.INTERRUPTED


def test_ctrl_c_stops_the_waves_scans_and_keeps_what_they_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Engine(path(R1), delay=0.01)
    calls: list[int] = []

    def interrupted_wait(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:  # the hop-1 answer is in by then (0.01 s)
            raise KeyboardInterrupt
        return futures.wait(*args, **kw)

    monkeypatch.setattr(trace_run, "wait", interrupted_wait)
    start = time.monotonic()
    report = run(engine, tries=3, timeout=2.0)
    assert time.monotonic() - start < 2.0
    assert engine.running == 0  # every scan of the wave stopped before the trace returned
    assert report.interrupted and [h.ttl for h in report.hops] == [1]


def test_an_engine_failure_is_raised_not_taken_for_silence() -> None:
    class Broken(fake.FakeEngine):
        def scan(self, jobs: Sequence[Job], config: EngineConfig, **kw: Any) -> EngineRun:
            raise OSError("sendmmsg: Message too long")

    with pytest.raises(OSError, match="too long"):
        run(Broken())


def test_tcp_still_sends_a_wave_as_one_scan() -> None:
    engine = Engine(path(R1))
    with Session(edge_for(engine)) as session:
        session.trace(LITERAL, TraceOptions(port=82))
    assert [len(scan) for scan in engine.scans] == [8]
    assert {j.protocol for j in engine.jobs} == {Protocol.TCP}
