"""``probe trace``: resolve, check the route, then send waves of TTL-limited SYNs through the
session's raw engine until the trace ends; ``probe.diagnosis.trace`` reads the hops.

Sending: waves of ``WAVE`` TTLs at a time, several tries each (``--tries``); the trace ends
at the first hop that reached the target or got a reject, after ``silent_hops`` silent hops
past the last answer, or at ``max_hops``. Every probe of a trace has the same addresses and
ports (only the TTL and the sequence number differ), so routers that balance load by flow
send them all the same way (the idea of Paris traceroute) and the hops belong to one path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from probe.diagnosis import outcome, registry
from probe.diagnosis.trace import contiguous, cut, jobs, verdict, wave
from probe.engine.base import Engine, EngineConfig, PacketLog
from probe.errors import NoPermission
from probe.model import (
    Finding,
    Hop,
    PortState,
    RouteStatus,
    Target,
    TargetReport,
    TraceReport,
    TraceVerdict,
)
from probe.session.edge import Edge
from probe.session.options import TraceOptions
from probe.session.resolve import resolve_target
from probe.status import ExitStatus

NO_RAW = (
    "probe trace needs raw sockets to set the TTL of its SYNs: run it with sudo, or give "
    'CAP_NET_RAW to this command alone as an ambient capability (see the README, "Without '
    'privileges"); connect() cannot trace'
)


def run_trace(
    edge: Edge,
    raw_engine: Callable[[], Engine],
    cancel: threading.Event,
    target: Target,
    opts: TraceOptions,
    *,
    packet_log: PacketLog | None = None,
) -> TraceReport:
    """The trace of one target. A DNS failure or a missing route is a report with the
    matching finding (no hops); a missing privilege is ``NoPermission`` (raised before any
    DNS). Cancel or Ctrl-C keeps the hops measured so far (``interrupted``)."""
    try:
        engine = raw_engine()
    except NoPermission as exc:
        raise NoPermission(NO_RAW) from exc
    hops: list[Hop] = []
    interrupted = False
    findings: tuple[Finding, ...] = ()
    found = resolve_target(target, opts.nameservers, opts.dns_timeout, opts.families, edge)
    address, route = found.addresses[0] if found.addresses else (None, None)
    if address is not None and route is not None and route.status is RouteStatus.OK:
        hops, interrupted = _walk(engine, address, opts, packet_log, cancel)
    else:  # nothing to trace: the checklist's gate finding says why
        t = TargetReport(input=target.input, address=address, dns=found.dns, route=route)
        findings = registry.diagnose(t)
    shown = cut(hops, opts.silent_hops)
    if address is not None and not findings:
        result = verdict(shown, address, opts.port, opts.max_hops)
    else:
        result = TraceVerdict(None, findings[0].summary if findings else "Nothing was traced.")
    return TraceReport(
        input=target.input,
        address=address,
        port=opts.port,
        dns=found.dns,
        route=route,
        hops=shown,
        verdict=result,
        findings=findings,
        max_hops=opts.max_hops,
        interrupted=interrupted,
    )


def _walk(
    engine: Engine,
    address: str,
    opts: TraceOptions,
    packet_log: PacketLog | None,
    cancel: threading.Event,
) -> tuple[list[Hop], bool]:
    cfg = EngineConfig(tries=opts.tries, timeout=opts.timeout)
    hops: list[Hop] = []
    try:
        for _ in range(opts.max_hops):  # bounded: each wave adds at least one TTL or ends
            ttls = wave(hops, opts.max_hops, opts.silent_hops)
            if not ttls:
                break
            probes = jobs(address, opts.port, ttls)
            run = engine.scan(probes, cfg, packet_log=packet_log, cancel=cancel)
            got = contiguous(run.evidence, ttls.start)
            hops.extend(got)
            if run.interrupted or len(got) < len(ttls):
                return hops, True
    except KeyboardInterrupt:
        return hops, True
    return hops, False


def exit_status(report: TraceReport) -> ExitStatus:
    """0 when the SYN reached an open port; 3 when there was no route to send it on; 130
    when interrupted; 1 otherwise (DNS failed, or the port is not open at the end)."""
    return outcome.exit_status(
        interrupted=report.interrupted,
        cannot_probe=outcome.no_route_anywhere((report,)),
        problem=report.verdict.state is not PortState.OPEN,
    )
