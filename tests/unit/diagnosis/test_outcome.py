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


# --------------------------------------------------------------------------- set aside, --app

OTHER = {"asked": False}  # one of the default profile's ports


@pytest.mark.parametrize(
    ("ports", "aside", "problem"),
    [
        # a healthy host offering one service: the profile's closed ports are no problem
        ([(80, "open"), {"port": 22, "state": "refused", **OTHER}], (22,), False),
        (
            [
                (80, "open"),
                {"port": 21, "state": "refused", **OTHER},
                {"port": 23, "state": "filtered", **OTHER},
                {"port": 25, "state": "rejected", **OTHER},
            ],
            (21, 23, 25),
            False,
        ),
        # nothing of the profile open: that is the news, every rule applies
        (
            [{"port": 22, "state": "refused", **OTHER}, {"port": 23, "state": "refused", **OTHER}],
            (),
            True,
        ),
        # a port asked for by name keeps today's rules, beside ports set aside
        ([(80, "open"), (22, "refused"), {"port": 23, "state": "refused", **OTHER}], (23,), True),
        ([(80, "open"), (22, "filtered")], (), True),
        ([(80, "open"), {"port": 443, "state": "open", **OTHER}], (), False),
    ],
)
def test_ports_set_aside_and_the_exit_policy(
    mk: Any, ports: list[Any], aside: tuple[int, ...], problem: bool
) -> None:
    from probe.diagnosis.outcome import aside as set_aside

    t = mk.target(*ports)
    assert tuple(p.port for p in set_aside(t.ports)) == aside
    assert target_problem(t) is problem


@pytest.mark.parametrize(
    ("app", "problem"),
    [
        (None, False),
        ("answered", False),
        # the handshake completes but the application does not do its job: a problem,
        # whatever severity the findings carry
        ("silent", True),
        ("error", True),
    ],
)
def test_an_application_that_fails_its_hello_is_a_problem(
    mk: Any, app: str | None, problem: bool
) -> None:
    t = mk.target(mk.port(80, app=app), mk.port(443, app="answered"))
    assert target_problem(t) is problem
    assert report_problem(mk.report(t)) is problem


def test_a_hosts_file_answer_is_probed_not_a_dns_failure(mk: Any) -> None:
    from probe.model import DnsResult, DnsStatus, SystemAnswer, SystemSource, SystemStatus

    mine = SystemAnswer(SystemStatus.OK, (mk.host,), SystemSource.HOSTS)
    t = mk.target((80, "open"), dns=DnsResult(DnsStatus.NXDOMAIN, system=mine))
    assert not target_problem(t)
