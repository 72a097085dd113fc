"""Runs the checklist for every target over adapters passed in: dns -> route -> ping -> SYNs
-> classify -> diagnose. The adapters are the only things that touch the network, so tests
pass fakes (``Adapters``) and get a real Report back.

Order of work, for speed: names are resolved and routes looked up first (cheap, no packets to
the targets); then the pings, and one ARP/ND window for every on-link address at once, run in
background threads while one engine scan probes every (address, port) pair of every target at
once — so the run's time is bounded by the slowest step, not by the number of targets or ports.

Ctrl-C at any point stops the work; what was measured so far still becomes a Report, marked
interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

from probe.diagnosis import classify, diagnose, middlebox
from probe.engine.base import Engine, EngineConfig, EngineRun, Job, PacketLog, ProgressFn
from probe.model import (
    AnswerKind,
    AppResult,
    ArpResult,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortRequest,
    PortResult,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    Target,
    TargetReport,
)
from probe.status import ExitStatus

_T = TypeVar("_T")

# The ARP/ND step: every on-link (address, route) at once -> each address's answer.
NeighboursFn = Callable[[Sequence[tuple[str, RouteResult]]], Mapping[str, ArpResult | None]]

CONNECT_NOTE = (
    "No raw-socket privilege: ports were probed with connect() only. Missing evidence: who "
    "answered (a router or firewall cannot be told from the host), TTLs, ICMP types, TCP "
    "options. For full evidence run as root or grant CAP_NET_RAW "
    "(setcap cap_net_raw+ep on the Python interpreter)."
)
CONNECT_FORCED_NOTE = (
    "--connect: ports were probed with connect() only, so who answered, TTLs, ICMP types and "
    "TCP options are not known."
)


@dataclass(frozen=True)
class CheckOptions:
    ports: tuple[PortRequest, ...]
    nameservers: tuple[str, ...] = ()
    families: tuple[int, ...] = (4, 6)
    tries: int = 3
    timeout: float = 1.0
    dns_timeout: float = 3.0
    ping: bool = True
    connect: bool = False
    rate: float | None = None
    app: bool = False  # after an open port: connect() and a protocol hello
    app_protocol: str | None = None  # the hello to use instead of the port's service name


@dataclass(frozen=True)
class EngineChoice:
    engine: Engine
    note: str | None = None  # why evidence is reduced, when it is


@dataclass
class Adapters:
    """The network edge. Each is a plain function; the CLI wires in the real ones."""

    resolve: Callable[[str, Sequence[str], float, tuple[int, ...]], DnsResult]
    literal: Callable[[str], DnsResult]
    route: Callable[[str], RouteResult]
    ping: Callable[[str], PingResult]
    open_engine: Callable[[bool], EngineChoice]
    progress: ProgressFn | None = None
    # Optional steps: ARP/ND for on-link targets, every (address, route) in one call, each
    # address's answer read from the mapping (None or absent: could not be asked); a
    # protocol hello on open ports (--app), given (address, port, protocol or service name,
    # the host name the user typed or None); every packet sent/received (--pcap).
    arp: NeighboursFn | None = None
    app: Callable[[str, int, str | None, str | None], AppResult] | None = None
    packet_log: PacketLog | None = None


@dataclass
class _Work:
    """One address to probe, as it moves through the steps."""

    input: str
    address: str | None
    dns: DnsResult
    route: RouteResult | None = None
    ping: Future[PingResult] | PingResult | None = None
    arp: Future[Mapping[str, ArpResult | None]] | None = None  # shared by the on-link works


def run_check(
    targets: Sequence[Target],
    opts: CheckOptions,
    io: Adapters,
    *,
    ports_by_input: Mapping[str, tuple[PortRequest, ...]] | None = None,
) -> Report:
    """The checklist for every target, all of their SYNs in one engine scan.

    ``ports_by_input``: other ports for some targets, by the target as typed (an audit's
    hosts each have their own list); the others get ``opts.ports``. Targets that resolve to
    one address share its probes: each (address, port) is probed once.
    """

    def requests(w: _Work) -> tuple[PortRequest, ...]:
        return (ports_by_input or {}).get(w.input, opts.ports)

    works: list[_Work] = []
    notes: list[str] = []
    interrupted = False
    run: EngineRun | None = None
    ports: dict[str, tuple[PortResult, ...]] = {}  # address -> classified ports, in port order
    apps: dict[tuple[str, int], Future[AppResult]] = {}
    proofs: dict[str, tuple[PortEvidence, ...]] = {}  # middlebox.py: address -> evidence
    mode = Method.CONNECT if opts.connect else Method.RAW
    pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ping")
    try:
        for target in targets:
            works.extend(_resolve(target, opts, io, notes))
        for w in works:
            if w.address is not None and w.route is None:
                w.route = io.route(w.address)
        probable = [w for w in works if _probable(w)]
        if io.arp is not None:
            _ask_neighbours(probable, io.arp, pool)
        for w in probable:
            assert w.address is not None
            w.ping = pool.submit(io.ping, w.address) if opts.ping else _skipped()
        services = _services(probable, requests)
        jobs = [Job(address, port) for address, mine in services.items() for port in mine]
        if jobs:
            choice = io.open_engine(opts.connect)
            mode = choice.engine.method
            if choice.note:
                notes.append(choice.note)
            try:
                cfg = EngineConfig(tries=opts.tries, timeout=opts.timeout, rate=opts.rate)
                run = choice.engine.scan(jobs, cfg, progress=io.progress, packet_log=io.packet_log)
                ports = _classify(run.evidence, services)
                proofs = _middlebox_proofs(probable, run, ports, choice.engine, cfg, io.packet_log)
            finally:
                choice.engine.close()
            interrupted = run.interrupted
        if run is not None and not interrupted and opts.app and io.app is not None:
            names = {w.address: w.input for w in probable if w.dns.status is DnsStatus.OK}
            apps = _hellos(run, opts, services, io.app, pool, names)
    except KeyboardInterrupt:
        interrupted = True
    # Cancel what has not started only on Ctrl-C: hellos submitted just before this line
    # (and the pings of many targets) may still be queued, and must run to the end.
    try:
        pool.shutdown(wait=not interrupted, cancel_futures=interrupted)
    except KeyboardInterrupt:  # Ctrl-C while waiting for them: report what has finished
        interrupted = True
        pool.shutdown(wait=False, cancel_futures=True)
    reports = [_report(w, requests(w), ports, mode, opts.timeout, apps) for w in works]
    reports = [middlebox.attach(r, proofs, mode, opts.timeout) for r in reports]
    reports = list(diagnose.attach_family_findings(reports))
    return Report(tuple(reports), mode=mode, notes=tuple(notes), interrupted=interrupted)


def _ask_neighbours(works: Sequence[_Work], arp: NeighboursFn, pool: ThreadPoolExecutor) -> None:
    """One job asks ARP/ND for every on-link address in one window; each work keeps the
    shared future and reads its own address's entry. Submitted before the pings, so it does
    not wait behind them in the pool."""
    near = [
        (w, w.address, w.route)
        for w in works
        if w.address is not None and w.route is not None and w.route.on_link
    ]
    if near:
        asked = pool.submit(arp, [(address, route) for _, address, route in near])
        for w, _, _ in near:
            w.arp = asked


def _services(
    works: Sequence[_Work], requests: Callable[[_Work], tuple[PortRequest, ...]]
) -> dict[str, dict[int, str | None]]:
    """address -> port -> service name: what to probe, each (address, port) once even when
    several targets resolve to one address (one probe answers for all of them)."""
    out: dict[str, dict[int, str | None]] = {}
    for w in works:
        if w.address is not None:
            mine = out.setdefault(w.address, {})
            for p in requests(w):
                if mine.get(p.port) is None:
                    mine[p.port] = p.service
    return out


def _hellos(
    run: EngineRun,
    opts: CheckOptions,
    services: Mapping[str, Mapping[int, str | None]],
    app: Callable[[str, int, str | None, str | None], AppResult],
    pool: ThreadPoolExecutor,
    names: Mapping[str | None, str],
) -> dict[tuple[str, int], Future[AppResult]]:
    return {
        (e.address, e.port): pool.submit(
            app,
            e.address,
            e.port,
            opts.app_protocol or services.get(e.address, {}).get(e.port),
            names.get(e.address),
        )
        for e in run.evidence
        if e.answer is AnswerKind.SYN_ACK
    }


def _done(f: Future[_T] | None) -> _T | None:
    """A background step's result, or None when it did not finish (interrupted)."""
    if f is None or not f.done() or f.cancelled():
        return None
    return f.result()


def _arp_of(w: _Work) -> ArpResult | None:
    """This work's entry of the shared ARP/ND answer; None when it did not finish."""
    answers = _done(w.arp)
    return None if answers is None or w.address is None else answers.get(w.address)


def _skipped() -> PingResult:
    return PingResult(status=PingStatus.SKIPPED)


def _resolve(target: Target, opts: CheckOptions, io: Adapters, notes: list[str]) -> list[_Work]:
    if target.address is not None:
        return [_Work(target.input, target.address, io.literal(target.address))]
    dns = io.resolve(target.input, opts.nameservers, opts.dns_timeout, opts.families)
    if dns.status is not DnsStatus.OK:
        return [_Work(target.input, None, dns)]
    from probe.plan.targets import first_per_family

    chosen = [_Work(target.input, a, dns) for a in first_per_family(dns.addresses, opts.families)]
    if not chosen:
        wanted = " or ".join(f"IPv{f}" for f in opts.families)
        return [
            _Work(
                target.input,
                None,
                replace(dns, status=DnsStatus.NO_ANSWER, detail=f"no {wanted} address"),
            )
        ]
    # A family this client cannot route at all is not the server's problem: a real client
    # (happy eyeballs) would not use it either. Keep it out unless it is all there is.
    for w in chosen:
        assert w.address is not None
        w.route = io.route(w.address)
    routed = [w for w in chosen if _probable(w)]
    for w in chosen:
        if routed and w not in routed:
            notes.append(
                f"{target.input}: {w.address} not probed: this client has no route "
                f"for IPv{6 if ':' in (w.address or '') else 4}."
            )
    return routed or chosen[:1]


def _probable(w: _Work) -> bool:
    return w.address is not None and w.route is not None and w.route.status is RouteStatus.OK


def _classify(
    evidence: Sequence[PortEvidence], services: Mapping[str, Mapping[int, str | None]]
) -> dict[str, tuple[PortResult, ...]]:
    """Every port's verdict, once: the middlebox proof and the report both read these."""
    out = {}
    for address, mine in middlebox.by_address(evidence).items():
        names = services.get(address, {})
        verdicts = (classify.classify(e, names.get(e.port)) for e in mine)
        out[address] = tuple(sorted(verdicts, key=_port_of))
    return out


def _port_of(p: PortResult) -> int:
    return p.port


def _report(
    w: _Work,
    requests: tuple[PortRequest, ...],
    classified: Mapping[str, tuple[PortResult, ...]],
    mode: str,
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
            wanted = {p.port for p in requests}
            ports = tuple(p for p in ports if p.port in wanted)
        if apps:
            hellos = [_done(apps.get((w.address, p.port))) for p in ports]
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
    return replace(t, findings=diagnose.diagnose(t, mode=mode, timeout=timeout))


# --------------------------------------------------------------------------- middlebox proof


def _middlebox_proofs(
    works: Sequence[_Work],
    run: EngineRun,
    ports: Mapping[str, tuple[PortResult, ...]],
    engine: Engine,
    cfg: EngineConfig,
    packet_log: PacketLog | None,
) -> dict[str, tuple[PortEvidence, ...]]:
    """After the scan, before the engine closes (raw mode only): TTL-limited SYNs to the
    ports whose RST looks sent by a device in front of the host (middlebox.py chooses them;
    the host's distance may come from its echo replies, so this waits for the ping)."""
    if engine.method != "syn" or run.interrupted:
        return {}
    jobs: list[Job] = []
    for w in works:
        mine = ports.get(w.address or "", ())
        if any(p.state is PortState.REFUSED for p in mine):
            ping = w.ping.result() if isinstance(w.ping, Future) else w.ping
            jobs += middlebox.plan(w.address or "", mine, ping)
    if not jobs:
        return {}
    proof = engine.scan(jobs, cfg, packet_log=packet_log)
    if proof.interrupted:
        raise KeyboardInterrupt  # Ctrl-C during the proof: the report is marked interrupted
    return middlebox.by_address(proof.evidence)


def exit_status(report: Report) -> ExitStatus:
    """0 when every probed port of every target is open and no error was found; 3 when
    nothing could be probed for lack of a route; 130 when interrupted; 1 otherwise."""
    if report.interrupted:
        return ExitStatus.INTERRUPTED
    targets = report.targets
    if targets and all(
        t.route is not None and t.route.status is RouteStatus.NO_ROUTE for t in targets
    ):
        return ExitStatus.CANNOT_PROBE
    for t in targets:
        if t.dns.status not in (DnsStatus.OK, DnsStatus.LITERAL):
            return ExitStatus.PROBLEM
        if t.route is not None and t.route.status is not RouteStatus.OK:
            return ExitStatus.PROBLEM
        if not t.ports or any(p.state is not PortState.OPEN for p in t.ports):
            return ExitStatus.PROBLEM
        # Every port open, yet an error stands (duplicate IP, silent application, bad
        # certificate): that is still a problem found.
        if any(f.severity is Severity.ERROR for f in t.findings):
            return ExitStatus.PROBLEM
    return ExitStatus.OK


def select_ports(
    spec: str | None, profile_names: Sequence[str], profiles_dir: Sequence[object]
) -> tuple[PortRequest, ...]:
    """--ports and --profile together (a union, in port order); the 'common' profile when
    neither is given. A profile's service names win over the generic ones."""
    from pathlib import Path

    from probe.plan import profiles, targets

    if spec is not None and not profile_names:
        return targets.parse_ports(spec)  # already in port order, each port once
    dirs = [Path(str(d)) for d in profiles_dir]
    chosen: dict[int, PortRequest] = {}
    if spec is not None:
        chosen.update((p.port, p) for p in targets.parse_ports(spec))
    names = list(profile_names) or ([] if spec is not None else ["common"])
    for name in names:
        chosen.update((p.port, p) for p in profiles.get_profile(name, dirs).requests())
    return tuple(chosen[port] for port in sorted(chosen))


def default_adapters(opts: CheckOptions) -> Adapters:
    """The real network edge: dnspython, iproute2, icmplib, the SYN engine, packet sockets
    for ARP/ND (not in connect mode, nor without CAP_NET_RAW: then ``arp`` stays absent),
    and the protocol hellos when ``opts.app``."""
    # Each step's library loads when the step first runs: a check of address literals with
    # --no-ping never imports dnspython or icmplib.
    from probe.errors import NoPermission
    from probe.plan import targets
    from probe.steps import route

    def do_arp(asked: Sequence[tuple[str, RouteResult]]) -> Mapping[str, ArpResult | None]:
        from probe.steps import arp

        try:
            return arp.neighbours_many(asked, wait=max(0.3, min(opts.timeout, arp.DEFAULT_WAIT)))
        except (NoPermission, OSError):
            # not measured: the report says nothing rather than "no answer"
            return {address: None for address, _ in asked}

    def do_app(address: str, port: int, protocol: str | None, name: str | None) -> AppResult:
        from probe.steps import hello as app

        return app.hello(
            address, port, protocol, name, timeout=max(opts.timeout, app.DEFAULT_TIMEOUT)
        )

    def do_ping(address: str) -> PingResult:
        from probe.steps import ping

        try:
            return ping.ping(address, count=3, interval=0.2, timeout=min(opts.timeout, 1.0))
        except NoPermission as exc:
            # No way to send ICMP here: not a reason to stop the TCP checks.
            return PingResult(status=PingStatus.SKIPPED, detail=str(exc))

    return Adapters(
        resolve=resolve_name,
        literal=targets.literal_dns,
        route=route.lookup,
        ping=do_ping,
        open_engine=open_engine,
        arp=None if opts.connect else do_arp,
        app=do_app if opts.app else None,
    )


def resolve_name(
    name: str, nameservers: Sequence[str], timeout: float, families: tuple[int, ...]
) -> DnsResult:
    """The resolve adapter: dnspython, loaded on the first name to resolve."""
    from probe.steps import dns

    return dns.resolve(name, nameservers=nameservers, timeout=timeout, families=families)


def open_engine(force_connect: bool) -> EngineChoice:
    """Raw SYNs when the privilege is there; connect() otherwise, saying what is lost."""
    from probe.engine.connect import ConnectEngine
    from probe.errors import NoPermission

    if force_connect:
        return EngineChoice(ConnectEngine(), CONNECT_FORCED_NOTE)
    try:
        from probe.engine.raw import RawSynEngine

        return EngineChoice(RawSynEngine())
    except NoPermission:
        return EngineChoice(ConnectEngine(), CONNECT_NOTE)


# Past these, a run needs --yes: nobody scans a /16 by typo.
MAX_ADDRESSES = 256
MAX_PROBES = 100_000


def oversized(addresses: int, ports: int) -> str | None:
    """Why a run is too large to start unconfirmed, or None when it is not."""
    probes = addresses * ports
    if addresses > MAX_ADDRESSES or probes > MAX_PROBES:
        return (
            f"this run would probe {addresses} address{'es' if addresses != 1 else ''} x "
            f"{ports} port{'s' if ports != 1 else ''} = {probes} probes "
            f"(more than {MAX_ADDRESSES} addresses or {MAX_PROBES} probes)"
        )
    return None
