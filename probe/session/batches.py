"""A large check in batches: bounded memory whatever the number of targets.

A run's memory grows with what it holds at once: the engine's state and evidence of every
probe, each port's verdict, each target's report and findings — about 10 KB per target of
5 ports, 700 MB for a /16. ``check_batches`` runs the checklist (``check.run_check``) on
batches of addresses and yields each batch's ``Report`` as soon as it is diagnosed, so the
caller writes it out and lets it go: the run holds a few batches (two measured at once, see
``measure_batches``), however large the range.

A batch holds PROBES_PER_BATCH probes' worth of addresses, with host discovery never fewer
than MIN_BATCH (discovery starts above 256 addresses: a batch of a large run must still be
large), and a run that fits in one batch is one ``run_check`` exactly as before. The targets of one
name stay in one batch (the IPv4/IPv6 comparison reads them side by side); the addresses of
a CIDR block are each their own target and are split freely. An address named by targets in
two batches is probed in each.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from probe.diagnosis import discovery, outcome
from probe.diagnosis.discovery import Discovery
from probe.engine.base import PacketLog, Progress, ProgressFn
from probe.model import Report, Target
from probe.session.check import Scope, measure
from probe.session.options import CheckOptions
from probe.session.reports import Measured, build
from probe.status import ExitStatus

__all__ = [
    "MIN_BATCH",
    "PROBES_PER_BATCH",
    "Outcome",
    "batch_size",
    "check_batches",
    "measure_batches",
    "split",
]

PROBES_PER_BATCH = 20_000
OVERLAP = 2  # batches measured at once
_LOOK = 0.02  # seconds between looks at the newest batch while it sends its first tries
MIN_BATCH = 512  # addresses: above discovery's 256, so a batch of a big run is a big run


def batch_size(ports: int, discover: bool = True) -> int:
    """Targets per batch for ``ports`` probes each; with host discovery never fewer than
    MIN_BATCH (a batch too small for discovery would probe every address of a large run)."""
    least = MIN_BATCH if discover else 1
    return max(least, PROBES_PER_BATCH // max(1, ports))


def split(targets: Sequence[Target], size: int) -> Iterator[tuple[Target, ...]]:
    """``targets`` in order, in batches of about ``size``; a name's targets (same input,
    not a block's address) are never cut apart."""
    batch: list[Target] = []
    for t in targets:
        whole = t.address is None or t.kind == "name"
        same = batch and batch[-1].input == t.input and whole
        if len(batch) >= size and not same:
            yield tuple(batch)
            batch = []
        batch.append(t)
    if batch:
        yield tuple(batch)


def check_batches(
    scope: Scope,
    targets: Sequence[Target],
    opts: CheckOptions,
    *,
    size: int | None = None,
    progress: ProgressFn | None = None,
    packet_log: PacketLog | None = None,
) -> Iterator[Report]:
    """Each batch's report, in target order; after an interrupted one, no more."""
    for measured in measure_batches(
        scope, targets, opts, size=size, progress=progress, packet_log=packet_log
    ):
        yield build(measured)


def measure_batches(
    scope: Scope,
    targets: Sequence[Target],
    opts: CheckOptions,
    *,
    size: int | None = None,
    progress: ProgressFn | None = None,
    packet_log: PacketLog | None = None,
) -> Iterator[Measured]:
    """What each batch measured (``build`` makes its report), in target order; after an
    interrupted one, no more.

    A batch's scan ends with a wait: the last retries to silent ports (a site's dropped port on
    every host) and their deadlines, the same fixed time whatever the batch's size, which would
    otherwise add up over a run's batches. So the next batch starts as soon as the one before
    has sent all its first tries; at most two measure at once (memory stays bounded: two
    batches measuring, one being written)."""
    size = size or batch_size(len(opts.ports), opts.discover)
    tally = Tally(progress, len(targets) * len(opts.ports))
    # --rate is the run's: two scans at once would each send at it.
    overlap = 1 if opts.rate is not None else OVERLAP
    with ThreadPoolExecutor(overlap, thread_name_prefix="probe-batch") as pool:
        running: deque[tuple[Future[Measured], threading.Event]] = deque()
        # None after the last batch: every batch still running is then waited for.
        for k, batch in enumerate(itertools.chain(split(targets, size), [None])):
            keep = overlap - 1 if batch is not None else 0  # batches that may go on running
            while keep and running and not running[-1][0].done():
                if running[-1][1].wait(_LOOK):
                    break  # the newest batch has sent its first tries
            while len(running) > keep or (running and running[0][0].done()):
                measured = running.popleft()[0].result()
                yield measured
                if measured.interrupted:
                    return
            if batch is None or scope.cancel.is_set():
                break
            tail = threading.Event()
            shown = tally.batch(k, tail)
            job = pool.submit(measure, scope, batch, opts, progress=shown, packet_log=packet_log)
            running.append((job, tail))


class Tally:
    """The run's progress from batches that may overlap: each batch's latest counts, summed;
    and each batch's ``tail`` event, set once its first tries have all left."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self._progress = progress
        self._total = total
        self._latest: dict[int, Progress] = {}
        self._lock = threading.Lock()

    def batch(self, k: int, tail: threading.Event) -> ProgressFn:
        def shown(p: Progress) -> None:
            if p.unsent == 0:
                tail.set()
            if self._progress is None:
                return
            with self._lock:
                self._latest[k] = p
                seen = self._latest.values()
                done = sum(q.done for q in seen)
                sent, answered = sum(q.sent for q in seen), sum(q.answered for q in seen)
                whole = max(self._total, sum(q.total for q in seen))
                self._progress(Progress(whole, done, sent, answered, max(q.elapsed for q in seen)))

        return shown


@dataclass
class Outcome:
    """The run's exit status and run-wide facts, from its batches one at a time
    (``check.exit_status`` of the whole report, without holding it). Host discovery runs
    per batch: its records are merged, and its note is said once, for the whole run."""

    interrupted: bool = False
    problem: bool = False
    routed: bool = False  # some target had a route (the opposite of "cannot probe")
    targets: int = 0
    found: Discovery | None = None
    said: list[str] = field(default_factory=list)

    def add(self, report: Report) -> None:
        self.interrupted |= report.interrupted
        self.problem = self.problem or any(outcome.target_problem(t) for t in report.targets)
        self.routed = self.routed or not outcome.no_route_anywhere(report.targets)
        self.targets += len(report.targets)
        own = None if report.discovery is None else discovery.summary(report.discovery)
        self.said += [n for n in report.notes if n != own and n not in self.said]
        self.found = discovery.merge(self.found, report.discovery)

    @property
    def notes(self) -> tuple[str, ...]:
        found = () if self.found is None else (discovery.summary(self.found),)
        return (*self.said, *found)

    def status(self) -> ExitStatus:
        nobody = self.found is not None and not self.found.alive  # as outcome.report_problem
        return outcome.exit_status(
            interrupted=self.interrupted,
            cannot_probe=self.targets > 0 and not self.routed,
            problem=self.problem or nobody,
        )
