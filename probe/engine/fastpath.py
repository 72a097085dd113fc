"""The numpy side of a big scan: which of its probes go out as rows, and its answers matched
a batch at a time (bulk.py builds and decodes, burst.py hands the arrays to the kernel).

A scan takes this path when it is big enough to gain (``scan.MIN_FAST_JOBS`` probes: below
that, importing numpy costs more than it saves) and sendmmsg/recvmmsg exist. Its plain IPv4 SYNs
go out as rows; every other probe of the scan (IPv6, UDP, bare ACKs, a source pinned with
IP_PKTINFO) keeps the per-packet path, and so does everything when the packets are logged
(--pcap wants each one whole). Answers whose cookie the index cannot settle alone (two
probes share it, or it is not a row's: an ACK probe's, a stray) are looked up exactly, by
address, port and cookie, as the per-packet path does.
"""

from __future__ import annotations

import functools
import operator
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from probe.engine import bulk, inet, timing
from probe.engine.base import Job
from probe.engine.burst import SendRows
from probe.engine.sender import Burst
from probe.engine.tcp import SynTemplate
from probe.engine.transport import Answer
from probe.model import AnswerKind, Method, PortEvidence, Protocol, TcpOptions
from probe.records import slot_setters

if TYPE_CHECKING:
    from probe.engine.paths import Path
    from probe.engine.scan import Scan

_KINDS = {bulk.KIND_SYN_ACK: AnswerKind.SYN_ACK, bulk.KIND_RST: AnswerKind.RST}
I64 = npt.NDArray[np.int64]


def rows_for(job: Job, path: Path) -> bool:
    """Whether a probe goes out as a row: a plain IPv4 SYN."""
    return _rows_path(job, path) and not job.payloads


def _rows_path(job: Job, path: Path) -> bool:
    """Whether ``path`` (with ``job`` one of its jobs: they share address, transport, ack and
    source) sends plain IPv4 SYNs."""
    return not path.v6 and job.protocol is Protocol.TCP and not job.ack and path.pin is None


_PORT, _TTL, _PAYLOADS = operator.itemgetter(1), operator.itemgetter(2), operator.itemgetter(4)


class FastPath:
    """Per-job columns of one scan (its cookies among them), its SYN rows and its cookie
    index. Per-job Python is kept to C-speed maps: a full-range scan has 65535 jobs, a /16 of
    five ports 327 680, with one path per address."""

    def __init__(self, jobs: Sequence[Job], paths: Sequence[Path], tpl: SynTemplate) -> None:
        n = len(jobs)
        one_job = dict(zip(paths, jobs, strict=True))  # a job of each path
        number = {path: k for k, path in enumerate(one_job)}
        pid = np.fromiter(map(number.__getitem__, paths), np.int64, n)
        on_path = np.array([_rows_path(j, p) for p, j in one_job.items()], np.bool_)
        on = on_path[pid]
        if any(map(_PAYLOADS, jobs)):  # a SYN that carries data is built one by one
            on &= ~np.fromiter(map(bool, map(_PAYLOADS, jobs)), np.bool_, n)
        self.on: list[bool] = on.tolist()
        dst = bulk.addresses([bytes(4) if p.v6 else p.dst for p in one_job])
        src = bulk.addresses([bytes(4) if p.v6 else p.src for p in one_job])
        self.dst = np.where(on, dst[pid], 0).astype(np.uint32)
        self.src = np.where(on, src[pid], 0).astype(np.uint32)
        self.port = np.fromiter(map(_PORT, jobs), np.uint16, n)
        self.ttl = np.fromiter(map(_TTL, jobs), np.uint8, n)
        tagged = np.array([p.tagged for p in one_job], np.bool_)[pid]
        base = np.array([zlib.crc32(bytes(4), p.prefix) for p in one_job], np.uint32)[pid]
        protocol = np.array([p.number & 0xFF for p in one_job], np.uint8)[pid]
        self.cookie = np.where(tagged, bulk.cookie_column(base, self.port, self.ttl, protocol), 0)
        self.cookie = self.cookie.astype(np.uint32)
        chosen = np.flatnonzero(on).astype(np.int64)
        self.index = bulk.CookieIndex(
            chosen, self.cookie[chosen], self.dst[chosen], self.port[chosen]
        )
        self._rows = bulk.SynRows(tpl)

    def burst(self, jobs: list[int], tries: list[int], sport: int) -> Burst:
        """Rows for try ``tries[k]`` of job ``jobs[k]`` from the scan's block at ``sport``."""
        at = np.array(jobs, np.int64)
        try_no = np.array(tries, np.uint32)
        dst = self.dst[at]
        rows = self._rows.build(
            self.src[at],
            dst,
            (try_no + sport).astype(np.uint16),
            self.port[at],
            self.cookie[at] | try_no,
            self.ttl[at],
        )
        return Burst(jobs, tries, SendRows(rows, dst))

    def lookup(self, d: bulk.Decoded, ks: I64, sport: int) -> tuple[I64, I64, I64, I64]:
        """Rows ``ks`` of a decoded batch: (rows, jobs, tries) of those matched by cookie,
        and the rows to look up exactly. Rows from none of our tries' source ports are
        dropped here."""
        tag = d.tag[ks]
        try_no = (tag & np.uint32(0xF)).astype(np.int64)
        ours = (try_no > 0) & (d.sport[ks].astype(np.int64) == try_no + sport)
        job, _ambiguous = self.index.lookup(tag & np.uint32(0xFFFFFFF0), d.src[ks], d.port[ks])
        hit = ours & (job >= 0)
        return ks[hit], job[hit], try_no[hit], ks[ours & (job < 0)]


def accept(
    scan: Scan, d: bulk.Decoded, hits: I64, jobs: I64, tries: I64, rows: bulk.U8, now: float
) -> None:
    """Rows matched by cookie (``FastPath.lookup``): each its job's evidence, by the rules of
    ``Scan._accept`` and ``Scan.finish`` for what rows hold (a SYN/ACK or RST; no ICMP, no
    packet log), written out here: this runs once per answer of a big scan."""
    result, sent_at, tried, paths, window, flying = (
        scan.result,
        scan.sent_at,
        scan.tries,
        scan.paths,
        scan.window,
        scan.flying,
    )
    all_jobs = scan.jobs
    kind, src, ttl, win, ip_id = (
        d.kind.tolist(),
        d.src.tolist(),
        d.ttl.tolist(),
        d.window.tolist(),
        d.ip_id.tolist(),
    )
    arrived = None if d.arrived is None else d.arrived.tolist()
    syn_ack, rst, none = AnswerKind.SYN_ACK, AnswerKind.RST, AnswerKind.NONE
    opened_kind, evidence, ntoa = bulk.KIND_SYN_ACK, _answered, _ntoa
    received = done = landed = answered = 0
    est: timing.RttEstimator | None = None  # one destination's estimator, and its new samples
    samples: list[float] = []
    for k, i, try_no in zip(hits.tolist(), jobs.tolist(), tries.tolist(), strict=True):
        if try_no > tried[i]:
            continue  # a try not sent yet: not our answer
        prev = result[i]
        if prev is not None and prev.answer is not none:
            continue  # a duplicate: the first answer stands
        rtt = (now if arrived is None else arrived[k]) - sent_at[i][try_no - 1]
        job = all_jobs[i]
        opened = kind[k] == opened_kind
        ev = evidence(
            job.address,
            job.port,
            syn_ack if opened else rst,
            try_no,
            ntoa(src[k]),
            ttl[k],
            rtt * 1000,
            win[k],
            d.options(rows, k) if opened else None,
            ip_id[k],
            job.ttl,
            job.protocol,
        )
        received += 1
        result[i] = ev
        if prev is not None:
            continue  # a late answer after "no answer": the truth wins
        done += 1
        if flying[i]:
            flying[i] = False
            landed += 1
        if paths[i].est is not est:
            if est is not None:
                est.observe_many(samples)
            est, samples = paths[i].est, []
        samples.append(rtt)
        if try_no > 1 and try_no == tried[i]:
            window.on_answers(answered)
            answered = 0
            window.on_drop(sent_at[i][try_no - 2], now)
        else:
            answered += 1
    window.on_answers(answered)
    if est is not None:
        est.observe_many(samples)
    scan.received += received
    scan.done += done
    scan.in_flight -= landed


# Records set through their slots (records.slot_setters): 0.86 us against 1.3 us for
# PortEvidence's 18 fields, once per answer of a big scan.
(
    _address,
    _port,
    _method,
    _answer,
    _tries,
    _responder,
    _ttl,
    _rtt,
    _icmp_type,
    _icmp_code,
    _icmp_v6,
    _window,
    _options,
    _ip_id,
    _errno,
    _probe_ttl,
    _protocol,
    _reply,
) = slot_setters(PortEvidence)
_new = object.__new__


def _answered(
    address: str,
    port: int,
    answer: AnswerKind,
    tries: int,
    responder: str,
    ttl: int,
    rtt_ms: float,
    window: int,
    tcp_options: TcpOptions | None,
    ip_id: int,
    probe_ttl: int,
    protocol: Protocol,
) -> PortEvidence:
    """``PortEvidence(address, port, Method.RAW, answer, tries, responder, ttl, rtt_ms,
    window=window, tcp_options=tcp_options, ip_id=ip_id, probe_ttl=probe_ttl,
    protocol=protocol)``: a raw probe's SYN/ACK or RST."""
    e: PortEvidence = _new(PortEvidence)
    _address(e, address)
    _port(e, port)
    _method(e, Method.RAW)
    _answer(e, answer)
    _tries(e, tries)
    _responder(e, responder)
    _ttl(e, ttl)
    _rtt(e, rtt_ms)
    _icmp_type(e, None)
    _icmp_code(e, None)
    _icmp_v6(e, False)
    _window(e, window)
    _options(e, tcp_options)
    _ip_id(e, ip_id)
    _errno(e, None)
    _probe_ttl(e, probe_ttl)
    _protocol(e, protocol)
    _reply(e, None)
    return e


@functools.lru_cache(maxsize=4096)
def _ntoa(address: int) -> str:
    return inet.ntop4(address.to_bytes(4, "big"))


def match_each(
    match: Callable[[Answer, float, bytes | None, bytes | None], None],
    d: bulk.Decoded,
    ks: I64,
    rows: bulk.U8,
    lengths: I64,
    now: float,
) -> None:
    """Rows ``ks`` of a decoded batch handed one by one to a per-packet matcher, each with
    its packet (for a capture)."""
    for k, a, t in zip(ks.tolist(), answers(d, ks, rows), d.times(ks, now), strict=True):
        match(a, t, rows[k, : lengths[k]].tobytes(), None)


def answers(d: bulk.Decoded, ks: I64, rows: bulk.U8) -> list[Answer]:
    """Rows ``ks`` of a decoded batch as Answer records (for the per-packet matcher)."""
    out = []
    kind, src, ttl, port = d.kind.tolist(), d.src.tolist(), d.ttl.tolist(), d.port.tolist()
    sport, tag, window, ip_id = d.sport.tolist(), d.tag.tolist(), d.window.tolist(), d.ip_id
    for k in ks.tolist():
        packed = src[k].to_bytes(4, "big")
        syn_ack = kind[k] == bulk.KIND_SYN_ACK
        out.append(
            Answer(
                _KINDS[kind[k]],
                inet.ntop4(packed),
                ttl[k],
                packed,
                port[k],
                sport[k],
                tag[k],
                window[k],
                d.options(rows, k) if syn_ack else None,
                int(ip_id[k]),
            )
        )
    return out
