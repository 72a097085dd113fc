"""What the check does for UDP ports beyond what it does for every port: the request each
datagram carries, what its answer decodes as, and (``--wait-for-icmp``) a second, paced pass
over the ports left silent.

Why the paced pass: a closed UDP port is known only by its host's ICMP port unreachable, and
hosts send those slowly — Linux a burst of 6, then one a second to each client
(net.ipv4.icmp_ratelimit) — so a fast scan of many closed ports draws a few refusals and then
silence. Probing the silent ports again one a second per host gives each probe a fresh token,
and every closed port its refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from itertools import repeat

from probe import payloads
from probe.engine.base import Engine, EngineConfig, Job, PacketLog
from probe.model import AnswerKind, AppResult, PortEvidence, PortResult, PortState, Protocol
from probe.session.options import CheckOptions

# seconds between the paced probes to one host: a token has come back (Linux refills one a
# second; the margin is for timer ticks)
ICMP_INTERVAL = 1.02
PACED_TRIES = 2


def payloads_of(protocol: Protocol, port: int, opts: CheckOptions) -> tuple[bytes, ...]:
    """What a probe to ``port`` carries: nothing for TCP; for UDP the user's payload, else
    the request of the port's protocol (payloads/), else an empty datagram."""
    if protocol is Protocol.TCP:
        return ()
    if opts.payload is not None:
        return (opts.payload,)
    return payloads.payloads_for(port)


Endpoint = tuple[int, Protocol]


def jobs(address: str, endpoints: Iterable[Endpoint], opts: CheckOptions) -> list[Job]:
    """The probes of one address: ``job`` for each (port, protocol), a full range's 65535
    TCP ports made at C speed (they carry nothing)."""
    out: list[Job] = []
    tcp: list[int] = []
    for port, protocol in endpoints:
        if protocol is Protocol.TCP:
            tcp.append(port)
        else:
            if tcp:
                out += _tcp_jobs(address, tcp, opts)
                tcp = []
            out.append(job(address, port, protocol, opts))
    return out + _tcp_jobs(address, tcp, opts)


def _tcp_jobs(address: str, ports: list[int], opts: CheckOptions) -> list[Job]:
    n = len(ports)
    ttl, tcp, source = repeat(64, n), repeat(Protocol.TCP, n), repeat(opts.source, n)
    addresses, nothing, syn = repeat(address, n), repeat((), n), repeat(False, n)
    fields = zip(addresses, ports, ttl, tcp, nothing, syn, source, strict=True)
    # tuple.__new__, as namedtuple's own _make uses it: the named tuples made in C.
    jobs: list[Job] = list(map(tuple.__new__, repeat(Job, n), fields))
    return jobs


def job(address: str, port: int, protocol: Protocol, opts: CheckOptions) -> Job:
    """The probe of one port of a run: what it carries, and the run's --source."""
    return Job(
        address,
        port,
        protocol=protocol,
        payloads=payloads_of(protocol, port, opts),
        source=opts.source,
    )


def annotate(e: PortEvidence, result: PortResult, opts: CheckOptions) -> PortResult:
    """A UDP port's result with the request sent and what the answer decodes as: the proof
    that a service answered (and, with --app, its application evidence)."""
    custom = opts.payload is not None
    known = None if custom else payloads.request_for(e.port)
    request = "the given payload" if custom else None
    if known is not None:
        request = known.request
    decoded = None
    if e.reply is not None:
        decoded = None if custom else payloads.decode(e.port, e.reply)
        decoded = decoded or f"{len(e.reply)} bytes"
    app = None
    if opts.app and decoded is not None:
        app = AppResult(
            status="answered", protocol=known.protocol if known else "udp", banner=decoded
        )
    return replace(result, request=request, decoded=decoded, app=app)


def silent_jobs(ports: Mapping[str, Sequence[PortResult]], opts: CheckOptions) -> list[Job]:
    """The UDP ports of every address left open|filtered: the paced pass's probes."""
    return [
        job(address, p.port, Protocol.UDP, opts)
        for address, mine in ports.items()
        for p in mine
        if p.protocol is Protocol.UDP and p.state is PortState.OPEN_FILTERED
    ]


def paced_pass(
    engine: Engine,
    jobs: Sequence[Job],
    cfg: EngineConfig,
    *,
    packet_log: PacketLog | None,
    cancel: threading.Event,
) -> tuple[dict[tuple[str, int], PortEvidence], bool]:
    """Probe ``jobs`` again at one probe per ICMP_INTERVAL per host; the answers that came,
    by (address, port), and whether the pass was interrupted. Two tries each: at this pace a
    closed port's refusal comes back unless the host's token came a little late (its clock
    ticks in jiffies) or the error was lost; a dropped port costs a second per try."""
    hosts = len({j.address for j in jobs})
    paced = replace(cfg, tries=PACED_TRIES, rate=hosts / ICMP_INTERVAL)
    run = engine.scan(jobs, paced, packet_log=packet_log, cancel=cancel)
    got = {(e.address, e.port): e for e in run.evidence if e.answer is not AnswerKind.NONE}
    return got, run.interrupted


def merge(
    evidence: Sequence[PortEvidence], answers: Mapping[tuple[str, int], PortEvidence]
) -> tuple[PortEvidence, ...]:
    """The first pass's evidence with each silent UDP port replaced by its paced answer; the
    tries of both passes add up."""
    out = []
    for e in evidence:
        later = answers.get((e.address, e.port)) if e.protocol is Protocol.UDP else None
        if later is not None and e.answer is AnswerKind.NONE:
            e = replace(later, tries=e.tries + later.tries)
        out.append(e)
    return tuple(out)
