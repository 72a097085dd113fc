"""One server's UDP outcomes -> findings, in the words of check's findings for UDP ports: what
the client sent (which protocol, how many datagrams, the same one again), what came back (a
reply, an ICMP error and who sent it, with its TTL or hop limit, or nothing), what that makes
likely, and what to look at next.

UDP has no handshake, so silence is a problem only where an answer was due: a protocol that
always answers (``services``), or a client that sent the same datagram again because it
waited for one. The server's other ports in the same capture say whether the host is up.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.capture.analyze.findings import clients_words, span
from probe.capture.analyze.results import (
    OK,
    UDP_OK,
    UDP_ONE_WAY,
    UDP_REFUSED,
    UDP_REJECTED,
    UDP_UNANSWERED,
    AnalyzeFinding,
    Outcome,
    ttl_words,
)
from probe.capture.analyze.services import service
from probe.diagnosis.classify import ICMP_TABLE, ICMP_TYPE_TABLE, reason_text
from probe.diagnosis.words import and_list, plural
from probe.model import Protocol, Severity


def udp_findings(outcomes: Sequence[Outcome]) -> list[AnalyzeFinding]:
    """The findings of one server address's UDP outcomes (the TCP ones are context)."""
    answering = _answering(outcomes)
    out: list[AnalyzeFinding] = []
    for o in outcomes:
        if o.protocol is not Protocol.UDP:
            continue
        others = [x for x in answering if x != o.label]
        if o.code == UDP_OK:
            out.append(_ok(o))
        elif o.code == UDP_ONE_WAY:
            out.append(_one_way(o))
        elif o.code == UDP_UNANSWERED:
            out.append(_unanswered(o, others))
        elif o.code == UDP_REFUSED:
            out.append(_refused(o))
        else:
            out.append(_icmp_finding(o, o.code == UDP_REJECTED))
    return out


def _answering(outcomes: Sequence[Outcome]) -> list[str]:
    """The server's ports that answered in this capture ("80", "53/udp"), ICMP errors from the
    server itself included: the host is up."""
    said: dict[str, None] = {}
    for o in outcomes:
        if o.code in (OK, UDP_OK, UDP_REFUSED):
            said[o.label] = None
    return list(said)


def _what(o: Outcome) -> str:
    """ "DNS queries", "datagrams" """
    known = service(o.port)
    return known.request if known is not None else "datagrams"


def _named(o: Outcome) -> str:
    """ "198.18.1.53:53/udp (DNS)" """
    return f"{o.label} ({o.service})" if o.service else o.label


def _sent_line(o: Outcome, answer: str) -> str:
    """What the capture holds: "3 datagrams from 198.18.0.2 to 198.18.1.10:123/udp (NTP) in 1
    flow (the first of 48 bytes), 2026-...: no reply, and no ICMP error; the client sent the
    same datagram 3 times: it waited for an answer"."""
    n = o.datagrams
    size = ""
    if o.size is not None and n:
        octets = "empty" if not o.size else f"of {o.size} {plural(o.size, 'byte')}"
        size = f" {octets}" if n == 1 else f" (the first {octets})"
    sent = f"{n} {plural(n, 'datagram')}" if n != 1 else f"1 datagram{size}"
    if n > 1:
        sent += size
    flows = f" in {o.count} flows" if o.count > 1 else ""
    said = [f"{sent} from {clients_words(o)} to {_named(o)}{flows}, {span(o.first, o.last)}: "]
    said.append(answer)
    if o.resent == 1 and o.count == 1:
        said.append(f"; the client sent the same datagram {o.tries} times: it waited for an answer")
    elif o.resent:
        said.append(
            f"; in {o.resent} of the flows the client sent the same datagram again (up to "
            f"{o.tries} times): it waited for an answer"
        )
    if o.syn_missing:
        said.append(
            f"; {o.syn_missing} {plural(o.syn_missing, 'flow')} seen only by the ICMP error "
            "quoting the datagram (a firewall on the capturing machine, or a capture started "
            "mid-way)"
        )
    return "".join(said)


def _ok(o: Outcome) -> AnalyzeFinding:
    ttl = f" with {ttl_words(o.ttls[0][0], o.server)}" if o.ttls else ""
    evidence = [_sent_line(o, f"{o.replies} {plural(o.replies, 'reply', 'replies')}{ttl}")]
    if o.late:
        evidence.append(
            f"{o.late} {plural(o.late, 'flow was', 'flows were')} seen by the server's replies "
            "only: the capture started after the requests"
        )
    what = o.service or "the service"
    return AnalyzeFinding(
        UDP_OK,
        Severity.INFO,
        o,
        f"{o.server} answers on UDP port {o.port} ({what}): requests and replies both ways.",
        tuple(evidence),
    )


def _one_way(o: Outcome) -> AnalyzeFinding:
    known = service(o.port)
    if known is not None:
        why = known.why
        summary = (
            f"{_what(o).capitalize()} to {o.label} get no answer, and {known.name} gives none: "
            "one-way by design, not a problem."
        )
    else:
        why = (
            "nothing in them asks for an answer: no protocol known to answer on this port, "
            "and the client did not send the same datagram again (a media stream, telemetry, "
            "a heartbeat)"
        )
        summary = (
            f"Datagrams to {o.label} get no answer; nothing shows one was expected: not "
            "judged a problem."
        )
    return AnalyzeFinding(
        UDP_ONE_WAY,
        Severity.INFO,
        o,
        summary,
        (_sent_line(o, "no reply, no ICMP error"), why),
        (f"if an answer was expected here: probe check {o.server} -p {o.port}/udp",),
    )


def _unanswered(o: Outcome, answering: Sequence[str]) -> AnalyzeFinding:
    known = service(o.port)
    what = _what(o)
    evidence = [_sent_line(o, "no reply, and no ICMP error")]
    if known is not None and known.answers:
        evidence.append(f"{known.why}: silence means the request or its answer is lost")
    if answering:
        shown = and_list([f"port {p}" for p in answering[:6]])
        evidence.append(
            f"{o.server} answers on {shown}: the host is up, so the silence is this port's "
            "(a firewall rule for it, or the service)"
        )
    summary = (
        f"{o.server} does not answer {what} on UDP port {o.port}: they go out and nothing "
        "comes back, not even "
        "an ICMP error. A firewall drops them on the way or on the host, or the service does "
        "not answer this client."
    )
    steps = (
        f"probe check {o.server} -p {o.port}/udp sends a real request and says whether an ICMP "
        "error comes back",
        "capture on the server at the same time: if the datagrams arrive there, look at the "
        "service and the host's firewall; if they do not, at the firewalls and NAT on the way",
        f"check that the service listens on UDP {o.port} (ss -ulpn) and accepts this client "
        "(access lists, SNMP community, NTP restrict, DNS allow-query)",
    )
    return AnalyzeFinding(UDP_UNANSWERED, Severity.ERROR, o, summary, tuple(evidence), steps)


def _icmp_words(o: Outcome, r: tuple[str, bool, int, int, int, int]) -> str:
    """ "ICMP port unreachable from 198.18.1.10, TTL 63 (≈ 1 hop), to 2 flows" """
    who, v6, typ, code, ttl, n = r
    flows = f"{n} {plural(n, 'flow')}"
    return f"{icmp_what(v6, typ, code)} from {who}, {ttl_words(ttl, o.server)}, to {flows}"


def icmp_what(v6: bool, typ: int, code: int, *, v6_name: bool = True) -> str:
    """An ICMP error in words: "ICMP port unreachable", "ICMPv6 administratively
    prohibited" (``v6_name``: ICMPv6 named so)."""
    reading = ICMP_TABLE.get((v6, typ, code)) or ICMP_TYPE_TABLE.get((v6, typ))
    what = reason_text(reading.reason) if reading is not None else f"ICMP type {typ} code {code}"
    return what.replace("ICMP ", "ICMPv6 ", 1) if v6 and v6_name else what


def _refused(o: Outcome) -> AnalyzeFinding:
    who = o.responders[0]
    evidence = [_sent_line(o, "answered by ICMP port unreachable"), _icmp_words(o, who)]
    evidence.extend(f"also {_icmp_words(o, r)}" for r in o.responders[1:])
    what = f" ({o.service} is not running there)" if o.service else ""
    return AnalyzeFinding(
        UDP_REFUSED,
        Severity.ERROR,
        o,
        f"Nothing listens on UDP port {o.port} on {o.server}{what}: its own IP stack answered "
        "ICMP port unreachable.",
        tuple(evidence),
        (
            f"start the service on {o.server}, or check which port it listens on (ss -ulpn)",
            "if it runs, check that it is bound to this address, not to 127.0.0.1 or another "
            "interface only",
        ),
    )


def _icmp_finding(o: Outcome, rejected: bool) -> AnalyzeFinding:
    who, v6, typ, code, _, _ = o.responders[0]
    said = icmp_what(v6, typ, code, v6_name=False)
    evidence = [_sent_line(o, "answered by an ICMP error"), _icmp_words(o, o.responders[0])]
    evidence.extend(f"also {_icmp_words(o, r)}" for r in o.responders[1:])
    if rejected:
        own = who == o.server
        where = f"{o.server}'s own firewall" if own else f"A firewall at {who}"
        summary = (
            f"{where} rejects UDP traffic to {o.server} port {o.port} ({said}): the datagrams "
            "never reach a service."
        )
        steps = (
            f"look at the rules of the firewall at {who} for UDP to {o.server} port {o.port}",
            f"probe check {o.server} -p {o.port}/udp confirms it from the client",
        )
    else:
        summary = (
            f"{who} says {o.server} cannot be reached ({said}): a routing problem, or the "
            f"host is down; nothing gets to UDP port {o.port}."
        )
        steps = (
            f"check the route toward {o.server} on {who} (and the way to it)",
            f"if {o.server} is on {who}'s own network: is the host up, does it answer ARP / "
            "neighbour discovery?",
        )
    return AnalyzeFinding(o.code, Severity.ERROR, o, summary, tuple(evidence), steps)


RATE_MIN = 3  # closed ports answered, at least, before a silence is blamed on the rate limit
RATE_SLACK = 2.0  # seconds after the last port unreachable that the limit still explains


def rate_limit_notes(outcomes: Sequence[Outcome]) -> list[str]:
    """A note per server whose kernel answered several closed UDP ports with ICMP port
    unreachable and, in the same moments, left other ports silent. Hosts rate-limit their ICMP
    errors (Linux: a burst of about 6, then about one a second per peer), so a quick sweep
    reads the first ports closed and the rest silent: those are undecided, likely closed."""
    by_server: dict[str, tuple[list[Outcome], list[Outcome]]] = {}
    for o in outcomes:
        if o.protocol is not Protocol.UDP or (o.code == UDP_ONE_WAY and service(o.port)):
            continue
        if o.code in (UDP_REFUSED, UDP_UNANSWERED, UDP_ONE_WAY):
            refused, silent = by_server.setdefault(o.server, ([], []))
            (refused if o.code == UDP_REFUSED else silent).append(o)
    notes: list[str] = []
    for server, (refused, silent) in by_server.items():
        if len(refused) < RATE_MIN or not silent:
            continue
        start = min(o.first for o in refused)
        end = max(o.last for o in refused) + RATE_SLACK
        during = [o for o in silent if start <= o.first <= end]
        if during:
            n = len(during)
            notes.append(
                f"{server} answered {len(refused)} closed UDP ports with ICMP port unreachable "
                f"and, in the same moments, left {n} other {plural(n, 'port')} silent: its ICMP "
                "rate limit (Linux: a burst of about 6 errors, then about one a second) most "
                f"likely swallowed those errors, so the silent {plural(n, 'port is', 'ports are')}"
                " undecided, probably closed too; send to them again, a second apart, to know."
            )
    return notes
