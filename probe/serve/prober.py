"""One ``/probe`` request: the module's check of one target through the shared Session.

The probe is bounded by the scrape: Prometheus says how long it waits
(``X-Prometheus-Scrape-Timeout-Seconds``); the probe gets that minus ``offset`` (time to
write the answer), and never more than the module's ``timeout``. At the deadline the check
stops (the Session's per-call deadline) and what was measured is exposed, with
``probe_interrupted 1`` and ``probe_success 0``.

A name is probed on the module's preferred family; when it has no address there (or no
route from here) and the module allows fallback, on the other (blackbox's
``ip_protocol_fallback``). Every address
the check resolves goes through the guard before a packet is sent to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from prometheus_client.core import Metric

from probe.model import Report, RouteStatus, Target, TargetReport
from probe.output.openmetrics import Probed, families, succeeded
from probe.serve.config import Module
from probe.serve.guard import Guard, Refused
from probe.session.core import Session

DEFAULT_OFFSET = 0.5  # seconds kept from the scrape timeout for writing the answer
MIN_BUDGET = 0.1  # seconds: below this a probe is not worth starting
DNS_TIMEOUT = 3.0  # seconds for the DNS step (probe check's), at most the probe's budget


@dataclass(frozen=True)
class ProbeRun:
    """What one request measured; ``report`` None when nothing was run."""

    target: str
    module: str
    started: float  # wall-clock time (time.time())
    duration: float
    success: bool
    interrupted: bool
    metrics: list[Metric] = field(default_factory=list)
    log: tuple[str, ...] = ()
    report: Report | None = None


def budget(module: Module, scrape_timeout: str | None, offset: float = DEFAULT_OFFSET) -> float:
    """Seconds the probe may take: the scrape's timeout minus ``offset``, at most the
    module's ``timeout`` (a header that is not a positive number is ignored)."""
    limit = module.timeout
    if scrape_timeout:
        try:
            asked = float(scrape_timeout)
        except ValueError:
            asked = math.nan
        if math.isfinite(asked) and asked > 0:
            limit = min(limit, asked - offset)
    return max(limit, MIN_BUDGET)


def run(
    session: Session,
    module: Module,
    target: Target,
    guard: Guard,
    seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeRun:
    """Probe ``target`` with ``module`` within ``seconds``. Raises Refused when the target
    resolves to an address the guard refuses (nothing was sent to it)."""
    started, begin = time.time(), clock()
    deadline = begin + seconds
    log = [f"Beginning probe: module {module.name}, target {target.input}, timeout {seconds:.2f}s"]
    refused: list[str] = []

    def allow(address: str) -> bool:
        if guard.allows_address(address):
            return True
        refused.append(address)
        return False

    report: Report | None = None
    chosen: TargetReport | None = None
    earlier_dns_ms = 0.0  # the lookups of the families tried before (blackbox counts them all)
    for fams in module.families():
        log.append(f"Probing on IPv{fams[0]}")
        opts = module.options(fams, dns_timeout=min(DNS_TIMEOUT, seconds))
        report = session.check([target], opts, deadline=deadline, allow=allow)
        if refused:
            raise Refused(guard.refusal(refused[0]))
        chosen = report.targets[0] if report.targets else None
        if chosen is None or target.address is not None or report.interrupted:
            break
        if chosen.address is None:
            log.append(f"No IPv{fams[0]} address for {target.input} (DNS {chosen.dns.status})")
        elif chosen.route is not None and chosen.route.status is not RouteStatus.OK:
            log.append(f"No route to {chosen.address} from this exporter")
        else:
            break
        earlier_dns_ms += chosen.dns.elapsed_ms
    if chosen is not None and earlier_dns_ms:
        dns = replace(chosen.dns, elapsed_ms=chosen.dns.elapsed_ms + earlier_dns_ms)
        chosen = replace(chosen, dns=dns)
    duration = clock() - begin
    interrupted = report is None or report.interrupted
    if interrupted:
        log.append(f"Probe stopped at its deadline after {duration:.3f}s")
    if chosen is None:
        return ProbeRun(
            target.input, module.name, started, duration, False, interrupted, [], tuple(log)
        )
    success = succeeded(chosen, module.expectations, interrupted)
    log += _describe(chosen, report)
    log.append(f"Probe {'succeeded' if success else 'failed'}, duration {duration:.3f}s")
    metrics = families(
        [Probed(chosen, success, module.expectations)], duration=duration, interrupted=interrupted
    )
    return ProbeRun(
        target.input,
        module.name,
        started,
        duration,
        success,
        interrupted,
        metrics,
        tuple(log),
        report,
    )


def _describe(t: TargetReport, report: Report | None) -> list[str]:
    """The probe's log: what each step found, in the check's words."""
    lines = [f"DNS {t.dns.status}: {', '.join(t.dns.addresses) or 'no address'}"]
    if t.address is not None:
        lines.append(f"Probing address {t.address}")
    if t.route is not None:
        lines.append(
            f"Route {t.route.status}: interface {t.route.interface}, source {t.route.source}"
        )
    if t.ping is not None:
        lines.append(f"Ping {t.ping.status}: {t.ping.received}/{t.ping.sent} replies")
    for p in t.ports:
        lines.append(
            f"Port {p.port}/{p.protocol} {p.state} ({p.reason}), answered by "
            f"{p.responder or '-'} TTL {p.ttl if p.ttl is not None else '-'}, tries {p.tries}"
        )
        if p.app is not None:
            said = p.app.banner or p.app.detail or ""
            lines.append(f"App {p.app.protocol} on {p.port}: {p.app.status} {said}".rstrip())
    for f in t.findings:
        lines.append(f"Finding {f.code} ({f.severity}): {f.summary}")
    if report is not None:
        lines += [f"Note: {n}" for n in report.notes]
    return lines
