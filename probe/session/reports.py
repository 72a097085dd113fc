"""A batch's reports from what it measured (``check.measure``): no I/O here, so a large run
builds and writes one batch's reports while the next batch is measured (cli/large.py)."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TypeVar

from probe.diagnosis import registry
from probe.diagnosis.discovery import Discovery
from probe.model import (
    AppResult,
    ArpResult,
    DnsResult,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortRequest,
    PortResult,
    Protocol,
    Report,
    RouteResult,
    TargetReport,
)

_T = TypeVar("_T")


@dataclass
class Work:
    """One address to probe, as it moves through the steps."""

    input: str
    address: str | None
    dns: DnsResult
    route: RouteResult | None = None
    ping: Future[PingResult] | PingResult | None = None
    arp: Future[Mapping[str, ArpResult | None]] | None = None  # shared by the on-link works


@dataclass(frozen=True)
class Measured:
    """What ``measure`` saw of a batch of targets: everything its reports are made of.
    ``build`` makes them without any I/O, so a large run builds one batch's reports while the
    next batch is measured."""

    works: tuple[Work, ...]
    requests: tuple[tuple[PortRequest, ...], ...]  # each work's
    ports: Mapping[str, tuple[PortResult, ...]]
    mode: Method
    timeout: float
    apps: Mapping[tuple[str, int], Future[AppResult]]
    proofs: Mapping[str, tuple[PortEvidence, ...]]
    notes: tuple[str, ...]
    interrupted: bool
    found: Discovery | None


def build(m: Measured) -> Report:
    """The reports of what ``measure`` saw: diagnosis, confirmations, the family comparison."""
    apps = dict(m.apps)
    reports = [
        target_report(w, asked, m.ports, m.mode, m.timeout, apps)
        for w, asked in zip(m.works, m.requests, strict=True)
    ]
    reports = [
        registry.attach_confirmations(r, m.proofs, mode=m.mode, timeout=m.timeout) for r in reports
    ]
    reports = list(registry.attach_family_findings(reports))
    return Report(
        tuple(reports), mode=m.mode, notes=m.notes, interrupted=m.interrupted, discovery=m.found
    )


def _done(f: Future[_T] | None) -> _T | None:
    """A background step's result, or None when it did not finish (interrupted)."""
    if f is None or not f.done() or f.cancelled():
        return None
    return f.result()


def _arp_of(w: Work) -> ArpResult | None:
    """This work's entry of the shared ARP/ND answer; None when it did not finish."""
    answers = _done(w.arp)
    return None if answers is None or w.address is None else answers.get(w.address)


def target_report(
    w: Work,
    requests: tuple[PortRequest, ...],
    classified: Mapping[str, tuple[PortResult, ...]],
    mode: Method,
    timeout: float,
    apps: dict[tuple[str, int], Future[AppResult]],
) -> TargetReport:
    ping: PingResult | None
    if isinstance(w.ping, Future):
        ping = _done(w.ping) or PingResult(status=PingStatus.SKIPPED, detail="interrupted")
    else:
        ping = w.ping
    ports: tuple[PortResult, ...] = ()
    if w.address is not None:
        ports = classified.get(w.address, ())
        if len(ports) != len(requests):  # the address was probed for another target too
            wanted = {(p.port, p.protocol) for p in requests}
            ports = tuple(p for p in ports if (p.port, p.protocol) in wanted)
        unasked = {(p.port, p.protocol) for p in requests if not p.asked}  # the probe is shared
        if unasked:
            ports = tuple(
                replace(p, asked=False) if (p.port, p.protocol) in unasked else p for p in ports
            )
        if apps:
            hellos = [
                _done(apps.get((w.address, p.port))) if p.protocol is Protocol.TCP else None
                for p in ports
            ]
            ports = tuple(
                p if app is None else replace(p, app=app)
                for p, app in zip(ports, hellos, strict=True)
            )
    t = TargetReport(
        input=w.input,
        address=w.address,
        dns=w.dns,
        route=w.route,
        ping=ping,
        arp=_arp_of(w),
        ports=ports,
    )
    return replace(t, findings=registry.diagnose(t, mode=mode, timeout=timeout))
