"""``probe analyze``: capture -> connection attempts -> findings, per server and port.

Pure: takes the decoded records of ``probe.capture.packets`` (``TcpSegment``,
``UdpDatagram``, ``IcmpRecord``) in file order and returns an ``Analysis``; no file, no
socket. This module
is the command's public surface (``analyze``, ``explain``, ``exit_status`` and the result
records); the work is in:

- ``tracker``: the streaming state machine that follows each attempt to its outcome
  (``stale``: the RSTs of an earlier connection on a reused port)
- ``attempt``, ``tally``: one attempt while followed; the bounded per-server aggregates
- ``flows``, ``udptally``, ``services``: the same for UDP flows, and what each UDP port's
  protocol does with a request (answers, or not by design)
- ``findings``: one server's outcomes worded by check's own rules (``udpfindings``: UDP's)
- ``scans``, ``groups``: one client's scan summarised; one server's many ports failing
  one way grouped into one finding
- ``summary``: per-server summaries and the conclusion across servers
- ``results``: the records handed to the report writers
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

from probe.capture.analyze.findings import server_findings
from probe.capture.analyze.groups import find_groups
from probe.capture.analyze.results import (
    CODES,
    FINE,
    OK,
    PROBLEMS,
    Analysis,
    AnalyzeFinding,
    Outcome,
    ServerSummary,
    endpoint,
)
from probe.capture.analyze.scans import find_scans
from probe.capture.analyze.summary import conclusion, server_summary
from probe.capture.analyze.tally import MAX_ENDPOINTS
from probe.capture.analyze.tracker import EXPIRE, MAX_WAITING, TOO_LATE, Analyzer
from probe.capture.analyze.udpfindings import rate_limit_notes, udp_findings
from probe.capture.packets import Record
from probe.capture.times import clock
from probe.diagnosis import outcome
from probe.diagnosis.words import plural
from probe.model import Protocol
from probe.status import ExitStatus


def analyze(records: Iterable[Record]) -> Analysis:
    """Read the records to the end and explain what happened to every connection attempt."""
    a = Analyzer()
    a.feed(records)
    outcomes = a.finish()
    notes: list[str] = []
    if a.trace_probes:
        notes.append(
            f"{a.trace_probes} SYNs sent with a low TTL and answered by ICMP time exceeded "
            "were left out: traceroute probes, not connection attempts."
        )
    if a.unkept:
        notes.append(
            f"{a.unkept} attempts to further server ports were counted but not analysed: the "
            f"analysis keeps at most {MAX_ENDPOINTS} server ports."
        )
    if a.undecided:
        notes.append(
            f"{a.undecided} {plural(a.undecided, 'SYN')} in the last {TOO_LATE:g} s of the "
            "capture had no time to be answered: left out."
        )
    if a.backwards:
        notes.append(
            f"The capture's clock went back {a.backwards} {plural(a.backwards, 'time')} (by up "
            f"to {a.backwards_by:.1f} s): files merged out of order, or a clock set back while "
            "capturing; the attempts open at each step were judged there."
        )
    if a.recent.stale:
        notes.append(
            f"{a.recent.stale} {plural(a.recent.stale, 'RST')} after a new SYN continued the "
            "connection that client port had completed just before (its sequence numbers): "
            "that connection's, late, not an answer to the SYN; the client ignores it, and "
            "so did the analysis."
        )
    if a.early:
        notes.append(
            f"{a.early} attempts were judged before {EXPIRE:g} s had passed: more than "
            f"{MAX_WAITING} were waiting for an answer at once (a SYN flood or a scan?)."
        )
    notes.extend(_udp_notes(a))
    return explain(outcomes, a.attempts, notes, a.udp.flows_seen)


def _udp_notes(a: Analyzer) -> list[str]:
    u = a.udp
    notes: list[str] = []
    if u.broadcast:
        notes.append(
            f"{u.broadcast} UDP {plural(u.broadcast, 'datagram')} to multicast or broadcast "
            "addresses (255.255.255.255, addresses ending in .255, 224.0.0.0/4, ff00::/8: "
            "mDNS, SSDP, DHCP, NetBIOS chatter) were left out: no server stands behind them."
        )
    if u.trace_probes:
        notes.append(
            f"{u.trace_probes} UDP {plural(u.trace_probes, 'datagram')} sent with a low TTL "
            "(or to traceroute's ports 33434-33534) and answered by ICMP or nothing were left "
            "out: traceroute probes, not requests."
        )
    if u.undecided:
        notes.append(
            f"{u.undecided} lone UDP {plural(u.undecided, 'datagram')} in the last "
            f"{TOO_LATE:g} s of the capture had no time to be answered: left out."
        )
    if u.tallies.unkept:
        notes.append(
            f"{u.tallies.unkept} UDP flows to further server ports were counted but not "
            f"analysed: the analysis keeps at most {MAX_ENDPOINTS} server ports."
        )
    if u.early:
        notes.append(
            f"{u.early} UDP flows were judged before {EXPIRE:g} s of quiet: more than "
            f"{u.max_flows} were open at once."
        )
    return notes


def explain(
    outcomes: Sequence[Outcome],
    attempts: int | None = None,
    notes: Sequence[str] = (),
    flows: int | None = None,
) -> Analysis:
    """Findings, per-server summaries and the conclusion for a set of outcomes (``attempts``
    TCP attempts and ``flows`` UDP flows, counted from the outcomes when None)."""
    order = {code: i for i, code in enumerate(CODES)}
    outcomes = sorted(
        outcomes,
        key=lambda o: (_addr_key(o.server), o.protocol is Protocol.UDP, o.port, order[o.code]),
    )
    by_server: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_server.setdefault(o.server, []).append(o)
    findings: list[AnalyzeFinding] = []
    servers: list[ServerSummary] = []
    for address, mine in by_server.items():
        tcp = [o for o in mine if o.protocol is Protocol.TCP]
        findings.extend(server_findings(address, tcp) if tcp else ())
        findings.extend(udp_findings(mine))
        servers.append(server_summary(address, mine))
    findings.sort(key=lambda f: (f.code in FINE, order[f.code], _addr_key(f.outcome.server)))
    tcp_outcomes = [o for o in outcomes if o.protocol is Protocol.TCP]
    total = sum(o.count for o in tcp_outcomes) if attempts is None else attempts
    if flows is None:
        flows = sum(o.count for o in outcomes if o.protocol is Protocol.UDP)
    scans = find_scans(outcomes)
    groups = find_groups(outcomes, skip=lambda o: any(s.holds(o) for s in scans))
    summary = conclusion(servers, total, flows=flows)
    if not servers and notes:  # the notes say what was left out: not "nothing to analyse"
        summary = ("No connection attempt in the capture could be judged: see the notes.",)
    if scans:
        # The verdict speaks of the scan, then of the servers the scan does not explain.
        rest: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if not any(s.holds(o) for s in scans):
                rest.setdefault(o.server, []).append(o)
        others = [server_summary(a, mine) for a, mine in rest.items()]
        left = [o for mine in rest.values() for o in mine]
        tcp_left = sum(o.count for o in left if o.protocol is Protocol.TCP)
        udp_left = sum(o.count for o in left if o.protocol is Protocol.UDP)
        said = conclusion(others, tcp_left, "outside the scan", udp_left) if others else ()
        summary = (*(s.words for s in scans), *said)
    return Analysis(
        outcomes=tuple(outcomes),
        findings=tuple(findings),
        servers=tuple(servers),
        summary=summary,
        attempts=total,
        notes=(*notes, *rate_limit_notes(outcomes)),
        scans=scans,
        flows=flows,
        groups=groups,
        grouped=frozenset(m for g in groups for m in g.members),
    )


def exit_status(analysis: Analysis, *, interrupted: bool = False) -> ExitStatus:
    """0 when every attempt completed, 1 when a problem pattern was found, 130 when the
    reading was interrupted (the contract)."""
    return outcome.exit_status(
        interrupted=interrupted, cannot_probe=False, problem=analysis.problem
    )


def _addr_key(address: str) -> tuple[int, bytes]:
    six = ":" in address
    return (6 if six else 4), socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, address)


__all__ = [
    "CODES",
    "FINE",
    "OK",
    "PROBLEMS",
    "Analysis",
    "AnalyzeFinding",
    "Analyzer",
    "Outcome",
    "ServerSummary",
    "analyze",
    "clock",
    "endpoint",
    "exit_status",
    "explain",
]
