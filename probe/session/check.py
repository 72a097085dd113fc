"""The checklist for a set of targets: dns -> route -> ping -> probes -> classify -> diagnose.

Order of work, for speed: names are resolved and routes looked up first (cheap, no packets to
the targets); then the pings, and one ARP/ND window for every on-link address at once, run on
the session's worker pool while one engine scan probes every (address, port) pair of every
target at once — so the run's time is bounded by the slowest step, not by the number of
targets or ports.

Stopping: the session's cancel event (Ctrl-C in the CLI, a deadline in serve) ends the scan
and the waits; a KeyboardInterrupt that still arrives (a second Ctrl-C) does the same. What was
measured so far still becomes a Report, marked interrupted. Everything a run keeps is local to
the call, so several runs may share one session from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass
from typing import TypeVar

from probe.diagnosis import middlebox, outcome, verdicts
from probe.engine.base import Engine, EngineConfig, EngineRun, Job, PacketLog, ProgressFn
from probe.model import (
    AnswerKind,
    AppResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortRequest,
    PortResult,
    PortState,
    Protocol,
    Report,
    RouteStatus,
    Target,
)
from probe.session import discovery, udp
from probe.session.edge import Edge, EngineChoice, HelloFn, NeighboursFn, pinging
from probe.session.options import CheckOptions
from probe.session.reports import Measured, Work, build
from probe.session.resolve import resolve_target
from probe.status import ExitStatus

_T = TypeVar("_T")
Allow = Callable[[str], bool]  # an address -> may it get packets? (serve's --allow-targets)
_POLL = 0.1  # seconds between looks at the cancel event while waiting for background steps


@dataclass(frozen=True)
class Scope:
    """What one run may use, lent by its session."""

    edge: Edge
    engine: Callable[[bool], EngineChoice]  # connect? -> the session's engine for that
    pool: Executor
    cancel: threading.Event
    allow: Allow | None = None  # None: every address may be probed


class Interrupted(Exception):
    """The run was cancelled while waiting for a background step."""


def run_check(
    scope: Scope,
    targets: Sequence[Target],
    opts: CheckOptions,
    *,
    ports_by_input: Mapping[str, tuple[PortRequest, ...]] | None = None,
    progress: ProgressFn | None = None,
    packet_log: PacketLog | None = None,
) -> Report:
    """The checklist for every target, all of their probes in one engine scan.

    ``ports_by_input``: other ports for some targets, by the target as typed (an audit's
    hosts each have their own list); the others get ``opts.ports``. Targets that resolve to
    one address share its probes: each (address, port) is probed once.
    """
    return build(
        measure(
            scope,
            targets,
            opts,
            ports_by_input=ports_by_input,
            progress=progress,
            packet_log=packet_log,
        )
    )


def measure(
    scope: Scope,
    targets: Sequence[Target],
    opts: CheckOptions,
    *,
    ports_by_input: Mapping[str, tuple[PortRequest, ...]] | None = None,
    progress: ProgressFn | None = None,
    packet_log: PacketLog | None = None,
) -> Measured:
    """The network part of ``run_check``: names, routes, discovery, pings, the scan, the
    middlebox proofs and the application hellos."""

    def requests(w: Work) -> tuple[PortRequest, ...]:
        return (ports_by_input or {}).get(w.input, opts.ports)

    works: list[Work] = []
    notes: list[str] = []
    background: list[Future[object]] = []
    run: EngineRun | None = None
    ports: dict[str, tuple[PortResult, ...]] = {}  # address -> classified ports, in port order
    apps: dict[tuple[str, int], Future[AppResult]] = {}
    proofs: dict[str, tuple[PortEvidence, ...]] = {}  # middlebox.py: address -> evidence
    mode = Method.CONNECT if opts.connect else Method.RAW
    interrupted = False
    found = None  # host discovery's record, when it ran
    edge, pool, cancel = scope.edge, scope.pool, scope.cancel
    try:
        for target in targets:
            if cancel.is_set():
                raise Interrupted
            works.extend(_resolve(target, opts, edge, notes))
        probable = [w for w in works if _probable(w)]
        if scope.allow is not None:  # before any packet: no ping, ARP or probe to the others
            allowed: list[Work] = []
            for w in probable:
                if scope.allow(w.address or ""):
                    allowed.append(w)
                else:
                    notes.append(f"{w.input}: {w.address} not probed: not an allowed target")
            probable = allowed
        if edge.arp is not None and not opts.connect:
            background += _ask_neighbours(probable, edge.arp, opts.timeout, pool)
        works, probable, found = discovery.narrow(scope, works, probable, opts, packet_log, notes)
        if found is not None and found.interrupted:
            raise Interrupted
        for w in probable:
            assert w.address is not None
            if opts.ping:
                w.ping = pool.submit(pinging(edge, opts.source), w.address, opts.timeout)
                background.append(w.ping)  # type: ignore[arg-type]
            else:
                w.ping = PingResult(status=PingStatus.SKIPPED)
        services = _services(probable, requests)
        jobs = [j for address, mine in services.items() for j in udp.jobs(address, mine, opts)]
        if jobs and not cancel.is_set():
            choice = scope.engine(opts.connect)
            mode = choice.engine.method
            if choice.note:
                notes.append(choice.note)
            cfg = EngineConfig(tries=opts.tries, timeout=opts.timeout, rate=opts.rate)
            run = choice.engine.scan(
                jobs, cfg, progress=progress, packet_log=packet_log, cancel=cancel
            )
            evidence = run.evidence
            ports = _classify(evidence, services, opts)  # what was measured, even if cut short
            if run.interrupted:
                raise Interrupted
            silent = udp.silent_jobs(ports, opts) if opts.wait_for_icmp else []
            if silent and choice.engine.method is Method.RAW:
                answers, cut = udp.paced_pass(
                    choice.engine, silent, cfg, packet_log=packet_log, cancel=cancel
                )
                ports = _classify(udp.merge(evidence, answers), services, opts)
                if cut:
                    raise Interrupted
            proofs = _middlebox_proofs(
                probable, run, ports, choice.engine, cfg, packet_log, cancel, opts.source
            )
        if run is not None and opts.app and edge.app is not None:
            names = {w.address: w.input for w in probable if w.dns.status is not DnsStatus.LITERAL}
            apps = _hellos(run, opts, services, edge.app, pool, names)
            background += apps.values()  # type: ignore[arg-type]
        _wait_all(background, cancel)
    except (Interrupted, KeyboardInterrupt):
        interrupted = True
    if interrupted or cancel.is_set():
        interrupted = True
        for f in background:  # what has not started need not start; what runs is not waited for
            f.cancel()
    return Measured(
        tuple(works),
        tuple(requests(w) for w in works),
        ports,
        mode,
        opts.timeout,
        apps,
        proofs,
        tuple(notes),
        interrupted,
        found,
    )


def _wait_all(futures: Iterable[Future[object]], cancel: threading.Event) -> None:
    """Wait for the run's background steps, looking at the cancel event as it goes."""
    pending = set(futures)
    while pending:
        if cancel.is_set():
            raise Interrupted
        _, pending = wait(pending, timeout=_POLL)


def _result(f: Future[_T], cancel: threading.Event) -> _T:
    _wait_all([f], cancel)  # type: ignore[list-item]
    return f.result()


def _ask_neighbours(
    works: Sequence[Work], arp: NeighboursFn, wait_s: float, pool: Executor
) -> list[Future[object]]:
    """One job asks ARP/ND for every on-link address in one window; each work keeps the
    shared future and reads its own address's entry. Submitted before the pings, so it does
    not wait behind them in the pool."""
    near = [
        (w, w.address, w.route)
        for w in works
        if w.address is not None and w.route is not None and w.route.on_link
    ]
    if not near:
        return []
    asked = pool.submit(arp, [(address, route) for _, address, route in near], wait_s)
    for w, _, _ in near:
        w.arp = asked
    return [asked]  # type: ignore[list-item]


# A port as probed: its number and transport (53/tcp and 53/udp are two ports).
Endpoint = tuple[int, Protocol]


def _services(
    works: Sequence[Work], requests: Callable[[Work], tuple[PortRequest, ...]]
) -> dict[str, dict[Endpoint, str | None]]:
    """address -> (port, protocol) -> service name: what to probe, each once per address even
    when several targets resolve to one address (one probe answers for all of them)."""
    out: dict[str, dict[Endpoint, str | None]] = {}
    for w in works:
        if w.address is not None and w.address not in out:  # a full range's 65535 at C speed
            out[w.address] = {(p.port, p.protocol): p.service for p in requests(w)}
        elif w.address is not None:
            mine = out[w.address]
            for p in requests(w):
                key = (p.port, p.protocol)
                if mine.get(key) is None:
                    mine[key] = p.service
    return out


def _hellos(
    run: EngineRun,
    opts: CheckOptions,
    services: Mapping[str, Mapping[Endpoint, str | None]],
    app: HelloFn,
    pool: Executor,
    names: Mapping[str | None, str],
) -> dict[tuple[str, int], Future[AppResult]]:
    return {
        (e.address, e.port): pool.submit(
            app,
            e.address,
            e.port,
            opts.app_protocol or services.get(e.address, {}).get((e.port, Protocol.TCP)),
            names.get(e.address),
            opts.timeout,
        )
        for e in run.evidence
        if e.answer is AnswerKind.SYN_ACK
    }


def _resolve(target: Target, opts: CheckOptions, edge: Edge, notes: list[str]) -> list[Work]:
    found = resolve_target(
        target, opts.nameservers, opts.dns_timeout, opts.families, edge, opts.source
    )
    notes.extend(found.notes)
    if not found.addresses:
        return [Work(target.input, None, found.dns)]
    return [Work(target.input, a, found.dns, route) for a, route in found.addresses]


def _probable(w: Work) -> bool:
    return w.address is not None and w.route is not None and w.route.status is RouteStatus.OK


def _classify(
    evidence: Sequence[PortEvidence],
    services: Mapping[str, Mapping[Endpoint, str | None]],
    opts: CheckOptions,
) -> dict[str, tuple[PortResult, ...]]:
    """Every port's verdict, once: the middlebox proof and the report both read these."""
    out = {}
    for address, mine in middlebox.by_address(evidence).items():
        results = verdicts.classify_each(mine, services.get(address, {}))
        if any(e.protocol is Protocol.UDP for e in mine):
            results = [
                udp.annotate(e, r, opts) if e.protocol is Protocol.UDP else r
                for e, r in zip(mine, results, strict=True)
            ]
        out[address] = verdicts.in_endpoint_order(results)
    return out


def _middlebox_proofs(
    works: Sequence[Work],
    run: EngineRun,
    ports: Mapping[str, tuple[PortResult, ...]],
    engine: Engine,
    cfg: EngineConfig,
    packet_log: PacketLog | None,
    cancel: threading.Event,
    source: str | None,
) -> dict[str, tuple[PortEvidence, ...]]:
    """After the scan (raw mode only): TTL-limited SYNs to the ports whose RST looks sent by
    a device in front of the host (middlebox.py chooses them; the host's distance may come
    from its echo replies, so this waits for the ping)."""
    if engine.method != Method.RAW:
        return {}
    jobs: list[Job] = []
    for w in works:
        mine = ports.get(w.address or "", ())
        if any(p.state is PortState.REFUSED and p.protocol is Protocol.TCP for p in mine):
            ping = _result(w.ping, cancel) if isinstance(w.ping, Future) else w.ping
            tcp = [p for p in mine if p.protocol is Protocol.TCP]  # the proof sends SYNs
            jobs += middlebox.plan(w.address or "", tcp, ping, source)
    if not jobs:
        return {}
    proof = engine.scan(jobs, cfg, packet_log=packet_log, cancel=cancel)
    if proof.interrupted:
        raise Interrupted  # cancelled during the proof: the report is marked interrupted
    return middlebox.by_address(proof.evidence)


def exit_status(report: Report) -> ExitStatus:
    """0 when every probed port of every target is open and no error was found; 3 when
    nothing could be probed for lack of a route; 130 when interrupted; 1 otherwise."""
    return outcome.exit_status(
        interrupted=report.interrupted,
        cannot_probe=outcome.no_route_anywhere(report.targets),
        problem=outcome.report_problem(report),
    )
