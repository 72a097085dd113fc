"""A scan's deadlines: when each try it sent stops waiting for its answer.

One heap entry per try is the plain way. A big scan's rows leave a round at a time with one
wait per destination, so the tries of a round that share a wait are one entry, a group,
whose tries fall due together (65535 heap pushes and pops were a sixth of a full-range
scan's bookkeeping). A try whose deadline moves (it left the sender's queue later than it
was put there) comes back as an entry of its own.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator


class Deadlines:
    """(deadline, try) entries: ``due`` yields each try whose deadline has come, in order."""

    def __init__(self) -> None:
        # (deadline, job, try, wait); a group is job -1 - g, its tries in _groups[g]. The wait
        # is kept to restart the clock at the send time.
        self._heap: list[tuple[float, int, int, float]] = []
        self._groups: dict[int, tuple[list[int], list[int]]] = {}
        self._next = 0

    def __len__(self) -> int:
        """Tries waiting for their deadline."""
        return sum(len(self._groups[-1 - i][0]) if i < 0 else 1 for _, i, _, _ in self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def first(self) -> float:
        """The earliest deadline (there is one: see ``bool``)."""
        return self._heap[0][0]

    def add(self, deadline: float, job: int, try_no: int, wait: float) -> None:
        heapq.heappush(self._heap, (deadline, job, try_no, wait))

    def add_group(self, deadline: float, jobs: list[int], tries: list[int], wait: float) -> None:
        """Try ``tries[k]`` of job ``jobs[k]``, each with this deadline (the lists are kept)."""
        group = self._next
        self._next += 1
        self._groups[group] = (jobs, tries)
        heapq.heappush(self._heap, (deadline, -1 - group, 0, wait))

    def due(self, now: float) -> Iterator[tuple[int, int, float]]:
        """(job, try, wait) of each try whose deadline is ``now`` or earlier, removed. Tries
        added meanwhile with a later deadline wait for a later call."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, job, try_no, wait = heapq.heappop(heap)
            if job >= 0:
                yield job, try_no, wait
                continue
            jobs, tries = self._groups.pop(-1 - job)
            for k, t in zip(jobs, tries, strict=True):
                yield k, t, wait
