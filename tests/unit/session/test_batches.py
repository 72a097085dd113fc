"""A check in batches: how targets are cut (a name's addresses never apart), each batch one
run of the checklist, and the run's exit status counted batch by batch."""

from __future__ import annotations

import io
import threading
from typing import Any

from conftest import run_check

from probe.engine.base import Progress
from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    PortRequest,
    RouteResult,
    RouteStatus,
    Target,
)
from probe.plan.targets import parse_targets
from probe.session.batches import Outcome, batch_size, check_batches, split
from probe.session.check import exit_status
from probe.session.core import Session
from probe.session.edge import Edge
from probe.session.options import CheckOptions
from probe.status import ExitStatus

ROUTE = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")


def _edge(engine: FakeEngine) -> Edge:
    return Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, ("198.18.1.10",)),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: ROUTE,
        ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
        open_engine=lambda method: engine,
    )


def test_batch_size_follows_the_ports() -> None:
    assert batch_size(5) == 4000
    assert batch_size(1000) == 512  # never below discovery's "large run"
    assert batch_size(1000, discover=False) == 20 and batch_size(65535, discover=False) == 1
    assert batch_size(0) == 20_000


def test_split_keeps_a_names_targets_together() -> None:
    name = [Target("dual.example", "name"), Target("dual.example", "name")]
    block = list(parse_targets(["198.18.1.0/29"]))  # 6 addresses, each its own target
    cut = list(split([*block[:3], *name, *block[3:]], 2))
    assert [len(b) for b in cut] == [2, 3, 2, 1]  # the name's two went with the third address
    assert [t for b in cut for t in b] == [*block[:3], *name, *block[3:]]


def test_each_batch_is_one_run_and_together_they_are_the_whole() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK, 22: AnswerKind.RST})
    targets = parse_targets(["198.18.1.0/27"])
    opts = CheckOptions(ports=(PortRequest(22), PortRequest(80)), ping=False)
    seen: list[Progress] = []
    with Session(_edge(engine)) as session:
        reports = list(check_batches(session.scope(), targets, opts, size=8, progress=seen.append))
    whole = run_check(targets, opts, _edge(FakeEngine({80: AnswerKind.SYN_ACK})))
    assert [len(r.targets) for r in reports] == [8, 8, 8, 6] and len(engine.scans) == 4
    assert [t.address for r in reports for t in r.targets] == [t.address for t in whole.targets]
    if seen:  # the fake engine reports no progress of its own; when it does, it adds up
        assert all(p.total == 60 for p in seen)
    result = Outcome()
    for r in reports:
        result.add(r)
    assert result.status() is ExitStatus.PROBLEM is exit_status(reports[0])


def test_outcome_of_a_clean_and_an_interrupted_run(mk: Any) -> None:
    clean = mk.report(mk.target((80, "open", 63)))
    result = Outcome()
    result.add(clean)
    assert result.status() is ExitStatus.OK and result.notes == ()
    result.add(mk.report(mk.target((80, "open", 63)), notes=("n",), interrupted=True))
    assert result.status() is ExitStatus.INTERRUPTED and result.notes == ("n",)
    nowhere = Outcome()
    nowhere.add(mk.report(mk.target(route=mk.route(status="no_route"))))
    assert nowhere.status() is ExitStatus.CANNOT_PROBE


def _peak_of_run(n: int) -> int:
    """Peak traced bytes of a check of n addresses x 2 ports in batches of 250, each batch
    summarised and dropped as the CLI does."""
    import tracemalloc

    from probe.output.base import Options
    from probe.output.text.summary import SummaryText

    class Null(io.TextIOBase):
        def write(self, text: str) -> int:
            return len(text)

    engine = FakeEngine({80: AnswerKind.SYN_ACK, 22: AnswerKind.RST})
    targets = parse_targets([f"198.18.{64 + i}.0/24" for i in range(n // 254 + 1)])[:n]
    opts = CheckOptions(ports=(PortRequest(22), PortRequest(80)), ping=False)
    with Session(_edge(engine)) as session:
        tracemalloc.start()
        try:
            sink = SummaryText(Null(), Options(color=False))
            for report in check_batches(session.scope(), targets, opts, size=250):
                sink.add(report)
                engine._asked.clear()  # the fake keeps every scan's jobs for tests to read
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_a_run_in_batches_holds_one_batch() -> None:
    small, large = _peak_of_run(1_000), _peak_of_run(4_000)
    assert large < small * 1.3, (small, large)  # 4x the addresses, about the same peak


class _Overlapping(FakeEngine):
    """A fake whose scans say when their first tries have all left, then wait (up to a
    second) for the next scan to start: what a batch's retries to silent ports look like."""

    def __init__(self, patience: float = 1.0) -> None:
        super().__init__({80: AnswerKind.SYN_ACK, 22: AnswerKind.RST})
        self.patience = patience
        self.started: list[int] = []
        self.overlapped: list[bool] = []
        self._lock = threading.Lock()
        self._next = threading.Condition(self._lock)

    def scan(self, jobs: Any, config: Any, **kw: Any) -> Any:
        with self._lock:
            n = len(self.started)
            self.started.append(n)
            self._next.notify_all()
        progress = kw.get("progress")
        if progress is not None:
            progress(Progress(len(jobs), 0, len(jobs), 0, 0.0, unsent=0))
        with self._lock:
            waited = self._next.wait_for(lambda: len(self.started) > n + 1, self.patience)
            self.overlapped.append(waited)
        return super().scan(jobs, config, **kw)


def test_the_next_batch_starts_while_the_one_before_waits_for_its_last_answers() -> None:
    engine = _Overlapping()
    targets = parse_targets(["198.18.1.0/27"])
    opts = CheckOptions(ports=(PortRequest(22), PortRequest(80)), ping=False)
    seen: list[Progress] = []
    with Session(_edge(engine)) as session:
        reports = list(check_batches(session.scope(), targets, opts, size=8, progress=seen.append))
    # Each of the first three batches saw the next one start before it ended; the last had
    # none to wait for. At most two at once: the third starts only after the first is done.
    assert engine.overlapped == [True, True, True, False]
    whole = [t.address for t in targets]
    assert [t.address for r in reports for t in r.targets] == whole  # in order all the same
    # The run's progress adds up every batch's latest counts, against the run's total: it
    # never goes back when a later batch reports while an earlier one still runs.
    assert seen and all(p.total == 60 for p in seen)
    sent = [p.sent for p in seen]
    assert sent == sorted(sent) and sent[-1] == 60


def test_a_batch_that_never_says_it_is_in_its_tail_is_waited_for() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    order: list[str] = []
    real = engine.scan

    def scan(jobs: Any, config: Any, **kw: Any) -> Any:
        order.append("start")
        result = real(jobs, config, **kw)
        order.append("end")
        return result

    engine.scan = scan  # type: ignore[method-assign]
    targets = parse_targets(["198.18.1.0/28"])
    opts = CheckOptions(ports=(PortRequest(80),), ping=False)
    with Session(_edge(engine)) as session:
        reports = list(check_batches(session.scope(), targets, opts, size=5))
    assert [len(r.targets) for r in reports] == [5, 5, 4]
    assert order == ["start", "end"] * 3  # no progress: one batch at a time, as before


def test_under_a_rate_batches_run_one_at_a_time() -> None:
    engine = _Overlapping(patience=0.2)  # the rate is the run's: two scans would double it
    targets = parse_targets(["198.18.1.0/29"])
    opts = CheckOptions(ports=(PortRequest(22), PortRequest(80)), ping=False, rate=500.0)
    with Session(_edge(engine)) as session:
        reports = list(check_batches(session.scope(), targets, opts, size=3))
    assert [len(r.targets) for r in reports] == [3, 3]
    assert engine.overlapped == [False, False]
