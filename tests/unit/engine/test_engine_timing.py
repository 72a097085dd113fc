"""Adaptive timing (timing.py): the RTT estimator, the congestion window and how it tells
a lossy path from congestion. Pure: time is passed in."""

from __future__ import annotations

import random

import pytest

from probe.engine import timing


def test_rtt_estimator() -> None:
    est = timing.RttEstimator(floor=0.1, ceiling=1.0)
    assert est.timeout() == 1.0  # no sample yet: the full timeout
    est.observe(0.2)
    assert est.srtt == pytest.approx(0.2) and est.timeout() == pytest.approx(0.6)
    for _ in range(50):
        est.observe(0.001)
    assert est.timeout() == pytest.approx(0.1)  # the floor
    est.observe(30.0)
    assert est.timeout() == 1.0  # the ceiling


def test_window_growth_and_backoff() -> None:
    w = timing.Window(size=10, minimum=8, ssthresh=12)
    for _ in range(2):
        w.on_answer()
    assert w.size == 12  # slow start up to ssthresh
    w.on_answer()
    assert 12 < w.size < 12.1  # then additive increase
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 8 and w.drops == 1  # halved, but never below the minimum
    big = timing.Window(size=100, minimum=8)
    big.on_drop(lost_at=1.0, now=2.0)
    assert big.size == 50 and big.ssthresh == 50
    big.on_drop(lost_at=1.5, now=2.1)  # sent before the cut at 2.0: already paid for
    assert big.size == 50 and big.drops == 2
    big.on_drop(lost_at=2.05, now=2.2)  # sent after the cut: a new round, cut again
    assert big.size == 25


def outcomes(w: timing.Window, window: float, answered: int, unanswered: int) -> None:
    for _ in range(answered):
        w.first_try(window, answered=True)
    for _ in range(unanswered):
        w.first_try(window, answered=False)


def test_loss_the_path_has_at_any_rate_does_not_cut_the_window() -> None:
    # A lossy link: a third of first tries lost at window 64 and at window 1024 alike.
    w = timing.Window(size=1024)
    outcomes(w, 64, 100, 50)
    outcomes(w, 1024, 200, 100)
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 1024 and w.path_loss == pytest.approx(1 / 3)
    assert w.drops == 1  # still counted as a drop
    outcomes(w, 1024, 0, 400)  # then the loss at this rate climbs: congestion after all
    w.on_drop(lost_at=2.5, now=3.0)
    assert w.size == 512


def test_loss_that_grows_with_the_rate_is_congestion() -> None:
    w = timing.Window(size=1024)
    outcomes(w, 64, 150, 0)
    outcomes(w, 1024, 200, 100)
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 512 and w.path_loss is None


@pytest.mark.parametrize(
    "measured",
    [
        [(64, 30, 10), (1024, 30, 10)],  # too few outcomes at each size to compare
        [(1024, 200, 100)],  # one size only: nothing to compare
        [(64, 50, 100), (1024, 50, 100)],  # two thirds lost everywhere: a rate limit, not a link
    ],
    ids=["few outcomes", "one size", "most lost"],
)
def test_loss_is_taken_for_congestion_without_evidence_otherwise(
    measured: list[tuple[int, int, int]],
) -> None:
    w = timing.Window(size=1024)
    for window, answered, unanswered in measured:
        outcomes(w, window, answered, unanswered)
    w.on_drop(lost_at=1.0, now=2.0)
    assert w.size == 512 and w.path_loss is None


def test_a_rate_cap_opens_the_window_for_silent_addresses() -> None:
    # 64 places held a full second each by silent probes would cap --rate 2000 at 64/s.
    assert timing.start_window(None, None, 1.0).limit == 64
    assert timing.start_window(None, 2000.0, 1.0).limit == 2000
    assert timing.start_window(None, 10.0, 1.0).limit == 64  # never below the usual start
    assert timing.start_window(1024.0, None, 1.0).limit == 1024
    fast = timing.start_window(None, 10_000.0, 1.0)  # past the usual maximum: as asked
    assert fast.limit == 10_000 and fast.maximum == 10_000
    assert timing.start_window(None, None, 1.0).maximum == 4096


def test_a_batch_of_answers_grows_the_window_as_that_many_single_answers() -> None:
    for size, ssthresh, n in [
        (64.0, 4096.0, 100),
        (60.0, 80.0, 500),
        (4090.0, 100.0, 9),
        (10.0, 4096.0, 0),
    ]:
        one = timing.Window(size=size, ssthresh=ssthresh)
        batch = timing.Window(size=size, ssthresh=ssthresh)
        for _ in range(n):
            one.on_answer()
        batch.on_answers(n)
        assert batch.size == one.size
    full = timing.Window(size=4096.0)
    full.on_answers(10**9)  # at the maximum: returns at once
    assert full.size == 4096.0


def test_first_tries_counted_at_once_are_counted_as_many() -> None:
    one, many = timing.Window(), timing.Window()
    for _ in range(70):
        one.first_try(512, answered=True)
    many.first_try(512, answered=True, count=70)
    one.first_try(512, answered=False)
    many.first_try(512, answered=False)
    assert one._outcomes == many._outcomes == {10: [70, 1]}


def test_a_batch_of_samples_moves_the_estimator_as_each_one_would() -> None:
    rng = random.Random(7)
    for start in (None, 0.004):
        one = timing.RttEstimator(0.1, 1.0, srtt=start, rttvar=0.001 if start else 0.0)
        many = timing.RttEstimator(0.1, 1.0, srtt=start, rttvar=0.001 if start else 0.0)
        batches = [[rng.uniform(-0.001, 0.02) for _ in range(rng.randint(0, 50))] for _ in range(9)]
        for batch in batches:
            for rtt in batch:
                one.observe(rtt)
            many.observe_many(batch)
        assert (many.srtt, many.rttvar, many.samples) == (one.srtt, one.rttvar, one.samples)
        assert many.timeout() == one.timeout()
