"""Audit verdicts (pure): a check report held against an ``AuditPlan``'s expectations.

For each expectation: ``pass``; ``fail`` (probed, another state came back); ``error`` (could
not be checked: the name did not resolve, no route, interrupted). A name with IPv4 and IPv6
addresses is probed on both (unless -4/-6): an expectation holds only if it holds on each.
For each one that does not hold, the finding that explains it is picked from the report.
Expectations meet port results by (port, protocol): 53/tcp and 53/udp are two ports.

UDP silence (``open|filtered``) cannot tell a firewall dropping the datagram from a service
that ignored the request, so the verdict says which reading it took: ``udp_open`` fails on it
(the service did not answer), ``udp_blocked`` and ``udp_filtered`` pass on it (nothing
answered), each message saying that silence could also be a mute service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from probe.model import (
    Finding,
    Method,
    PortResult,
    PortState,
    Protocol,
    Report,
    RouteStatus,
    Severity,
    TargetReport,
)
from probe.plan.audit import AuditHost, AuditPlan, Expect, Expectation


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # probed, and another state came back
    ERROR = "error"  # could not be checked (DNS, no route, interrupted)


# The code of the explanation given when a port is open but was expected not to be. It is
# made by the audit for its verdicts (JSON, JUnit, terminal), never part of a check's findings:
# an open port is not a problem for `probe check`.
PORT_OPEN_CODE = "port-open"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Observation:
    """What one address of the host did on the port; ``state`` None: not probed."""

    address: str | None
    state: PortState | None
    verdict: Verdict


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation, checked. ``message`` is the one-line verdict ("expected open,
    observed refused"); ``finding`` the finding that explains a failure (None on a pass)."""

    expectation: Expectation
    verdict: Verdict
    observations: tuple[Observation, ...]
    message: str
    finding: Finding | None = None


@dataclass(frozen=True)
class HostResult:
    host: AuditHost
    targets: tuple[TargetReport, ...]  # one per address probed (IPv4 and IPv6), or a failed name
    results: tuple[ExpectationResult, ...]
    seconds: float = 0.0  # wall time of the run that probed this host

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict is verdict)


@dataclass(frozen=True)
class AuditResult:
    plan: AuditPlan
    report: Report  # every host's check report, in the file's order
    hosts: tuple[HostResult, ...]
    seconds: float = 0.0
    started: str = ""  # ISO 8601 UTC time the run started

    def count(self, verdict: Verdict) -> int:
        return sum(h.count(verdict) for h in self.hosts)

    @property
    def total(self) -> int:
        return sum(len(h.results) for h in self.hosts)

    @property
    def ok(self) -> bool:
        return self.count(Verdict.PASS) == self.total and not self.report.interrupted


# --------------------------------------------------------------------------- evaluation (pure)


def evaluate(
    plan: AuditPlan,
    report: Report,
    by_host: Mapping[str, Sequence[TargetReport]] | None = None,
) -> tuple[HostResult, ...]:
    """Compare the report with the plan's expectations, host by host, in the file's order.

    ``by_host`` maps a host's target (as written) to its target reports; by default they are
    found in ``report`` by their ``input``."""
    out: list[HostResult] = []
    for host in plan.hosts:
        if by_host is not None:
            targets = tuple(by_host.get(host.name, ()))
        else:
            targets = tuple(t for t in report.targets if t.input == host.name)
        # Each target's ports looked up once, by (port, protocol): linear in the ports.
        indexes = [{(p.port, p.protocol): p for p in t.ports} for t in targets]
        results = tuple(
            _check(e, targets, indexes, report.mode, report.interrupted) for e in host.expectations
        )
        out.append(HostResult(host=host, targets=targets, results=results))
    return tuple(out)


def _check(
    e: Expectation,
    targets: Sequence[TargetReport],
    indexes: Sequence[Mapping[tuple[int, Protocol], PortResult]],
    mode: Method,
    interrupted: bool,
) -> ExpectationResult:
    observations: list[Observation] = []
    ports: list[PortResult | None] = []
    for t, by_port in zip(targets, indexes, strict=True):
        p = by_port.get((e.port, e.protocol))
        ports.append(p)
        if p is None:
            observations.append(Observation(t.address, None, Verdict.ERROR))
        else:
            ok = e.expect.holds(p.state, e.protocol)
            observations.append(
                Observation(t.address, p.state, Verdict.PASS if ok else Verdict.FAIL)
            )
    if not targets:
        observations.append(Observation(None, None, Verdict.ERROR))
    verdicts = {o.verdict for o in observations}
    verdict = (
        Verdict.FAIL
        if Verdict.FAIL in verdicts
        else Verdict.ERROR
        if Verdict.ERROR in verdicts
        else Verdict.PASS
    )
    if verdict is Verdict.PASS:
        return ExpectationResult(e, verdict, tuple(observations), _message(e, observations))
    # The first address whose observation decided the verdict explains it.
    index = next(i for i, o in enumerate(observations) if o.verdict is verdict)
    decided = targets[index] if targets else None
    port = ports[index] if targets else None
    if verdict is Verdict.ERROR:
        why = _not_checked(decided, interrupted)
        message = f"expected {e.expect}, not checked: {why}"
        finding = _gate_finding(decided)
    else:
        assert decided is not None and port is not None
        message = _message(e, observations)
        finding = _explaining(decided, port, mode)
    return ExpectationResult(e, verdict, tuple(observations), message, finding)


def _message(e: Expectation, observations: Sequence[Observation]) -> str:
    """ "expected open, observed refused"; per address when the addresses differ; and what
    UDP silence means for this expectation when it was seen."""
    words = [str(o.state) if o.state is not None else "not probed" for o in observations]
    if len(set(words)) == 1:
        message = f"expected {e.expect}, observed {words[0]}"
    else:
        each = ", ".join(f"{w} on {o.address}" for w, o in zip(words, observations, strict=True))
        message = f"expected {e.expect}, observed {each}"
    if any(o.state is PortState.OPEN_FILTERED for o in observations):
        message += _SILENCE[e.expect]
    return message


# What open|filtered (UDP silence) means beside each expectation: UDP has no handshake, so a
# firewall that drops the datagram and a service that ignores the request look the same.
_SILENCE = {
    Expect.OPEN: ": the service did not answer the request (a firewall may drop it, or the "
    "service ignores this request)",
    Expect.BLOCKED: " (taken as blocked: nothing answered, though a service that ignores the "
    "request is silent too)",
    Expect.FILTERED: " (silence: a firewall dropping it, or a service that ignores the request)",
    Expect.REFUSED: ": no ICMP port unreachable came back (dropped, or a service that ignores "
    "the request)",
}


def _not_checked(t: TargetReport | None, interrupted: bool) -> str:
    if t is None:
        return "the run was interrupted before this host" if interrupted else "nothing probed"
    if t.address is None:  # a hosts-file answer probes a name DNS does not know
        return f"{t.input} did not resolve (DNS {t.dns.status})"
    if t.route is not None and t.route.status is RouteStatus.NO_ROUTE:
        return f"this client has no route to {t.address}"
    if interrupted:
        return "the run was interrupted"
    return "the port was not probed"


def _gate_finding(t: TargetReport | None) -> Finding | None:
    """The finding that stopped a target before its ports (DNS failure, no route)."""
    if t is None:
        return None
    return next((f for f in t.findings if f.severity is Severity.ERROR and not f.ports), None)


def _explaining(t: TargetReport, p: PortResult, mode: Method) -> Finding | None:
    """The finding that explains the port's state: the first error finding naming the port
    (and its protocol), else the first warning; for an unexpectedly open port, a
    ``port-open`` explanation."""
    for severity in (Severity.ERROR, Severity.WARNING):
        for f in t.findings:
            if f.severity is severity and _names(f, p.port, p.protocol):
                return f
    if p.state is PortState.OPEN:
        return _open_explanation(t, p, mode)
    return _gate_finding(t)


def _names(f: Finding, port: int, protocol: Protocol) -> bool:
    """Whether the finding is about this port over this protocol (``protocols`` empty: every
    port it names is TCP)."""
    if not f.protocols:
        return protocol is Protocol.TCP and port in f.ports
    return any(n == port and pr is protocol for n, pr in zip(f.ports, f.protocols, strict=False))


def _open_explanation(t: TargetReport, p: PortResult, mode: Method) -> Finding:
    host = t.address or t.input
    udp = p.protocol is Protocol.UDP
    label = f"{p.port}/udp" if udp else str(p.port)
    if udp:
        seen = f"UDP answer from {p.responder or host} on {label}"
        seen += f" ({p.decoded})" if p.decoded else ""
        if mode is Method.CONNECT:
            seen = f"a connected UDP socket to {label} on {host} got an answer"
    elif mode is Method.CONNECT:
        seen = f"connect() to {p.port} on {host} succeeded"
    else:
        seen = f"SYN/ACK from {p.responder or host} on {p.port}"
    if p.ttl is not None and mode is not Method.CONNECT:
        seen += f" with TTL {p.ttl}"
    service = f" ({p.service})" if p.service else ""
    source = t.route.source if t.route is not None and t.route.source else "this client"
    what = "answers the request" if udp else "listens there"
    sent = "the datagram" if udp else "the SYN"
    return Finding(
        code=PORT_OPEN_CODE,
        severity=Severity.ERROR,
        ports=(p.port,),
        protocols=(p.protocol,) if udp else (),
        summary=f"Port {label}{service} on {host} is open: something {what} and no "
        f"firewall on the way drops or rejects {sent}.",
        evidence=(seen,),
        next_steps=(
            f"if {label} must not be reachable from here: stop the service on {host} or bind "
            "it to another address",
            f"to block it instead, add a firewall rule (on {host} or in front of it) that drops "
            f"{p.protocol.upper()} {p.port} from {source}",
        ),
    )
