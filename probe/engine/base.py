"""The one SYN engine: every probe the tool sends goes through here.

Two implementations behind one small interface (``Engine``):

- ``raw.RawSynEngine`` — crafted SYNs on raw sockets, answers read back with kernel (BPF)
  filters and matched by sequence-number cookies. Full evidence: responder, TTL, ICMP type
  and code, window, TCP options. Needs root or CAP_NET_RAW.
- ``connect.ConnectEngine`` — the fallback: non-blocking ``connect()`` per port. Only the
  kernel's verdict (connected, refused, unreachable, timed out) and the time it took.

Both take a list of ``Job`` and return an ``EngineRun`` of ``PortEvidence`` records; the
runner never sees a socket. Scapy is imported lazily (only the raw engine, only when opened).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from probe.model import Method, PortEvidence


class Job(NamedTuple):
    """One (address, port, TTL) to probe. A named tuple rather than a dataclass: a full-range
    scan makes 65535 of them, and a tuple is built several times faster."""

    address: str
    port: int
    ttl: int = 64  # IP TTL / hop limit of the SYN: lower for trace and middlebox checks


@dataclass(frozen=True)
class EngineConfig:
    tries: int = 3  # probes per port before "no answer" (the triple SYN)
    timeout: float = 1.0  # seconds: the longest wait for an answer to one try
    min_timeout: float = 0.1  # seconds: the shortest, however fast the host answers
    rate: float | None = None  # packets per second cap (--rate)


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    sent: int
    answered: int
    elapsed: float


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


class Engine(Protocol):
    method: Method

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
    ) -> EngineRun: ...

    def close(self) -> None: ...
