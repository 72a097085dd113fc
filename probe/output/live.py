"""What ``probe watch`` writes while it runs, per format: ``live_output`` picks the writer.

Text: a line per attempt (``text.watch.LiveText``); JSON: a JSON line per attempt and per DNS
lookup (``json.watch``); with ``--csv`` a row per attempt besides. Every writer takes the
same calls: ``start(preflight)`` once the checklist's steps are done, ``round(attempts)``
after each round, ``lookup(this, before)`` after each DNS lookup, ``so_far()`` when the user
asks for the statistics so far (Enter). The summary at the end is a ``WatchResult`` rendered
through the registry like any result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from probe.output.base import FormatName, Options

if TYPE_CHECKING:
    from probe.diagnosis.watch.attempt import Attempt
    from probe.diagnosis.watch.names import Resolution
    from probe.model import Report

__all__ = ["Live", "Plan", "live_output"]


@dataclass(frozen=True)
class Plan:
    """What the live header says about the run."""

    ports: int
    interval: float
    count: int | None
    quiet: bool = False


class Live(Protocol):
    def start(self, preflight: Report) -> None: ...
    def round(self, attempts: Sequence[Attempt]) -> None: ...
    def lookup(self, r: Resolution, before: Resolution | None) -> None: ...
    def so_far(self) -> None: ...


class JsonLines:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def start(self, preflight: Report) -> None:
        pass

    def round(self, attempts: Sequence[Attempt]) -> None:
        from probe.output.json.watch import attempt_to_dict, line

        self.out.write("".join(line(attempt_to_dict(a)) + "\n" for a in attempts))
        self.out.flush()

    def lookup(self, r: Resolution, before: Resolution | None) -> None:
        from probe.output.json.watch import line, lookup_to_dict

        self.out.write(line(lookup_to_dict(r, before)) + "\n")
        self.out.flush()

    def so_far(self) -> None:
        pass  # JSON lines are for programs: the summary comes at the end


class _Tee:
    def __init__(self, main: Live, rows: TextIO) -> None:
        from probe.output.csv import CsvLog

        self.main = main
        self.rows = CsvLog(rows)

    def start(self, preflight: Report) -> None:
        self.main.start(preflight)

    def round(self, attempts: Sequence[Attempt]) -> None:
        self.main.round(attempts)
        self.rows.round(attempts)

    def lookup(self, r: Resolution, before: Resolution | None) -> None:
        self.main.lookup(r, before)

    def so_far(self) -> None:
        self.main.so_far()


def live_output(
    fmt: FormatName,
    out: TextIO,
    plan: Plan,
    *,
    csv: TextIO | None = None,
    color: bool | None = None,
) -> Live:
    main: Live
    if fmt is FormatName.JSON:
        main = JsonLines(out)
    else:
        from probe.output.text.watch import LiveText

        main = LiveText(out, Options(color=color), plan)
    return main if csv is None else _Tee(main, csv)
