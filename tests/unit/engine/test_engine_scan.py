"""The raw engine's loop logic with recorded answers and a fake clock: matching,
retransmission, late answers, loss detection, rate limiting. No packet leaves the process:
the sockets are fakes that record what would have been sent."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from probe.engine import cookies, inet, tcp, timing
from probe.engine.base import EngineConfig, Job
from probe.engine.paths import Outlet
from probe.engine.scan import Scan
from probe.engine.transport import Answer
from probe.model import AnswerKind, Protocol

HOST = "198.18.1.10"
DST = socket.inet_aton(HOST)
SPORT = 45008  # the first port of the scan's block


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(data)
        return len(data)


def outlet() -> Outlet:
    tpl = tcp.SynTemplate(ip=bytes(20), tcp=bytes(20))
    return Outlet(FakeSock(), {Protocol.TCP: FakeSock()}, {Protocol.TCP: tcp.Tcp(tpl)})  # type: ignore[dict-item,arg-type]


@pytest.fixture(autouse=True)
def _no_route_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inet, "source_for", lambda address: "198.18.0.2")


def new_scan(jobs: list[Job], **cfg: Any) -> tuple[Scan, FakeSock]:
    out = outlet()
    s = Scan(out, jobs, EngineConfig(**cfg))
    s.sport = SPORT
    return s, out.send4  # type: ignore[return-value]


def make_scan(ports: list[int], **cfg: Any) -> tuple[Scan, FakeSock]:
    return new_scan([Job(HOST, p) for p in ports], **cfg)


def tag(s: Scan, port: int, try_no: int, ttl: int = 64) -> int:
    return cookies.cookie(cookies.prefix(s.key, DST), port, ttl, socket.IPPROTO_TCP) | try_no


def answer(s: Scan, port: int, try_no: int, kind: str = "synack") -> Answer:
    if kind == "icmp":
        return Answer(
            AnswerKind.ICMP,
            "198.18.0.1",
            64,
            DST,
            port,
            s.sport + try_no,
            tag(s, port, try_no),
            icmp_type=3,
            icmp_code=13,
        )
    got = AnswerKind.SYN_ACK if kind == "synack" else AnswerKind.RST
    return Answer(got, HOST, 63, DST, port, s.sport + try_no, tag(s, port, try_no), window=1000)


def test_answers_are_matched_to_their_port() -> None:
    scan, sent = make_scan([80, 81, 8443])
    scan._send(0.0)
    assert len(sent.sent) == 3 and scan.in_flight == 3
    scan.match(answer(scan, 80, 1), 0.010, None, None)
    scan.match(answer(scan, 81, 1, "rst"), 0.020, None, None)
    scan.match(answer(scan, 8443, 1, "icmp"), 0.030, None, None)
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
        Answer(AnswerKind.RST, HOST, 63, DST, 80, scan.sport + 1, 12345),  # bad seq
        Answer(AnswerKind.RST, HOST, 63, DST, 80, scan.sport + 2, good.tag),  # another try's port
        Answer(AnswerKind.RST, HOST, 63, DST, 81, scan.sport + 1, good.tag),  # another port
        Answer(AnswerKind.RST, HOST, 63, DST, 80, scan.sport + 1 + 16, good.tag),  # another block
        answer(scan, 80, 2),  # a try that was never sent
    ):
        scan.match(bad, 0.01, None, None)
    assert scan.result == [None]
    scan.match(good, 0.01, None, None)
    assert scan.result[0] is not None


def test_silence_retransmits_then_gives_up_after_tries() -> None:
    scan, sent = make_scan([82], tries=3, timeout=1.0)
    scan._send(0.0)
    for now in (1.0, 2.0):
        scan._expire(now)
        scan._send(now)
    assert len(sent.sent) == 3 and scan.result == [None]
    scan._expire(2.999)
    assert scan.result == [None]
    scan._expire(3.0)
    ev = scan.result[0]
    assert ev is not None and ev.answer is AnswerKind.NONE and ev.tries == 3
    assert scan.in_flight == 0 and scan.done == 1


def test_timeout_adapts_to_measured_rtt_but_not_below_floor() -> None:
    scan, _ = make_scan([80, 82], tries=2, timeout=1.0, min_timeout=0.1)
    scan._send(0.0)
    scan.match(answer(scan, 80, 1), 0.002, None, None)
    scan._expire(1.0)
    scan._send(1.0)
    deadline = scan.deadlines.first()
    assert deadline == pytest.approx(1.1)  # 2 ms RTT: the floor, not 1 s


def test_answer_to_a_retry_signals_loss_and_shrinks_window() -> None:
    scan, _ = make_scan([80], tries=3)
    before = scan.window.size
    scan._send(0.0)
    scan._expire(1.0)
    scan._send(1.0)
    scan.match(answer(scan, 80, 2), 1.01, None, None)
    assert scan.window.drops == 1 and scan.window.size < before
    assert scan.result[0] is not None and scan.result[0].tries == 2


def test_late_answer_to_first_try_after_retry_is_not_loss() -> None:
    scan, _ = make_scan([80], tries=3)
    scan._send(0.0)
    scan._expire(1.0)
    scan._send(1.0)
    scan.match(answer(scan, 80, 1), 1.2, None, None)
    ev = scan.result[0]
    assert ev is not None and ev.tries == 1 and ev.rtt_ms == pytest.approx(1200)
    assert scan.window.drops == 0 and scan.in_flight == 0


def test_answer_after_giving_up_replaces_no_answer() -> None:
    scan, _ = make_scan([80], tries=1)
    scan._send(0.0)
    scan._expire(1.0)
    assert scan.result[0] is not None and scan.result[0].answer is AnswerKind.NONE
    scan.match(answer(scan, 80, 1, "rst"), 1.5, None, None)
    assert scan.result[0].answer is AnswerKind.RST and scan.done == 1


def test_duplicate_answers_keep_the_first() -> None:
    scan, _ = make_scan([80])
    scan._send(0.0)
    scan.match(answer(scan, 80, 1), 0.01, None, None)
    scan.match(answer(scan, 80, 1, "rst"), 0.02, None, None)
    assert scan.result[0] is not None and scan.result[0].answer is AnswerKind.SYN_ACK


def test_window_limits_probes_in_flight() -> None:
    scan, sent = make_scan(list(range(1, 201)))
    scan.window = timing.Window(size=16)
    scan._send(0.0)
    assert len(sent.sent) == 16
    for port in range(1, 5):
        scan.match(answer(scan, port, 1, "rst"), 0.01, None, None)
    scan._send(0.01)
    assert len(sent.sent) == 20 + 4  # 4 places freed, and the window grew by 4


def test_rate_cap_spaces_sends() -> None:
    scan, sent = make_scan(list(range(1, 1001)), rate=100.0)
    scan.window = timing.Window(size=1000)  # only the rate may limit here
    scan._send(0.0)
    assert len(sent.sent) == 1  # a burst of rate/100 packets at the start
    for step in range(1, 51):
        scan._send(step * 0.01)
    assert len(sent.sent) == pytest.approx(51, abs=1)  # 100/s over 0.5 s
    scan._send(10.0)
    assert len(sent.sent) == pytest.approx(51 + 32, abs=1)  # idle time buys only a burst


def test_local_unreachable_is_the_ports_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    scan, sent = make_scan([80])

    def refuse(data: bytes, addr: Any) -> int:
        raise OSError(113, "No route to host")

    monkeypatch.setattr(sent, "sendto", refuse)
    scan._send(0.0)
    ev = scan.result[0]
    assert ev is not None and ev.errno_name == "EHOSTUNREACH" and scan.in_flight == 0


def test_hosts_are_interleaved() -> None:
    jobs = [Job("198.18.1.10", 1), Job("198.18.1.10", 2), Job("198.18.1.11", 1)]
    assert timing.interleave(j.address for j in jobs) == [0, 2, 1]


def test_first_tries_are_reported_at_their_deadline_with_the_window_they_left_in() -> None:
    scan, _ = make_scan([80, 82], tries=2, timeout=1.0)
    scan.window = timing.Window(size=64)
    scan._send(0.0)
    scan.match(answer(scan, 80, 1, "rst"), 0.01, None, None)
    scan._expire(0.5)
    assert scan.window._outcomes == {}  # outcomes count at the deadline, not before
    scan._expire(1.0)
    assert scan.window._outcomes == {(64).bit_length(): [1, 1]}  # 80 answered, 82 not
    scan._send(1.0)
    scan._expire(2.0)  # a retry's deadline is not a first try's
    assert scan.window._outcomes == {(64).bit_length(): [1, 1]}


def test_probes_at_several_ttls_to_one_port_are_separate() -> None:
    jobs = [Job(HOST, 80, ttl=1), Job(HOST, 80, ttl=2), Job(HOST, 80, ttl=3)]
    scan, sent = new_scan(jobs)
    scan._send(0.0)
    sent_ttls = [pkt[8] for pkt in sent.sent]
    assert sorted(sent_ttls) == [1, 2, 3]
    exceeded = Answer(
        AnswerKind.ICMP,
        "198.18.0.1",
        64,
        DST,
        80,
        scan.sport + 1,
        tag(scan, 80, 1, ttl=2),
        icmp_type=11,
        icmp_code=0,
    )
    scan.match(exceeded, 0.01, None, None)
    got = [(r.probe_ttl, r.icmp_type) if r else None for r in scan.result]
    assert got == [None, (2, 11), None]


class QueuedSender:
    """A sender whose packets wait in a queue until ``flush`` (like the sender thread's)."""

    def __init__(self, scan: Scan) -> None:
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


def test_a_transport_without_tags_is_matched_by_address_and_ports() -> None:
    # The seam a datagram transport (UDP) uses: its replies carry no tag of the probe's, so
    # the parser gives the try number the reply's port stands for, and the cookie part is 0.
    class Untagged(tcp.Tcp):
        tagged = False

    out = outlet()
    out = Outlet(
        out.send4, out.send6, {Protocol.TCP: Untagged(tcp.SynTemplate(bytes(20), bytes(20)))}
    )
    scan = Scan(out, [Job(HOST, 53), Job(HOST, 54)], EngineConfig(tries=2))
    scan.sport = SPORT
    assert scan.cookies == [0, 0]
    scan._send(0.0)
    scan._expire(1.0)
    scan._send(1.0)  # both ports' second tries
    reply = Answer(AnswerKind.RST, HOST, 63, DST, 53, SPORT + 2, 2)
    scan.match(Answer(AnswerKind.RST, HOST, 63, DST, 54, SPORT + 1, 2), 1.01, None, None)
    scan.match(reply, 1.01, None, None)
    assert scan.result[0] is not None and scan.result[0].tries == 2
    assert scan.result[1] is None  # its tag and its port name different tries: not an answer


def test_a_queue_full_for_good_is_a_lost_try_not_a_crash() -> None:
    # On-link targets that never answer ARP: the kernel holds the probes for a neighbour that
    # never resolves, the socket's queue stays full, and the sender gives up on the try.
    scan, _ = make_scan([80], tries=2, timeout=1.0)
    scan.sender = QueuedSender(scan)
    scan._send(0.0)
    scan.failed.append((0, 1, 11))  # EAGAIN after the sender's patience ran out
    scan._collect()
    assert scan.result[0] is None and scan.sent == 0  # not an answer: the try was lost
    scan._expire(time.monotonic() + 1.01)  # its deadline runs from when it was given up
    assert list(scan.retry) == [0]


def test_a_scan_may_start_with_a_wider_window() -> None:
    # Host discovery: most probes go to silent addresses and never grow the window.
    jobs = [Job(f"198.18.{n // 256}.{n % 256}", 443) for n in range(300)]
    narrow, sent = new_scan(jobs)
    narrow._send(0.0)
    assert len(sent.sent) == 64
    wide, sent = new_scan(jobs, window=256.0)
    wide._send(0.0)
    assert len(sent.sent) == 256 and wide.window.limit == 256
