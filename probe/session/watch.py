"""``probe watch``: the checklist's steps once, then the same probes again and again, every
attempt recorded; at the end the statistics and the findings (diagnosis/watch).

The steps (DNS, route, ping) are the check's own (``run_check`` with no ports); each round is
one scan of every watched (address, port) through the session's engine, so each round's
SYNs leave from a fresh block of source ports, as a real client's next connection does from
a new ephemeral port (the receiver hands blocks out round-robin). ``resolve_every`` asks DNS
again every N rounds: a changed answer is recorded, and the following rounds probe the new
address.

Bounded: by ``count`` and ``duration`` when given, by the cancel event (Ctrl-C), and always
by ``MAX_ATTEMPTS`` attempts in all. What was measured is kept when the run stops early; a
round cut short by Ctrl-C is dropped, so every series has the same rounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from probe.diagnosis import classify
from probe.diagnosis.watch.attempt import Attempt, attempt_of
from probe.diagnosis.watch.names import Resolution
from probe.diagnosis.watch.report import WatchResult, conclude
from probe.engine.base import EngineConfig, Job, PacketLog
from probe.model import (
    DnsStatus,
    PortEvidence,
    Protocol,
    Report,
    RouteStatus,
    Target,
    TargetReport,
)
from probe.session import udp
from probe.session.check import Scope, run_check
from probe.session.options import CheckOptions
from probe.session.resolve import client_addresses, resolve_target

MAX_ATTEMPTS: Final = 1_000_000  # attempts in one watch, whatever the count or duration
TICK: Final = 0.1  # seconds between looks at the cancel event (and at the keyboard) in a pause

StartFn = Callable[[Report], None]  # the checklist's steps done, before the first round
RoundFn = Callable[[Sequence[Attempt]], None]
LookupFn = Callable[[Resolution, Resolution | None], None]  # (this lookup, the one before)


@dataclass(frozen=True)
class WatchOptions:
    check: CheckOptions  # ports, tries, timeout, resolvers, families, ping, connect, rate
    interval: float = 1.0  # seconds from the start of one round to the start of the next
    count: int | None = None  # rounds; None: until duration, Ctrl-C or MAX_ATTEMPTS
    duration: float | None = None  # seconds
    resolve_every: int | None = None  # rounds between DNS lookups of the names


@dataclass
class Watched:
    target: str
    address: str
    name: Target | None  # the target when it is a name (asked again with resolve_every)


def run_watch(
    scope: Scope,
    targets: Sequence[Target],
    opts: WatchOptions,
    *,
    on_start: StartFn | None = None,
    on_round: RoundFn | None = None,
    on_lookup: LookupFn | None = None,
    on_tick: Callable[[], None] | None = None,
    packet_log: PacketLog | None = None,
) -> WatchResult:
    started = time.time()
    steps = replace(opts.check, ports=())
    preflight = run_check(scope, targets, steps, packet_log=packet_log)
    watched = [
        Watched(t.input, t.address, _name_of(targets, t.input))
        for t in preflight.targets
        if t.address is not None and t.route is not None and t.route.status is RouteStatus.OK
    ]
    lookups = [_first_lookup(t, started) for t in preflight.targets if _named(t, targets)]
    attempts: list[Attempt] = []
    rounds = 0
    interrupted = preflight.interrupted
    cancel = scope.cancel
    services = {(p.port, p.protocol): p.service for p in opts.check.ports}
    if watched and opts.check.ports and not interrupted:
        choice = scope.engine(opts.check.connect)
        if choice.note:
            preflight = replace(preflight, notes=(*preflight.notes, choice.note))
        preflight = replace(preflight, mode=choice.engine.method)
        if on_start is not None:
            on_start(preflight)
        cfg = EngineConfig(tries=opts.check.tries, timeout=opts.check.timeout, rate=opts.check.rate)
        per_round = len({w.address for w in watched}) * len(opts.check.ports)
        limit = max(1, MAX_ATTEMPTS // max(1, per_round))
        if opts.count is not None:
            limit = min(limit, opts.count)
        deadline = None if opts.duration is None else time.monotonic() + opts.duration
        while rounds < limit and not cancel.is_set():
            begun = time.monotonic()
            if deadline is not None and begun >= deadline:
                break
            if opts.resolve_every and rounds and rounds % opts.resolve_every == 0:
                lookups += _lookup_again(scope, opts.check, watched, rounds, lookups, on_lookup)
            now = time.time()
            jobs = _jobs(watched, opts.check)
            run = choice.engine.scan(jobs, cfg, packet_log=packet_log, cancel=cancel)
            if run.interrupted:
                interrupted = True
                break
            got = attempts_of_round(run.evidence, watched, services, now, rounds)
            attempts += got
            rounds += 1
            if on_round is not None:
                on_round(got)
            if rounds < limit and _pause(begun + opts.interval, deadline, cancel, on_tick):
                interrupted = True
                break
    elif on_start is not None:
        on_start(preflight)
    return conclude(
        preflight,
        attempts,
        lookups,
        rounds=rounds,
        started=started,
        ended=time.time(),
        interval=opts.interval,
        services=services,
        interrupted=interrupted or cancel.is_set(),
    )


def _pause(
    until: float,
    deadline: float | None,
    cancel: threading.Event,
    on_tick: Callable[[], None] | None,
) -> bool:
    """Wait until the next round is due; True when cancelled meanwhile."""
    if deadline is not None:
        until = min(until, deadline)
    while True:
        left = until - time.monotonic()
        if on_tick is not None:
            on_tick()
        if left <= 0:
            return cancel.is_set()
        if cancel.wait(min(left, TICK)):
            return True


def _jobs(watched: Sequence[Watched], opts: CheckOptions) -> list[Job]:
    addresses = dict.fromkeys(w.address for w in watched)
    return [udp.job(a, p.port, p.protocol, opts) for a in addresses for p in opts.ports]


def attempts_of_round(
    evidence: Sequence[PortEvidence],
    watched: Sequence[Watched],
    services: Mapping[tuple[int, Protocol], str | None],
    now: float,
    rounds: int,
) -> list[Attempt]:
    out: list[Attempt] = []
    for ev in evidence:
        p = classify.classify(ev, services.get((ev.port, ev.protocol)))
        out += [
            attempt_of(p, time=now, round=rounds, target=w.target, address=w.address)
            for w in watched
            if w.address == ev.address
        ]
    return out


def _name_of(targets: Sequence[Target], given: str) -> Target | None:
    return next((t for t in targets if t.input == given and t.address is None), None)


def _named(t: TargetReport, targets: Sequence[Target]) -> bool:
    return t.dns.status is not DnsStatus.LITERAL and _name_of(targets, t.input) is not None


def _first_lookup(t: TargetReport, when: float) -> Resolution:
    return Resolution(when, 0, t.input, client_addresses(t.dns))


def _lookup_again(
    scope: Scope,
    opts: CheckOptions,
    watched: list[Watched],
    rounds: int,
    earlier: Sequence[Resolution],
    on_lookup: LookupFn | None,
) -> list[Resolution]:
    """Ask for every watched name again; a name whose chosen address changed is probed at
    the new one from this round on."""
    out: list[Resolution] = []
    for w in watched:
        if w.name is None or any(r.target == w.target for r in out):
            continue
        found = resolve_target(
            w.name, opts.nameservers, opts.dns_timeout, opts.families, scope.edge, opts.source
        )
        r = Resolution(time.time(), rounds, w.target, client_addresses(found.dns))
        before = next((x for x in reversed(earlier) if x.target == w.target), None)
        out.append(r)
        if on_lookup is not None:
            on_lookup(r, before)
        chosen = [a for a, route in found.addresses if route.status is RouteStatus.OK]
        if chosen and w.address not in chosen:
            w.address = chosen[0]
    return out
