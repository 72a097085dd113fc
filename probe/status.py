"""Exit statuses: the contract's table, in one place."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # every probed port open (check) / every expectation met (audit)
    PROBLEM = 1  # the run completed and found a problem
    BAD_INPUT = 2  # usage, port spec, target, profile, audit file, unreadable capture
    CANNOT_PROBE = 3  # no route, no permission and no fallback
    INTERRUPTED = 130  # Ctrl-C; what was measured is still printed
