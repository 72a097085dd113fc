"""A run's own cancel event: set when the session's is, when the caller's is, or at a deadline.

The engines, the scan loop and the checklist look at a ``threading.Event`` every few tens of
milliseconds (``engine.base.CANCEL_CHECK``). ``RunCancel`` is such an event for one call of
``Session.check``: it reads as set as soon as the session was cancelled (Ctrl-C), the caller
set its own event (a client went away), or the call's deadline passed (serve: the scrape
timeout). Setting it stops this run only; the session's event and the caller's are never set
by it. Nothing runs in the background: the deadline is looked at when someone looks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_SLICE = 0.05  # seconds: the longest a wait() sleeps without looking at the linked events


class RunCancel(threading.Event):
    def __init__(
        self,
        *linked: threading.Event | None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._linked = tuple(e for e in linked if e is not None)
        self._deadline = deadline
        self._clock = clock

    @property
    def deadline(self) -> float | None:
        """The ``clock`` time at which the run stops (None: no deadline)."""
        return self._deadline

    @property
    def expired(self) -> bool:
        """The deadline has passed (whatever else happened)."""
        return self._deadline is not None and self._clock() >= self._deadline

    def is_set(self) -> bool:
        if super().is_set():
            return True
        if self.expired or any(e.is_set() for e in self._linked):
            super().set()  # once stopped, stays stopped
            return True
        return False

    def wait(self, timeout: float | None = None) -> bool:
        end = None if timeout is None else self._clock() + timeout
        while not self.is_set():
            left = _SLICE if end is None else min(_SLICE, end - self._clock())
            if left <= 0:
                return False
            super().wait(left)
        return True
