"""``probe watch --csv FILE``: one row per attempt, for a spreadsheet, written as the rounds
come (each round flushed, so a Ctrl-C leaves every measured row in the file).

Columns (``COLUMNS``): time (ISO 8601 UTC), local_time, round, target, address, port,
protocol, state, reason, tries, responder, ttl, rtt_ms, window. Empty cells for what was not
measured.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from typing import Final, TextIO

from probe.diagnosis.watch.attempt import Attempt
from probe.output.json.watch import iso

__all__ = ["COLUMNS", "CsvLog"]

COLUMNS: Final = (
    "time",
    "local_time",
    "round",
    "target",
    "address",
    "port",
    "protocol",
    "state",
    "reason",
    "tries",
    "responder",
    "ttl",
    "rtt_ms",
    "window",
)


def _cell(value: object) -> object:
    return "" if value is None else value


class CsvLog:
    """Writes the header at once, then ``round(attempts)`` for each round."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._writer = csv.writer(out, lineterminator="\n")
        self._writer.writerow(COLUMNS)
        out.flush()

    def round(self, attempts: Sequence[Attempt]) -> None:
        for a in attempts:
            local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.time))
            rtt = None if a.rtt_ms is None else round(a.rtt_ms, 3)
            row = (
                iso(a.time),
                local,
                a.round,
                a.target,
                a.address,
                a.port,
                a.protocol,
                a.state,
                a.reason,
                a.tries,
                a.responder,
                a.ttl,
                rtt,
                a.window,
            )
            self._writer.writerow([_cell(v) for v in row])
        self._out.flush()
