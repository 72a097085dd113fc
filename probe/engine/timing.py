"""Adaptive timing for the engine, in the spirit of nmap's (and TCP's own, RFC 6298).

Three small pieces, all pure (time is passed in, nothing sleeps):

- ``RttEstimator``: smoothed RTT and variance from answers; the wait for an answer is
  ``srtt + 4 * rttvar`` clamped between a floor and the user's ``--timeout``. Until a host has
  answered once, the full ``--timeout`` applies: a silent host gets the benefit of the doubt.
- ``Window``: how many probes may be in flight. Slow start, then additive increase; halved
  when an answer proves a drop (a retransmitted probe answered while its first try was not —
  nmap's signal too), at most once per round of probes. A plain timeout is *not* a drop
  signal: a firewall that drops SYNs on purpose says nothing about congestion, and treating
  it so would crawl through every filtered port. Nor is loss that does not fall when the
  window does: a lossy link (radio, a bad cable, a faulty switch port) loses the
  same share of probes at any rate, and halving for it again and again only stretches a
  scan from seconds to many minutes. Loss is measured per window size (first tries, by their
  deadline): when the current size loses no more than a smaller one did, the loss is the
  path's own and the window is not cut; more loss at a higher rate is congestion.
- ``TokenBucket``: the ``--rate`` cap in packets per second (``start_window`` opens the
  window wide enough for it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
        self.observe_many((rtt,))

    def observe_many(self, rtts: Sequence[float]) -> None:
        """``observe`` each of ``rtts``, in order (a batch of answers: one call for all)."""
        srtt, rttvar = self.srtt, self.rttvar
        for rtt in rtts:
            rtt = rtt if rtt > 0.0 else 0.0
            if srtt is None:
                srtt, rttvar = rtt, rtt / 2
            else:
                rttvar = (1 - _BETA) * rttvar + _BETA * abs(srtt - rtt)
                srtt = (1 - _ALPHA) * srtt + _ALPHA * rtt
        self.srtt, self.rttvar = srtt, rttvar
        self.samples += len(rtts)

    def timeout(self) -> float:
        if self.srtt is None:
            return self.ceiling
        return min(self.ceiling, max(self.floor, self.srtt + 4 * self.rttvar))


# Path loss is told from congestion by how first tries fared at different window sizes (the
# send rate): each size class (a power of two) needs this many outcomes; loss at the current
# size no more than LOSS_MARGIN times (plus 2 points) the loss at the smallest size measured
# is the path's own; and past MAX_PATH_LOSS nothing is taken for the path's own loss (an ICMP
# rate limit or a collapsed link must slow the scan down, whatever the comparison says).
# First tries, because every port has one and its outcome is known at its deadline; retries
# would weigh the end of a scan, where only the unlucky ports are left, as if it were lossier.
MIN_SAMPLES = 64
LOSS_MARGIN = 1.33
MAX_PATH_LOSS = 0.5
_KEEP = 1024  # outcomes per size class before old ones count half


@dataclass
class Window:
    """Probes allowed in flight (a congestion window counted in probes)."""

    size: float = 64.0
    minimum: float = 8.0
    maximum: float = 4096.0
    ssthresh: float = 4096.0
    drops: int = 0
    last_drop: float = float("-inf")  # when the window was last cut
    path_loss: float | None = None  # the share of first tries the path loses at any rate
    # Per size class (log2 of the window when sent): first tries [answered, unanswered].
    _outcomes: dict[int, list[int]] = field(default_factory=dict)

    @property
    def limit(self) -> int:
        return int(self.size)

    def on_answer(self) -> None:
        if self.size < self.ssthresh:
            self.size = min(self.maximum, self.size + 1.0)
        else:
            self.size = min(self.maximum, self.size + 1.0 / self.size)

    def on_answers(self, n: int) -> None:
        """``on_answer`` n times (a batch of answers): once the window is at its maximum,
        the rest change nothing."""
        while n > 0 and self.size < self.maximum:
            self.on_answer()
            n -= 1

    def first_try(self, window: float, answered: bool, count: int = 1) -> None:
        """The outcome of a first try (``count`` of them) sent while the window was
        ``window``: answered by its deadline or not (reported once, at that deadline)."""
        counts = self._outcomes.setdefault(int(window).bit_length(), [0, 0])
        counts[0 if answered else 1] += count
        if counts[0] + counts[1] > _KEEP:
            counts[0] //= 2
            counts[1] //= 2

    def on_drop(self, lost_at: float, now: float) -> None:
        """A probe sent at ``lost_at`` was lost. Like nmap, cut the window once per round:
        a loss among probes sent before the last cut was already paid for by that cut, and
        counting it again would pin the window at its minimum on a path that merely loses
        packets at random. Loss the path has at any rate is no reason to cut at all."""
        self.drops += 1
        if lost_at <= self.last_drop:
            return
        if self._loss_is_the_paths():
            self.ssthresh = self.maximum  # grow back at full speed after earlier cuts
            return
        self.last_drop = now
        self.ssthresh = max(self.minimum, self.size / 2)
        self.size = max(self.minimum, self.size / 2)

    def _loss_is_the_paths(self) -> bool:
        measured = {
            k: c[1] / (c[0] + c[1]) for k, c in self._outcomes.items() if sum(c) >= MIN_SAMPLES
        }
        if not measured:
            return False
        current = int(self.size).bit_length()
        at_rate = measured.get(current, measured[max(measured)])
        if at_rate >= MAX_PATH_LOSS:
            return False
        lowest = measured[min(measured)]
        if len(measured) < 2 and self.path_loss is None:
            return False  # one rate measured: nothing to compare yet
        if at_rate > lowest * LOSS_MARGIN + 0.02:
            return False  # more loss at this rate than at a lower one: congestion
        self.path_loss = lowest
        return True


def start_window(size: float | None, rate: float | None, timeout: float) -> Window:
    """The window a scan starts with: ``size`` if its caller chose one, else the usual 64;
    with a ``rate`` cap, at least what lets that rate through when nothing answers. A probe
    to a silent address (a dead range, a firewall that drops) holds its place for the whole
    timeout and never grows the window, so 64 places would cap such a scan at 64 probes a
    second whatever --rate says. The rate is the user's limit (past the usual maximum if it
    asks for more); proven drops still halve the window."""
    window = Window() if size is None else Window(size)
    if rate is not None:
        window.maximum = max(window.maximum, rate * timeout)
        window.size = max(window.size, rate * timeout)
    return window


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


def interleave(addresses: Iterable[str]) -> list[int]:
    """Job numbers (the jobs' addresses in order) round-robin across hosts, so many hosts
    share the pace, not one at a time."""
    every = list(addresses)
    if len(set(every)) <= 1:  # one host (a full-range scan): nothing to interleave
        return list(range(len(every)))
    by_host: dict[str, list[int]] = {}
    for i, address in enumerate(every):
        by_host.setdefault(address, []).append(i)
    return [i for group in itertools.zip_longest(*by_host.values()) for i in group if i is not None]
