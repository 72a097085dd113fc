"""The raw engine's loop logic with recorded answers and a fake clock: matching,
retransmission, late answers, loss detection, rate limiting. No packet leaves the process:
the sockets are fakes that record what would have been sent."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from probe.engine import raw, timing, wire
from probe.engine.base import EngineConfig, Job
from probe.model import AnswerKind

HOST = "198.18.1.10"
DST = socket.inet_aton(HOST)


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(data)
        return len(data)


class FakeEngine:
    sport = 45000

    def __init__(self) -> None:
        self._send4 = FakeSock()
        self._tcp6 = FakeSock()
        self._receivers: list[Any] = []
        tcp = bytes(20)
        self._tpl4 = wire.SynTemplate(ip=bytes(20), tcp=tcp)
        self._tpl6 = wire.SynTemplate(ip=b"", tcp=tcp)


@pytest.fixture(autouse=True)
def _no_route_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(raw, "source_for", lambda address: "198.18.0.2")


def make_scan(ports: list[int], **cfg: Any) -> tuple[raw._Scan, FakeEngine]:
    eng = FakeEngine()
    scan = raw._Scan(eng, [Job(HOST, p) for p in ports], EngineConfig(**cfg), None, None)  # type: ignore[arg-type]
    return scan, eng


def answer(scan: raw._Scan, port: int, try_no: int, kind: str = "synack", **kw: Any) -> wire.Answer:
    seq = wire.seq_for(scan.key, DST, port, try_no)
    if kind == "icmp":
        return wire.Answer(
            "icmp",
            "198.18.0.1",
            64,
            DST,
            port,
            scan.e.sport + try_no,
            seq,
            icmp_type=3,
            icmp_code=13,
            **kw,
        )
    flags = wire.TH_SYN | wire.TH_ACK if kind == "synack" else wire.TH_RST | wire.TH_ACK
    return wire.Answer(
        "tcp", HOST, 63, DST, port, scan.e.sport + try_no, seq, flags=flags, window=1000, **kw
    )


def test_answers_are_matched_to_their_port() -> None:
    scan, eng = make_scan([80, 81, 8443])
    scan._send(0.0)
    assert len(eng._send4.sent) == 3 and scan.in_flight == 3
    scan._match(answer(scan, 80, 1), 0.010, None, None)
    scan._match(answer(scan, 81, 1, "rst"), 0.020, None, None)
    scan._match(answer(scan, 8443, 1, "icmp"), 0.030, None, None)
    by_port = {r.port: r for r in scan.result if r}
    assert by_port[80].answer is AnswerKind.SYN_ACK and by_port[80].rtt_ms == pytest.approx(10)
    assert by_port[81].answer is AnswerKind.RST and by_port[81].ttl == 63
    assert by_port[8443].icmp_code == 13 and by_port[8443].responder == "198.18.0.1"
    assert scan.done == 3 and scan.in_flight == 0


def test_forged_or_foreign_answers_are_ignored() -> None:
    scan, _ = make_scan([80])
    scan._send(0.0)
    good = answer(scan, 80, 1)
    for bad in (
        wire.Answer(
            "tcp", HOST, 63, DST, 80, scan.e.sport + 1, 12345, flags=wire.TH_RST
        ),  # bad seq
        wire.Answer("tcp", HOST, 63, DST, 80, scan.e.sport + 2, good.seq, flags=wire.TH_RST),
        wire.Answer("tcp", HOST, 63, DST, 81, scan.e.sport + 1, good.seq, flags=wire.TH_RST),
        answer(scan, 80, 2),  # a try that was never sent
    ):
        scan._match(bad, 0.01, None, None)
    assert scan.result == [None]
    scan._match(good, 0.01, None, None)
    assert scan.result[0] is not None


def test_silence_retransmits_then_gives_up_after_tries() -> None:
    scan, eng = make_scan([82], tries=3, timeout=1.0)
    scan._send(0.0)
    for now in (1.0, 2.0):
        scan._expire(now)
        scan._send(now)
    assert len(eng._send4.sent) == 3 and scan.result == [None]
    scan._expire(2.999)
    assert scan.result == [None]
    scan._expire(3.0)
    ev = scan.result[0]
    assert ev is not None and ev.answer is AnswerKind.NONE and ev.tries == 3
    assert scan.in_flight == 0 and scan.done == 1


def test_timeout_adapts_to_measured_rtt_but_not_below_floor() -> None:
    scan, _ = make_scan([80, 82], tries=2, timeout=1.0, min_timeout=0.1)
    scan._send(0.0)
    scan._match(answer(scan, 80, 1), 0.002, None, None)
    scan._expire(1.0)
    scan._send(1.0)
    deadline = scan.deadlines[0][0]
    assert deadline == pytest.approx(1.1)  # 2 ms RTT: the floor, not 1 s


def test_answer_to_a_retry_signals_loss_and_shrinks_window() -> None:
    scan, _ = make_scan([80], tries=3)
    before = scan.window.size
    scan._send(0.0)
    scan._expire(1.0)
    scan._send(1.0)
    scan._match(answer(scan, 80, 2), 1.01, None, None)
    assert scan.window.drops == 1 and scan.window.size < before
    assert scan.result[0] is not None and scan.result[0].tries == 2


def test_late_answer_to_first_try_after_retry_is_not_loss() -> None:
    scan, _ = make_scan([80], tries=3)
    scan._send(0.0)
    scan._expire(1.0)
    scan._send(1.0)
    scan._match(answer(scan, 80, 1), 1.2, None, None)
    ev = scan.result[0]
    assert ev is not None and ev.tries == 1 and ev.rtt_ms == pytest.approx(1200)
    assert scan.window.drops == 0 and scan.in_flight == 0


def test_answer_after_giving_up_replaces_no_answer() -> None:
    scan, _ = make_scan([80], tries=1)
    scan._send(0.0)
    scan._expire(1.0)
    assert scan.result[0] is not None and scan.result[0].answer is AnswerKind.NONE
    scan._match(answer(scan, 80, 1, "rst"), 1.5, None, None)
    assert scan.result[0].answer is AnswerKind.RST and scan.done == 1


def test_duplicate_answers_keep_the_first() -> None:
    scan, _ = make_scan([80])
    scan._send(0.0)
    scan._match(answer(scan, 80, 1), 0.01, None, None)
    scan._match(answer(scan, 80, 1, "rst"), 0.02, None, None)
    assert scan.result[0] is not None and scan.result[0].answer is AnswerKind.SYN_ACK


def test_window_limits_probes_in_flight() -> None:
    scan, eng = make_scan(list(range(1, 201)))
    scan.window = timing.Window(size=16)
    scan._send(0.0)
    assert len(eng._send4.sent) == 16
    for port in range(1, 5):
        scan._match(answer(scan, port, 1, "rst"), 0.01, None, None)
    scan._send(0.01)
    assert len(eng._send4.sent) == 20 + 4  # 4 places freed, and the window grew by 4


def test_rate_cap_spaces_sends() -> None:
    scan, eng = make_scan(list(range(1, 1001)), rate=100.0)
    scan.window = timing.Window(size=1000)  # only the rate may limit here
    scan._send(0.0)
    assert len(eng._send4.sent) == 1  # a burst of rate/100 packets at the start
    for step in range(1, 51):
        scan._send(step * 0.01)
    assert len(eng._send4.sent) == pytest.approx(51, abs=1)  # 100/s over 0.5 s
    scan._send(10.0)
    assert len(eng._send4.sent) == pytest.approx(51 + 32, abs=1)  # idle time buys only a burst


def test_local_unreachable_is_the_ports_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    scan, eng = make_scan([80])

    def refuse(data: bytes, addr: Any) -> int:
        raise OSError(113, "No route to host")

    monkeypatch.setattr(eng._send4, "sendto", refuse)
    scan._send(0.0)
    ev = scan.result[0]
    assert ev is not None and ev.errno_name == "EHOSTUNREACH" and scan.in_flight == 0


def test_hosts_are_interleaved() -> None:
    jobs = [Job("198.18.1.10", 1), Job("198.18.1.10", 2), Job("198.18.1.11", 1)]
    assert raw._interleave(jobs) == [0, 2, 1]


def test_rtt_estimator() -> None:
    est = timing.RttEstimator(floor=0.1, ceiling=1.0)
    assert est.timeout() == 1.0  # no sample yet: the full timeout
    est.observe(0.2)
    assert est.srtt == pytest.approx(0.2) and est.timeout() == pytest.approx(0.6)
    for _ in range(50):
        est.observe(0.001)
    assert est.timeout() == pytest.approx(0.1)  # the floor
    est.observe(30.0)
    assert est.timeout() == 1.0  # the ceiling


def test_window_growth_and_backoff() -> None:
    w = timing.Window(size=10, minimum=8, ssthresh=12)
    for _ in range(2):
        w.on_answer()
    assert w.size == 12  # slow start up to ssthresh
    w.on_answer()
    assert 12 < w.size < 12.1  # then additive increase
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 8 and w.drops == 1  # halved, but never below the minimum
    big = timing.Window(size=100, minimum=8)
    big.on_drop(lost_at=1.0, now=2.0)
    assert big.size == 50 and big.ssthresh == 50
    big.on_drop(lost_at=1.5, now=2.1)  # sent before the cut at 2.0: already paid for
    assert big.size == 50 and big.drops == 2
    big.on_drop(lost_at=2.05, now=2.2)  # sent after the cut: a new round, cut again
    assert big.size == 25


def outcomes(w: timing.Window, window: float, answered: int, unanswered: int) -> None:
    for _ in range(answered):
        w.first_try(window, answered=True)
    for _ in range(unanswered):
        w.first_try(window, answered=False)


def test_loss_the_path_has_at_any_rate_does_not_cut_the_window() -> None:
    # A lossy link: a third of first tries lost at window 64 and at window 1024 alike.
    w = timing.Window(size=1024)
    outcomes(w, 64, 100, 50)
    outcomes(w, 1024, 200, 100)
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 1024 and w.path_loss == pytest.approx(1 / 3)
    assert w.drops == 1  # still counted as a drop
    outcomes(w, 1024, 0, 400)  # then the loss at this rate climbs: congestion after all
    w.on_drop(lost_at=2.5, now=3.0)
    assert w.size == 512


def test_loss_that_grows_with_the_rate_is_congestion() -> None:
    w = timing.Window(size=1024)
    outcomes(w, 64, 150, 0)
    outcomes(w, 1024, 200, 100)
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 512 and w.path_loss is None


@pytest.mark.parametrize(
    "measured",
    [
        [(64, 30, 10), (1024, 30, 10)],  # too few outcomes at each size to compare
        [(1024, 200, 100)],  # one size only: nothing to compare
        [(64, 50, 100), (1024, 50, 100)],  # two thirds lost everywhere: a rate limit, not a link
    ],
    ids=["few outcomes", "one size", "most lost"],
)
def test_loss_is_taken_for_congestion_without_evidence_otherwise(
    measured: list[tuple[int, int, int]],
) -> None:
    w = timing.Window(size=1024)
    for window, answered, unanswered in measured:
        outcomes(w, window, answered, unanswered)
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 512 and w.path_loss is None


def test_first_tries_are_reported_at_their_deadline_with_the_window_they_left_in() -> None:
    scan, _ = make_scan([80, 82], tries=2, timeout=1.0)
    scan.window = timing.Window(size=64)
    scan._send(0.0)
    scan._match(answer(scan, 80, 1, "rst"), 0.01, None, None)
    scan._expire(0.5)
    assert scan.window._outcomes == {}  # outcomes count at the deadline, not before
    scan._expire(1.0)
    assert scan.window._outcomes == {(64).bit_length(): [1, 1]}  # 80 answered, 82 not
    scan._send(1.0)
    scan._expire(2.0)  # a retry's deadline is not a first try's
    assert scan.window._outcomes == {(64).bit_length(): [1, 1]}


def test_probes_at_several_ttls_to_one_port_are_separate() -> None:
    eng = FakeEngine()
    jobs = [Job(HOST, 80, ttl=1), Job(HOST, 80, ttl=2), Job(HOST, 80, ttl=3)]
    scan = raw._Scan(eng, jobs, EngineConfig(), None, None)  # type: ignore[arg-type]
    scan._send(0.0)
    sent_ttls = [pkt[8] for pkt in eng._send4.sent]
    assert sorted(sent_ttls) == [1, 2, 3]
    seq2 = wire.seq_for(scan.key, DST, 80, 1, ttl=2)
    exceeded = wire.Answer(
        "icmp", "198.18.0.1", 64, DST, 80, eng.sport + 1, seq2, icmp_type=11, icmp_code=0
    )
    scan._match(exceeded, 0.01, None, None)
    got = [(r.probe_ttl, r.icmp_type) if r else None for r in scan.result]
    assert got == [None, (2, 11), None]


class QueuedSender:
    """A sender whose packets wait in a queue until ``flush`` (like the sender thread's)."""

    def __init__(self, scan: raw._Scan) -> None:
        self.scan = scan
        self.queue: list[Any] = []
        self.error: BaseException | None = None

    def submit(self, items: Any, now: float) -> None:
        self.queue.extend(items)

    def flush(self, now: float) -> None:
        for item in self.queue:
            self.scan.sent_at[item.job][item.try_no - 1] = now
        self.queue.clear()

    def pending(self) -> int:
        return len(self.queue)

    def close(self) -> None:
        pass


def test_the_wait_for_an_answer_starts_when_the_syn_leaves_the_queue() -> None:
    scan, _ = make_scan([82], tries=2, timeout=1.0)
    queued = QueuedSender(scan)
    scan.sender = queued
    scan._send(0.0)
    scan._expire(1.0)  # its deadline, counted from the queueing: the SYN has not left yet
    assert scan.tries == [1] and not scan.retry and scan.in_flight == 1
    queued.flush(1.005)  # it leaves 1.005 s after it was queued
    scan._expire(1.9)
    assert not scan.retry
    scan._expire(2.004)
    assert not scan.retry
    scan._expire(2.005)  # a full second after it left: now it is a retry
    assert list(scan.retry) == [0] and scan.in_flight == 0


def test_refusals_from_the_sender_thread_finish_their_port() -> None:
    scan, _ = make_scan([80, 81])
    scan.sender = QueuedSender(scan)
    scan._send(0.0)
    scan.failed.append((1, 1, 101))  # ENETUNREACH for port 81's first try
    scan._collect()
    ev = scan.result[1]
    assert ev is not None and ev.errno_name == "ENETUNREACH" and ev.answer is AnswerKind.ICMP
    assert scan.result[0] is None and scan.in_flight == 1 and scan.done == 1


def test_an_unexpected_sender_failure_stops_the_scan() -> None:
    scan, _ = make_scan([80])
    scan.sender = QueuedSender(scan)
    scan.failed.append((0, 1, 9))  # EBADF: not an answer, a bug or a closed socket
    with pytest.raises(OSError):
        scan._collect()
    scan.failed.clear()
    scan.sender.error = RuntimeError("sender thread died")
    with pytest.raises(RuntimeError):
        scan._collect()
