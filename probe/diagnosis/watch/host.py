"""One address's series read once for the rules (``read_host``), and the small helpers the
rules' sentences share: times of day, port names, percentages."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.series import SeriesReading, read_series
from probe.diagnosis.watch.stats import answered, series
from probe.model import PortState, Protocol

MIN_ATTEMPTS: Final = 6  # a series shorter than this says nothing about intermittency
MIN_DEVIATIONS: Final = 2
MAX_SHARE: Final = 0.95  # past this the port is down, not intermittent


@dataclass(frozen=True, slots=True)
class Host:
    """One address's series, read once."""

    address: str
    readings: tuple[SeriesReading, ...]
    connect: bool = False

    def mixed_open(self) -> list[SeriesReading]:
        """Series that are usually open and deviate enough to speak of."""
        return [
            r
            for r in self.readings
            if r.usual is PortState.OPEN
            and len(r.attempts) >= MIN_ATTEMPTS
            and len(r.deviations) >= MIN_DEVIATIONS
            and r.share <= MAX_SHARE
        ]

    def steady_refused(self) -> list[SeriesReading]:
        """Closed ports that answered RST to every first SYN: the host's stack, up."""
        return [
            r
            for r in self.readings
            if len(r.attempts) >= MIN_ATTEMPTS
            and all(a.state is PortState.REFUSED and a.tries == 1 for a in r.attempts)
        ]


def read_host(address: str, attempts: Sequence[Attempt], *, connect: bool = False) -> Host:
    groups = [g for g in series(attempts).values() if g[0].address == address]
    return Host(address, tuple(read_series(g) for g in groups), connect)


def clock(t: float) -> str:
    """A time of day, local, to the tenth of a second: 14:03:12.4."""
    lt = time.localtime(t)
    return f"{time.strftime('%H:%M:%S', lt)}.{int((t % 1) * 10)}"


def ports_of(rs: Sequence[SeriesReading]) -> tuple[tuple[int, ...], tuple[Protocol, ...]]:
    ports = tuple(r.attempts[0].port for r in rs)
    protocols = tuple(r.attempts[0].protocol for r in rs)
    return ports, () if all(p is Protocol.TCP for p in protocols) else protocols


def name(r: SeriesReading) -> str:
    a = r.attempts[0]
    return f"{a.port}/{a.protocol}" if a.protocol is not Protocol.TCP else str(a.port)


def pct(n: int, total: int) -> str:
    return f"{100 * n / total:.0f} %" if total else "0 %"


def silent(a: Attempt) -> bool:
    return not answered(a)
