"""The statistics of one port's series of attempts, as ping, tcping and psping print them and
a little more: per-state counts, success rate, RTT min / avg / median / p95 / max / mdev,
jitter, the longest runs of failures and of successes, downtime windows and a histogram.

Pure functions over ``model.Attempt``; an attempt succeeds when its port was open. Every
figure is defined so that a hand count of the attempts gives the same number:

- ``p95``: nearest rank (the ceil(0.95 n)-th smallest RTT), a value that was measured.
- ``mdev``: the population standard deviation of the RTTs (ping's mdev).
- ``jitter``: the mean absolute difference between the RTTs of consecutive answered
  attempts (RFC 3550's D, unsmoothed).
- a downtime window: a run of at least ``DOWN_MIN`` consecutive failed attempts, from the
  first one's time to the last one's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from probe.diagnosis.watch.attempt import Attempt
from probe.model import PortState, Protocol

DOWN_MIN: Final = 2  # failed attempts in a row that make a downtime window
HISTOGRAM_BINS: Final = 8

SeriesKey = tuple[str, str, int, Protocol]  # (target, address, port, protocol)


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive attempts of one kind (all failed, or all succeeded)."""

    length: int
    start: float  # the first attempt's time
    end: float  # the last attempt's time
    first_round: int
    last_round: int


@dataclass(frozen=True, slots=True)
class RttStats:
    count: int
    min: float
    avg: float
    median: float
    p95: float
    max: float
    mdev: float
    jitter: float | None  # None with a single answered attempt


@dataclass(frozen=True, slots=True)
class Bin:
    low: float  # ms, inclusive
    high: float  # ms, exclusive (the last bin includes its high)
    count: int


@dataclass(frozen=True, slots=True)
class SeriesStats:
    target: str
    address: str
    port: int
    protocol: Protocol
    attempts: int
    counts: tuple[tuple[PortState, int], ...]  # states seen, in PortState order
    succeeded: int  # open
    retried: int  # answered (any state) only on a retry
    rtt: RttStats | None  # over the attempts that got an answer with an RTT
    longest_failure: Run | None
    longest_success: Run | None
    downtime: tuple[Run, ...]
    histogram: tuple[Bin, ...]
    first: float
    last: float

    @property
    def failed(self) -> int:
        return self.attempts - self.succeeded

    @property
    def success_rate(self) -> float:
        """Percent of attempts that found the port open."""
        return 100.0 * self.succeeded / self.attempts if self.attempts else 0.0

    def count(self, state: PortState) -> int:
        return dict(self.counts).get(state, 0)


def key_of(a: Attempt) -> SeriesKey:
    return (a.target, a.address, a.port, a.protocol)


def series(attempts: Iterable[Attempt]) -> dict[SeriesKey, list[Attempt]]:
    """The attempts grouped per (target, address, port, protocol), in first-seen order, each
    group in round order."""
    out: dict[SeriesKey, list[Attempt]] = {}
    for a in attempts:
        out.setdefault(key_of(a), []).append(a)
    for group in out.values():
        group.sort(key=lambda a: a.round)
    return out


def succeeded(a: Attempt) -> bool:
    return a.state is PortState.OPEN


def answered(a: Attempt) -> bool:
    """Something came back (SYN/ACK, RST, ICMP): not silence."""
    return a.state not in (PortState.FILTERED, PortState.OPEN_FILTERED)


def summarize(attempts: Sequence[Attempt]) -> SeriesStats:
    """The statistics of one series (``attempts`` of one port, in round order; not empty)."""
    first = attempts[0]
    tally = {s: 0 for s in PortState}
    for a in attempts:
        tally[a.state] += 1
    rtts = [a.rtt_ms for a in attempts if a.rtt_ms is not None and answered(a)]
    fails = runs(attempts, lambda a: not succeeded(a))
    return SeriesStats(
        target=first.target,
        address=first.address,
        port=first.port,
        protocol=first.protocol,
        attempts=len(attempts),
        counts=tuple((s, n) for s, n in tally.items() if n),
        succeeded=tally[PortState.OPEN],
        retried=sum(1 for a in attempts if a.tries > 1 and answered(a)),
        rtt=rtt_stats(rtts),
        longest_failure=longest(fails),
        longest_success=longest(runs(attempts, succeeded)),
        downtime=tuple(r for r in fails if r.length >= DOWN_MIN),
        histogram=histogram(rtts),
        first=attempts[0].time,
        last=attempts[-1].time,
    )


def summarize_all(attempts: Iterable[Attempt]) -> tuple[SeriesStats, ...]:
    return tuple(summarize(group) for group in series(attempts).values())


def rtt_stats(rtts: Sequence[float]) -> RttStats | None:
    if not rtts:
        return None
    ordered = sorted(rtts)
    n = len(ordered)
    avg = sum(ordered) / n
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    p95 = ordered[max(0, math.ceil(0.95 * n) - 1)]
    mdev = math.sqrt(max(0.0, sum(r * r for r in ordered) / n - avg * avg))
    steps = [abs(b - a) for a, b in itertools.pairwise(rtts)]
    jitter = sum(steps) / len(steps) if steps else None
    return RttStats(n, ordered[0], avg, median, p95, ordered[-1], mdev, jitter)


def runs(attempts: Sequence[Attempt], kind: Callable[[Attempt], bool]) -> list[Run]:
    """The maximal runs of consecutive attempts for which ``kind`` holds, in order."""
    out: list[Run] = []
    start: Attempt | None = None
    prev: Attempt | None = None
    length = 0
    for a in attempts:
        if kind(a):
            if start is None:
                start, length = a, 0
            length += 1
        elif start is not None and prev is not None:
            out.append(Run(length, start.time, prev.time, start.round, prev.round))
            start = None
        prev = a
    if start is not None and prev is not None:
        out.append(Run(length, start.time, prev.time, start.round, prev.round))
    return out


def longest(found: Sequence[Run]) -> Run | None:
    """The longest run; the first of equals."""
    best: Run | None = None
    for r in found:
        if best is None or r.length > best.length:
            best = r
    return best


def histogram(rtts: Sequence[float], bins: int = HISTOGRAM_BINS) -> tuple[Bin, ...]:
    """RTTs in ``bins`` equal-width bins from the smallest to the largest (one bin when they
    are all equal)."""
    if not rtts:
        return ()
    low, high = min(rtts), max(rtts)
    if high <= low:
        return (Bin(low, high, len(rtts)),)
    width = (high - low) / bins
    counts = [0] * bins
    for r in rtts:
        counts[min(bins - 1, int((r - low) / width))] += 1
    return tuple(Bin(low + k * width, low + (k + 1) * width, c) for k, c in enumerate(counts))
