"""Two sender threads for one big scan, where the machine has the cores for them.

On a virtual link (a veth pair, a container's or a namespace's network) and on a LAN host's
own loopback, ``sendmmsg()`` runs each probe's whole path inside the call: routing,
netfilter, the far side's answer, and its delivery back to our receive socket. That kernel
work is as large as the scan's Python, and one sender thread runs it on one core only. Two
threads split it: while one is inside the kernel with a batch, the other is inside with the
next. Bursts of rows (the bulk path's probes) go to the threads in turn; single probes keep
to the first thread, in the order they were submitted.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Iterable, Sequence

from probe.engine.sender import Burst, Failure, Outgoing, Send6, SentTable, ThreadSender

LANES = 2  # sender threads for a scan on the bulk path


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class Lanes:
    """Sender threads side by side, seen by the scan as one sender."""

    def __init__(self, senders: Sequence[ThreadSender]) -> None:
        self._senders = tuple(senders)
        self._turn = 0

    @property
    def error(self) -> BaseException | None:
        return next((s.error for s in self._senders if s.error is not None), None)

    def submit(self, items: Iterable[Outgoing], now: float) -> None:
        self._senders[0].submit(items, now)

    def submit_burst(self, burst: Burst, now: float) -> None:
        self._senders[self._turn].submit_burst(burst, now)
        self._turn = (self._turn + 1) % len(self._senders)

    def pending(self) -> int:
        return sum(s.pending() for s in self._senders)

    def close(self) -> None:
        for s in self._senders:
            s.close()


def make_lanes(
    send4: socket.socket, send6: Send6, sent_at: SentTable, failed: deque[Failure]
) -> Lanes | ThreadSender:
    """Two sender threads where there are two cores, else one."""
    if cores() < LANES:
        return ThreadSender(send4, send6, sent_at, failed)
    return Lanes([ThreadSender(send4, send6, sent_at, failed) for _ in range(LANES)])
