"""outcome.py: severities and the one exit policy."""

from __future__ import annotations

from typing import Any

import pytest

from probe.diagnosis.outcome import (
    exit_status,
    has_problem,
    no_route_anywhere,
    report_problem,
    target_problem,
    worst_severity,
)
from probe.model import Finding, Severity
from probe.status import ExitStatus


@pytest.mark.parametrize(
    ("severities", "worst", "problem"),
    [
        ([], None, False),
        ([Severity.INFO], Severity.INFO, False),
        # A warning is a remark, not a problem: check exits 0 with every port open even with
        # a path-loss, app-error or clamped-MSS warning (has_problem now decides that for real).
        ([Severity.INFO, Severity.WARNING], Severity.WARNING, False),
        ([Severity.WARNING, Severity.ERROR, Severity.INFO], Severity.ERROR, True),
    ],
)
def test_worst_severity_and_has_problem(
    severities: list[Severity], worst: Severity | None, problem: bool
) -> None:
    findings = [Finding("x", s, "s.") for s in severities]
    assert worst_severity(findings) == worst
    assert has_problem(findings) is problem


@pytest.mark.parametrize(
    ("interrupted", "cannot_probe", "problem", "status"),
    [
        (False, False, False, ExitStatus.OK),
        (False, False, True, ExitStatus.PROBLEM),
        (False, True, True, ExitStatus.CANNOT_PROBE),
        (True, True, True, ExitStatus.INTERRUPTED),
        (True, False, False, ExitStatus.INTERRUPTED),
    ],
)
def test_exit_status_decides_in_the_contracts_order(
    interrupted: bool, cannot_probe: bool, problem: bool, status: ExitStatus
) -> None:
    got = exit_status(interrupted=interrupted, cannot_probe=cannot_probe, problem=problem)
    assert got is status


def test_no_route_anywhere(mk: Any) -> None:
    none = mk.route(None, "no_route")
    assert not no_route_anywhere([])
    assert no_route_anywhere([mk.target(route=none), mk.target(route=none)])
    assert not no_route_anywhere([mk.target(route=none), mk.target()])
    assert not no_route_anywhere([mk.target(route=None)])  # DNS failed: not a route problem


@pytest.mark.parametrize(
    ("severity", "problem"),
    [(None, False), (Severity.INFO, False), (Severity.WARNING, False), (Severity.ERROR, True)],
)
def test_every_port_open_is_a_problem_only_with_an_error(
    mk: Any, severity: Severity | None, problem: bool
) -> None:
    findings = () if severity is None else (Finding("x", severity, "s."),)
    t = mk.target((80, "open"), (443, "open"), findings=findings)
    assert target_problem(t) is problem
    assert report_problem(mk.report(t)) is problem


def test_what_makes_a_checked_target_a_problem(mk: Any) -> None:
    # Without any finding: the facts alone decide (a report built elsewhere, or cut short).
    assert target_problem(mk.target((80, "open"), (82, "filtered")))
    assert target_problem(mk.target())  # nothing probed
    assert target_problem(mk.nxdomain())
    assert target_problem(mk.target((80, "open"), route=mk.route(None, "no_route")))
    assert not target_problem(mk.target((80, "open"), route=None))
    assert report_problem(mk.report(mk.target((80, "open")), mk.target((22, "refused"))))
