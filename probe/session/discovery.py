"""Host discovery in a check of many addresses: who is alive, before any port is probed.

The walk's step between the route lookups and the port scan (check.py calls ``narrow``):
for more than 256 addresses, unless ``--all-hosts``, every address gets a SYN to 443 and a
bare ACK to 80 in one engine scan, an ICMP echo from the bulk sweep beside it (the edge's
``sweep``, on the worker pool), and the ARP/ND window check.py already asked for on-link
addresses is read. The addresses that answered nothing leave the run: no ping, no port
probe, no per-target report — the report's ``discovery`` record and one note count them
(diagnosis/discovery.py decides and words it).

``--rate`` covers discovery too: the engine gets two thirds of it (two probes per address),
the echo sweep one third.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, wait
from typing import TYPE_CHECKING, Protocol, TypeVar

from probe.diagnosis import discovery
from probe.diagnosis.discovery import Discovery, Probe
from probe.engine.base import EngineConfig, PacketLog
from probe.model import ArpResult
from probe.session.options import CheckOptions

if TYPE_CHECKING:
    from probe.session.check import Scope

_T = TypeVar("_T")
_POLL = 0.1  # seconds between looks at the cancel event while waiting for a background step


class Addressed(Protocol):
    """What discovery reads of check.py's work items."""

    address: str | None
    arp: Future[Mapping[str, ArpResult | None]] | None


_W = TypeVar("_W", bound=Addressed)


def narrow(
    scope: Scope,
    works: list[_W],
    probable: list[_W],
    opts: CheckOptions,
    packet_log: PacketLog | None,
    notes: list[str],
) -> tuple[list[_W], list[_W], Discovery | None]:
    """``(works, probable, discovery)`` without the addresses that did not answer discovery;
    all three unchanged (discovery None) when it does not run. ``notes`` gets the summary."""
    addresses = list(dict.fromkeys(w.address for w in probable if w.address is not None))
    if not discovery.wanted(len(addresses), opts.discover) or scope.cancel.is_set():
        return works, probable, None
    arp = next((w.arp for w in probable if w.arp is not None), None)
    found = discover(scope, addresses, arp, opts, packet_log, notes)
    alive = {a for a, _ in found.alive}
    asked = set(addresses)
    works = [w for w in works if w.address not in asked or w.address in alive]
    return works, [w for w in probable if w.address in alive], found


def discover(
    scope: Scope,
    addresses: Sequence[str],
    arp: Future[Mapping[str, ArpResult | None]] | None,
    opts: CheckOptions,
    packet_log: PacketLog | None,
    notes: list[str],
) -> Discovery:
    """Ask every address of ``addresses`` whether it is alive (module docstring)."""
    cancel = scope.cancel
    echo: Future[frozenset[str] | None] | None = None
    share = None if opts.rate is None else opts.rate / 3
    # --no-ping: no ICMP echo at all; nor with --source, as the sweep's raw ICMP sockets
    # send from the route's source: the TCP probes and ARP/ND alone ask who is alive.
    if opts.ping and opts.source is None and scope.edge.sweep is not None:
        sweep = scope.edge.sweep
        echo = scope.pool.submit(sweep, addresses, opts.timeout, share, cancel, packet_log)
    choice = scope.engine(opts.connect)
    cfg = EngineConfig(
        tries=min(opts.tries, discovery.TRIES),
        timeout=opts.timeout,
        rate=None if share is None else 2 * share,
        window=discovery.WINDOW,
    )
    asked = discovery.jobs(addresses, opts.source)
    run = choice.engine.scan(asked, cfg, packet_log=packet_log, cancel=cancel)
    echoed = _settle(echo, cancel)
    neighbours = _settle(arp, cancel)
    probes = discovery.tcp_probes(choice.engine.method)
    if echoed is not None:
        probes.insert(0, Probe.ECHO)
    if neighbours is not None and any(v is not None for v in neighbours.values()):
        probes.append(Probe.ARP)
    found = discovery.decide(
        addresses,
        probes,
        run.evidence,
        echoed or (),
        neighbours,
        interrupted=run.interrupted or cancel.is_set(),
    )
    if choice.note and not found.alive:  # no port scan follows to say it
        notes.append(choice.note)
    notes.append(discovery.summary(found))
    return found


def _settle(f: Future[_T] | None, cancel: threading.Event) -> _T | None:
    """A background step's result; None when there was none, or the run was cancelled."""
    if f is None:
        return None
    while not f.done():
        if cancel.is_set():
            f.cancel()
            return None
        wait([f], timeout=_POLL)
    return None if f.cancelled() else f.result()
