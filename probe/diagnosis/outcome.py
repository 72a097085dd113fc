"""The one exit policy: the facts of a finished run -> the contract's exit status.

Every command decides in the same order: interrupted (130) before anything else; nothing
could be probed for lack of a route (3); a problem found (1); else 0. What "a problem" is
depends on the command and is worked out by its predicate (``report_problem`` for check; an
audit's failed expectation; a trace's port not open; analyze's findings), and ``exit_status``
turns the facts into the number.

Findings decide through their severity: an error is a problem, a warning or info is a
remark (a host answering on every port but not to ping, a clamped MSS, a lossy path that
still answered). For check, the facts decide too: a port the user asked for that is not
open, or an application that stays silent or fails its hello after a completed handshake
(``--app``), is a problem whatever the findings say.

Not every closed port is a problem: the default profile's ports are probed to see what the
host offers, not because the user asked for them. On a host that opens at least one port,
those that are closed are set aside (``aside``): shown compactly, no finding, no effect on
the exit status. Ports named with ``-p``, a chosen ``--profile`` or an audit's expectations
keep every rule.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Final, Protocol

from probe.model import (
    PortResult,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    TargetReport,
)
from probe.status import ExitStatus


class Graded(Protocol):
    """Anything with a severity: check's findings, analyze's."""

    @property
    def severity(self) -> Severity: ...


class Routed(Protocol):
    """Anything that knows the client's route toward its target: a check target, a trace."""

    @property
    def route(self) -> RouteResult | None: ...


_state = operator.attrgetter("state")
_asked = operator.attrgetter("asked")
_SEVERITY_ORDER: Final = (Severity.ERROR, Severity.WARNING, Severity.INFO)
_APP_PROBLEMS: Final = frozenset({"silent", "error"})  # AppResult.status words that fail


def exit_status(*, interrupted: bool, cannot_probe: bool, problem: bool) -> ExitStatus:
    """The exit status of a run, from its facts, in the contract's order of concerns."""
    if interrupted:
        return ExitStatus.INTERRUPTED
    if cannot_probe:
        return ExitStatus.CANNOT_PROBE
    return ExitStatus.PROBLEM if problem else ExitStatus.OK


def worst_severity(findings: Iterable[Graded]) -> Severity | None:
    """The most severe severity among ``findings`` (error > warning > info), None if none."""
    seen = {f.severity for f in findings}
    return next((s for s in _SEVERITY_ORDER if s in seen), None)


def has_problem(findings: Iterable[Graded]) -> bool:
    """True when an error stands among ``findings``: that makes the exit status 1. Warnings
    and info are remarks: a host that answers on every port but not to ping is fine."""
    return worst_severity(findings) is Severity.ERROR


def no_route_anywhere(targets: Iterable[Routed]) -> bool:
    """Nothing could be probed: there are targets, and the client has no route to any."""
    routes = [t.route for t in targets]
    return bool(routes) and all(r is not None and r.status is RouteStatus.NO_ROUTE for r in routes)


def aside(ports: Sequence[PortResult]) -> tuple[PortResult, ...]:
    """The ports of one target that are not open and yet no problem: not asked for (the
    default profile's), on a host that opens at least one port. Empty when nothing is open:
    then a closed default profile is the news."""
    if PortState.OPEN not in map(_state, ports) or all(map(_asked, ports)):
        return ()  # read at C speed: a full-range scan's 65535 ports are all asked for
    return tuple(p for p in ports if not p.asked and p.state is not PortState.OPEN)


def app_failed(p: PortResult) -> bool:
    """The handshake completed but the application stayed silent or failed its hello."""
    return p.app is not None and p.app.status in _APP_PROBLEMS


def target_problem(t: TargetReport) -> bool:
    """One checked target is a problem: nothing could be probed (the name gave no address,
    no route), a port that counts is not open (every port but those set ``aside``), an
    application failed after its handshake, or an error finding stands although every port
    is open (duplicate IP, bad certificate)."""
    if t.address is None:
        return True
    if t.route is not None and t.route.status is not RouteStatus.OK:
        return True
    closed = sum(p.state is not PortState.OPEN for p in t.ports)
    if not t.ports or closed > len(aside(t.ports)):
        return True
    if any(app_failed(p) for p in t.ports):
        return True
    return has_problem(t.findings)


def report_problem(report: Report) -> bool:
    """``probe check`` found a problem on any of its targets. Addresses host discovery left
    out are not targets, so they are none (nmap's view: a large range is mostly empty)."""
    return any(target_problem(t) for t in report.targets)
