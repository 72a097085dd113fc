"""``probe check --repeat N``: the checklist once, then the same probes N - 1 more times,
each round one scan from a fresh block of source ports (as watch does), back to back. The
report is the check's own, with the intermittency findings (diagnosis/watch) beside the
usual ones and the statistics of every port's series: so a one-shot check can catch a load
balancer with one bad backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from probe.diagnosis.watch.attempt import Attempt, attempt_of
from probe.diagnosis.watch.report import RepeatedReport, with_intermittency
from probe.diagnosis.watch.stats import summarize_all
from probe.engine.base import EngineConfig, PacketLog, ProgressFn
from probe.model import Target
from probe.session import udp
from probe.session.check import Scope, run_check
from probe.session.options import CheckOptions
from probe.session.watch import Watched, attempts_of_round


def run_repeat(
    scope: Scope,
    targets: Sequence[Target],
    opts: CheckOptions,
    repeat: int,
    *,
    progress: ProgressFn | None = None,
    packet_log: PacketLog | None = None,
) -> RepeatedReport:
    started = time.time()
    report = run_check(scope, targets, opts, progress=progress, packet_log=packet_log)
    attempts: list[Attempt] = [
        attempt_of(p, time=started, round=0, target=t.input, address=t.address)
        for t in report.targets
        if t.address is not None
        for p in t.ports
    ]
    watched = [Watched(t.input, t.address, None) for t in report.targets if t.address and t.ports]
    jobs = list(
        dict.fromkeys(
            udp.job(t.address, p.port, p.protocol, opts)
            for t in report.targets
            if t.address is not None
            for p in t.ports
        )
    )
    services = {(p.port, p.protocol): p.service for p in opts.ports}
    rounds = 1
    interrupted = report.interrupted
    if jobs and not interrupted and repeat > 1:
        engine = scope.engine(opts.connect).engine
        cfg = EngineConfig(tries=opts.tries, timeout=opts.timeout, rate=opts.rate)
        while rounds < repeat and not scope.cancel.is_set():
            now = time.time()
            run = engine.scan(jobs, cfg, packet_log=packet_log, cancel=scope.cancel)
            if run.interrupted:
                interrupted = True
                break
            attempts += attempts_of_round(run.evidence, watched, services, now, rounds)
            rounds += 1
    report = with_intermittency(report, attempts)
    if interrupted or scope.cancel.is_set():
        report = replace(report, interrupted=True)
    return RepeatedReport(report, repeat, rounds, summarize_all(attempts), tuple(attempts))
