"""What every scan sends with (``Outlet``: the engine's sockets and transports) and what the
probes of one scan to one address share (``Path``)."""

from __future__ import annotations

import operator
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from probe.engine import ack, cookies, inet, timing
from probe.engine.base import EngineConfig, Job
from probe.engine.transport import Answer, Builder, Transport
from probe.model import AnswerKind, Protocol


@dataclass(frozen=True)
class Outlet:
    """What every scan of an engine sends with: the IPv4 raw socket (we write the IP header),
    the IPv6 socket of each transport, and the transports."""

    send4: socket.socket
    send6: Mapping[Protocol, socket.socket]
    transports: Mapping[Protocol, Transport]


class Path:
    """What every probe of a scan to one (address, transport, source) shares: the packed
    addresses, the builder, the cookie's prefix, and the address's RTT estimator."""

    __slots__ = ("builder", "dst", "est", "number", "pin", "prefix", "src", "tagged", "v6")

    def __init__(
        self, key: int, job: Job, transport: Transport, est: timing.RttEstimator, acks: bool
    ) -> None:
        family = socket.AF_INET6 if ":" in job.address else socket.AF_INET
        self.dst = socket.inet_pton(family, job.address)
        self.src = socket.inet_pton(family, job.source or inet.source_for(job.address))
        self.v6 = family == socket.AF_INET6
        # A source asked for also goes to the kernel as IP(V6)_PKTINFO (sender.py): IPv6's
        # header is the kernel's, and an IPv4 raw socket's route is looked up by it.
        self.pin = self.src if job.source else None
        self.number = transport.number
        self.tagged = transport.tagged
        self.builder: Builder = (ack.builder if acks else transport.builder)(self.src, self.dst)
        self.prefix = cookies.prefix(key ^ acks, self.dst)  # ACKs: never a SYN's cookie
        self.est = est

    def sent_packet(self, pkt: bytes, ttl: int) -> bytes:
        """A probe as a capture wants it: an IPv6 probe with its header, which the kernel
        writes (the socket is handed the payload), written here."""
        if not self.v6:
            return pkt
        return inet.ipv6_header(self.src, self.dst, self.number, ttl, len(pkt)) + pkt

    def answer_packet(self, a: Answer, raw_pkt: bytes | None, l4: bytes | None) -> bytes | None:
        """An answer as a capture wants it: the IPv4 packet as read, or the IPv6 payload with
        an IPv6 header written back (the kernel keeps it)."""
        if raw_pkt is None and l4 is not None:
            number = socket.IPPROTO_ICMPV6 if a.kind is AnswerKind.ICMP else self.number
            src = socket.inet_pton(socket.AF_INET6, a.responder)
            return inet.ipv6_header(src, self.src, number, a.ttl or 0, len(l4)) + l4
        return raw_pkt


Index = dict[tuple[bytes, int, int], int]
_PAIR = operator.itemgetter(0, 3, 5, 6)  # a job's (address, protocol, ack, source)


def paths_of(key: int, jobs: Sequence[Job], outlet: Outlet, config: EngineConfig) -> list[Path]:
    """Per job of a scan with ``key``: its path (one per address, transport and source, with
    one RTT estimator per address)."""
    # Per job, not per probe, but a full-range scan has 65535 jobs: the per-job steps run in
    # C (map, dict) where they can.
    pairs = list(map(_PAIR, jobs))
    est: dict[str, timing.RttEstimator] = {}
    by_pair: dict[tuple[str, Protocol, bool, str | None], Path] = {}
    for pair, job in dict(zip(reversed(pairs), reversed(jobs), strict=True)).items():
        e = est.setdefault(job.address, timing.RttEstimator(config.min_timeout, config.timeout))
        by_pair[pair] = Path(key, job, outlet.transports[job.protocol], e, job.ack)
    return list(map(by_pair.__getitem__, pairs))


def cookies_of(paths: Sequence[Path], jobs: Sequence[Job]) -> list[int]:
    """Each job's cookie (cookies.py; 0 for a transport that carries none). The cookie
    carries the TTL and the protocol, so trace probes to one port at several TTLs are
    separate jobs with separate answers. (A big scan reckons them as a column: bulk.py.)"""
    cookie = cookies.cookie
    return [
        cookie(path.prefix, job.port, job.ttl, path.number) if path.tagged else 0
        for path, job in zip(paths, jobs, strict=True)
    ]


def index_of(paths: Sequence[Path], jobs: Sequence[Job], cks: Sequence[int]) -> Index:
    """Jobs by (destination, port, cookie), for answers looked up one by one."""
    return {
        (path.dst, job.port, ck): i
        for i, (path, job, ck) in enumerate(zip(paths, jobs, cks, strict=True))
    }
