"""The record the watch rules read: one attempt of a series (``probe watch``, ``check
--repeat``), and how a classified port becomes one."""

from __future__ import annotations

from dataclasses import dataclass

from probe.model import PortResult, PortState, Protocol, TcpOptions


@dataclass(frozen=True, slots=True)
class Attempt:
    """One probe of one port in a series (``probe watch``, ``check --repeat``): when it
    left, what came back. ``round`` numbers the rounds from 0; every port of a round leaves
    at the same moment, so the rules can line up the ports of a host. ``time`` is the wall
    clock (seconds since the epoch) at the start of its round."""

    time: float
    round: int
    target: str  # as typed
    address: str
    port: int
    protocol: Protocol
    state: PortState
    reason: str
    tries: int  # probes sent for it: above 1, the first went unanswered
    responder: str | None = None
    ttl: int | None = None
    rtt_ms: float | None = None
    window: int | None = None
    tcp_options: TcpOptions | None = None
    ip_id: int | None = None


def attempt_of(p: PortResult, *, time: float, round: int, target: str, address: str) -> Attempt:
    """One classified port as an attempt of round ``round``."""
    return Attempt(
        time,
        round,
        target,
        address,
        p.port,
        p.protocol,
        p.state,
        p.reason,
        p.tries,
        p.responder,
        p.ttl,
        p.rtt_ms,
        p.window,
        p.tcp_options,
        p.ip_id,
    )
