"""Adaptive timing for the SYN engine, in the spirit of nmap's (and TCP's own, RFC 6298).

Three small pieces, all pure (time is passed in, nothing sleeps):

- ``RttEstimator``: smoothed RTT and variance from answers; the wait for an answer is
  ``srtt + 4 * rttvar`` clamped between a floor and the user's ``--timeout``. Until a host has
  answered once, the full ``--timeout`` applies: a silent host gets the benefit of the doubt.
- ``Window``: how many probes may be in flight. Slow start, then additive increase; halved
  when an answer proves a drop (a retransmitted probe answered while its first try was not —
  nmap's signal too), at most once per round of probes. A plain timeout is *not* a drop
  signal: a firewall that drops SYNs on purpose says nothing about congestion, and treating
  it so would crawl through every filtered port.
- ``TokenBucket``: the ``--rate`` cap in packets per second.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 6298 gains.
_ALPHA = 0.125
_BETA = 0.25


@dataclass
class RttEstimator:
    floor: float  # seconds: never wait less than this for an answer
    ceiling: float  # seconds: the user's --timeout
    srtt: float | None = None
    rttvar: float = 0.0
    samples: int = 0

    def observe(self, rtt: float) -> None:
        rtt = max(rtt, 0.0)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar = (1 - _BETA) * self.rttvar + _BETA * abs(self.srtt - rtt)
            self.srtt = (1 - _ALPHA) * self.srtt + _ALPHA * rtt
        self.samples += 1

    def timeout(self) -> float:
        if self.srtt is None:
            return self.ceiling
        return min(self.ceiling, max(self.floor, self.srtt + 4 * self.rttvar))


@dataclass
class Window:
    """Probes allowed in flight (a congestion window counted in probes)."""

    size: float = 64.0
    minimum: float = 8.0
    maximum: float = 4096.0
    ssthresh: float = 1024.0
    drops: int = 0
    last_drop: float = float("-inf")  # when the window was last cut

    @property
    def limit(self) -> int:
        return int(self.size)

    def on_answer(self) -> None:
        if self.size < self.ssthresh:
            self.size = min(self.maximum, self.size + 1.0)
        else:
            self.size = min(self.maximum, self.size + 1.0 / self.size)

    def on_drop(self, lost_at: float, now: float) -> None:
        """A probe sent at ``lost_at`` was lost. Like nmap, cut the window once per round:
        a loss among probes sent before the last cut was already paid for by that cut, and
        counting it again would pin the window at its minimum on a path that merely loses
        packets at random."""
        self.drops += 1
        if lost_at <= self.last_drop:
            return
        self.last_drop = now
        self.ssthresh = max(self.minimum, self.size / 2)
        self.size = max(self.minimum, self.size / 2)


@dataclass
class TokenBucket:
    """At most ``rate`` packets per second, with a burst of ``burst`` packets."""

    rate: float | None
    burst: float = 32.0
    tokens: float = 0.0
    stamp: float | None = None

    def take(self, now: float) -> bool:
        if self.rate is None:
            return True
        if self.stamp is None:
            self.stamp = now
            self.tokens = min(self.burst, max(1.0, self.rate / 100))
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token (0 when one is ready)."""
        if self.rate is None or self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate
