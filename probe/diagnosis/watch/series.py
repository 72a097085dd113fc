"""How a port's failures fall in time, and who answered: the facts the intermittency rules
share, computed once per series (``read_series``).

A series' *usual* state is the answer it gets most (open or refused, when any answer came;
a closed port's usual state is refused, so its RSTs are no failure). A *deviation* is an
attempt in another state. Whether deviations are bunched or spread is the Wald-Wolfowitz
runs test: with d deviations among n attempts placed at random, the number of runs has a
known mean and variance; far fewer runs than that (z below ``BUNCHED_Z``) means the
deviations come in blocks — a path or host that goes away and comes back — while about as
many or more (a load balancer's round robin gives more) means each attempt is decided on its
own.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.stats import Run, runs
from probe.model import PortState, TcpOptions

BUNCHED_Z: Final = -2.0  # runs-test z below which deviations are bunched (about 2 % by chance)
BUNCH_MIN_RUN: Final = 3  # and a bunch of at least this many attempts
PARTS: Final = 3  # the series is cut in this many parts to show how steady a fraction is


@dataclass(frozen=True, slots=True)
class Backend:
    """One answering stack, as told by what its SYN/ACKs carry: the TTL they arrive with,
    the window and the TCP options. Members of a pool often differ in one of these (another
    OS, another kernel, another distance); equal ones may still be several machines."""

    ttl: int | None
    window: int | None
    options: TcpOptions | None


@dataclass(frozen=True, slots=True)
class SeriesReading:
    attempts: tuple[Attempt, ...]
    usual: PortState
    deviations: tuple[Attempt, ...]
    bunches: tuple[Run, ...]  # runs of deviations of at least BUNCH_MIN_RUN
    longest_run: int  # the most deviations in a row
    z: float | None  # runs test; None when all attempts are alike
    parts: tuple[tuple[int, int], ...]  # (deviations, attempts) per part, in time order
    backends: tuple[tuple[Backend, int], ...]  # open answers per fingerprint, most first

    @property
    def share(self) -> float:
        return len(self.deviations) / len(self.attempts)

    @property
    def bunched(self) -> bool:
        return self.z is not None and self.z < BUNCHED_Z and bool(self.bunches)

    @property
    def mixed(self) -> bool:
        """Both the usual state and deviations from it."""
        return 0 < len(self.deviations) < len(self.attempts)


def usual_state(attempts: Sequence[Attempt]) -> PortState:
    tally = Counter(a.state for a in attempts)
    answers = {s: n for s, n in tally.items() if s in (PortState.OPEN, PortState.REFUSED)}
    pool = answers or tally
    return max(pool, key=lambda s: (pool[s], s is PortState.OPEN))


def runs_z(flags: Sequence[bool]) -> float | None:
    """The runs test's z for a sequence of flags; None when all are alike (or too few)."""
    n = len(flags)
    n1 = sum(flags)
    n2 = n - n1
    if n1 == 0 or n2 == 0 or n < 3:
        return None
    count = 1 + sum(1 for a, b in itertools.pairwise(flags) if a != b)
    mean = 1 + 2 * n1 * n2 / n
    var = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    if var <= 0:
        return None
    return (count - mean) / math.sqrt(var)


def read_series(attempts: Sequence[Attempt]) -> SeriesReading:
    """Everything the rules read from one port's series (in round order, not empty)."""
    usual = usual_state(attempts)
    flags = [a.state is not usual for a in attempts]
    dev_runs = runs(attempts, lambda a: a.state is not usual)
    n = len(attempts)
    parts = []
    for k in range(PARTS):
        lo, hi = k * n // PARTS, (k + 1) * n // PARTS
        if hi > lo:
            parts.append((sum(flags[lo:hi]), hi - lo))
    fingerprints = Counter(
        Backend(a.ttl, a.window, a.tcp_options) for a in attempts if a.state is PortState.OPEN
    )
    return SeriesReading(
        attempts=tuple(attempts),
        usual=usual,
        deviations=tuple(a for a, f in zip(attempts, flags, strict=True) if f),
        bunches=tuple(r for r in dev_runs if r.length >= BUNCH_MIN_RUN),
        longest_run=max((r.length for r in dev_runs), default=0),
        z=runs_z(flags),
        parts=tuple(parts),
        backends=tuple(fingerprints.most_common()),
    )


def near_fraction(share: float, largest: int = 8, slack: float = 0.06) -> int | None:
    """N when ``share`` is close to 1/N (2 <= N <= ``largest``): one member of N failing."""
    for n in range(2, largest + 1):
        if abs(share - 1 / n) <= slack:
            return n
    return None


def backend_words(b: Backend) -> str:
    parts = [f"TTL {b.ttl}" if b.ttl is not None else "TTL ?"]
    if b.window is not None:
        parts.append(f"window {b.window}")
    o = b.options
    if o is not None:
        flags = [f"mss {o.mss}" if o.mss is not None else "no mss"]
        flags.append(f"ws {o.wscale}" if o.wscale is not None else "no ws")
        flags += ["sack" if o.sack_permitted else "no sack", "ts" if o.timestamps else "no ts"]
        parts.append(" ".join(flags))
    return ", ".join(parts)
