"""The scan's bulk path (fastpath.py) wired into the engine: a big scan's plain IPv4 SYNs go
out as numpy rows (the per-packet builder's bytes, valid checksums), its answers are matched
a batch at a time with the per-packet matcher's results (strays, duplicates, late answers,
shared cookies and ACK probes through the exact lookup), the receiver reads the TCP socket a
recvmmsg batch at a time and routes rows by block, and the sender thread's sendmmsg calls
send a burst in order. No packet leaves the process: the scan's sockets are fakes, the
receiver reads a Unix socketpair, sendmmsg is replaced by a recorder. Addresses are in
198.18.0.0/15 only."""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import time
from collections import deque
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scapy.layers.inet import IP, TCP, UDP

from probe.engine import (
    ack,
    bulk,
    burst,
    fastpath,
    inet,
    lanes,
    mmsg,
    paths,
    receive,
    tcp,
    timing,
)
from probe.engine import scan as scan_module
from probe.engine.base import EngineConfig, Job
from probe.engine.cookies import BLOCK
from probe.engine.paths import Outlet
from probe.engine.receive import Receiver, Seat, Source
from probe.engine.scan import Scan
from probe.engine.sender import Burst, Failure, InlineSender, Outgoing, ThreadSender
from probe.engine.transport import Answer
from probe.model import AnswerKind, Method, PortEvidence, Protocol, TcpOptions

pytestmark = pytest.mark.skipif(not burst.available(), reason="no sendmmsg/recvmmsg here")

HOST = "198.18.1.10"
OTHER = "198.18.1.11"
US = "198.18.0.2"
US6 = "2001:2::2"
DST = socket.inet_aton(HOST)
SRC = socket.inet_aton(US)
SPORT = 45008  # the first port of the scan's block (2813 << 4)
KEY = 0x5EED5EED  # every scan's key here: a twin scan has the same cookies
TEMPLATE = tcp.syn_template(tsval=0x01020304)
SLOT = 128
OPTIONS = [("MSS", 1400), ("SAckOK", b""), ("Timestamp", (7, 9)), ("NOP", None), ("WScale", 7)]
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


class FakeSock:
    """The raw socket's stand-in: records what would have been sent (and where)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.to: list[Any] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(bytes(data))
        self.to.append(addr)
        return len(data)

    def fileno(self) -> int:
        return 987  # never handed to the kernel: sendmmsg is a fake wherever it is asked


def outlet() -> Outlet:
    return Outlet(FakeSock(), {Protocol.TCP: FakeSock()}, {Protocol.TCP: tcp.Tcp(TEMPLATE)})  # type: ignore[dict-item,arg-type]


@pytest.fixture(autouse=True)
def _no_route_lookup_and_a_known_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inet, "source_for", lambda address: US6 if ":" in address else US)
    monkeypatch.setattr(scan_module, "random", SimpleNamespace(getrandbits=lambda bits: KEY))
    # The receiver decodes a read of fewer than BULK_READ packets one by one; these tests send
    # a few packets and check the batch path, so every read is a batch here (the test below
    # checks the threshold itself).
    monkeypatch.setattr(receive, "BULK_READ", 1)


def new_scan(jobs: list[Job], **cfg: Any) -> tuple[Scan, FakeSock]:
    out = outlet()
    s = Scan(out, jobs, EngineConfig(**cfg))
    s.sport = SPORT
    return s, out.send4  # type: ignore[return-value]


def big_scan(n: int = 2000, **cfg: Any) -> tuple[Scan, FakeSock]:
    """One host's ports 1..n (job i is port i + 1)."""
    return new_scan([Job(HOST, p) for p in range(1, n + 1)], **cfg)


def pseudo(pkt: bytes) -> bytes:
    return pkt[12:20] + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(pkt) - 20)


def reply(
    s: Scan,
    i: int,
    try_no: int,
    flags: str = "SA",
    *,
    src: str = HOST,
    sport: int | None = None,
    tag: int | None = None,
    ttl: int = 63,
    window: int = 29200,
    ip_id: int = 4321,
) -> bytes:
    """An answer to try ``try_no`` of job ``i`` as the raw socket returns it: SYN/ACK (with
    options) and RST+ACK acknowledge tag + 1, a bare RST gives the tag as its sequence."""
    job = s.jobs[i]
    tag = s.cookies[i] | try_no if tag is None else tag
    dport = s.sport + try_no if sport is None else sport
    if flags == "R":
        seg = TCP(sport=job.port, dport=dport, flags="R", seq=tag, window=0)
    else:
        opts = OPTIONS if flags == "SA" else []
        ack_no = (tag + 1) & 0xFFFFFFFF
        seg = TCP(sport=job.port, dport=dport, flags=flags, ack=ack_no, window=window, options=opts)
    return bytes(IP(src=src, dst=US, ttl=ttl, id=ip_id) / seg)


def as_rows(pkts: list[bytes]) -> tuple[U8, I64]:
    rows = np.zeros((len(pkts), SLOT), np.uint8)
    for k, pkt in enumerate(pkts):
        rows[k, : len(pkt)] = np.frombuffer(pkt[:SLOT], np.uint8)
    return rows, np.array([len(p) for p in pkts], np.int64)


def feed(s: Scan, pkts: list[bytes], now: float) -> None:
    """The answers as the receiver hands a batch to the scan's seat."""
    rows, lengths = as_rows(pkts)
    d = bulk.decode_v4(rows, lengths)
    assert (d.kind != bulk.KIND_NONE).all()  # the receiver passes answers only
    s.match_rows(d, np.arange(len(pkts), dtype=np.int64), rows, lengths, now)


def feed_each(s: Scan, pkts: list[bytes], now: float) -> None:
    """The same answers through the per-packet matcher."""
    for pkt in pkts:
        a = tcp.parse_v4(pkt)
        assert a is not None
        s.match(a, now, pkt, None)


def twins(**cfg: Any) -> tuple[Scan, Scan]:
    """Two identical big scans (same key, same jobs), both sent their first window at 0."""
    a, _ = big_scan(**cfg)
    b, _ = big_scan(**cfg)
    assert a.cookies == b.cookies and a.fast is not None
    a._send(0.0)
    b._send(0.0)
    return a, b


# ------------------------------------------------------------------ who takes the bulk path


def test_a_big_scan_takes_the_bulk_path_a_small_one_or_a_logged_one_does_not() -> None:
    assert big_scan(2000)[0].fast is not None
    assert big_scan(scan_module.MIN_FAST_JOBS)[0].fast is not None
    assert big_scan(scan_module.MIN_FAST_JOBS - 1)[0].fast is None
    assert big_scan(100)[0].fast is None
    jobs = [Job(HOST, p) for p in range(1, 2001)]
    logged = Scan(outlet(), jobs, EngineConfig(), packet_log=lambda t, pkt, out: None)
    assert logged.fast is None

    class Untemplated(tcp.Tcp):  # a TCP transport with no template: no rows to build from
        def builder(self, src: bytes, dst: bytes) -> tcp.SynBuilderV4 | tcp.SynBuilderV6:
            return tcp.SynBuilderV4(TEMPLATE, src, dst)

    transport = Untemplated()
    transport.template = None  # type: ignore[assignment]
    base = outlet()
    no_tpl = Outlet(base.send4, base.send6, {Protocol.TCP: transport})
    assert Scan(no_tpl, jobs, EngineConfig()).fast is None


def test_only_plain_ipv4_syns_are_rows() -> None:
    jobs = [Job(HOST, p) for p in range(1, 1101)]
    jobs += [
        Job(HOST, 80, ack=True),
        Job("2001:2::10", 80),
        Job(HOST, 81, source=US),
        Job(HOST, 82, payloads=(b"x",)),
    ]
    s, _ = new_scan(jobs)
    assert s.fast is not None
    assert s.fast.on == [True] * 1100 + [False] * 4


def test_the_first_send_is_a_window_of_valid_syns_byte_for_byte_the_builders() -> None:
    s, sock = big_scan(2000)
    limit = s.window.limit
    s._send(0.0)
    assert len(sock.sent) == limit == s.sent == s.in_flight
    builder = tcp.SynBuilderV4(TEMPLATE, SRC, DST)
    ports = []
    for pkt, to in zip(sock.sent, sock.to, strict=True):
        assert to == (HOST, 0)
        assert len(pkt) == 20 + len(TEMPLATE.tcp)
        assert inet.inet_checksum(pkt[:20]) == 0
        assert inet.inet_checksum(pseudo(pkt) + pkt[20:]) == 0
        assert pkt[12:16] == SRC and pkt[16:20] == DST and pkt[8] == 64 and pkt[9] == 6
        sport, dport, seq = struct.unpack_from("!HHI", pkt, 20)
        assert pkt[33] == tcp.TH_SYN
        i = dport - 1
        assert sport == s.sport + 1 and seq == s.cookies[i] | 1
        assert pkt == builder.build(sport, dport, seq, 64)
        ports.append(dport)
        scapy_pkt = IP(pkt)
        assert scapy_pkt[TCP].dport == dport and scapy_pkt[TCP].flags == "S"
    assert ports == list(range(1, limit + 1))
    assert s.tries[:limit] == [1] * limit and s.tries[limit:] == [0] * (2000 - limit)
    assert all(s.sent_at[i] == [0.0] for i in range(limit))
    assert len(s.deadlines) == limit


def test_rows_keep_each_jobs_ttl_and_each_tries_source_port() -> None:
    jobs = [Job(HOST, 1000 + k % 1100, ttl=1 + k % 200) for k in range(1100)]
    s, sock = new_scan(jobs, tries=2, timeout=1.0)
    s.window = timing.Window(size=2000)
    s._send(0.0)
    s._expire(1.0)  # all unanswered: the second tries
    s._send(1.0)
    assert len(sock.sent) == 2200
    builder = tcp.SynBuilderV4(TEMPLATE, SRC, DST)
    for n, pkt in enumerate(sock.sent):
        i, try_no = n % 1100, 1 + n // 1100
        job = jobs[i]
        sport, dport, seq = struct.unpack_from("!HHI", pkt, 20)
        assert (sport, dport, seq, pkt[8]) == (
            SPORT + try_no,
            job.port,
            s.cookies[i] | try_no,
            job.ttl,
        )
        assert pkt == builder.build(sport, dport, seq, job.ttl)


def test_the_bulk_path_holds_until_a_batch_of_the_window_is_free() -> None:
    s, sock = big_scan(2000)
    s.window = timing.Window(size=512, maximum=512)  # batch: min(FAST_BATCH, 512 // 2)
    s._send(0.0)
    assert len(sock.sent) == 512 and s._holding()
    s._send(0.0)
    assert len(sock.sent) == 512
    feed(s, [reply(s, i, 1, "RA") for i in range(255)], 0.01)
    assert s.in_flight == 257 and s._holding()
    s._send(0.01)
    assert len(sock.sent) == 512  # 255 free: less than a batch
    feed(s, [reply(s, 255, 1, "RA")], 0.01)
    assert not s._holding()
    s._send(0.01)
    assert len(sock.sent) > 512 + 255


def test_under_a_rate_the_bulk_path_never_holds_and_a_few_rows_go_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s, sock = big_scan(2000, rate=1000.0)
    assert s.fast is not None
    s.window = timing.Window(size=512, maximum=512)
    bursts: list[int] = []
    real = s.fast.burst

    def burst(jobs: list[int], tries: list[int], sport: int) -> Burst:
        bursts.append(len(jobs))
        return real(jobs, tries, sport)

    monkeypatch.setattr(s.fast, "burst", burst)
    s._send(0.0)  # the bucket's first tokens: rate / 100 = 10 probes
    assert len(sock.sent) == 10 and bursts == []  # fewer than FEW_ROWS: one by one
    assert s.in_flight == 10 and not s._holding()  # a full window would hold without a rate
    s._send(0.05)  # 50 ms at 1000 a second: the bucket's burst of 32 at most
    assert len(sock.sent) == 10 + 32 and bursts == [32]
    assert [struct.unpack_from("!H", p, 22)[0] for p in sock.sent] == list(range(1, 43))


# ------------------------------------------------------------------ answers matched as rows


def test_rows_are_matched_to_their_jobs_as_the_per_packet_matcher_does() -> None:
    rows_scan, exact = twins()
    limit = rows_scan.window.limit
    pkts = [reply(rows_scan, 9, 1, "SA"), reply(rows_scan, 10, 1, "RA", ttl=61)]
    feed(rows_scan, pkts, 0.010)
    feed_each(exact, pkts, 0.010)
    syn_ack, rst = rows_scan.result[9], rows_scan.result[10]
    assert syn_ack is not None and rst is not None
    assert syn_ack.port == 10 and syn_ack.answer is AnswerKind.SYN_ACK
    assert syn_ack.ttl == 63 and syn_ack.rtt_ms == pytest.approx(10.0)
    assert syn_ack.responder == HOST and syn_ack.window == 29200 and syn_ack.ip_id == 4321
    assert syn_ack.tcp_options == TcpOptions(
        mss=1400, wscale=7, sack_permitted=True, timestamps=True
    )
    assert syn_ack.tries == 1 and syn_ack.probe_ttl == 64
    assert rst.port == 11 and rst.answer is AnswerKind.RST and rst.ttl == 61
    assert rst.tcp_options is None
    assert rows_scan.result == exact.result
    assert rows_scan.done == exact.done == 2 and rows_scan.received == 2
    assert rows_scan.in_flight == exact.in_flight == limit - 2
    assert rows_scan.window.size == exact.window.size


def test_strays_change_nothing() -> None:
    rows_scan, exact = twins()
    never_sent = rows_scan.window.limit + 5  # a job whose first try is still to come
    strays = [
        reply(rows_scan, 9, 1, tag=(rows_scan.cookies[9] ^ 0x10) | 1),  # wrong cookie
        reply(rows_scan, 9, 1, src=OTHER),  # the right cookie from another address
        reply(rows_scan, 9, 1, sport=SPORT + BLOCK + 1),  # another block's source port
        reply(rows_scan, 9, 0, "RA", sport=SPORT),  # try 0: no try leaves from there
        reply(rows_scan, 9, 2, "RA"),  # a try never sent
        reply(rows_scan, 9, 1, "RA", sport=SPORT + 2),  # try 1's tag, try 2's port
        reply(rows_scan, never_sent, 1, "SA"),  # a job not sent yet
    ]
    feed(rows_scan, strays, 0.01)
    feed_each(exact, strays, 0.01)
    assert rows_scan.result == [None] * 2000 == exact.result
    assert rows_scan.received == 0 and rows_scan.done == 0


def test_a_duplicate_answer_does_not_replace_the_first() -> None:
    rows_scan, exact = twins()
    first, again = reply(rows_scan, 9, 1, "SA"), reply(rows_scan, 9, 1, "RA")
    feed(rows_scan, [first, again], 0.01)  # in one batch
    feed(rows_scan, [again], 0.02)  # and in a later one
    feed_each(exact, [first, again, again], 0.01)
    got = rows_scan.result[9]
    assert got is not None and got.answer is AnswerKind.SYN_ACK
    assert got.rtt_ms == pytest.approx(10.0) and rows_scan.done == 1
    assert rows_scan.result == exact.result


def test_an_answer_after_no_answer_replaces_it() -> None:
    rows_scan, exact = twins(tries=1, timeout=1.0)
    limit = rows_scan.window.limit
    rows_scan._expire(1.0)
    exact._expire(1.0)
    gave_up = rows_scan.result[9]
    assert gave_up is not None and gave_up.answer is AnswerKind.NONE
    assert rows_scan.done == limit and rows_scan.in_flight == 0
    late = [reply(rows_scan, 9, 1, "SA"), reply(rows_scan, 12, 1, "RA")]
    feed(rows_scan, late, 1.5)
    feed_each(exact, late, 1.5)
    got = rows_scan.result[9]
    assert (
        got is not None and got.answer is AnswerKind.SYN_ACK and got.rtt_ms == pytest.approx(1500)
    )
    assert rows_scan.result[12] is not None and rows_scan.result[12].answer is AnswerKind.RST
    assert rows_scan.done == limit and rows_scan.in_flight == 0  # the truth wins, once
    assert rows_scan.result == exact.result


def test_answers_to_retries_are_matched_with_their_try() -> None:
    rows_scan, exact = twins(tries=3, timeout=1.0)
    for s in (rows_scan, exact):
        s._expire(1.0)
        s._send(1.0)
    pkts = [reply(rows_scan, 9, 2, "SA"), reply(rows_scan, 10, 1, "RA")]  # the old try's
    feed(rows_scan, pkts, 1.25)
    feed_each(exact, pkts, 1.25)
    a, b = rows_scan.result[9], rows_scan.result[10]
    assert a is not None and a.tries == 2 and a.rtt_ms == pytest.approx(250)
    assert b is not None and b.tries == 1 and b.rtt_ms == pytest.approx(1250)
    assert rows_scan.result == exact.result
    assert rows_scan.window.drops == exact.window.drops == 1


def test_a_small_scan_matches_rows_through_the_per_packet_path() -> None:
    # A small scan seated at a receiver that reads rows for a big one.
    s, _ = big_scan(100)
    assert s.fast is None
    s._send(0.0)
    feed(s, [reply(s, 3, 1, "SA"), reply(s, 4, 1, "RA", src=OTHER)], 0.01)
    got = s.result[3]
    assert got is not None and got.answer is AnswerKind.SYN_ACK and got.tcp_options is not None
    assert s.result[4] is None and s.done == 1


# ------------------------------------------------------------------ shared cookies


def test_jobs_sharing_a_cookie_are_told_apart_by_the_exact_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = bulk.cookie_column
    shared = 0xABCDE0

    def column(base: Any, port: Any, ttl: Any, protocol: Any) -> Any:
        out = real(base, port, ttl, protocol)
        out[(port == 10) | (port == 11)] = shared
        return out

    monkeypatch.setattr(bulk, "cookie_column", column)
    s, _ = big_scan(2000)
    assert s.fast is not None and s.cookies[9] == s.cookies[10] == shared
    s._send(0.0)
    exact: list[Answer] = []
    per_packet = s.match

    def spy(a: Answer, now: float, pkt: bytes | None, l4: bytes | None) -> None:
        exact.append(a)
        per_packet(a, now, pkt, l4)

    monkeypatch.setattr(s, "match", spy)
    feed(s, [reply(s, 9, 1, "SA"), reply(s, 10, 1, "RA"), reply(s, 20, 1, "RA")], 0.01)
    first, second, plain = s.result[9], s.result[10], s.result[20]
    assert first is not None and first.port == 10 and first.answer is AnswerKind.SYN_ACK
    assert second is not None and second.port == 11 and second.answer is AnswerKind.RST
    assert plain is not None and plain.port == 21
    assert sorted(a.port for a in exact) == [10, 11]  # the unshared one matched as a row
    assert s.done == 3


# ------------------------------------------------------------------ a mixed scan


class Recording:
    """The inline sender, with a note of how each probe was handed to it."""

    def __init__(self, inner: InlineSender) -> None:
        self.inner = inner
        self.error: BaseException | None = None
        self.single: list[Outgoing] = []
        self.bursts: list[Burst] = []

    def submit(self, items: Any, now: float) -> None:
        items = list(items)
        self.single.extend(items)
        self.inner.submit(items, now)

    def submit_burst(self, b: Burst, now: float) -> None:
        self.bursts.append(b)
        self.inner.submit_burst(b, now)

    def pending(self) -> int:
        return 0

    def close(self) -> None:
        pass


def test_a_mixed_scan_sends_acks_one_by_one_and_syns_as_rows() -> None:
    acks = [Job(HOST, 80, ack=True), Job(OTHER, 443, ack=True)]
    syns = [Job(HOST, p) for p in range(1, 1101)]
    s, sock = new_scan(acks + syns)
    assert s.fast is not None and s.fast.on == [False, False] + [True] * 1100
    assert isinstance(s.sender, InlineSender)
    rec = Recording(s.sender)
    s.sender = rec
    s.window = timing.Window(size=2000)
    s._send(0.0)
    assert [(o.job, o.try_no) for o in rec.single] == [(0, 1), (1, 1)]
    assert len(rec.bursts) == 1 and sorted(rec.bursts[0].jobs) == list(range(2, 1102))
    flags = [pkt[33] for pkt in sock.sent]
    assert flags.count(ack.TH_ACK) == 2 and flags.count(tcp.TH_SYN) == 1100
    assert len(sock.sent) == s.sent == 1102
    for job_no, pkt in ((0, sock.sent[0]), (1, sock.sent[1])):
        job = s.jobs[job_no]
        dst = socket.inet_aton(job.address)
        want = ack.AckBuilderV4(SRC, dst).build(SPORT + 1, job.port, s.cookies[job_no] | 1, 64)
        assert pkt == want and pkt[33] == ack.TH_ACK
    # A RST to the ACK (its sequence: the ACK's tag) and a SYN/ACK to the SYN to that same
    # port, in one batch: one matched exactly, the other as a row.
    syn_80 = 2 + 79
    pkts = [reply(s, 0, 1, "R"), reply(s, syn_80, 1, "SA"), reply(s, 1, 1, "R", src=OTHER)]
    feed(s, pkts, 0.02)
    to_ack, to_syn, to_other = s.result[0], s.result[syn_80], s.result[1]
    assert to_ack is not None and to_ack.answer is AnswerKind.RST and to_ack.port == 80
    assert to_syn is not None and to_syn.answer is AnswerKind.SYN_ACK and to_syn.port == 80
    assert to_other is not None and to_other.answer is AnswerKind.RST
    assert to_other.address == OTHER and s.done == 3
    # An ACK probe's RST from the wrong address, port, try or source port is nobody's.
    s2, _ = new_scan(acks + syns)
    s2.window = timing.Window(size=2000)
    s2._send(0.0)
    strays = [
        reply(s2, 0, 1, "R", src=OTHER),
        reply(s2, 0, 2, "R"),
        reply(s2, 0, 1, "R", sport=SPORT + 3),
        reply(s2, 0, 1, "R", tag=s2.cookies[1] | 1),  # the other ACK probe's tag
    ]
    feed(s2, strays, 0.02)
    assert s2.result == [None] * len(s2.jobs)


# ------------------------------------------------------------------ the receiver's batches


FIRST_BLOCK = 2800  # source ports 44800-44831


class Recorder:
    def __init__(self) -> None:
        self.rows: list[list[bytes]] = []  # per match_rows call, the rows it was given
        self.kinds: list[int] = []
        self.single: list[Answer] = []

    def match(self, a: Answer, now: float, pkt: bytes | None, l4: bytes | None) -> None:
        self.single.append(a)

    def match_rows(self, d: bulk.Decoded, ks: I64, rows: U8, lengths: I64, now: float) -> None:
        self.rows.append([rows[k, : lengths[k]].tobytes() for k in ks.tolist()])
        self.kinds.extend(int(d.kind[k]) for k in ks.tolist())


class Rows:
    def __init__(self) -> None:
        self.rx, self.tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.rx.setblocking(False)
        self.tx.setblocking(False)
        for sock in (self.rx, self.tx):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.receiver = Receiver([Source(self.rx, False, tcp.parse_v4, rows=True)], FIRST_BLOCK, 3)
        self.receiver.read_rows()
        self.seats: list[Seat] = []

    def seat(self, rec: Recorder) -> Seat:
        seat = self.receiver.join(rec.match, None, rec.match_rows)
        assert seat is not None
        self.seats.append(seat)
        return seat

    def put(self, pkt: bytes, me: Seat) -> None:
        """Write one packet, reading the socket as ``me`` when its queue is full."""
        while True:
            try:
                self.tx.send(pkt)
                return
            except BlockingIOError:
                self.receiver.catch_up(me)

    def put_all(self, pkts: list[bytes], me: Seat) -> None:
        for pkt in pkts:
            self.put(pkt, me)

    def close(self) -> None:
        for seat in self.seats:
            self.receiver.leave(seat)
        self.rx.close()
        self.tx.close()


def answer_to(port: int, tag: int, flags: str = "SA", src: str = HOST) -> bytes:
    opts = OPTIONS if flags == "SA" else []
    seg = TCP(sport=443, dport=port, flags=flags, ack=(tag + 1) & 0xFFFFFFFF, options=opts)
    return bytes(IP(src=src, dst=US, ttl=60) / seg)


def test_the_receiver_reads_rows_and_routes_them_by_block() -> None:
    link = Rows()
    try:
        one, two = Recorder(), Recorder()
        s1, s2 = link.seat(one), link.seat(two)
        assert not s1.leading
        base1, base2 = s1.first_port, s2.first_port
        mine = [answer_to(base1 + 1, 0x100 | 1), answer_to(base1 + 2, 0x200 | 2, "RA")]
        theirs = [answer_to(base2 + 1, 0x300 | 1), answer_to(base2 + 3, 0x400 | 3, "RA")]
        truncated = answer_to(base1 + 1, 0x500 | 1)[:30]
        junk = [
            bytes(IP(src=HOST, dst=US) / UDP(sport=53, dport=base1 + 1) / b"hello"),
            truncated,
            answer_to(base1 + 1, 0x600 | 1, "A"),  # a plain ACK answers no SYN
            answer_to((FIRST_BLOCK + 2) * BLOCK + 1, 0x700 | 1),  # a block nobody holds
            b"",
        ]
        order = [mine[0], junk[0], theirs[0], junk[1], mine[1], junk[2], theirs[1], junk[3]]
        order.append(junk[4])
        link.put_all(order, s1)
        link.receiver.catch_up(s1)
        assert one.rows == [mine] and one.single == []
        assert one.kinds == [bulk.KIND_SYN_ACK, bulk.KIND_RST]
        got = list(s2.inbox)
        assert [raw for _, _, raw, _ in got] == theirs
        assert [a for a, _, _, _ in got] == [tcp.parse_v4(p) for p in theirs]
        assert all(l4 is None for _, _, _, l4 in got)
        assert two.rows == [] and two.single == []
        s2.collect()  # s2 reads the (now empty) socket, then matches its inbox
        assert [a.tag for a in two.single] == [0x300 | 1, 0x400 | 3] and not s2.inbox
        assert two.rows == []
    finally:
        link.close()


def test_the_leader_drains_rows_when_poll_says_so() -> None:
    link = Rows()
    try:
        one = Recorder()
        s1 = link.seat(one)
        pkts = [answer_to(s1.first_port + 1, (k << 4) | 1) for k in range(5)]
        link.put_all(pkts, s1)
        link.receiver.drain(link.rx.fileno(), s1)
        assert one.rows == [pkts]
    finally:
        link.close()


def test_more_answers_than_one_batch_all_arrive_once_in_order() -> None:
    link = Rows()
    try:
        one = Recorder()
        s1 = link.seat(one)
        pkts = [answer_to(s1.first_port + 1 + k % 15, (k << 4) | (1 + k % 15)) for k in range(600)]
        link.put_all(pkts, s1)
        link.receiver.catch_up(s1)
        assert [p for batch in one.rows for p in batch] == pkts
        assert max(len(batch) for batch in one.rows) == burst.RecvRows().capacity == 256
        assert one.single == []
    finally:
        link.close()


def test_rows_without_a_rows_matcher_go_to_the_per_packet_one() -> None:
    link = Rows()
    try:
        rec = Recorder()
        seat = link.receiver.join(rec.match, None)
        assert seat is not None
        link.seats.append(seat)
        pkt = answer_to(seat.first_port + 1, 0x100 | 1)
        link.put(pkt, seat)
        link.receiver.catch_up(seat)
        assert rec.single == [tcp.parse_v4(pkt)] and rec.rows == []
    finally:
        link.close()


def test_a_scan_reads_its_own_answers_from_the_receivers_rows() -> None:
    # The scan's match_rows as the seat's matcher, fed by recvmmsg from the socketpair.
    s, _ = big_scan(2000)
    link = Rows()
    try:
        seat = link.receiver.join(s.match, None, s.match_rows)
        assert seat is not None
        link.seats.append(seat)
        s.sport = seat.first_port
        s._send(0.0)
        link.put_all(
            [reply(s, 9, 1, "SA"), reply(s, 10, 1, "RA"), reply(s, 11, 1, src=OTHER)], seat
        )
        seat.collect()
        assert s.result[9] is not None and s.result[9].answer is AnswerKind.SYN_ACK
        assert s.result[10] is not None and s.result[10].answer is AnswerKind.RST
        assert s.result[11] is None and s.done == 2
    finally:
        link.close()


# ------------------------------------------------------------------ the sender's bursts


Sent = tuple[bytes, bytes]  # (packet, destination address)


class FakeSendmmsg:
    """sendmmsg(2) without the kernel: reads the messages it is handed (name and iovec) and
    takes at most ``take`` of them a call; a call listed in ``refuse`` fails with that errno."""

    def __init__(self, take: int = 1 << 30, refuse: dict[int, int] | None = None) -> None:
        self.calls: list[tuple[int, int, int]] = []  # (fd, address, count)
        self.sent: list[Sent] = []
        self.take = take
        self.refuse = refuse or {}

    def __call__(self, fd: int, address: int, count: int, flags: int) -> int:
        self.calls.append((fd, address, count))
        code = self.refuse.get(len(self.calls))
        if code is not None:
            ctypes.set_errno(code)
            return -1
        n = min(count, self.take)
        for j in range(n):
            hdr = mmsg.MMsgHdr.from_address(address + mmsg.STRIDE * j).hdr
            assert hdr.iovlen == 1 and hdr.namelen == 16 and hdr.name and hdr.iov
            name = ctypes.string_at(hdr.name, 16)
            assert struct.unpack_from("=H", name)[0] == socket.AF_INET
            iov = mmsg.IoVec.from_address(hdr.iov)
            assert iov.base is not None
            self.sent.append((ctypes.string_at(iov.base, iov.len), name[4:8]))
        return n


class Idle(ThreadSender):
    """The thread sender with a thread that does nothing: the test drives its steps."""

    def _loop(self) -> None:
        return


def thread_sender(
    sock: FakeSock, sent_at: list[list[float]], failed: deque[Failure], fake: FakeSendmmsg
) -> Idle:
    s = Idle(sock, {}, sent_at, failed, batch=64)  # type: ignore[arg-type]
    s._thread.join(5.0)
    s._sendmmsg = fake
    return s


def run_queue(s: ThreadSender) -> None:
    for _ in range(1000):
        if not s._queue:
            return
        s._send_some()
    raise AssertionError("the queue never emptied")


def rows_burst(n: int, tries: int = 1) -> tuple[Scan, Burst]:
    s, _ = big_scan(max(n, 1100))
    assert s.fast is not None
    jobs = list(range(n))
    b = s.fast.burst(jobs, [tries] * n, SPORT)
    for i in jobs:
        s.sent_at[i] = [float("inf")] * tries
    return s, b


def test_a_burst_goes_out_in_order_a_batch_per_call_each_row_stamped() -> None:
    s, b = rows_burst(150)
    fake = FakeSendmmsg()
    before = time.monotonic()
    sender = thread_sender(FakeSock(), s.sent_at, s.failed, fake)
    try:
        sender.submit_burst(b, 0.0)
        assert sender.pending() >= 1
        run_queue(sender)
        assert sender.pending() == 0
    finally:
        sender.close()
    after = time.monotonic()
    assert [pkt for pkt, _ in fake.sent] == [b.rows.packet(k) for k in range(150)]
    assert all(dst == DST for _, dst in fake.sent)
    assert [(fd, count) for fd, _, count in fake.calls] == [(987, 64), (987, 64), (987, 22)]
    assert [address for _, address, _ in fake.calls] == [b.rows.address(k) for k in (0, 64, 128)]
    assert all(before <= s.sent_at[i][0] <= after for i in range(150))
    assert not s.failed


def test_a_partly_taken_burst_goes_on_where_the_kernel_stopped() -> None:
    s, b = rows_burst(100)
    fake = FakeSendmmsg(take=10)
    sender = thread_sender(FakeSock(), s.sent_at, s.failed, fake)
    try:
        sender.submit_burst(b, 0.0)
        run_queue(sender)
    finally:
        sender.close()
    assert [pkt for pkt, _ in fake.sent] == [b.rows.packet(k) for k in range(100)]
    assert fake.calls[0][2] == 64 and fake.calls[1][2] == 54  # the first batch's rest
    assert not s.failed


def test_a_refused_row_is_its_probes_answer_and_the_rest_go_on() -> None:
    s, b = rows_burst(150, tries=2)
    # The second call (rows 64..127) is refused: its first row's probe is the answer.
    fake = FakeSendmmsg(refuse={2: errno.EHOSTUNREACH})
    sender = thread_sender(FakeSock(), s.sent_at, s.failed, fake)
    try:
        sender.submit_burst(b, 0.0)
        run_queue(sender)
    finally:
        sender.close()
    assert list(s.failed) == [(64, 2, errno.EHOSTUNREACH)]
    sent = [pkt for pkt, _ in fake.sent]
    assert sent == [b.rows.packet(k) for k in range(150) if k != 64]
    assert all(struct.unpack_from("!H", pkt, 20)[0] == SPORT + 2 for pkt in sent)


def test_single_probes_and_bursts_leave_in_the_order_they_were_queued() -> None:
    s, b = rows_burst(150)
    builder = tcp.SynBuilderV4(TEMPLATE, SRC, socket.inet_aton(OTHER))

    def single(job: int) -> Outgoing:
        s.sent_at[job] = [float("inf")]
        pkt = builder.build(SPORT + 1, 7000 + job, job << 4 | 1, 64)
        return Outgoing(job, 1, pkt, OTHER, socket.inet_aton(OTHER), 64, False, Protocol.TCP)

    before_items = [single(j) for j in (1000, 1001, 1002)]
    after_items = [single(j) for j in (1003, 1004)]
    fake = FakeSendmmsg()
    sender = thread_sender(FakeSock(), s.sent_at, s.failed, fake)
    try:
        sender.submit(before_items, 0.0)
        sender.submit_burst(b, 0.0)
        sender.submit(after_items, 0.0)
        run_queue(sender)
    finally:
        sender.close()
    want: list[Sent] = [(o.packet, o.dst) for o in before_items]
    want += [(b.rows.packet(k), DST) for k in range(150)]
    want += [(o.packet, o.dst) for o in after_items]
    assert fake.sent == want
    assert [count for _, _, count in fake.calls] == [3, 64, 64, 22, 2]
    assert all(s.sent_at[j][0] < float("inf") for j in [*range(150), 1000, 1003, 1004])


def test_the_inline_sender_sends_a_bursts_rows_one_by_one() -> None:
    s, b = rows_burst(40)
    sock = FakeSock()
    failed: deque[Failure] = deque()
    InlineSender(sock, {}, s.sent_at, failed).submit_burst(b._replace(start=5), 3.0)  # type: ignore[arg-type]
    assert sock.sent == [b.rows.packet(k) for k in range(5, 40)]
    assert sock.to == [(HOST, 0)] * 35
    assert [s.sent_at[i] for i in range(40)] == [[float("inf")]] * 5 + [[3.0]] * 35
    assert not failed


def test_a_logged_scan_logs_whole_answers_while_the_receiver_reads_rows() -> None:
    """A scan that logs its packets (--pcap) joins with ``logs``: while it is seated the
    receiver reads packet by packet, so the log gets each answer whole, not the 128 bytes a
    row keeps."""
    logged: list[tuple[bytes, bool]] = []
    jobs = [Job(HOST, p) for p in (80, 81)]
    s = Scan(
        outlet(), jobs, EngineConfig(), packet_log=lambda t, pkt, out: logged.append((pkt, out))
    )
    assert s.fast is None
    link = Rows()  # read_rows() was called: another, big, scan runs on this engine
    try:
        seat = link.receiver.join(s.match, None, s.match_rows, logs=True)
        assert seat is not None
        link.seats.append(seat)
        s.sport = seat.first_port
        s._send(0.0)
        pkt = reply(s, 0, 1, "SA") + bytes(120)  # a SYN/ACK carrying data: 180 bytes
        pkt = pkt[:2] + len(pkt).to_bytes(2, "big") + pkt[4:]
        link.put(pkt, seat)
        seat.collect()
        got = s.result[0]
        assert got is not None and got.answer is AnswerKind.SYN_ACK
        assert [len(p) for p, out in logged if not out] == [len(pkt)]
        assert [p for p, out in logged if not out] == [pkt]
    finally:
        link.close()


def test_a_small_read_is_matched_packet_by_packet_and_a_large_one_as_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(receive, "BULK_READ", 32)
    link = Rows()
    try:
        rec = Recorder()
        me = link.seat(rec)
        few = [answer_to(me.first_port + 1, (k << 4) | 1) for k in range(31)]
        link.put_all(few, me)
        link.receiver.catch_up(me)
        assert rec.rows == [] and [a.tag for a in rec.single] == [(k << 4) | 1 for k in range(31)]
        many = [answer_to(me.first_port + 1, (k << 4) | 1, "RA") for k in range(32)]
        link.put_all(many, me)
        link.receiver.catch_up(me)
        assert rec.rows == [many] and len(rec.single) == 31
    finally:
        link.close()


# ------------------------------------------------------------------ pacing a big scan


def test_a_drain_reads_one_batch_and_goes_back_to_sending_a_catch_up_reads_all() -> None:
    link = Rows()
    try:
        one = Recorder()
        s1 = link.seat(one)
        pkts = [answer_to(s1.first_port + 1 + k % 15, (k << 4) | (1 + k % 15)) for k in range(600)]
        link.put_all(pkts, s1)
        link.receiver.drain(link.rx.fileno(), s1)
        assert [len(batch) for batch in one.rows] == [receive.ROWS_PER_WAKE]
        assert s1.backlog()  # a full read: more may wait
        link.receiver.catch_up(s1)  # before a probe is called unanswered: everything
        assert [p for batch in one.rows for p in batch] == pkts
        assert not s1.backlog()
    finally:
        link.close()


def test_a_backlog_lasts_until_a_read_finds_the_socket_empty() -> None:
    link = Rows()
    try:
        one = Recorder()
        s1 = link.seat(one)
        pkts = [answer_to(s1.first_port + 1, (k << 4) | 1) for k in range(receive.ROWS_PER_WAKE)]
        link.put_all(pkts, s1)
        s1.wait(1.0)  # leads, and reads exactly a full batch
        assert s1.leading and len(one.rows) == 1 and s1.backlog()
        s1.wait(0.0)  # nothing more came: no backlog (else the scan would never expire)
        assert not s1.backlog() and len(one.rows) == 1
    finally:
        link.close()


def test_a_big_scan_gathers_answers_only_while_they_come_slower_than_a_batch() -> None:
    s, _ = big_scan(2000)
    s.window = timing.Window(size=512, maximum=512)
    s._send(0.0)
    assert s.in_flight >= scan_module.FAST_BATCH
    assert s._gathering(backlog=False)  # the last read emptied the socket: let answers pile up
    assert not s._gathering(backlog=True)  # they come fast: read at once
    rated, _ = big_scan(2000, rate=100000.0)
    rated.window = timing.Window(size=512, maximum=512)
    for k in range(20):  # the bucket's tokens, a round at a time
        rated._send(0.01 * k)
    assert rated.in_flight >= scan_module.FAST_BATCH and not rated._gathering(backlog=False)
    small, _ = big_scan(100)
    small.window = timing.Window(size=512, maximum=512)
    small._send(0.0)
    assert small.fast is None and not small._gathering(backlog=False)
    s.in_flight = scan_module.FAST_BATCH - 1  # the tail of a scan: nothing to wait for
    assert not s._gathering(backlog=False)


class LaneProbe(ThreadSender):
    """A thread sender whose thread does nothing: it records what it is given."""

    def _loop(self) -> None:
        return


def two_lanes() -> tuple[lanes.Lanes, list[LaneProbe]]:
    senders = [LaneProbe(FakeSock(), {}, [], deque()) for _ in range(2)]  # type: ignore[arg-type]
    return lanes.Lanes(senders), senders


def test_bursts_go_to_the_lanes_in_turn_single_probes_to_the_first() -> None:
    _, b = rows_burst(20)
    both, (first, second) = two_lanes()
    try:
        single = Outgoing(1, 1, b"x" * 40, HOST, DST, 64, False, Protocol.TCP)
        for _ in range(3):
            both.submit_burst(b, 0.0)
        both.submit([single, single], 0.0)
        assert list(first._queue) == [b, b, single, single] and list(second._queue) == [b]
        assert both.pending() == 5
        assert both.error is None
        second.error = OSError(errno.EIO, "broken")
        assert both.error is second.error
    finally:
        both.close()
    assert first._closed and second._closed


def test_a_big_scan_sends_from_two_lanes_where_there_are_two_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sock, table, failed = FakeSock(), [[0.0]], deque[Failure]()
    monkeypatch.setattr(lanes, "cores", lambda: 2)
    made = lanes.make_lanes(sock, {}, table, failed)  # type: ignore[arg-type]
    try:
        assert isinstance(made, lanes.Lanes) and len(made._senders) == lanes.LANES
    finally:
        made.close()
    monkeypatch.setattr(lanes, "cores", lambda: 1)
    made = lanes.make_lanes(sock, {}, table, failed)  # type: ignore[arg-type]
    try:
        assert isinstance(made, ThreadSender)
    finally:
        made.close()


def test_a_big_scans_cookies_are_the_per_packet_ones() -> None:
    jobs = [Job(HOST, p) for p in range(1, 1500)] + [Job(OTHER, 80, ttl=t) for t in (1, 2, 64)]
    jobs += [Job(HOST, 443, ack=True), Job(US6, 22), Job(OTHER, 22, source=US)]
    s, _ = new_scan(jobs)
    assert s.fast is not None
    assert s.cookies == paths.cookies_of(s.paths, jobs)
    assert s.fast.on == [fastpath.rows_for(j, p) for j, p in zip(jobs, s.paths, strict=True)]
    assert s.fast.on[-3:] == [False, False, False] and all(s.fast.on[:-3])


def test_a_rows_evidence_is_an_ordinary_record() -> None:
    opts = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=True)
    for answer, window, options in ((AnswerKind.RST, 0, None), (AnswerKind.SYN_ACK, 29200, opts)):
        made = fastpath._answered(HOST, 80, answer, 2, OTHER, 61, 0.25, window, options, 7, 64,
                                  Protocol.TCP)  # fmt: skip
        plain = PortEvidence(HOST, 80, Method.RAW, answer, 2, OTHER, 61, 0.25, window=window,
                             tcp_options=options, ip_id=7, probe_ttl=64)  # fmt: skip
        assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
        assert type(made) is PortEvidence


# ------------------------------------------------------------------ when an answer arrived


def test_an_answers_rtt_runs_to_when_it_reached_the_socket_not_to_when_it_was_read() -> None:
    s, _ = big_scan(2000)
    s._send(0.0)  # the inline sender stamps each try at 0.0
    pkts = [reply(s, 0, 1, "RA"), reply(s, 1, 1, "SA"), reply(s, 2, 1, "RA"), reply(s, 3, 1, "RA")]
    rows, lengths = as_rows(pkts)
    arrived = np.array([0.0004, 0.0009, 0.002, 0.050], np.float64)
    d = replace(bulk.decode_v4(rows, lengths), arrived=arrived)
    ks = np.arange(3, dtype=np.int64)
    s.match_rows(d, ks, rows, lengths, 0.060)  # read at 60 ms, after a busy spell
    rtts = [s.result[i].rtt_ms for i in range(3)]  # type: ignore[union-attr]
    assert rtts == pytest.approx([0.4, 0.9, 2.0])
    feed(s, [pkts[3]], 0.070)  # a reader that does not know: the read's own time
    assert s.result[3] is not None and s.result[3].rtt_ms == pytest.approx(70.0)


def test_the_kernel_stamps_each_packet_as_it_reaches_the_socket() -> None:
    link = Rows()
    try:
        one = Recorder()
        s1 = link.seat(one)
        pkts = [answer_to(s1.first_port + 1, (k << 4) | 1) for k in range(40)]
        sent = time.monotonic()
        link.put_all(pkts, s1)
        time.sleep(0.05)  # the reader is busy elsewhere
        buffer = burst.RecvRows()
        count = buffer.read(link.rx.fileno())
        now = time.monotonic()
        assert count == 40
        arrived = buffer.arrivals(count, now)
        assert (arrived >= sent - 0.01).all() and (arrived <= now - 0.04).all()
        link.rx.setsockopt(socket.SOL_SOCKET, burst.SO_TIMESTAMPNS, 0)
        link.tx.send(pkts[0])
        plain = burst.RecvRows()  # a socket without SO_TIMESTAMPNS: the read's own time
        assert plain.read(link.rx.fileno()) == 1
        assert plain.arrivals(1, 123.0).tolist() == [123.0]
    finally:
        link.close()
