"""The data model: what each pipeline step records, as frozen dataclasses and enums.

The walk is target -> dns -> route -> ping -> engine -> classify -> diagnose -> output. The
edge (``steps/``, ``engine/``) fills these records from the network; everything after it
(``diagnosis/``, ``output/``) is pure and works on these records only. No I/O imports here,
and no scapy objects ever end up in these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum  # members are the contract's words: str(x) and JSON give the word
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the record lives beside the logic that fills it; no import at run time
    from probe.diagnosis.discovery import Discovery

# --------------------------------------------------------------------------- modes


class Protocol(StrEnum):
    """The transport a port is probed over (the JSON port entry's ``protocol``)."""

    TCP = "tcp"
    UDP = "udp"


class Method(StrEnum):
    """How probes are sent: crafted packets on raw sockets (full evidence) or the kernel's
    own ``connect()`` (no privilege; only its verdict and the time it took)."""

    RAW = "syn"  # the report's "mode" word is "syn" (the contract's JSON)
    CONNECT = "connect"


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Target:
    """One thing the user asked about: as typed, and what kind of thing it is.

    ``kind`` is "name", "ipv4", "ipv6" or "cidr". For a literal, ``address`` is the
    normalised (compressed) address; for a name it is None until DNS answers. For a CIDR
    block the parser expands it into one Target per address (kind "ipv4"/"ipv6") with
    ``input`` kept as the block, so reports can group them.
    """

    input: str
    kind: str
    address: str | None = None
    zone: str | None = None  # IPv6 link-local zone index ("eth0" in fe80::1%eth0)


@dataclass(frozen=True, slots=True)
class PortRequest:
    """A port to probe, with the service name it is known by (from a profile or /etc/services).

    ``asked``: the user asked for this port (``-p``, a chosen ``--profile``, an audit's
    expectation). False for the default profile's ports, probed only to see what the host
    offers: when the host opens some port, such a port being closed is no problem.
    """

    port: int
    service: str | None = None
    asked: bool = True
    protocol: Protocol = Protocol.TCP


# --------------------------------------------------------------------------- dns


class DnsStatus(StrEnum):
    """What the DNS servers said (one word per outcome, each rcode its own)."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"  # SERVFAIL, or another failure of the server (NOTIMP, FORMERR...)
    REFUSED = "refused"  # the server will not answer this client or this name
    TIMEOUT = "timeout"  # no server answered (silence, or the network said unreachable)
    NO_ANSWER = "no_answer"  # the name exists but has no A/AAAA records
    LITERAL = "literal"  # the target was an address: no DNS needed


class SystemStatus(StrEnum):
    """What the system resolver (getaddrinfo) said."""

    OK = "ok"
    NOT_FOUND = "not_found"  # no such name, or no address of the asked families
    ERROR = "error"  # it could not complete (its DNS servers failed or did not answer)
    TIMEOUT = "timeout"  # no result within the time given: the lookup was left running


class SystemSource(StrEnum):
    """Where the system resolver's addresses came from, as far as probe can tell."""

    HOSTS = "hosts"  # the hosts file names them (probe reads it itself)
    DNS = "dns"  # the DNS servers gave the same addresses
    OTHER = "other"  # neither: another NSS source (mDNS, LDAP, systemd-resolved) or DNS view


@dataclass(frozen=True, slots=True)
class SystemAnswer:
    """What this client's applications get for a name: getaddrinfo's answer (hosts file,
    NSS modules, search domains), beside what the DNS servers say."""

    status: SystemStatus
    addresses: tuple[str, ...] = ()  # in getaddrinfo's order (the one applications try)
    source: SystemSource | None = None  # None unless status is OK
    hosts_file: str | None = None  # the hosts file read, when it names the name
    hosts_lines: tuple[int, ...] = ()  # its lines that name it
    elapsed_ms: float = 0.0
    detail: str | None = None  # plain words on failure


@dataclass(frozen=True, slots=True)
class DnsResult:
    status: DnsStatus
    addresses: tuple[str, ...] = ()  # IPv4 first, then IPv6, each in DNS order
    cname_chain: tuple[str, ...] = ()  # names followed, without trailing dots
    nameservers: tuple[str, ...] = ()  # the resolvers asked
    answered_by: str | None = None  # the resolver that gave the final answer
    elapsed_ms: float = 0.0
    detail: str | None = None  # plain words on failure, for evidence
    # The system resolver's answer; None when it was not asked (--nameserver, a literal).
    system: SystemAnswer | None = None


# --------------------------------------------------------------------------- route


class RouteStatus(StrEnum):
    OK = "ok"
    NO_ROUTE = "no_route"  # no route, or the route is unreachable/blackhole/prohibit


@dataclass(frozen=True, slots=True)
class RouteResult:
    status: RouteStatus
    interface: str | None = None
    source: str | None = None
    gateway: str | None = None  # None: the target is on-link (same segment)
    route_type: str | None = None  # kernel's word when not a unicast route ("unreachable"...)
    detail: str | None = None

    @property
    def on_link(self) -> bool:
        return self.status is RouteStatus.OK and self.gateway is None


# --------------------------------------------------------------------------- ping


class PingStatus(StrEnum):
    OK = "ok"
    NO_REPLY = "no_reply"
    UNREACHABLE = "unreachable"  # an ICMP unreachable came back instead of an echo reply
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class PingResult:
    status: PingStatus
    sent: int = 0
    received: int = 0
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    ttl: int | None = None  # IP TTL / hop limit of the echo replies
    responder: str | None = None  # who sent the unreachable, when status is UNREACHABLE
    detail: str | None = None


# --------------------------------------------------------------------------- arp


@dataclass(frozen=True, slots=True)
class ArpResult:
    """Who answers ARP (IPv6: neighbour solicitation) for an on-link target."""

    macs: tuple[str, ...] = ()
    requests: int = 0  # ARP requests / neighbour solicitations sent
    wait_s: float = 0.0  # how long answers were collected
    interface: str | None = None


# --------------------------------------------------------------------------- SYN evidence


class AnswerKind(StrEnum):
    """What came back to a probe, before any interpretation."""

    SYN_ACK = "syn-ack"
    RST = "rst"
    ICMP = "icmp"  # ICMP / ICMPv6 destination unreachable quoting our probe
    UDP = "udp"  # a UDP datagram from the probed port back to ours
    NONE = "none"  # nothing, after every try


@dataclass(frozen=True, slots=True)
class TcpOptions:
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamps: bool = False


@dataclass(frozen=True, slots=True)
class PortEvidence:
    """What the engine saw for one (address, port): the raw facts, no verdict.

    ``method`` is "syn" (raw SYNs, full evidence) or "connect" (connect() fallback: only
    ``answer`` and ``rtt_ms`` are known; ``errno_name`` carries the kernel's word).
    ``icmp_type``/``icmp_code`` are ICMP's (v4: type 3) or ICMPv6's (type 1) numbers, with
    ``icmp_v6`` telling which table they come from.
    """

    address: str
    port: int
    method: Method
    answer: AnswerKind
    tries: int
    responder: str | None = None
    ttl: int | None = None
    rtt_ms: float | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_v6: bool = False
    window: int | None = None
    tcp_options: TcpOptions | None = None
    ip_id: int | None = None
    errno_name: str | None = None  # connect mode: "ECONNREFUSED", "EHOSTUNREACH", ...
    probe_ttl: int | None = None  # the TTL / hop limit our SYN left with (raw mode)
    protocol: Protocol = Protocol.TCP
    reply: bytes | None = None  # UDP: the answer's payload (its first REPLY_KEEP bytes)


REPLY_KEEP = 1024  # bytes of a UDP answer kept as evidence: enough to decode any hello


# --------------------------------------------------------------------------- port results


class PortState(StrEnum):
    OPEN = "open"
    REFUSED = "refused"
    FILTERED = "filtered"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    OPEN_FILTERED = "open|filtered"  # UDP only: silence, which a firewall and a mute service share


@dataclass(frozen=True, slots=True)
class AppResult:
    status: str  # "answered" | "silent" | "error"
    protocol: str
    banner: str | None = None
    detail: str | None = None
    # TLS only: what the handshake showed (the certificate is read, not verified).
    tls_version: str | None = None  # "TLSv1.3"
    cert_subject: str | None = None  # RFC 4514: "CN=web.example,O=Example"
    cert_issuer: str | None = None
    cert_not_after: str | None = None  # ISO 8601 UTC: "2030-01-01T00:00:00Z"
    cert_names: tuple[str, ...] = ()  # subjectAltName DNS names and IP addresses
    cert_problems: tuple[str, ...] = ()  # "expired", "not yet valid", "name mismatch"


@dataclass(frozen=True, slots=True)
class PortResult:
    """One probed port, classified. ``reason`` is nmap-style: syn-ack, reset, no-response,
    admin-prohibited, port-unreach, host-unreach, net-unreach, conn-refused, ..."""

    port: int
    state: PortState
    reason: str
    tries: int
    protocol: Protocol = Protocol.TCP
    service: str | None = None
    responder: str | None = None
    ttl: int | None = None
    rtt_ms: float | None = None
    window: int | None = None
    tcp_options: TcpOptions | None = None
    ip_id: int | None = None
    app: AppResult | None = None
    asked: bool = True  # PortRequest.asked: False for the default profile's ports
    request: str | None = None  # UDP: the request sent ("NTP client request"; None: empty)
    decoded: str | None = None  # UDP: what the answer decodes as ("NTP server, stratum 2")


# --------------------------------------------------------------------------- findings


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    summary: str
    ports: tuple[int, ...] = ()
    evidence: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    # The transport of each entry of ``ports``, in the same order; empty: every one is TCP
    # (so a finding about 53/udp and 53/tcp names both without ambiguity).
    protocols: tuple[Protocol, ...] = ()


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class TargetReport:
    """Everything measured and concluded for one target address (or one failed name)."""

    input: str
    address: str | None
    dns: DnsResult
    route: RouteResult | None = None
    ping: PingResult | None = None
    arp: ArpResult | None = None
    ports: tuple[PortResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    # TTL-limited SYNs sent after the scan to prove who sent a RST (middlebox.py)
    confirmations: tuple[PortEvidence, ...] = ()

    @property
    def family(self) -> int | None:
        if self.address is None:
            return None
        return 6 if ":" in self.address else 4


@dataclass(frozen=True, slots=True)
class Report:
    targets: tuple[TargetReport, ...]
    mode: Method = Method.RAW  # raw packets, or connect() (the fallback, less evidence)
    notes: tuple[str, ...] = ()  # run-wide remarks, e.g. what the connect fallback cannot see
    interrupted: bool = False
    version: int = 1
    discovery: Discovery | None = None  # host discovery, when it ran (> 256 addresses)


# --------------------------------------------------------------------------- trace


@dataclass(frozen=True, slots=True)
class Hop:
    """One TTL of a TCP traceroute: what came back to the SYNs sent with that TTL.

    ``kind`` is "time-exceeded" (a router on the way), "syn-ack", "rst", "rejected" or
    "unreachable" (an ICMP error; ``reason`` says which, as in PortResult), or "none".
    ``reply_ttl`` is the TTL the answer arrived with.
    """

    ttl: int
    kind: str
    responder: str | None = None
    rtt_ms: float | None = None
    reason: str | None = None
    reply_ttl: int | None = None
    tries: int = 0


@dataclass(frozen=True, slots=True)
class TraceVerdict:
    """Where the SYN stopped: the port's state at the end of the path and one sentence.
    ``state`` is None when nothing was traced (DNS failed, no route)."""

    state: PortState | None
    summary: str
    last_responder: str | None = None
    stopped_at_ttl: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TraceReport:
    """``probe trace``: one target, one port, the hops in TTL order and the verdict.
    ``findings`` holds the DNS or route finding when the trace could not start."""

    input: str
    address: str | None
    port: int
    dns: DnsResult
    verdict: TraceVerdict
    route: RouteResult | None = None
    hops: tuple[Hop, ...] = ()
    findings: tuple[Finding, ...] = ()
    max_hops: int = 30
    interrupted: bool = False
    version: int = 1
    protocol: Protocol = Protocol.TCP  # SYNs (TCP) or datagrams (UDP, --udp)
