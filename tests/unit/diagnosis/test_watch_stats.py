"""stats.py: each figure agrees with a count by hand of a short recorded series."""

from __future__ import annotations

import math

import pytest
from watch_cases import T0, attempts

from probe.diagnosis.watch.stats import histogram, rtt_stats, summarize, summarize_all
from probe.model import PortState


def test_counts_runs_and_windows_by_hand() -> None:
    # rounds: 0 o, 1 o, 2 ., 3 ., 4 ., 5 o, 6 r, 7 o, 8 o, 9 o
    s = summarize(attempts("oo...orooo", rtts=[1, 2, 0, 0, 0, 4, 3, 1, 2, 5]))
    assert s.attempts == 10
    assert dict(s.counts) == {PortState.OPEN: 6, PortState.REFUSED: 1, PortState.FILTERED: 3}
    assert s.succeeded == 6 and s.failed == 4 and s.success_rate == pytest.approx(60.0)
    assert s.longest_failure is not None
    assert (s.longest_failure.length, s.longest_failure.first_round) == (3, 2)
    assert (s.longest_failure.start, s.longest_failure.end) == (T0 + 2, T0 + 4)
    assert s.longest_success is not None
    assert (s.longest_success.length, s.longest_success.first_round) == (3, 7)
    # a downtime window is 2 or more failures in a row: the three silent rounds only
    assert [(w.first_round, w.last_round) for w in s.downtime] == [(2, 4)]
    # RTTs of the answered attempts (the RST counts: it is an answer): 1 2 4 3 1 2 5
    assert s.rtt is not None
    assert (s.rtt.count, s.rtt.min, s.rtt.max) == (7, 1, 5)
    assert s.rtt.avg == pytest.approx(18 / 7)
    assert s.rtt.median == 2
    assert s.rtt.p95 == 5  # nearest rank: ceil(0.95 * 7) = 7th smallest
    mean = 18 / 7
    assert s.rtt.mdev == pytest.approx(
        math.sqrt(sum((x - mean) ** 2 for x in [1, 2, 4, 3, 1, 2, 5]) / 7)
    )
    # |2-1| + |4-2| + |3-4| + |1-3| + |2-1| + |5-2| = 10 over 6 steps
    assert s.rtt.jitter == pytest.approx(10 / 6)
    assert sum(b.count for b in s.histogram) == 7


def test_statistics_at_total_loss() -> None:
    s = summarize(attempts("....."))
    assert s.attempts == 5 and s.succeeded == 0 and s.success_rate == 0.0
    assert s.rtt is None and s.histogram == ()
    assert s.longest_failure is not None and s.longest_failure.length == 5
    assert s.longest_success is None
    assert len(s.downtime) == 1


def test_retried_counts_answers_to_a_retransmission() -> None:
    assert summarize(attempts("o2o3.o")).retried == 2


def test_series_are_kept_apart_per_port() -> None:
    log = attempts("oo", port=80) + attempts("rr", port=81)
    got = summarize_all(log)
    assert [(s.port, s.attempts, s.succeeded) for s in got] == [(80, 2, 2), (81, 2, 0)]


def test_percentile_and_median_of_even_counts() -> None:
    r = rtt_stats([4.0, 1.0, 3.0, 2.0])
    assert r is not None and r.median == 2.5 and r.p95 == 4.0 and r.jitter == 2.0  # (3 + 2 + 1) / 3


def test_histogram_bins_cover_every_rtt() -> None:
    bins = histogram([1.0, 1.0, 2.0, 9.0], bins=4)
    assert [b.count for b in bins] == [3, 0, 0, 1]
    assert histogram([3.0, 3.0])[0].count == 2
