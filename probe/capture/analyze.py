"""Capture -> connection attempts -> findings: what ``probe analyze`` reads in a capture.

Pure: takes the decoded records of ``probe.capture`` (``TcpSegment``, ``IcmpRecord``) in file
order and returns an ``Analysis``; no file, no socket. The findings are worded by the same
rules as ``probe check`` (``diagnose.diagnose`` on the capture's evidence), so a helpdesk reads
the same sentences whether the packets were sent by probe or by the user's own client.

One attempt is a client's SYN (and its retransmissions) to one server address and port, keyed
by (client, client port, server, server port) in the direction of the SYN::

    SYN ──► waiting ── SYN again ──────────────────► waiting, one more try (the triple SYN)
             ├── RST from the server ──────────────► syn-refused  ┐ kept HOLD seconds: SYNs
             ├── ICMP unreachable quoting the SYN ─► syn-rejected ┘ again are more tries
             │                                        (the sender named)
             ├── ACK from the client ──────────────► ok (the SYN/ACK is not in the capture)
             ├── RST from the client ──────────────► syn-unanswered (the client gave up)
             ├── nothing until it expires ─────────► syn-unanswered
             └── SYN/ACK ──► answered
                   ├── ACK from the client ────────► ok
                   ├── RST from the client ────────► ok, half-open (a SYN scan: nmap -sS, probe)
                   ├── RST from the server ────────► handshake-incomplete
                   ├── SYN or SYN/ACK retransmitted,
                   │   no ACK until it expires ────► handshake-incomplete
                   └── nothing more at all ────────► ok, half-open: the client's answer is
                                                     not in the capture (probe's own --pcap
                                                     files, capture filters that keep SYNs)

A lone SYN in the last second of the capture (``TOO_LATE``) had no time for an answer or a
retry: it is left out, and a note says so.

ICMP time exceeded quoting a SYN is noted but does not end the attempt (a TCP traceroute
sends SYNs with low TTLs on purpose). If nothing else answers, the attempt is syn-rejected
when its SYN left with a normal TTL (32 or more: a routing loop), and is left out as a
traceroute probe otherwise.

Memory is bounded whatever the capture's size:

- attempts not finished yet: at most ``MAX_WAITING``. An attempt with no packet for
  ``EXPIRE`` seconds of capture time is finished as above (longer than the longest pause
  between a client's SYN retries: 32 s for Linux with its 6 default retries, less on Windows
  and macOS); one answered by RST or ICMP after ``HOLD`` seconds (Windows sends the SYN again
  after a RST, from the same port, within a second); past the cap, the oldest one is finished
  early. A completed handshake is removed at its ACK, so the data of established connections
  costs one dictionary lookup per packet and no memory;
- outcomes are kept as per-server aggregates only: one tally per (server, port, outcome),
  at most ``MAX_ENDPOINTS`` server ports (attempts to further ones are counted, not kept),
  each with at most ``MAX_CLIENTS`` client addresses, 256 TTL values and ``MAX_RESPONDERS``
  ICMP senders.

Measured (tracemalloc): 0.45 kB per waiting attempt, about 1 kB per server port once its
outcomes are tallied; so at most about 45 MB + 100 MB, and in practice a few MB, whatever the
number of packets.
"""

from __future__ import annotations

import socket
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from probe.capture.reader import IcmpRecord, Record, TcpSegment
from probe.diagnosis import classify, diagnose
from probe.diagnosis.diagnose import port_list, ttl_words
from probe.engine.wire import TH_ACK, TH_RST, TH_SYN, parse_options
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
from probe.status import ExitStatus

EXPIRE: Final = 70.0  # seconds of capture time without a packet before an attempt is over
HOLD: Final = 5.0  # seconds an answered attempt (RST, ICMP) waits for the client to try again
MAX_WAITING: Final = 100_000
MAX_ENDPOINTS: Final = 100_000
MAX_CLIENTS: Final = 8
MAX_RESPONDERS: Final = 16
TRACE_TTL: Final = 32  # a SYN sent with a TTL below this is a traceroute probe
TOO_LATE: Final = 1.0  # seconds: a lone SYN this close to the capture's end is undecided

OK: Final = "ok"
UNANSWERED: Final = "syn-unanswered"
REFUSED: Final = "syn-refused"
REJECTED: Final = "syn-rejected"
INCOMPLETE: Final = "handshake-incomplete"
CODES: Final = (UNANSWERED, REFUSED, REJECTED, INCOMPLETE, OK)  # report order
PROBLEMS: Final = frozenset(CODES) - {OK}

# check's finding codes that explain each pattern, first match wins (diagnose's order).
_CHECK_CODES: Final[Mapping[str, tuple[str, ...]]] = {
    UNANSWERED: ("host-silent", "host-unreachable", "port-filtered"),
    REFUSED: ("port-refused-by-middlebox", "port-refused"),
    REJECTED: ("host-unreachable", "port-rejected"),
}
# check words that only make sense when probe pinged the host itself.
_NO_PING = (" (ping was skipped)", "")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Outcome:
    """The attempts to one server port that ended one way: the aggregate the report quotes."""

    server: str  # address
    port: int
    code: str
    count: int  # attempts
    syns: int  # SYNs in those attempts, retransmissions included
    tries: int  # the most SYNs one attempt sent
    clients: tuple[str, ...]  # the first MAX_CLIENTS client addresses
    more_clients: bool  # more clients than listed
    first: float  # first SYN (epoch seconds)
    last: float  # last packet of the last attempt
    # (TTL, count) of the server's answers, commonest first
    ttls: tuple[tuple[int, int], ...] = ()
    # ICMP senders: (address, v6, type, code, TTL, count), commonest first
    responders: tuple[tuple[str, bool, int, int, int, int], ...] = ()
    window: int | None = None  # ok: the SYN/ACK's window ...
    tcp_options: TcpOptions | None = None  # ... and options
    half_open: int = 0  # ok: the client's ACK never came (a SYN scan, or not in the capture)
    retried: int = 0  # ok: attempts that needed more than one SYN
    no_synack: int = 0  # ok: the client's ACK seen, the SYN/ACK not in the capture
    server_rst: int = 0  # handshake-incomplete: the server reset after its SYN/ACK

    @property
    def endpoint(self) -> str:
        return endpoint(self.server, self.port)

    @property
    def ttl(self) -> int | None:
        return self.ttls[0][0] if self.ttls else None


@dataclass(frozen=True)
class AnalyzeFinding:
    """One pattern at one server port, worded like check's findings."""

    code: str
    severity: Severity
    outcome: Outcome
    summary: str
    evidence: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()

    @property
    def server(self) -> str:
        return self.outcome.endpoint


@dataclass(frozen=True)
class ServerSummary:
    """One server address: which ports work, which do not."""

    address: str
    status: str  # "ok" (every attempt completed), "partial", "failing" (none completed)
    attempts: int
    ports: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]  # port -> ((code, count), ...)
    ports_ok: tuple[int, ...]  # every attempt completed
    ports_failing: tuple[int, ...]  # at least one attempt did not


@dataclass(frozen=True)
class Analysis:
    outcomes: tuple[Outcome, ...]
    findings: tuple[AnalyzeFinding, ...]
    servers: tuple[ServerSummary, ...]
    summary: tuple[str, ...]  # the plain-language conclusion across servers
    attempts: int
    notes: tuple[str, ...] = ()

    @property
    def problem(self) -> bool:
        return any(f.code in PROBLEMS for f in self.findings)


def endpoint(address: str, port: int) -> str:
    """ "198.18.1.10:80", "[2001:2::10]:80" """
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


# --------------------------------------------------------------------------- state machine


class _Attempt:
    __slots__ = (
        "answer",
        "answer_ttl",
        "expired_by",
        "first",
        "icmp",
        "last",
        "options",
        "syn_after_synack",
        "syn_ttl",
        "synack_ttl",
        "synacks",
        "syns",
        "window",
    )

    def __init__(self, ts: float, ttl: int) -> None:
        self.first = ts
        self.last = ts
        self.syns = 1
        self.syn_ttl = ttl
        self.synacks = 0
        self.synack_ttl = 0
        self.window = 0
        self.options = b""
        self.syn_after_synack = False
        self.expired_by: IcmpRecord | None = None  # ICMP time exceeded quoting a SYN
        # The server's (or a firewall's) "no" to a SYN: REFUSED (RST) or REJECTED (ICMP). The
        # attempt stays until it expires, so that a client retrying on the same port (Windows
        # sends the SYN again after a RST) makes more SYNs of one attempt, not more attempts.
        self.answer: str | None = None
        self.answer_ttl = 0
        self.icmp: IcmpRecord | None = None


class _Tally:
    """Mutable aggregate behind one ``Outcome``."""

    __slots__ = (
        "clients",
        "count",
        "first",
        "half_open",
        "last",
        "more_clients",
        "no_synack",
        "options",
        "responders",
        "retried",
        "server_rst",
        "syns",
        "tries",
        "ttls",
        "window",
    )

    def __init__(self, first: float) -> None:
        self.count = 0
        self.syns = 0
        self.tries = 0
        self.clients: dict[bytes, None] = {}
        self.more_clients = False
        self.first = first
        self.last = first
        self.ttls: dict[int, int] = {}
        self.responders: dict[tuple[bytes, bool, int, int], list[int]] = {}  # -> [ttl, count]
        self.window: int | None = None
        self.options: bytes | None = None
        self.half_open = 0
        self.retried = 0
        self.no_synack = 0
        self.server_rst = 0


Key = tuple[bytes, int, bytes, int]  # client, client port, server, server port


class Analyzer:
    """Feed records in file order (``feed``), then ``finish()`` for the outcomes."""

    def __init__(
        self,
        *,
        expire: float = EXPIRE,
        max_waiting: int = MAX_WAITING,
        max_endpoints: int = MAX_ENDPOINTS,
    ) -> None:
        self.expire = expire
        self.max_waiting = max_waiting
        self.max_endpoints = max_endpoints
        self.hold = HOLD
        # Attempts without a final answer, and attempts answered by RST or ICMP that may still
        # be tried again; each kept in the order of its last packet (moved to the end on every
        # packet), so expiring them is looking at the front.
        self.waiting: OrderedDict[Key, _Attempt] = OrderedDict()
        self.answered: OrderedDict[Key, _Attempt] = OrderedDict()
        self.tallies: dict[tuple[bytes, int], dict[str, _Tally]] = {}
        self.attempts = 0
        self.unkept = 0  # attempts to server ports past MAX_ENDPOINTS
        self.trace_probes = 0
        self.early = 0  # attempts finished early because MAX_WAITING were waiting
        self.undecided = 0  # a lone SYN at the very end of the capture
        self.end = 0.0  # the capture's last timestamp
        self.now = 0.0
        self._next_expiry = 0.0

    def feed(self, records: Iterable[Record]) -> None:
        waiting = self.waiting
        r: Record | None = None
        for r in records:
            if type(r) is TcpSegment:
                flags = r.flags
                if flags & TH_SYN:
                    if flags & TH_ACK:
                        self._synack(r)
                    else:
                        self._syn(r)
                elif flags & TH_RST:
                    self._rst(r)
                elif flags & TH_ACK and waiting:
                    a = waiting.get((r.src, r.sport, r.dst, r.dport))
                    if a is not None:  # the client's ACK: the handshake is complete
                        del waiting[(r.src, r.sport, r.dst, r.dport)]
                        a.last = r.ts
                        self._end(r.src, r.dst, r.dport, a, OK)
            else:
                assert isinstance(r, IcmpRecord)
                self._icmp(r)
            if r.ts >= self._next_expiry:
                self._expire(r.ts)
        if r is not None:
            self.end = max(self.end, r.ts)

    def finish(self) -> tuple[Outcome, ...]:
        """End every attempt still waiting (the capture is over) and return the outcomes.

        A single SYN sent less than ``TOO_LATE`` seconds before the capture's last packet had
        no time to be answered or retransmitted: it is counted as undecided, not as a problem.
        """
        while self.answered:
            self._end_waiting(*self.answered.popitem(last=False))
        while self.waiting:
            key, a = self.waiting.popitem(last=False)
            silent = not a.synacks and a.answer is None and a.expired_by is None
            if silent and a.syns == 1 and self.end - a.last < TOO_LATE:
                self.undecided += 1
                self.attempts -= 1
                continue
            self._end_waiting(key, a)
        return tuple(self._outcomes())

    # ------------------------------------------------------------------ events

    def _syn(self, r: TcpSegment) -> None:
        key = (r.src, r.sport, r.dst, r.dport)
        a = self.waiting.get(key)
        if a is None:
            a = self.answered.pop(key, None)
            if a is not None:  # tried again after a RST or an ICMP error: one attempt still
                self.waiting[key] = a
        if a is not None:
            # Another SYN on a waiting attempt: a retransmission, whatever its sequence
            # number (probe's own tries each carry a new one).
            a.syns += 1
            a.last = r.ts
            self.waiting.move_to_end(key)
            if a.synacks:
                a.syn_after_synack = True
            return
        if len(self.waiting) + len(self.answered) >= self.max_waiting:
            if self.answered:
                self._end_waiting(*self.answered.popitem(last=False))
            else:
                self.early += 1
                self._end_waiting(*self.waiting.popitem(last=False))
        self.waiting[key] = _Attempt(r.ts, r.ttl)
        self.attempts += 1

    def _synack(self, r: TcpSegment) -> None:
        key = (r.dst, r.dport, r.src, r.sport)
        a = self.waiting.get(key)
        if a is None:
            return  # its SYN is not in the capture (started mid-handshake, one direction)
        a.last = r.ts
        self.waiting.move_to_end(key)
        if not a.synacks:
            a.synack_ttl = r.ttl
            a.window = r.window
            a.options = r.options
        a.synacks += 1

    def _rst(self, r: TcpSegment) -> None:
        key = (r.dst, r.dport, r.src, r.sport)  # from the server
        a = self.waiting.get(key)
        if a is not None:
            a.last = r.ts
            if a.synacks:
                del self.waiting[key]
                t = self._end(r.dst, r.src, r.sport, a, INCOMPLETE)
                if t is not None:
                    t.server_rst += 1
            else:
                if a.answer is None:
                    a.answer, a.answer_ttl = REFUSED, r.ttl
                self._answer(key, a)
            return
        key = (r.src, r.sport, r.dst, r.dport)  # from the client
        a = self.waiting.get(key)
        if a is not None:
            a.last = r.ts
            if a.synacks:
                del self.waiting[key]
                t = self._end(r.src, r.dst, r.dport, a, OK)
                if t is not None:
                    t.half_open += 1
            elif a.answer is None:
                del self.waiting[key]
                self._end(r.src, r.dst, r.dport, a, UNANSWERED)

    def _icmp(self, r: IcmpRecord) -> None:
        key = (r.src, r.sport, r.dst, r.dport)
        a = self.waiting.get(key)
        if a is None or a.synacks:
            return
        if (r.type == 11 and not r.v6) or (r.type == 3 and r.v6):  # time exceeded
            a.expired_by = r
            return
        a.last = r.ts
        if a.answer is None:
            a.answer, a.icmp = REJECTED, r
        self._answer(key, a)

    def _answer(self, key: Key, a: _Attempt) -> None:
        """The SYN was answered no (RST or ICMP): over, unless the client tries again."""
        del self.waiting[key]
        self.answered[key] = a

    def _rejected(
        self, client: bytes, server: bytes, port: int, a: _Attempt, r: IcmpRecord
    ) -> None:
        t = self._end(client, server, port, a, REJECTED)
        if t is None:
            return
        who = (r.responder, r.v6, r.type, r.code)
        seen = t.responders.get(who)
        if seen is not None:
            seen[1] += 1
        elif len(t.responders) < MAX_RESPONDERS:
            t.responders[who] = [r.ttl, 1]

    def _expire(self, now: float) -> None:
        """Finish the attempts whose time is over; runs once a second of capture time."""
        self.now = max(self.now, now)
        self._next_expiry = self.now + 1.0
        self._expire_queue(self.answered, self.now - self.hold)
        self._expire_queue(self.waiting, self.now - self.expire)

    def _expire_queue(self, queue: OrderedDict[Key, _Attempt], limit: float) -> None:
        """Finish the attempts of ``queue`` without a packet since ``limit``."""
        while queue:
            key, a = next(iter(queue.items()))
            if a.last > limit:
                return  # in the order of their last packet: the rest is younger
            del queue[key]
            self._end_waiting(key, a)

    def _end_waiting(self, key: Key, a: _Attempt) -> None:
        """An attempt whose time is over (expired, evicted, or the file ended)."""
        client, _, server, port = key
        if a.synacks:
            if a.synacks > 1 or a.syn_after_synack:
                self._end(client, server, port, a, INCOMPLETE)
            else:
                t = self._end(client, server, port, a, OK)
                if t is not None:
                    t.half_open += 1
        elif a.answer == REFUSED:
            t = self._end(client, server, port, a, REFUSED)
            if t is not None:
                _count(t.ttls, a.answer_ttl)
        elif a.icmp is not None:
            self._rejected(client, server, port, a, a.icmp)
        elif a.expired_by is not None:
            if a.syn_ttl < TRACE_TTL:
                self.trace_probes += 1
                self.attempts -= 1
            else:
                self._rejected(client, server, port, a, a.expired_by)
        else:
            self._end(client, server, port, a, UNANSWERED)

    def _end(
        self, client: bytes, server: bytes, port: int, a: _Attempt, code: str
    ) -> _Tally | None:
        by_code = self.tallies.get((server, port))
        if by_code is None:
            if len(self.tallies) >= self.max_endpoints:
                self.unkept += 1
                return None
            by_code = self.tallies[(server, port)] = {}
        t = by_code.get(code)
        if t is None:
            t = by_code[code] = _Tally(a.first)
        t.count += 1
        t.syns += a.syns
        t.tries = max(t.tries, a.syns)
        t.first = min(t.first, a.first)
        t.last = max(t.last, a.last)
        if client not in t.clients:
            if len(t.clients) < MAX_CLIENTS:
                t.clients[client] = None
            else:
                t.more_clients = True
        if code == OK:
            if a.syns > 1:
                t.retried += 1
            if a.synacks:
                _count(t.ttls, a.synack_ttl)
                t.window, t.options = a.window, a.options
            else:
                t.no_synack += 1
        elif code == INCOMPLETE:
            _count(t.ttls, a.synack_ttl)
            t.window, t.options = a.window, a.options
        return t

    def _outcomes(self) -> Iterable[Outcome]:
        for (server, port), by_code in self.tallies.items():
            address = _ntop(server)
            for code, t in by_code.items():
                yield Outcome(
                    server=address,
                    port=port,
                    code=code,
                    count=t.count,
                    syns=t.syns,
                    tries=t.tries,
                    clients=tuple(_ntop(c) for c in t.clients),
                    more_clients=t.more_clients,
                    first=t.first,
                    last=t.last,
                    ttls=tuple(sorted(t.ttls.items(), key=lambda kv: (-kv[1], kv[0]))),
                    responders=tuple(
                        (_ntop(addr), v6, typ, cod, ttl, n)
                        for (addr, v6, typ, cod), (ttl, n) in sorted(
                            t.responders.items(), key=lambda kv: -kv[1][1]
                        )
                    ),
                    window=t.window,
                    tcp_options=parse_options(t.options) if t.options is not None else None,
                    half_open=t.half_open,
                    retried=t.retried,
                    no_synack=t.no_synack,
                    server_rst=t.server_rst,
                )


def _count(counter: dict[int, int], ttl: int) -> None:
    counter[ttl] = counter.get(ttl, 0) + 1


def _ntop(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)


# --------------------------------------------------------------------------- the analysis


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
            f"{a.undecided} {_plural(a.undecided, 'SYN')} in the last {TOO_LATE:g} s of the "
            "capture had no time to be answered: left out."
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
        findings.extend(_server_findings(address, mine))
        servers.append(_server_summary(address, mine))
    findings.sort(key=lambda f: (f.code == OK, order[f.code], _addr_key(f.outcome.server)))
    total = sum(o.count for o in outcomes) if attempts is None else attempts
    return Analysis(
        outcomes=tuple(outcomes),
        findings=tuple(findings),
        servers=tuple(servers),
        summary=_conclusion(servers, total),
        attempts=total,
        notes=tuple(notes),
    )


def _addr_key(address: str) -> tuple[int, bytes]:
    six = ":" in address
    return (6 if six else 4), socket.inet_pton(socket.AF_INET6 if six else socket.AF_INET, address)


# --------------------------------------------------------------------------- wording


def _port_result(o: Outcome) -> PortResult:
    """The outcome as the port result check would have recorded for it."""
    if o.code == UNANSWERED:
        return PortResult(o.port, PortState.FILTERED, "no-response", o.tries)
    if o.code == REFUSED:
        return PortResult(o.port, PortState.REFUSED, "reset", 1, responder=o.server, ttl=o.ttl)
    if o.code == REJECTED and o.responders:
        who, v6, typ, code, ttl, _ = o.responders[0]
        ev = PortEvidence(
            o.server,
            o.port,
            Method.RAW,
            AnswerKind.ICMP,
            o.tries,
            responder=who,
            ttl=ttl,
            icmp_type=typ,
            icmp_code=code,
            icmp_v6=v6,
        )
        return classify.classify(ev)
    return PortResult(
        o.port,
        PortState.OPEN,
        "syn-ack",
        1,
        responder=o.server,
        ttl=o.ttl,
        window=o.window,
        tcp_options=o.tcp_options,
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
    return list(diagnose.diagnose(target))


def _server_findings(address: str, outcomes: Sequence[Outcome]) -> list[AnalyzeFinding]:
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
        else:
            index = said["" if primary[o.port] is o else o.code]
            wanted = _CHECK_CODES[o.code]
            match = next((f for f in index.get(o.port, ()) if f.code in wanted), None)
            out.append(_problem_finding(o, by_port[o.port], match))
    return out


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
            f"{completed} other {_plural(completed, 'attempt')} to {o.endpoint} completed: "
            "the problem comes and goes (overload, a flapping link or firewall, a load "
            "balancer with one bad member)"
        )
    if o.code == REFUSED and len(o.ttls) > 1:
        evidence.append(
            "RSTs with different TTLs: "
            + ", ".join(f"{ttl_words(ttl)} x{n}" for ttl, n in o.ttls)
            + " (more than one device answers)"
        )
    if o.code == REJECTED:
        for who, v6, typ, code, ttl, n in o.responders[1:]:
            what = classify.reason_text(classify.verdict(_icmp_evidence(o, v6, typ, code))[1])
            evidence.append(f"also {what} from {who}, {ttl_words(ttl)}, to {n} SYNs")
    if check is None:
        summary = f"Connection attempts to {o.endpoint} fail ({o.code})."
        steps: tuple[str, ...] = ()
    else:
        summary = check.summary.replace(*_NO_PING)
        evidence.extend(e for e in check.evidence if _keep(e, o))
        steps = check.next_steps
    return AnalyzeFinding(o.code, Severity.ERROR, o, summary, tuple(evidence), steps)


def _keep(line: str, o: Outcome) -> bool:
    """check's evidence lines worth repeating under the capture's own: not what only a ping
    could tell, not check's count of unanswered SYNs (the capture's line has it, with who and
    when)."""
    if "ping" in line:
        return False
    return not (o.code == UNANSWERED and "SYN" in line and line.endswith("no answer"))


def _icmp_evidence(o: Outcome, v6: bool, typ: int, code: int) -> PortEvidence:
    return PortEvidence(
        o.server, o.port, Method.RAW, AnswerKind.ICMP, 1, icmp_type=typ, icmp_code=code, icmp_v6=v6
    )


def _attempts_line(o: Outcome) -> str:
    """What the capture holds for these attempts: who, how many SYNs, when.

    "3 SYNs from 198.18.0.2 to 198.18.1.10:82 in 1 attempt (the triple SYN), 2024-05-01
    12:00:01.123 to 12:00:04.130 UTC (3.0 s): no SYN/ACK, RST or ICMP error came back"
    """
    who = _clients(o)
    span = _span(o.first, o.last)
    syns = f"{o.syns} {_plural(o.syns, 'SYN')}"
    attempts = f"{o.count} {_plural(o.count, 'attempt')}"
    if o.code == UNANSWERED:
        per = f", up to {o.tries} per attempt" if o.count > 1 else ""
        triple = " (the triple SYN)" if o.tries == 3 else ""
        return (
            f"{syns} from {who} to {o.endpoint} in {attempts}{per}{triple}, {span}: no SYN/ACK, "
            "RST or ICMP error came back"
        )
    answer = {REFUSED: "RST", REJECTED: "ICMP error"}.get(o.code, "SYN/ACK")
    return f"{attempts} from {who} ({syns}), {span}: answered by {answer}"


def _incomplete_finding(o: Outcome, same_port: Sequence[Outcome]) -> AnalyzeFinding:
    ttl = f" with {ttl_words(o.ttl)}" if o.ttl is not None else ""
    evidence = [
        f"SYN/ACK from {o.server}{ttl} to {o.count} {_plural(o.count, 'attempt')} from "
        f"{_clients(o)}, {_span(o.first, o.last)}: no ACK from the client followed",
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
        f"{o.count} {_plural(o.count, 'handshake')} from {_clients(o)}, {_span(o.first, o.last)}"
    ]
    if o.ttl is not None:
        options = _options_words(o.tcp_options, o.window)
        evidence.append(f"SYN/ACK from {o.server} with {ttl_words(o.ttl)}{options}")
    if o.retried:
        evidence.append(
            f"{o.retried} of them needed the SYN more than once: packets are lost on the way"
        )
    if o.no_synack:
        evidence.append(
            f"{o.no_synack} completed without the SYN/ACK in the capture (it took another path "
            "past the capture point)"
        )
    if o.half_open:
        evidence.append(
            f"{o.half_open} {_plural(o.half_open, 'was', 'were')} answered with SYN/ACK but "
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


def _clients(o: Outcome) -> str:
    if len(o.clients) == 1 and not o.more_clients:
        return o.clients[0]
    shown = ", ".join(o.clients)
    if o.more_clients:
        return f"more than {len(o.clients)} clients ({shown}, ...)"
    return f"{len(o.clients)} clients ({shown})"


def _span(first: float, last: float) -> str:
    """ "at 2024-05-01 12:00:01.123 UTC", "2024-05-01 12:00:01.123 to 12:00:04.130 UTC (3.0 s)" """
    took = last - first
    if took < 0.0005:
        return f"at {clock(first)}"
    start, stop = clock(first), clock(last)
    if start[:10] == stop[:10]:
        stop = stop[11:]  # the same day: the time is enough
    length = f"{took * 1000:.0f} ms" if took < 1 else f"{took:.1f} s"
    return f"{start[:-4]} to {stop} ({length})"


def clock(ts: float) -> str:
    """ "2024-05-01 12:00:01.123 UTC" """
    whole = int(ts)
    ms = int((ts - whole) * 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + f".{ms:03d} UTC"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return one if n == 1 else (many if many is not None else one + "s")


# --------------------------------------------------------------------------- summaries


def _server_summary(address: str, outcomes: Sequence[Outcome]) -> ServerSummary:
    ports: dict[int, dict[str, int]] = {}
    for o in outcomes:
        ports.setdefault(o.port, {})[o.code] = o.count
    ok = tuple(p for p, codes in sorted(ports.items()) if set(codes) == {OK})
    failing = tuple(p for p, codes in sorted(ports.items()) if set(codes) & PROBLEMS)
    attempts = sum(o.count for o in outcomes)
    completed = sum(o.count for o in outcomes if o.code == OK)
    status = "ok" if not failing else "failing" if not completed else "partial"
    return ServerSummary(
        address=address,
        status=status,
        attempts=attempts,
        ports=tuple(
            (p, tuple((c, codes[c]) for c in CODES if c in codes))
            for p, codes in sorted(ports.items())
        ),
        ports_ok=ok,
        ports_failing=failing,
    )


_MAX_LISTED = 8


def _listed(items: Sequence[str]) -> str:
    if len(items) <= _MAX_LISTED:
        return ", ".join(items)
    return ", ".join(items[:_MAX_LISTED]) + f" and {len(items) - _MAX_LISTED} more"


def _conclusion(servers: Sequence[ServerSummary], attempts: int) -> tuple[str, ...]:
    if not servers:
        return ("No TCP connection attempt (SYN) in the capture: nothing to analyse.",)
    affected = [s for s in servers if s.ports_failing]
    fine = [s for s in servers if not s.ports_failing]
    n = len(servers)
    if not affected:
        return (
            f"All {attempts} connection {_plural(attempts, 'attempt')} to {n} "
            f"{_plural(n, 'server')} completed their handshake: no problem in this capture.",
        )
    where = [f"{s.address} ({_ports_words(s.ports_failing)})" for s in affected]
    lines: list[str] = []
    if fine:
        lines.append(
            f"Connections to {_listed([s.address for s in fine])} complete; the problem is "
            f"limited to {_listed(where)}."
        )
    elif n > 1 and not any(s.ports_ok for s in affected):
        lines.append(f"Connections to every server in the capture fail: {_listed(where)}.")
    elif n > 1:
        lines.append(f"The problem is limited to {_listed(where)}.")
    elif not affected[0].ports_ok:
        lines.append(f"Connections to {where[0]} fail.")
    for s in affected:
        if s.ports_ok:
            there = "" if n == 1 else " there"
            lines.append(
                f"{s.address} is up ({_ports_words(s.ports_ok)} "
                f"{_plural(len(s.ports_ok), 'works', 'work')}); the problem{there} is limited "
                f"to {_ports_words(s.ports_failing)}."
            )
    all_silent = all({c for _, codes in s.ports for c, _ in codes} == {UNANSWERED} for s in servers)
    if n > 1 and all_silent:
        lines.append(
            "No server answered at all: look at the client's side first (its own firewall or "
            "security software, its network, a proxy it should use)."
        )
    return tuple(lines)


def _ports_words(ports: Sequence[int]) -> str:
    return f"{'port' if len(ports) == 1 else 'ports'} {port_list(ports)}"


def exit_status(analysis: Analysis) -> ExitStatus:
    """0 when every attempt completed, 1 when a problem pattern was found (the contract)."""
    return ExitStatus.PROBLEM if analysis.problem else ExitStatus.OK


__all__ = [
    "CODES",
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
