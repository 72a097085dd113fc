"""``probe audit``: every host of an audit plan probed in one check run, then judged.

``run_audit`` probes the hosts with the same engine and diagnosis as ``probe check`` (one
``run_check`` for all hosts, each with its own port list: one engine scan for the whole file);
``probe.diagnosis.expect.evaluate`` compares the report with the expectations.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from probe.diagnosis import outcome
from probe.diagnosis.expect import AuditResult, evaluate
from probe.engine.base import PacketLog
from probe.model import Method, Report, TargetReport
from probe.plan.audit import AuditPlan
from probe.session.core import Session
from probe.session.options import CheckOptions
from probe.status import ExitStatus

# --------------------------------------------------------------------------- running


def run_audit(
    session: Session,
    plan: AuditPlan,
    opts: CheckOptions,
    *,
    packet_log: PacketLog | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> AuditResult:
    """Probe every host of the plan with the session's check and evaluate the expectations.
    ``opts.ports`` is ignored: each host's ports come from its expectations.

    All hosts are probed together in one run (one engine scan for every host's ports), so
    each host's ``seconds`` is that run's time.
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    begin = clock()
    ports = {h.name: h.requests() for h in plan.hosts}
    report: Report | None = None
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C outside the run: nothing measured
        report = session.check(
            [h.target for h in plan.hosts],
            replace(opts, ports=()),
            ports_by_input=ports,
            packet_log=packet_log,
        )
    took = clock() - begin
    reports: dict[str, tuple[TargetReport, ...]] = {}
    if report is not None:
        for h in plan.hosts:
            reports[h.name] = tuple(t for t in report.targets if t.input == h.name)
    merged = Report(
        targets=tuple(t for h in plan.hosts for t in reports.get(h.name, ())),
        mode=report.mode if report is not None else Method.RAW,
        notes=report.notes if report is not None else (),
        interrupted=report is None or report.interrupted,
    )
    hosts_done = evaluate(plan, merged, reports)
    hosts_timed = tuple(
        replace(h, seconds=took if h.host.name in reports else 0.0) for h in hosts_done
    )
    return AuditResult(
        plan=plan, report=merged, hosts=hosts_timed, seconds=clock() - begin, started=started
    )


def exit_status(result: AuditResult) -> ExitStatus:
    """0 when every expectation holds; 1 when one does not or could not be checked; 3 when
    no host could be probed at all for lack of a route; 130 when interrupted."""
    return outcome.exit_status(
        interrupted=result.report.interrupted,
        cannot_probe=outcome.no_route_anywhere(result.report.targets),
        problem=not result.ok,
    )
