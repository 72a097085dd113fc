"""One server's outcomes -> findings, worded by the same rules as ``probe check``.

Each port is put to check's diagnosis as check would have recorded it (``registry.diagnose``
with ``Source.CAPTURE``: no ping step, and the capture's own line counts the SYNs), so a
helpdesk reads the same sentences whether the packets were sent by probe or by the user's own
client. The capture's own evidence (who, how many SYNs, when) comes first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from probe.capture.analyze.injected import injected_finding
from probe.capture.analyze.results import (
    INCOMPLETE,
    OK,
    PROBLEMS,
    REFUSED,
    REJECTED,
    RST_INJECTED,
    UNANSWERED,
    AnalyzeFinding,
    Outcome,
    hop_limit_words,
    ttl_words,
)
from probe.capture.times import clock
from probe.diagnosis import classify
from probe.diagnosis.context import Source
from probe.diagnosis.registry import diagnose
from probe.diagnosis.words import plural
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    Finding,
    Method,
    PortEvidence,
    PortResult,
    PortState,
    RouteResult,
    RouteStatus,
    Severity,
    TargetReport,
    TcpOptions,
)

# check's finding codes that explain each pattern, first match wins (diagnose's order).
_CHECK_CODES: Final[Mapping[str, tuple[str, ...]]] = {
    UNANSWERED: ("host-silent", "host-unreachable", "port-filtered"),
    REFUSED: ("port-refused-by-middlebox", "port-refused"),
    REJECTED: ("host-unreachable", "port-rejected"),
}


def server_findings(address: str, outcomes: Sequence[Outcome]) -> list[AnalyzeFinding]:
    """The findings of one server address, one per outcome, in ``outcomes``' order."""
    by_port: dict[int, list[Outcome]] = {}
    for o in outcomes:
        by_port.setdefault(o.port, []).append(o)
    # Each port as check would have seen it: its commonest problem, or open. A port with a
    # second problem (some attempts refused, others unanswered) is checked again with that
    # one: once per pattern, not per port, so a scan of every port stays linear.
    primary: dict[int, Outcome] = {}
    for port, mine in by_port.items():
        problems = [o for o in mine if o.code in PROBLEMS]
        primary[port] = max(problems, key=lambda o: o.count) if problems else mine[0]
    clients = {c for o in outcomes for c in o.clients}
    base = {port: _port_result(o) for port, o in primary.items()}
    variants: dict[str, dict[int, PortResult]] = {}
    for o in outcomes:
        if o.code in _CHECK_CODES and primary[o.port] is not o:
            variants.setdefault(o.code, dict(base))[o.port] = _port_result(o)
    said = {"": _by_port(_check_findings(address, list(base.values()), clients))}
    for code, ports in variants.items():
        said[code] = _by_port(_check_findings(address, list(ports.values()), clients))
    out: list[AnalyzeFinding] = []
    for o in outcomes:
        if o.code == OK:
            out.append(_ok_finding(o, by_port[o.port]))
        elif o.code == INCOMPLETE:
            out.append(_incomplete_finding(o, by_port[o.port]))
        elif o.code == RST_INJECTED:
            out.append(injected_finding(o, clients_words(o), span(o.first, o.last)))
        else:
            index = said["" if primary[o.port] is o else o.code]
            wanted = _CHECK_CODES[o.code]
            match = next((f for f in index.get(o.port, ()) if f.code in wanted), None)
            out.append(_problem_finding(o, by_port[o.port], match))
    return out


def _port_result(o: Outcome) -> PortResult:
    """The outcome as the port result check would have recorded for it."""
    if o.code == UNANSWERED:
        return PortResult(o.port, PortState.FILTERED, "no-response", o.tries)
    if o.code == REFUSED:
        return PortResult(o.port, PortState.REFUSED, "reset", 1, responder=o.server, ttl=o.ttl)
    if o.code == REJECTED and o.responders:
        who, v6, typ, code, ttl, _ = o.responders[0]
        tries = max(o.tries, 1)  # 0 when only the ICMP error is in the capture
        return classify.classify(_icmp_evidence(o, v6, typ, code, tries=tries, who=who, ttl=ttl))
    return PortResult(
        o.port,
        PortState.OPEN,
        "syn-ack",
        1,
        responder=o.server,
        ttl=o.synack_ttl if o.code == RST_INJECTED else o.ttl,
        window=o.window,
        tcp_options=o.tcp_options,
    )


def _icmp_evidence(
    o: Outcome,
    v6: bool,
    typ: int,
    code: int,
    *,
    tries: int = 1,
    who: str | None = None,
    ttl: int | None = None,
) -> PortEvidence:
    """An ICMP error quoting a SYN of ``o``, as the engine would have recorded it."""
    return PortEvidence(
        o.server,
        o.port,
        Method.RAW,
        AnswerKind.ICMP,
        tries,
        responder=who,
        ttl=ttl,
        icmp_type=typ,
        icmp_code=code,
        icmp_v6=v6,
    )


def _check_findings(address: str, ports: Sequence[PortResult], clients: set[str]) -> list[Finding]:
    """What check would say about a host whose ports answered like this."""
    client = next(iter(clients)) if len(clients) == 1 else None
    target = TargetReport(
        input=address,
        address=address,
        dns=DnsResult(DnsStatus.LITERAL, (address,)),
        route=RouteResult(RouteStatus.OK, source=client) if client else None,
        ports=tuple(sorted(ports, key=lambda p: p.port)),
    )
    return list(diagnose(target, source=Source.CAPTURE))


def _by_port(findings: Iterable[Finding]) -> dict[int, list[Finding]]:
    """check's findings by the ports they concern, in diagnose's order."""
    index: dict[int, list[Finding]] = {}
    for f in findings:
        for port in f.ports:
            index.setdefault(port, []).append(f)
    return index


def _problem_finding(
    o: Outcome, same_port: Sequence[Outcome], check: Finding | None
) -> AnalyzeFinding:
    evidence = [_attempts_line(o)]
    completed = sum(x.count for x in same_port if x.code == OK)
    if completed:
        evidence.append(
            f"{completed} other {plural(completed, 'attempt')} to {o.endpoint} completed: "
            "the problem comes and goes (overload, a flapping link or firewall, a load "
            "balancer with one bad member)"
        )
    if o.code == REFUSED and len(o.ttls) > 1:
        evidence.append(
            "RSTs with different TTLs: "
            + ", ".join(f"{ttl_words(ttl, o.server)} x{n}" for ttl, n in o.ttls)
            + " (more than one device answers)"
        )
    if o.code == REJECTED:
        for who, v6, typ, code, ttl, n in o.responders[1:]:
            what = classify.reason_text(classify.reading(_icmp_evidence(o, v6, typ, code)).reason)
            evidence.append(f"also {what} from {who}, {ttl_words(ttl, o.server)}, to {n} SYNs")
    if check is None:
        summary = f"Connection attempts to {o.endpoint} fail ({o.code})."
        steps: tuple[str, ...] = ()
    else:
        summary = hop_limit_words(check.summary, o.server)
        evidence.extend(hop_limit_words(e, o.server) for e in check.evidence)
        steps = tuple(hop_limit_words(step, o.server) for step in check.next_steps)
    return AnalyzeFinding(o.code, Severity.ERROR, o, summary, tuple(evidence), steps)


def _attempts_line(o: Outcome) -> str:
    """What the capture holds for these attempts: who, how many SYNs, when.

    "3 SYNs from 198.18.0.2 to 198.18.1.10:82 in 1 attempt (the triple SYN), 2024-05-01
    12:00:01.123 to 12:00:04.130 UTC (3.0 s): no SYN/ACK, RST or ICMP error came back"
    """
    who = clients_words(o)
    when = span(o.first, o.last)
    syns = f"{o.syns} {plural(o.syns, 'SYN')}"
    attempts = f"{o.count} {plural(o.count, 'attempt')}"
    if o.code == UNANSWERED:
        per = f", up to {o.tries} per attempt" if o.count > 1 else ""
        triple = " (the triple SYN)" if o.tries == 3 else ""
        return (
            f"{syns} from {who} to {o.endpoint} in {attempts}{per}{triple}, {when}: no SYN/ACK, "
            "RST or ICMP error came back"
        )
    answer = {REFUSED: "RST", REJECTED: "ICMP error"}.get(o.code, "SYN/ACK")
    missing = (
        f"; {o.syn_missing} of them SYN not in the capture, only the ICMP error quoting it (a "
        "firewall on the capturing machine rejecting outgoing SYNs, or a capture started "
        "mid-way)"
        if o.syn_missing
        else ""
    )
    return f"{attempts} from {who} ({syns}), {when}: answered by {answer}{missing}"


def _incomplete_finding(o: Outcome, same_port: Sequence[Outcome]) -> AnalyzeFinding:
    ttl = f" with {ttl_words(o.ttl, o.server)}" if o.ttl is not None else ""
    evidence = [
        f"SYN/ACK from {o.server}{ttl} to {o.count} {plural(o.count, 'attempt')} from "
        f"{clients_words(o)}, {span(o.first, o.last)}: no ACK from the client followed",
    ]
    if o.server_rst:
        evidence.append(
            f"{o.server} reset {o.server_rst} of them after its SYN/ACK, without the ACK"
        )
    retrans = o.count - o.server_rst
    if retrans:
        evidence.append(
            f"in {retrans} of them the client sent its SYN again or the server its SYN/ACK: "
            "the SYN/ACK does not reach the client, or the ACK does not reach the server"
        )
    completed = sum(x.count for x in same_port if x.code == OK)
    if completed:
        evidence.append(f"{completed} other attempts to {o.endpoint} completed")
    port = o.port
    return AnalyzeFinding(
        INCOMPLETE,
        Severity.ERROR,
        o,
        summary=f"{o.server} answers the SYN on port {port} (SYN/ACK) but the handshake never "
        "completes: the SYN/ACK is lost on its way back or dropped at the client (asymmetric "
        "routing, a stateful firewall that sees only one direction, the client's own firewall).",
        evidence=tuple(evidence),
        next_steps=(
            "capture on the client and on the server at the same time: where the SYN/ACK "
            "disappears is where to look",
            f"check the routing back from {o.server} to the client: the answer must take the "
            "path of the SYN through every stateful firewall and NAT",
            f"check the client's own firewall for a rule dropping packets from {o.server} "
            f"port {port}",
        ),
    )


def _ok_finding(o: Outcome, same_port: Sequence[Outcome]) -> AnalyzeFinding:
    evidence = [
        f"{o.count} {plural(o.count, 'handshake')} from {clients_words(o)}, {span(o.first, o.last)}"
    ]
    if o.ttl is not None:
        options = _options_words(o.tcp_options, o.window)
        evidence.append(f"SYN/ACK from {o.server} with {ttl_words(o.ttl, o.server)}{options}")
    if o.retried:
        evidence.append(
            f"{o.retried} of them needed the SYN more than once: packets are lost on the way"
        )
    acked = o.no_synack - o.kernel_rst
    if acked:
        evidence.append(
            f"{acked} completed without the SYN/ACK in the capture (it took another path "
            "past the capture point)"
        )
    if o.kernel_rst:
        evidence.append(
            f"{o.kernel_rst} {plural(o.kernel_rst, 'was', 'were')} reset by the client with "
            "the SYN's ISN + 1: its kernel answering a SYN/ACK the capture missed (a SYN scan, "
            "or a socket already closed), so the port answered: open"
        )
    if o.half_open:
        evidence.append(
            f"{o.half_open} {plural(o.half_open, 'was', 'were')} answered with SYN/ACK but "
            "not acknowledged by the client, without any retry: a half-open SYN probe (probe "
            "check, nmap -sS; probe's own --pcap files do not hold the kernel's RST) or a "
            "capture filter that keeps SYNs only"
        )
    if len(same_port) > 1:
        summary = f"Some connections to {o.endpoint} complete (the others: see above)."
    else:
        summary = f"Connections to {o.endpoint} complete: the server answers and the path works."
    return AnalyzeFinding(OK, Severity.INFO, o, summary, tuple(evidence))


def _options_words(o: TcpOptions | None, window: int | None) -> str:
    words: list[str] = []
    if o is not None:
        if o.mss is not None:
            words.append(f"MSS {o.mss}")
        if o.wscale is not None:
            words.append(f"window scale {o.wscale}")
        if o.sack_permitted:
            words.append("SACK")
        if o.timestamps:
            words.append("timestamps")
    if window is not None:
        words.append(f"window {window}")
    return f", options {', '.join(words)}" if words else ""


def clients_words(o: Outcome) -> str:
    if len(o.clients) == 1 and not o.more_clients:
        return o.clients[0]
    shown = ", ".join(o.clients)
    if o.more_clients:
        return f"more than {len(o.clients)} clients ({shown}, ...)"
    return f"{len(o.clients)} clients ({shown})"


def span(first: float, last: float) -> str:
    """ "at 2024-05-01 12:00:01.123 UTC", "2024-05-01 12:00:01.123 to 12:00:04.130 UTC (3.0 s)";
    "at a time out of range" when the capture's timestamps are no dates (a note says why)."""
    took = last - first
    start, stop = clock(first), clock(last)
    if start is None or stop is None:
        return "at a time out of range"
    if took < 0.0005:
        return f"at {start}"
    if start[:10] == stop[:10]:
        stop = stop[11:]  # the same day: the time is enough
    length = f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s"
    return f"{start[:-4]} to {stop} ({length})"
