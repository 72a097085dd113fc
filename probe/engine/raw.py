"""The raw-socket SYN engine: one sender, one receiver per protocol, one event loop.

Sockets (opened once per engine):
- IPv4: an IPPROTO_RAW socket to send (we write the IP header: TTL and DF are ours), a raw
  TCP socket and a raw ICMP socket to receive, each with a BPF filter that passes only
  packets to our source port (TCP) or ICMP errors quoting it — the kernel drops the rest
  before Python ever sees it.
- IPv6: one raw TCP socket sends and receives (the kernel writes the IPv6 header and, with
  IPV6_CHECKSUM, the TCP checksum; the hop limit of answers comes as ancillary data), and a
  raw ICMPv6 socket receives errors.

The kernel has no socket for our SYNs, so it answers a SYN/ACK with a RST of its own — the
half-open scan every SYN scanner does. It is also why the port is never really "connected".

Loop: send what the window and the rate allow (retransmissions first), poll the receivers
until the next deadline, match answers by cookie, expire deadlines into retransmissions or
"no answer". Timing state lives in timing.py; bytes in wire.py.
"""

from __future__ import annotations

import ctypes
import errno
import heapq
import itertools
import math
import os
import random
import select
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Sequence

from probe.engine import sender, timing, wire
from probe.engine.base import (
    EngineConfig,
    EngineRun,
    Job,
    PacketLog,
    Progress,
    ProgressFn,
)
from probe.engine.sender import Outgoing
from probe.errors import NoPermission
from probe.model import AnswerKind, Method, PortEvidence

SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
IPV6_CHECKSUM = 7
RCVBUF = 8 * 1024 * 1024
MAX_READS_PER_WAKE = 2048
UNSENT_RECHECK = 0.01  # seconds: a deadline came while its SYN still waits in the queue
SWITCH_INTERVAL = 0.0005  # seconds: the GIL hand-over interval while the sender thread runs
SENDER_CHECK = 0.005  # seconds: how often to look at the sender's news while it is busy

# sendto() errors that are the local kernel's verdict rather than a failure to run.
_LOCAL_VERDICTS = {
    errno.EHOSTUNREACH: "EHOSTUNREACH",
    errno.ENETUNREACH: "ENETUNREACH",
    errno.EHOSTDOWN: "EHOSTDOWN",
    errno.EPERM: "EPERM",  # an output firewall rule on this machine
    errno.EACCES: "EACCES",
}


def _attach(sock: socket.socket, prog: list[wire.Insn]) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # the kernel copies the program; keep the buffer alive anyway, cheaply


def _big_rcvbuf(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


def _templates(sport: int) -> tuple[wire.SynTemplate, wire.SynTemplate]:
    """One SYN per family, crafted by scapy, like a Linux client's: MSS, SACK permitted,
    timestamps and window scale — offered so the server's SYN/ACK shows what it supports."""
    from scapy.config import conf

    # probe asks the kernel for routes (route.py) and never uses scapy's copy of the routing
    # tables: skip reading them while scapy loads (its documented switch; ~0.05-0.1 s).
    conf.route_autoload = conf.route6_autoload = False
    from scapy.layers.inet import IP, TCP

    tsval = random.getrandbits(32)
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (tsval, 0)), ("NOP", None), ("WScale", 7)]
    tcp = bytearray(bytes(TCP(sport=sport, dport=0, seq=0, flags="S", window=64240, options=opts)))
    tcp[16:18] = b"\x00\x00"
    ip = bytes(IP(src="0.0.0.0", dst="0.0.0.0", ttl=64, id=0, flags="DF", proto=6))[:20]
    return wire.SynTemplate(ip=ip, tcp=bytes(tcp)), wire.SynTemplate(ip=b"", tcp=bytes(tcp))


def source_for(address: str) -> str:
    """The source address the kernel picks toward ``address`` (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((address, 9))
        return str(s.getsockname()[0])


class RawSynEngine:
    method = Method.RAW

    def __init__(self, *, sport: int | None = None) -> None:
        # Try N of a probe leaves from source port sport + N (1..15). A retry from the same
        # port with a new sequence number would hit the server's half-open connection when
        # its SYN/ACK was lost, and Linux answers that with a RST: a false "refused" on a
        # lossy path. nmap varies the source port per try for the same reason.
        self.sport = sport or random.randint(33000, 60999 - wire.TRY_MASK)
        span = wire.TRY_MASK + 1
        try:
            self._send4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            self._tcp4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
            self._icmp4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError as exc:
            raise NoPermission(
                "raw sockets need root or CAP_NET_RAW (e.g. setcap cap_net_raw+ep on python)"
            ) from exc
        self._filters = [
            _attach(self._tcp4, wire.bpf_tcp_v4(self.sport, span)),
            _attach(self._icmp4, wire.bpf_icmp_v4(self.sport, span)),
        ]
        self._tcp6: socket.socket | None = None
        self._icmp6: socket.socket | None = None
        try:
            self._tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)
            self._tcp6.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 16)
            self._tcp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            self._icmp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
            self._icmp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            self._filters += [
                _attach(self._tcp6, wire.bpf_tcp_v6(self.sport, span)),
                _attach(self._icmp6, wire.bpf_icmp_v6(self.sport, span)),
            ]
        except OSError:  # no IPv6 in this kernel / namespace
            self._tcp6 = self._icmp6 = None
        self._receivers = [s for s in (self._tcp4, self._icmp4, self._tcp6, self._icmp6) if s]
        for s in [self._send4, *self._receivers]:
            s.setblocking(False)
        for s in self._receivers:
            _big_rcvbuf(s)
        self._tpl4, self._tpl6 = _templates(0)

    def close(self) -> None:
        for s in [self._send4, *self._receivers]:
            s.close()

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
    ) -> EngineRun:
        return _Scan(self, jobs, config, progress, packet_log, threaded=True).run()


class _Scan:
    """The state of one scan. Per-job state lives in parallel lists indexed by job number:
    at 65535 ports per host an object per probe would cost more than the packets."""

    def __init__(
        self,
        engine: RawSynEngine,
        jobs: Sequence[Job],
        config: EngineConfig,
        progress: ProgressFn | None,
        packet_log: PacketLog | None,
        *,
        threaded: bool = False,
    ) -> None:
        self.e = engine
        self.threaded = threaded
        self.jobs = jobs
        self.cfg = config
        self.progress = progress
        self.log = packet_log
        self.key = random.getrandbits(32)
        n = len(jobs)
        # Per address, once: its packed form, the source address toward it, its RTT.
        self.sources: dict[str, bytes] = {}
        self.est: dict[bytes, timing.RttEstimator] = {}
        packed_of: dict[str, bytes] = {}
        for address in dict.fromkeys(job.address for job in jobs):
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            dst = packed_of[address] = socket.inet_pton(fam, address)
            self.sources[address] = socket.inet_pton(fam, source_for(address))
            self.est[dst] = timing.RttEstimator(config.min_timeout, config.timeout)
        self.builders: dict[bytes, wire.SynBuilderV4] = {}
        self.packed = [packed_of[job.address] for job in jobs]
        key = self.key
        self.cookies = [
            wire.cookie(key, dst, job.port, job.ttl)
            for dst, job in zip(self.packed, jobs, strict=True)
        ]
        # (destination, port, cookie) -> job. The cookie carries the TTL, so trace probes to
        # one port at several TTLs are separate jobs with separate answers.
        self.index: dict[tuple[bytes, int, int], int] = {
            (dst, job.port, ck): i
            for i, (dst, job, ck) in enumerate(zip(self.packed, jobs, self.cookies, strict=True))
        }
        self.tries = [0] * n
        self.sent_at: list[list[float]] = [[] for _ in range(n)]
        self.result: list[PortEvidence | None] = [None] * n
        self.flying = [False] * n  # a try is out and its deadline has not passed
        self.first_window = [0] * n  # the window when the first try was sent
        self.done = 0
        self.in_flight = 0
        self.sent = 0
        self.received = 0
        self.window = timing.Window()
        self.bucket = timing.TokenBucket(config.rate)
        # (deadline, job, try, wait): the wait is kept to restart the clock at the send time.
        self.deadlines: list[tuple[float, int, int, float]] = []
        self.retry: deque[int] = deque()
        self.fresh: deque[int] = deque(_interleave(jobs))
        self.failed: deque[sender.Failure] = deque()
        # Inline until run() starts the sender thread: the unit tests drive _send directly.
        self.sender: sender.Sender = sender.InlineSender(
            engine._send4, engine._tcp6, self.sent_at, self.failed
        )

    # ------------------------------------------------------------------ main loop

    def run(self) -> EngineRun:
        start = time.monotonic()
        last_progress = start
        interrupted = False
        poller = select.poll()
        fds = {s.fileno(): s for s in self.e._receivers}
        for fd in fds:
            poller.register(fd, select.POLLIN)
        switch = sys.getswitchinterval()
        if self.threaded:
            self.sender = sender.make_sender(self.e._send4, self.e._tcp6, self.sent_at, self.failed)
            # The sender needs the GIL for a moment after each batch; by default it would
            # wait up to 5 ms for this busy loop to hand it over, with the kernel idle.
            sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            while True:
                now = time.monotonic()
                self._collect()
                self._expire(now)
                if self.done >= len(self.jobs):
                    break
                self._send(now)
                wait = self._next_wake(time.monotonic())
                for fd, _ in poller.poll(wait * 1000):
                    self._drain(fds[fd])
                if self.progress and now - last_progress > 0.2:
                    last_progress = now
                    self.progress(
                        Progress(len(self.jobs), self.done, self.sent, self.received, now - start)
                    )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.sender.close()
            sys.setswitchinterval(switch)
        evidence = tuple(r for r in self.result if r is not None)
        return EngineRun(
            evidence,
            interrupted,
            self.sent,
            self.received,
            time.monotonic() - start,
            self.window.drops,
        )

    def _next_wake(self, now: float) -> float:
        wake = 0.5
        if self.deadlines:
            wake = min(wake, self.deadlines[0][0] - now)
        if (self.retry or self.fresh) and self.in_flight < self.window.limit:
            wake = min(wake, self.bucket.wait())
        if self.sender.pending() or self.failed:
            wake = min(wake, SENDER_CHECK)  # a local refusal may come back from the sender
        return max(0.0, wake)

    # ------------------------------------------------------------------ sending

    def _send(self, now: float) -> None:
        # The hot loop of a big scan: state in locals, in_flight written back at the end.
        out: list[Outgoing] = []
        retry, fresh, result, tries = self.retry, self.fresh, self.result, self.tries
        packet, deadlines = self._packet, self.deadlines
        limit, in_flight = self.window.limit, self.in_flight
        bucket = self.bucket if self.bucket.rate is not None else None
        waits: dict[bytes, float] = {}  # per destination, for this round
        while (retry or fresh) and in_flight < limit:
            if bucket is not None and not bucket.take(now):
                break
            i = retry.popleft() if retry else fresh.popleft()
            if result[i] is not None:
                continue
            try_no = tries[i] + 1
            if try_no == 1:
                self.first_window[i] = limit
            out.append(packet(i, try_no))
            tries[i] = try_no
            self.sent_at[i].append(math.inf)  # the sender stamps it as the packet leaves
            self.flying[i] = True
            in_flight += 1
            dst = self.packed[i]
            wait = waits.get(dst)
            if wait is None:
                wait = waits[dst] = self.est[dst].timeout()
            heapq.heappush(deadlines, (now + wait, i, try_no, wait))
        self.in_flight = in_flight
        if out:
            self.sent += len(out)
            self.sender.submit(out, now)
            self._collect()

    def _packet(self, i: int, try_no: int) -> Outgoing:
        job = self.jobs[i]
        dst = self.packed[i]
        seq = self.cookies[i] | try_no
        v6 = len(dst) == 16
        if v6:
            pkt = wire.build_syn_v6(self.e._tpl6, self.e.sport + try_no, job.port, seq)
        else:
            builder = self.builders.get(dst)
            if builder is None:
                src = self.sources[job.address]
                builder = self.builders[dst] = wire.SynBuilderV4(self.e._tpl4, src, dst)
            pkt = builder.build(self.e.sport + try_no, job.port, seq, job.ttl)
        if self.log:
            logged = pkt
            if v6:  # the kernel writes the IPv6 header: the capture gets one written here
                logged = wire.ipv6_header(self.sources[job.address], dst, 6, job.ttl, len(pkt))
                logged += pkt
            self.log(time.time(), logged, True)
        return Outgoing(i, try_no, pkt, job.address, dst, job.ttl, v6)

    def _collect(self) -> None:
        """The sender's news: an unexpected failure, and probes the local kernel refused."""
        if self.sender.error is not None:
            raise self.sender.error
        while self.failed:
            i, try_no, code = self.failed.popleft()
            name = _LOCAL_VERDICTS.get(code)
            if name is None:
                if code == errno.EAFNOSUPPORT:
                    raise NoPermission("IPv6 raw sockets are not available here")
                raise OSError(code, os.strerror(code))
            # The local kernel said no (failed ARP, unreachable route, output firewall): that
            # is this port's answer, given by this machine itself. Nothing was sent.
            self.sent -= 1
            job = self.jobs[i]
            self._finish(
                i,
                PortEvidence(
                    job.address,
                    job.port,
                    Method.RAW,
                    AnswerKind.ICMP,
                    try_no,
                    errno_name=name,
                    probe_ttl=job.ttl,
                ),
            )

    # ------------------------------------------------------------------ deadlines

    def _expire(self, now: float) -> None:
        while self.deadlines and self.deadlines[0][0] <= now:
            _, i, try_no, wait = heapq.heappop(self.deadlines)
            done = self.result[i]
            if done is not None or try_no != self.tries[i]:
                if try_no == 1 and done is not None and done.tries == 1:
                    # First tries' outcomes, at their deadline, for timing.Window.
                    self.window.first_try(self.first_window[i], answered=True)
                continue  # answered meanwhile, or an older try's deadline
            # The wait runs from when the SYN left the sender's queue, not from when it
            # was put there.
            left = self.sent_at[i][try_no - 1]
            later = now + UNSENT_RECHECK if left == math.inf else left + wait
            if later > now:
                heapq.heappush(self.deadlines, (later, i, try_no, wait))
                continue
            self.flying[i] = False
            self.in_flight -= 1
            if try_no == 1:
                self.window.first_try(self.first_window[i], answered=False)
            if try_no < self.cfg.tries:
                self.retry.append(i)
            else:
                job = self.jobs[i]
                none = PortEvidence(
                    job.address, job.port, Method.RAW, AnswerKind.NONE, try_no, probe_ttl=job.ttl
                )
                self._finish(i, none)

    def _finish(self, i: int, ev: PortEvidence) -> None:
        if self.result[i] is None:
            self.done += 1
        if self.flying[i]:
            self.flying[i] = False
            self.in_flight -= 1
        self.result[i] = ev

    # ------------------------------------------------------------------ receiving

    def _drain(self, sock: socket.socket) -> None:
        v6 = sock.family == socket.AF_INET6
        is_tcp = sock.proto == socket.IPPROTO_TCP
        if is_tcp and not v6:  # nearly every answer of a big scan: its own tight loop
            recv, parse, match, clock = sock.recv, wire.parse_tcp_v4, self._match, time.monotonic
            for _ in range(MAX_READS_PER_WAKE):
                try:
                    data = recv(65535)
                except (BlockingIOError, InterruptedError):
                    return
                ans = parse(data)
                if ans is not None:
                    match(ans, clock(), data, None)
            return
        for _ in range(MAX_READS_PER_WAKE):
            try:
                if v6:
                    data, anc, _flags, addr = sock.recvmsg(65535, socket.CMSG_SPACE(4))
                    src = str(addr[0]).split("%")[0]
                    hl = _hoplimit(anc)
                    ans = (
                        wire.parse_tcp_v6(data, src, hl)
                        if is_tcp
                        else wire.parse_icmp_v6(data, src, hl)
                    )
                    raw_pkt = None
                else:
                    data = sock.recv(65535)
                    ans = wire.parse_icmp_v4(data)
                    raw_pkt = data
            except (BlockingIOError, InterruptedError):
                return
            if ans is not None:
                self._match(ans, time.monotonic(), raw_pkt, data if v6 else None)

    def _match(self, a: wire.Answer, now: float, raw_pkt: bytes | None, l4: bytes | None) -> None:
        ck, try_no = wire.split_seq(a.seq)
        if not try_no or a.sport != self.e.sport + try_no:
            return  # not from one of our tries' source ports
        i = self.index.get((a.target, a.port, ck))
        if i is None or try_no > self.tries[i]:
            return  # not our SYN: a stray packet to our ports, or a forged answer
        prev = self.result[i]
        if prev is not None and prev.answer is not AnswerKind.NONE:
            return  # a duplicate: the first answer stands
        rtt = now - self.sent_at[i][try_no - 1]
        job = self.jobs[i]
        if a.kind == "tcp":
            syn_ack = a.flags & wire.TH_SYN != 0
            ev = PortEvidence(  # positional, in field order: this runs once per answer
                job.address,
                job.port,
                Method.RAW,
                AnswerKind.SYN_ACK if syn_ack else AnswerKind.RST,
                try_no,
                a.responder,
                a.ttl,
                rtt * 1000,
                None,  # icmp_type
                None,  # icmp_code
                False,  # icmp_v6
                a.window,
                wire.parse_options(a.options) if syn_ack else None,
                a.ip_id,
                None,  # errno_name
                job.ttl,
            )
        else:
            ev = PortEvidence(
                job.address,
                job.port,
                Method.RAW,
                AnswerKind.ICMP,
                try_no,
                responder=a.responder,
                ttl=a.ttl,
                rtt_ms=rtt * 1000,
                icmp_type=a.icmp_type,
                icmp_code=a.icmp_code,
                icmp_v6=len(a.target) == 16,
                ip_id=a.ip_id,
                probe_ttl=job.ttl,
            )
        self.received += 1
        if self.log:
            pkt = raw_pkt
            if pkt is None and l4 is not None:
                proto = 6 if a.kind == "tcp" else 58
                src = socket.inet_pton(socket.AF_INET6, a.responder)
                pkt = (
                    wire.ipv6_header(src, self.sources[job.address], proto, a.ttl or 0, len(l4))
                    + l4
                )
            if pkt is not None:
                self.log(time.time(), pkt, False)
        if prev is not None:
            self.result[i] = ev  # a late answer after "no answer": the truth wins
            return
        self.est[self.packed[i]].observe(rtt)
        # An answer to a retransmission whose earlier tries went unanswered shows loss on the
        # path (or ICMP rate limiting): slow down. An answer to an older try means that try
        # was merely slow. A queued retransmission of a finished job is skipped in _send.
        if try_no > 1 and try_no == self.tries[i]:
            self.window.on_drop(self.sent_at[i][try_no - 2], now)
        else:
            self.window.on_answer()

        self._finish(i, ev)


def _hoplimit(anc: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= 4:
            return int(struct.unpack("i", data[:4])[0])
    return None


def _interleave(jobs: Sequence[Job]) -> list[int]:
    """Job numbers round-robin across hosts, so many hosts share the pace, not one at a time."""
    by_host: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        by_host.setdefault(job.address, []).append(i)
    return [i for group in itertools.zip_longest(*by_host.values()) for i in group if i is not None]
