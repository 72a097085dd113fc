"""``probe analyze``: capture -> connection attempts -> findings, per server and port.

Pure: takes the decoded records of ``probe.capture.packets`` (``TcpSegment``,
``IcmpRecord``) in file order and returns an ``Analysis``; no file, no socket. This module
is the command's public surface (``analyze``, ``explain``, ``exit_status`` and the result
records); the work is in:

- ``tracker``: the streaming state machine that follows each attempt to its outcome
- ``attempt``, ``tally``: one attempt while followed; the bounded per-server aggregates
- ``findings``: one server's outcomes worded by check's own rules
- ``summary``: per-server summaries and the conclusion across servers
- ``results``: the records handed to the report writers
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence

from probe.capture.analyze.findings import server_findings
from probe.capture.analyze.results import (
    CODES,
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
from probe.capture.packets import Record
from probe.capture.times import clock
from probe.diagnosis import outcome
from probe.diagnosis.words import plural
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
    if a.early:
        notes.append(
            f"{a.early} attempts were judged before {EXPIRE:g} s had passed: more than "
            f"{MAX_WAITING} were waiting for an answer at once (a SYN flood or a scan?)."
        )
    return explain(outcomes, a.attempts, notes)


def explain(
    outcomes: Sequence[Outcome], attempts: int | None = None, notes: Sequence[str] = ()
) -> Analysis:
    """Findings, per-server summaries and the conclusion for a set of outcomes."""
    order = {code: i for i, code in enumerate(CODES)}
    outcomes = sorted(outcomes, key=lambda o: (_addr_key(o.server), o.port, order[o.code]))
    by_server: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_server.setdefault(o.server, []).append(o)
    findings: list[AnalyzeFinding] = []
    servers: list[ServerSummary] = []
    for address, mine in by_server.items():
        findings.extend(server_findings(address, mine))
        servers.append(server_summary(address, mine))
    findings.sort(key=lambda f: (f.code == OK, order[f.code], _addr_key(f.outcome.server)))
    total = sum(o.count for o in outcomes) if attempts is None else attempts
    scans = find_scans(outcomes)
    summary = conclusion(servers, total)
    if not servers and notes:  # the notes say what was left out: not "nothing to analyse"
        summary = ("No connection attempt in the capture could be judged: see the notes.",)
    if scans:
        # The verdict speaks of the scan, then of the servers the scan does not explain.
        members = {m for s in scans for m in s.members}
        rest: dict[str, list[Outcome]] = {}
        for o in outcomes:
            if (o.server, o.port) not in members:
                rest.setdefault(o.server, []).append(o)
        others = [server_summary(a, mine) for a, mine in rest.items()]
        left = sum(o.count for mine in rest.values() for o in mine)
        said = conclusion(others, left, "outside the scan") if others else ()
        summary = (*(s.words for s in scans), *said)
    return Analysis(
        outcomes=tuple(outcomes),
        findings=tuple(findings),
        servers=tuple(servers),
        summary=summary,
        attempts=total,
        notes=tuple(notes),
        scans=scans,
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
