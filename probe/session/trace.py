"""``probe trace``: resolve, check the route, then send waves of TTL-limited SYNs (or, with
``--udp``, datagrams carrying the port's request) through the session's raw engine until the
trace ends; ``probe.diagnosis.trace`` reads the hops.

Sending: waves of ``WAVE`` TTLs at a time, several tries each (``--tries``); the trace ends
at the first hop that reached the target or got a reject, after ``silent_hops`` silent hops
past the last answer, or at ``max_hops``. Every probe of a trace has the same addresses and
ports (only the TTL and the sequence number differ), so routers that balance load by flow
send them all the same way (the idea of Paris traceroute) and the hops belong to one path.

Why UDP sends each TTL of a wave as a scan of its own: a SYN's sequence number carries a
cookie with its TTL, and the SYN/ACK, RST or ICMP quote gives it back, so one scan can hold
a whole wave. A datagram has no such field — its answers are matched by address, port and
the try number in our source port — so probes to one port at several TTLs inside one scan
could not be told apart. Each scan has a block of source ports of its own and the engine
routes every answer (a reply, or an ICMP error quoting our ports) to its scan, so one
concurrent scan per TTL keeps the hops apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from probe import payloads
from probe.diagnosis import outcome, registry
from probe.diagnosis.trace import contiguous, cut, hop_of, is_final, jobs, verdict, wave
from probe.engine.base import CANCEL_CHECK, Engine, EngineConfig, EngineRun, Job, PacketLog
from probe.errors import NoPermission
from probe.model import (
    Finding,
    Hop,
    PortEvidence,
    PortState,
    Protocol,
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
    replies: dict[int, bytes] = {}
    interrupted = False
    findings: tuple[Finding, ...] = ()
    found = resolve_target(
        target, opts.nameservers, opts.dns_timeout, opts.families, edge, opts.source
    )
    address, route = found.addresses[0] if found.addresses else (None, None)
    if address is not None and route is not None and route.status is RouteStatus.OK:
        hops, interrupted, replies = _walk(engine, address, opts, packet_log, cancel)
    else:  # nothing to trace: the checklist's gate finding says why
        t = TargetReport(input=target.input, address=address, dns=found.dns, route=route)
        findings = registry.diagnose(t)
    shown = cut(hops, opts.silent_hops)
    if address is not None and not findings:
        end = shown[-1].ttl if shown and is_final(shown[-1]) else None
        reply = replies.get(end) if end is not None else None
        result = verdict(shown, address, opts.port, opts.max_hops, opts.protocol, reply)
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
        protocol=opts.protocol,
    )


def _walk(
    engine: Engine,
    address: str,
    opts: TraceOptions,
    packet_log: PacketLog | None,
    cancel: threading.Event,
) -> tuple[list[Hop], bool, dict[int, bytes]]:
    """The hops from TTL 1 on, whether the walk was cut short, and each UDP answer's payload
    by TTL (for the verdict's words)."""
    cfg = EngineConfig(tries=opts.tries, timeout=opts.timeout)
    udp = opts.protocol is Protocol.UDP
    # An empty datagram draws no answer from most services: each probe carries the request
    # of the port's protocol, so the final hop can be a real answer.
    datagrams = payloads.payloads_for(opts.port) if udp else ()
    hops: list[Hop] = []
    replies: dict[int, bytes] = {}
    try:
        for _ in range(opts.max_hops):  # bounded: each wave adds at least one TTL or ends
            ttls = wave(hops, opts.max_hops, opts.silent_hops)
            if not ttls:
                break
            probes = jobs(address, opts.port, ttls, opts.protocol, datagrams, opts.source)
            if udp:
                evidence, stopped = _scan_per_ttl(engine, probes, cfg, packet_log, cancel)
            else:
                run = engine.scan(probes, cfg, packet_log=packet_log, cancel=cancel)
                evidence, stopped = list(run.evidence), run.interrupted
            for e in evidence:
                if e.reply is not None and e.probe_ttl is not None:
                    replies[e.probe_ttl] = e.reply
            got = contiguous(evidence, ttls.start)
            hops.extend(got)
            # A UDP wave leaves out the TTLs past its final answer (stopped: moot); otherwise
            # a TTL missing means the scan was cut short.
            ended = bool(got) and is_final(got[-1])
            if stopped or (len(got) < len(ttls) and not ended):
                return hops, True, replies
    except KeyboardInterrupt:
        return hops, True, replies
    return hops, False, replies


# Seconds between the starts of a wave's UDP scans, lowest TTL first. Every datagram of the
# wave that reaches the target draws its answer, and for a closed port that is an ICMP port
# unreachable, which hosts send sparingly (Linux: a burst of about 6, then one a second to
# each client): sending in TTL order gives the first hop that reaches the target — the one
# the verdict is about — the first token. Routers rate-limit their time exceeded the same
# way, which is why a silent hop in the middle of a path is no drop.
STAGGER = 0.005


def _scan_per_ttl(
    engine: Engine,
    probes: Sequence[Job],
    cfg: EngineConfig,
    packet_log: PacketLog | None,
    cancel: threading.Event,
) -> tuple[list[PortEvidence], bool]:
    """One scan per probe (TTL), all at once on the same engine: the evidence up to the
    first final answer, and whether the wave was cut short (cancel, Ctrl-C).

    Once a TTL has its final answer, the scans of the TTLs past it are stopped: what they
    would say is beyond the end of the path, and their retries would only spend the target's
    ICMP tokens. A Ctrl-C that reaches this thread stops every scan of the wave (within
    about 0.1 s) and keeps what they measured."""
    # One event per scan, not the session's: Ctrl-C or a final answer stops scans of this
    # wave only; the session's cancel is passed on to all of them.
    stops = [threading.Event() for _ in probes]
    futures: dict[Future[EngineRun], int] = {}
    final = len(probes)  # index of the lowest TTL with a final answer so far
    cut_short = False
    with ThreadPoolExecutor(len(probes), thread_name_prefix="probe-trace") as pool:
        try:
            for k, job in enumerate(probes):
                run = pool.submit(engine.scan, [job], cfg, packet_log=packet_log, cancel=stops[k])
                futures[run] = k
                if cancel.wait(STAGGER):
                    break
            pending = set(futures)
            # bounded: every scan ends after its tries, or within CANCEL_CHECK once stopped
            while pending:
                done, pending = wait(pending, CANCEL_CHECK, FIRST_COMPLETED)
                final = min([final, *(futures[f] for f in done if _ends_path(f))])
                for k, stop in enumerate(stops):
                    if k > final or cancel.is_set():
                        stop.set()
        except KeyboardInterrupt:
            cut_short = True
            for stop in stops:
                stop.set()
    evidence: list[PortEvidence] = []
    for future, k in futures.items():
        result = future.result()  # an engine failure is raised here, as a TCP scan's would be
        if k <= final:
            evidence.extend(result.evidence)
            cut_short = cut_short or result.interrupted
    return evidence, cut_short or len(futures) < min(final + 1, len(probes))


def _ends_path(done: Future[EngineRun]) -> bool:
    """A finished scan whose answer is final: the target's, or a reject on the way."""
    if done.exception() is not None:
        return False  # raised when the wave's results are read
    return any(is_final(hop_of(e)) for e in done.result().evidence)


def exit_status(report: TraceReport) -> ExitStatus:
    """0 when the probe reached an open port (a SYN/ACK, or a UDP answer); 3 when there was
    no route to send it on; 130 when interrupted; 1 otherwise (DNS failed, or the port is not
    open at the end: UDP's open|filtered included)."""
    return outcome.exit_status(
        interrupted=report.interrupted,
        cannot_probe=outcome.no_route_anywhere((report,)),
        problem=report.verdict.state is not PortState.OPEN,
    )
