"""A scan's deadlines (deadlines.py): single tries and groups of tries fall due in deadline
order, each once, a group's in the order it was given; a try added while others fall due
waits for its own deadline."""

from __future__ import annotations

import random

from probe.engine.deadlines import Deadlines


def test_tries_and_groups_fall_due_in_deadline_order_each_once() -> None:
    d = Deadlines()
    d.add(0.30, 7, 2, 0.1)
    d.add_group(0.20, [1, 2, 3], [1, 1, 2], 0.15)
    d.add(0.10, 9, 1, 0.1)
    d.add_group(0.40, [4], [3], 0.2)
    assert len(d) == 6 and d and d.first() == 0.10
    assert list(d.due(0.05)) == []
    assert list(d.due(0.25)) == [(9, 1, 0.1), (1, 1, 0.15), (2, 1, 0.15), (3, 2, 0.15)]
    assert len(d) == 2 and d.first() == 0.30
    assert list(d.due(1.0)) == [(7, 2, 0.1), (4, 3, 0.2)]
    assert not d and len(d) == 0 and list(d.due(9.0)) == []


def test_a_try_added_back_while_others_fall_due_waits_for_its_deadline() -> None:
    d = Deadlines()
    d.add_group(0.1, [1, 2], [1, 1], 0.1)
    seen = []
    for job, try_no, wait in d.due(0.1):
        seen.append(job)
        if job == 1:
            d.add(0.5, job, try_no, wait)  # it left the sender's queue late: a later deadline
    assert seen == [1, 2] and d.first() == 0.5
    assert list(d.due(0.5)) == [(1, 1, 0.1)]


def test_due_matches_one_heap_entry_per_try() -> None:
    rng = random.Random(20261130)
    d = Deadlines()
    model: list[tuple[float, int, int]] = []
    job = 0
    for _ in range(300):
        at = round(rng.uniform(0, 10), 3)
        size = rng.choice([1, 1, 5, 40])
        jobs = list(range(job, job + size))
        job += size
        if size == 1:
            d.add(at, jobs[0], 1, 0.1)
        else:
            d.add_group(at, jobs, [2] * size, 0.1)
        model += [(at, j, 1 if size == 1 else 2) for j in jobs]
    got = []
    for now in (2.5, 2.5, 5.0, 7.5, 10.0):
        got += [(j, t) for j, t, _ in d.due(now)]
        due = sorted((at, j, t) for at, j, t in model if at <= now)
        assert sorted(got) == sorted((j, t) for _, j, t in due)
    assert len(got) == len(model) == len(set(got))
