"""What a watch (or a repeated check) concludes: the statistics of every series, the
intermittency findings beside the usual ones, and the exit status — ``conclude`` over the
recorded attempts, pure.

The usual rules (port-refused, port-filtered, ...) read each port as it usually answered: a
``PortResult`` built from the series' last attempt in its usual state. A port refused on one
attempt in three is usually open, so port-refused does not speak of it; intermittent-refusal
does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from probe.diagnosis import outcome, registry
from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.names import Resolution, dns_changed
from probe.diagnosis.watch.rules import diagnose_host
from probe.diagnosis.watch.series import usual_state
from probe.diagnosis.watch.stats import SeriesStats, series, summarize
from probe.model import Finding, Method, PortResult, PortState, Protocol, Report, TargetReport
from probe.status import ExitStatus


@dataclass(frozen=True)
class WatchTarget:
    """One target of the watch: its checklist steps (as measured at the start), the ports as
    they usually answered, and every finding."""

    report: TargetReport  # findings: the usual ones, then the intermittency ones
    stats: tuple[SeriesStats, ...]  # one per (address, port) series, in port order


@dataclass(frozen=True)
class WatchResult:
    targets: tuple[WatchTarget, ...]
    attempts: tuple[Attempt, ...]
    lookups: tuple[Resolution, ...]
    rounds: int
    started: float  # wall clock
    ended: float
    interval: float
    mode: Method = Method.RAW
    notes: tuple[str, ...] = ()
    interrupted: bool = False

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for t in self.targets for f in t.report.findings)


def usual_port(attempts: Sequence[Attempt], service: str | None = None) -> PortResult:
    """The port as it usually answered: its last attempt in the usual state."""
    usual = usual_state(attempts)
    a = next(a for a in reversed(attempts) if a.state is usual)
    return PortResult(
        a.port,
        a.state,
        a.reason,
        a.tries,
        a.protocol,
        service,
        a.responder,
        a.ttl,
        a.rtt_ms,
        a.window if a.state is PortState.OPEN else None,
        a.tcp_options if a.state is PortState.OPEN else None,
        a.ip_id,
    )


def intermittency(
    attempts: Sequence[Attempt],
    lookups: Sequence[Resolution] = (),
    *,
    mode: Method = Method.RAW,
) -> tuple[Finding, ...]:
    """The intermittency findings over ``attempts`` (one target's): per address they went
    to, then dns-changed over ``lookups`` (one name's)."""
    found: list[Finding] = []
    for address in dict.fromkeys(a.address for a in attempts):
        found += diagnose_host(address, attempts, connect=mode is Method.CONNECT)
    changed = dns_changed(lookups)
    if changed is not None:
        found.append(changed)
    return tuple(found)


def conclude(
    preflight: Report,
    attempts: Sequence[Attempt],
    lookups: Sequence[Resolution],
    *,
    rounds: int,
    started: float,
    ended: float,
    interval: float,
    services: Mapping[tuple[int, Protocol], str | None] | None = None,
    interrupted: bool = False,
) -> WatchResult:
    """Statistics and findings for every target of the watch. ``preflight``: the checklist's
    steps run at the start (no ports); its targets are those of the watch."""
    groups = series(attempts)
    names = services or {}
    targets: list[WatchTarget] = []
    # A series belongs to the target of its (name, address); one whose address a later DNS
    # answer brought belongs to the name's first target, which also gets dns-changed.
    owners = {(t.input, t.address) for t in preflight.targets}
    first: dict[str, TargetReport] = {}
    for t in preflight.targets:
        first.setdefault(t.input, t)
    for t in preflight.targets:
        mine = [
            g
            for k, g in groups.items()
            if k[:2] == (t.input, t.address)
            or (k[0] == t.input and k[:2] not in owners and first[t.input] is t)
        ]
        mine.sort(key=lambda g: (g[0].address != t.address, g[0].port, g[0].protocol))
        ports = tuple(
            usual_port(g, names.get((g[0].port, g[0].protocol)))
            for g in mine
            if g[0].address == t.address
        )
        seen = replace(t, ports=ports) if ports else t
        usual = registry.diagnose(seen, mode=preflight.mode) if ports else t.findings
        named = [r for r in lookups if r.target == t.input] if first[t.input] is t else []
        owned = [a for g in mine for a in g]
        extra = intermittency(owned, named, mode=preflight.mode)
        report = replace(seen, findings=usual + extra)
        targets.append(WatchTarget(report, tuple(summarize(g) for g in mine)))
    return WatchResult(
        targets=tuple(targets),
        attempts=tuple(attempts),
        lookups=tuple(lookups),
        rounds=rounds,
        started=started,
        ended=ended,
        interval=interval,
        mode=preflight.mode,
        notes=preflight.notes,
        interrupted=interrupted or preflight.interrupted,
    )


def exit_status(result: WatchResult) -> ExitStatus:
    """0 when every attempt found its port open and no error stands; 3 when no target could
    be watched for lack of a route; 130 after Ctrl-C; 1 otherwise."""
    reports = [t.report for t in result.targets]
    return outcome.exit_status(
        interrupted=result.interrupted,
        cannot_probe=outcome.no_route_anywhere(reports),
        problem=_problem(result, reports),
    )


def _problem(result: WatchResult, reports: Iterable[TargetReport]) -> bool:
    if any(a.state is not PortState.OPEN for a in result.attempts):
        return True
    if not result.attempts:
        return True  # nothing was watched
    return any(outcome.target_problem(t) for t in reports)


@dataclass(frozen=True)
class RepeatedReport:
    """``check --repeat N``: the check's report (its ports as the first round found them,
    the intermittency findings added to each target's) and every round's statistics."""

    report: Report
    repeat: int  # rounds asked for
    rounds: int  # rounds done (fewer after Ctrl-C)
    stats: tuple[SeriesStats, ...]
    attempts: tuple[Attempt, ...]


def with_intermittency(report: Report, attempts: Sequence[Attempt]) -> Report:
    """``report`` with each target's intermittency findings after its own."""
    targets = tuple(
        replace(t, findings=t.findings + intermittency(_of(t, attempts), mode=report.mode))
        for t in report.targets
    )
    return replace(report, targets=targets)


def _of(t: TargetReport, attempts: Sequence[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.target == t.input and a.address == t.address]
