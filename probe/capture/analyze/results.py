"""What ``probe analyze`` hands to the report writers: the outcome codes, the per-server
aggregates (``Outcome``), the findings worded like check's, the server summaries and the
``Analysis`` that holds them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from probe.diagnosis.outcome import has_problem
from probe.diagnosis.words import ttl_words as check_ttl_words
from probe.model import Protocol, Severity, TcpOptions

if TYPE_CHECKING:
    from probe.capture.analyze.groups import PortGroup
    from probe.capture.analyze.scans import Scan

OK: Final = "ok"
UNANSWERED: Final = "syn-unanswered"
REFUSED: Final = "syn-refused"
REJECTED: Final = "syn-rejected"
INCOMPLETE: Final = "handshake-incomplete"
RST_INJECTED: Final = "rst-injected"
# UDP flows (``flows.py``): the same words with the protocol's prefix, as TCP's name the SYN
UDP_OK: Final = "udp-ok"  # the server answered
UDP_ONE_WAY: Final = "udp-one-way"  # no answer, and none was due (syslog, flow export, media)
UDP_UNANSWERED: Final = "udp-unanswered"  # no answer where one was due
UDP_REFUSED: Final = "udp-refused"  # ICMP port unreachable from the server itself
UDP_REJECTED: Final = "udp-rejected"  # ICMP prohibited, or port unreachable from another
UDP_UNREACHABLE: Final = "udp-unreachable"  # ICMP host / net unreachable (a router)
CODES: Final = (  # report order
    RST_INJECTED,
    UNANSWERED,
    REFUSED,
    REJECTED,
    INCOMPLETE,
    UDP_UNANSWERED,
    UDP_REFUSED,
    UDP_REJECTED,
    UDP_UNREACHABLE,
    OK,
    UDP_OK,
    UDP_ONE_WAY,
)
_TTL: Final = re.compile(r"\bTTL(s?)\b")
FINE: Final = frozenset({OK, UDP_OK, UDP_ONE_WAY})  # no problem: an info finding
PROBLEMS: Final = frozenset(CODES) - FINE


@dataclass(frozen=True)
class Outcome:
    """The attempts to one server port that ended one way: the aggregate the report quotes.
    For UDP (``protocol``) an attempt is a flow, a SYN a datagram from the client (``syns``
    0, ``datagrams`` instead), and ``ttls`` are the replies'."""

    server: str  # address
    port: int
    code: str
    count: int  # attempts
    syns: int  # SYNs in those attempts, retransmissions included
    tries: int  # the most SYNs (UDP: datagrams) one attempt sent
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
    syn_missing: int = 0  # attempts seen only by the ICMP error quoting the SYN (datagram)
    kernel_rst: int = 0  # ok, of no_synack: the client reset a SYN/ACK the capture missed
    # rst-injected (``ttls`` are the RSTs'): the SYN/ACKs' commonest TTL; attempts the client
    # completed anyway; RSTs not acknowledging the SYN's ISN + 1 (one example: the ACK number
    # found, -1 for none, and the one expected); RSTs carrying the SYN's IP ID; the first
    # attempt's delays from its SYN to the RST and to the SYN/ACK (seconds)
    synack_ttl: int | None = None
    completed: int = 0
    bad_ack: int = 0
    ack_example: tuple[int, int] | None = None
    copied_ipid: int = 0
    rst_delays: tuple[float, float] | None = None
    # UDP: datagrams from the clients and replies from the server; flows where the client sent
    # the same datagram again, flows seen by their replies only; the first datagram's payload
    # bytes; the protocol the server port is known for ("DNS")
    protocol: Protocol = Protocol.TCP
    datagrams: int = 0
    replies: int = 0
    resent: int = 0
    late: int = 0
    size: int | None = None
    service: str | None = None

    @property
    def endpoint(self) -> str:
        return endpoint(self.server, self.port)

    @property
    def label(self) -> str:
        """The endpoint as the text report names it: "198.18.1.10:80", "198.18.1.10:53/udp"."""
        udp = self.protocol is Protocol.UDP
        return f"{self.endpoint}/udp" if udp else self.endpoint

    @property
    def sent(self) -> int:
        """What the clients sent: SYNs, or UDP datagrams."""
        return self.datagrams if self.protocol is Protocol.UDP else self.syns

    @property
    def ttl(self) -> int | None:
        return self.ttls[0][0] if self.ttls else None

    @property
    def answer_ttl(self) -> int | None:
        """The TTL a report's row quotes: the server's answers', else (syn-rejected) the
        first ICMP sender's, which the evidence quotes too."""
        if self.ttls:
            return self.ttls[0][0]
        return self.responders[0][4] if self.responders else None


@dataclass(frozen=True)
class AnalyzeFinding:
    """One pattern at one server port, worded like check's findings. Problem patterns are
    errors, a completed handshake is info."""

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
    """One server address: which ports work, which do not (TCP, then UDP)."""

    address: str
    status: str  # "ok" (every attempt completed), "partial", "failing" (none completed)
    attempts: int  # TCP attempts and UDP flows
    ports: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]  # port -> ((code, count), ...)
    ports_ok: tuple[int, ...]  # every attempt completed
    ports_failing: tuple[int, ...]  # at least one attempt did not
    udp_ports: tuple[tuple[int, tuple[tuple[str, int], ...]], ...] = ()  # as ``ports``
    udp_ports_ok: tuple[int, ...] = ()  # every flow answered, or one-way by design
    udp_ports_failing: tuple[int, ...] = ()


@dataclass(frozen=True)
class Analysis:
    outcomes: tuple[Outcome, ...]
    findings: tuple[AnalyzeFinding, ...]
    servers: tuple[ServerSummary, ...]
    summary: tuple[str, ...]  # the plain-language conclusion across servers
    attempts: int
    notes: tuple[str, ...] = ()
    scans: tuple[Scan, ...] = ()  # port scans recognised: summarised, their findings kept
    flows: int = 0  # UDP flows (``attempts`` are TCP's)
    # one server's many ports failing one way: one finding each, the ports' own with -v
    groups: tuple[PortGroup, ...] = ()
    grouped: frozenset[tuple[Protocol, str, int, str]] = (
        frozenset()
    )  # (protocol, server, port, code)

    def in_scan(self, o: Outcome) -> bool:
        """The outcome belongs to a recognised scan (its finding is shown with -v only)."""
        return any(s.holds(o) for s in self.scans)

    def in_group(self, o: Outcome) -> bool:
        """The outcome is one of a group's ports (its finding is shown with -v only)."""
        return (o.protocol, o.server, o.port, o.code) in self.grouped

    @property
    def problem(self) -> bool:
        """A problem pattern was found (its finding is an error): the exit status 1."""
        return has_problem(self.findings)


def ttl_words(ttl: int, address: str) -> str:
    """ "TTL 63 (≈ 1 hop)"; for an IPv6 address "hop limit 63 (≈ 1 hop)", its name there."""
    words = check_ttl_words(ttl)
    return "hop limit" + words[3:] if ":" in address else words


def hop_limit_words(text: str, address: str) -> str:
    """check's sentences for an IPv6 server: its "TTL" is the hop limit there ("RST on 81 with
    hop limit 64", "no SYN/ACK to compare hop limits with")."""
    return (
        _TTL.sub(lambda m: "hop limits" if m[1] else "hop limit", text) if ":" in address else text
    )


def endpoint(address: str, port: int) -> str:
    """ "198.18.1.10:80", "[2001:2::10]:80" """
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
