"""The Engine interface: every probe the tool sends goes through one.

Implementations:

- ``raw.RawEngine`` — crafted probes on raw sockets, answers read back with kernel (BPF)
  filters and matched by cookies. Full evidence: responder, TTL, ICMP type and code, window,
  TCP options. Needs root or CAP_NET_RAW (to open; the sockets then serve every scan).
- ``connect.ConnectEngine`` — the fallback: non-blocking ``connect()`` per port. Only the
  kernel's verdict (connected, refused, unreachable, timed out) and the time it took.
- ``fake.FakeEngine`` — scripted answers, for tests.

All take a list of ``Job`` and return an ``EngineRun`` of ``PortEvidence`` records; the
session never sees a socket. The contract every implementation keeps:

- ``scan()`` may be called from several threads at once on one engine; each call gets the
  evidence of its own jobs and nothing else.
- ``cancel`` (a ``threading.Event``): once set, the scan returns within about 0.1 s with
  what it has, ``interrupted=True``; jobs not finished are absent from ``evidence``.
- ``close()`` may be called more than once; call it when no scan runs any more.

Scapy is imported lazily (only the raw engine, only when opened).
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from probe.model import AnswerKind, Method, PortEvidence, Protocol

CANCEL_CHECK = 0.05  # seconds: the longest an engine waits without looking at ``cancel``


class Job(NamedTuple):
    """One (address, port, TTL) to probe. A named tuple rather than a dataclass: a full-range
    scan makes 65535 of them, and a tuple is built several times faster."""

    address: str
    port: int
    ttl: int = 64  # IP TTL / hop limit of the probe: lower for trace and middlebox checks
    protocol: Protocol = Protocol.TCP
    # What a datagram probe carries, try by try: try N sends payloads[(N - 1) % len], so a
    # protocol with variants (SNMP v2c then v3) tries each; () sends an empty datagram.
    # TCP's SYN carries nothing.
    payloads: tuple[bytes, ...] = ()
    # TCP only: a bare ACK instead of a SYN (ack.py: host discovery). Any live host answers
    # an ACK it has no connection for with a RST, open port or not; connect() cannot send
    # one and tries a connection instead (nmap's unprivileged discovery does the same).
    ack: bool = False
    # The address the probe leaves from (--source); None: the one the kernel's route picks.
    source: str | None = None


@dataclass(frozen=True)
class EngineConfig:
    tries: int = 3  # probes per port before "no answer" (the triple SYN)
    timeout: float = 1.0  # seconds: the longest wait for an answer to one try
    min_timeout: float = 0.1  # seconds: the shortest, however fast the host answers
    rate: float | None = None  # packets per second cap (--rate)
    # Probes in flight to start with (None: timing.Window's own start). A probe to a silent
    # address holds its place for the whole timeout, so over dead space this is the rate.
    window: float | None = None


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    sent: int
    answered: int
    elapsed: float
    unsent: int = -1  # probes whose first try has not left yet (-1: the engine does not say)


@dataclass(frozen=True)
class EngineRun:
    evidence: tuple[PortEvidence, ...]  # one per finished job, in job order
    interrupted: bool = False
    sent: int = 0  # packets (or connect attempts) sent
    received: int = 0  # answers matched to a probe
    elapsed: float = 0.0
    drops: int = 0  # probes proven lost (answered only on a retry)


ProgressFn = Callable[[Progress], None]
# Called with (timestamp, full IP packet, outbound?) for every packet sent or matched.
PacketLog = Callable[[float, bytes, bool], None]


class Engine(typing.Protocol):
    method: Method

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
        cancel: threading.Event | None = None,
    ) -> EngineRun: ...

    def close(self) -> None: ...


def unanswered(
    job: Job, tries: int, answer: AnswerKind, errno_name: str | None = None
) -> PortEvidence:
    """A raw probe's evidence with no packet behind it: silence after ``tries`` tries
    (``NONE``), or the local kernel's refusal to send it (``ICMP``, with its errno's name)."""
    return PortEvidence(
        job.address,
        job.port,
        Method.RAW,
        answer,
        tries,
        errno_name=errno_name,
        probe_ttl=job.ttl,
        protocol=job.protocol,
    )
