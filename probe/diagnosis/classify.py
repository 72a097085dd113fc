"""Answer -> state: what came back to one probe, as the contract's port state and reason.

Pure and table-driven. The engine records raw facts (``PortEvidence``); here each fact is
looked up in its transport's ``Table`` and becomes a ``PortResult`` with one state word (open,
refused, filtered, rejected, unreachable; UDP's silence: open|filtered) and an nmap-style
reason word (syn-ack, reset, udp-response, no-response, admin-prohibited, port-unreach,
host-unreach, net-unreach, conn-refused, ...): a ``Reading``.

Order of the lookups, the same for every transport:

1. ``errno_name`` — a verdict from this machine's kernel: the connect() fallback's error, or a
   raw ``sendto()`` the kernel refused (failed ARP, unreachable route, output firewall).
2. ICMP / ICMPv6 destination unreachable (and time exceeded), by (v6, type, code); first the
   errors sent by the target address itself, then those from anyone.
3. The answer itself (TCP: SYN/ACK, RST, or nothing after every try); for the connect()
   fallback its own table first.

Also the TTL arithmetic and address comparison the diagnosis uses to tell a host from a
device in front of it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from probe.model import AnswerKind, Method, PortEvidence, PortResult, PortState, Protocol
from probe.records import slot_setters


class Reading(NamedTuple):
    """What one probe's answer says: the port's state and the reason word behind it."""

    state: PortState
    reason: str


OPEN: Final = PortState.OPEN
REFUSED: Final = PortState.REFUSED
FILTERED: Final = PortState.FILTERED
REJECTED: Final = PortState.REJECTED
UNREACHABLE: Final = PortState.UNREACHABLE

_NONE: Final[Mapping[tuple[bool, int, int], Reading]] = MappingProxyType({})

# What came back to the SYN, when no ICMP table and no errno applies.
TCP_ANSWERS: Final[Mapping[AnswerKind, Reading]] = {
    AnswerKind.SYN_ACK: Reading(OPEN, "syn-ack"),
    AnswerKind.RST: Reading(REFUSED, "reset"),
    AnswerKind.NONE: Reading(FILTERED, "no-response"),
}

# The connect() fallback only knows the kernel said "refused": a RST, or an ICMP port
# unreachable, which Linux reports the same way.
CONNECT_RST: Final = Reading(REFUSED, "conn-refused")

# ICMP errors quoting our probe, by (icmp_v6, type, code). IPv4 type 3 and IPv6 type 1 are
# "destination unreachable"; the prohibited and port-unreachable codes are what firewalls
# send when they REJECT instead of DROP (a TCP stack itself answers a closed port with a
# RST, never with ICMP port unreachable).
ICMP_TABLE: Final[Mapping[tuple[bool, int, int], Reading]] = {
    (False, 3, 0): Reading(UNREACHABLE, "net-unreach"),
    (False, 3, 1): Reading(UNREACHABLE, "host-unreach"),
    (False, 3, 2): Reading(REJECTED, "proto-unreach"),
    (False, 3, 3): Reading(REJECTED, "port-unreach"),
    (False, 3, 6): Reading(UNREACHABLE, "net-unreach"),  # destination network unknown
    (False, 3, 7): Reading(UNREACHABLE, "host-unreach"),  # destination host unknown
    (False, 3, 9): Reading(REJECTED, "admin-prohibited"),  # network administratively prohibited
    (False, 3, 10): Reading(REJECTED, "admin-prohibited"),  # host administratively prohibited
    (False, 3, 13): Reading(REJECTED, "admin-prohibited"),  # communication adm. prohibited
    (True, 1, 0): Reading(UNREACHABLE, "net-unreach"),  # no route to destination
    (True, 1, 1): Reading(REJECTED, "admin-prohibited"),
    (True, 1, 2): Reading(UNREACHABLE, "beyond-scope"),  # beyond scope of source address
    (True, 1, 3): Reading(UNREACHABLE, "host-unreach"),  # address unreachable (failed ND)
    (True, 1, 4): Reading(REJECTED, "port-unreach"),
    (True, 1, 5): Reading(REJECTED, "policy"),  # source address failed ingress/egress policy
    (True, 1, 6): Reading(REJECTED, "reject-route"),  # reject route to destination
}

# ICMP types that mean the same whatever the code: a SYN whose TTL ran out on the way is a
# routing loop (or a path longer than our TTL), not an answer from the target.
ICMP_TYPE_TABLE: Final[Mapping[tuple[bool, int], Reading]] = {
    (False, 11): Reading(UNREACHABLE, "time-exceeded"),
    (True, 3): Reading(UNREACHABLE, "time-exceeded"),
}

# The local kernel's verdict (connect() fallback, or a raw sendto() it refused).
ERRNO_TABLE: Final[Mapping[str, Reading]] = {
    "ECONNREFUSED": CONNECT_RST,
    "EHOSTUNREACH": Reading(UNREACHABLE, "host-unreach"),  # ICMP unreachable/prohibited, no ARP
    "EHOSTDOWN": Reading(UNREACHABLE, "host-unreach"),  # Linux: neighbour discovery failed
    "ENETUNREACH": Reading(UNREACHABLE, "net-unreach"),
    "EACCES": Reading(REJECTED, "local-reject"),  # an output firewall rule on this machine
    "EPERM": Reading(REJECTED, "local-reject"),
    "ETIMEDOUT": Reading(FILTERED, "no-response"),
}


@dataclass(frozen=True)
class Table:
    """How one transport's answers read, lookup by lookup (see the module docstring)."""

    answers: Mapping[AnswerKind, Reading]
    connect_answers: Mapping[AnswerKind, Reading]  # the connect() fallback's, before answers
    icmp: Mapping[tuple[bool, int, int], Reading]
    # ICMP errors sent by the target address itself, before ``icmp`` (UDP: a closed port's
    # own "port unreachable" is its refusal; TCP has none, its stack answers with a RST).
    icmp_from_target: Mapping[tuple[bool, int, int], Reading]
    icmp_types: Mapping[tuple[bool, int], Reading]
    errnos: Mapping[str, Reading]


TCP: Final = Table(
    answers=TCP_ANSWERS,
    connect_answers={AnswerKind.RST: CONNECT_RST},
    icmp=ICMP_TABLE,
    icmp_from_target=_NONE,
    icmp_types=ICMP_TYPE_TABLE,
    errnos=ERRNO_TABLE,
)

# UDP has no handshake: a datagram back is the only proof that something listens, and
# silence is nmap's "open|filtered" — a firewall's drop and a service that ignores the request
# look the same. A closed port is known only by its host's ICMP port unreachable; the same
# error from anyone else is a firewall rejecting in the host's name.
UDP_ANSWERS: Final[Mapping[AnswerKind, Reading]] = {
    AnswerKind.UDP: Reading(OPEN, "udp-response"),
    AnswerKind.NONE: Reading(PortState.OPEN_FILTERED, "no-response"),
}

UDP: Final = Table(
    answers=UDP_ANSWERS,
    connect_answers={},
    icmp=ICMP_TABLE,
    icmp_from_target={
        (False, 3, 3): Reading(REFUSED, "port-unreach"),
        (True, 1, 4): Reading(REFUSED, "port-unreach"),
    },
    icmp_types=ICMP_TYPE_TABLE,
    # A connected UDP socket hears ICMP errors as these, without their sender: ECONNREFUSED
    # is a port unreachable (most likely the host's own), EHOSTUNREACH also stands for
    # "administratively prohibited".
    errnos={**ERRNO_TABLE, "ETIMEDOUT": Reading(PortState.OPEN_FILTERED, "no-response")},
)

TABLES: Final[Mapping[Protocol, Table]] = {Protocol.TCP: TCP, Protocol.UDP: UDP}

# Reason word -> words for evidence lines. Unknown words fall back in reason_text().
REASON_TEXT: Final[Mapping[str, str]] = {
    "syn-ack": "SYN/ACK",
    "reset": "RST",
    "conn-refused": "connection refused",
    "no-response": "no answer",
    "udp-response": "a UDP answer",
    "admin-prohibited": "ICMP administratively prohibited",
    "port-unreach": "ICMP port unreachable",
    "proto-unreach": "ICMP protocol unreachable",
    "net-unreach": "ICMP network unreachable",
    "host-unreach": "ICMP host unreachable",
    "beyond-scope": "ICMPv6 beyond scope of source address",
    "policy": "ICMPv6 source address failed ingress/egress policy",
    "reject-route": "ICMPv6 reject route to destination",
    "time-exceeded": "ICMP time exceeded (TTL ran out on the way)",
    "local-reject": "refused by this computer's own firewall",
}

_ICMP_REASON = re.compile(r"icmp(6?)-(\d+)-(\d+)")

# Initial TTLs in the wild: 64 (Linux, macOS, BSD, most routers and NAT boxes), 128
# (Windows), 255 (Cisco IOS, Solaris, many ICMP generators), 32 (old Windows, some embedded
# stacks). A received TTL is guessed to start at the nearest of these at or above it; that
# holds while paths are shorter than the gap between two of them (Internet paths: < 30 hops).
INITIAL_TTLS: Final = (32, 64, 128, 255)


def table(protocol: Protocol) -> Table:
    """The answers table of ``protocol``."""
    found = TABLES.get(protocol)
    if found is None:
        raise LookupError(f"no classification table for {protocol} yet")
    return found


def classify(ev: PortEvidence, service: str | None = None) -> PortResult:
    """Turn one port's evidence into its state and reason.

    Raw evidence keeps responder, TTL, RTT and IP ID for every answer, and window and TCP
    options for open ports only (the contract's report shape). connect() evidence keeps
    only the RTT: the fallback cannot see who answered or with which TTL, and must not claim it.
    """
    state, reason = reading(ev)
    if ev.method is Method.CONNECT:
        return PortResult(
            ev.port, state, reason, ev.tries, ev.protocol, service=service, rtt_ms=ev.rtt_ms
        )
    return raw_result(ev, state, reason, service)


# A full-range scan makes 65535 of these: set through their slots (records.slot_setters),
# 0.6 us instead of 1.2 us for PortResult's 16 fields.
(
    _port,
    _state,
    _reason,
    _tries,
    _protocol,
    _service,
    _responder,
    _ttl,
    _rtt,
    _window,
    _options,
    _ip_id,
    _app,
    _asked,
    _request,
    _decoded,
) = slot_setters(PortResult)
_new, _OPEN = object.__new__, PortState.OPEN


def raw_result(ev: PortEvidence, state: PortState, reason: str, service: str | None) -> PortResult:
    """Raw evidence read as ``state`` and ``reason``: its responder, TTL, RTT and IP ID, and
    window and TCP options for an open port only (the contract's report shape)."""
    is_open = state is _OPEN
    p: PortResult = _new(PortResult)
    _port(p, ev.port)
    _state(p, state)
    _reason(p, reason)
    _tries(p, ev.tries)
    _protocol(p, ev.protocol)
    _service(p, service)
    _responder(p, ev.responder)
    _ttl(p, ev.ttl)
    _rtt(p, ev.rtt_ms)
    _window(p, ev.window if is_open else None)
    _options(p, ev.tcp_options if is_open else None)
    _ip_id(p, ev.ip_id)
    _app(p, None)
    _asked(p, True)
    _request(p, None)
    _decoded(p, None)
    return p


def reading(ev: PortEvidence) -> Reading:
    """(state, reason) for one port's evidence; see the module docstring for the order."""
    t = TABLES.get(ev.protocol) or table(ev.protocol)
    answer = ev.answer
    if ev.errno_name is None and answer is not AnswerKind.ICMP and ev.method is Method.RAW:
        return t.answers[answer]  # the raw engine's SYN/ACK, RST or silence: most ports
    if ev.errno_name is not None and ev.icmp_type is None:
        known = t.errnos.get(ev.errno_name)
        if known is not None:
            return known
        if ev.answer is AnswerKind.ICMP:
            return Reading(UNREACHABLE, ev.errno_name)  # some other kernel error: keep its word
    if ev.answer is AnswerKind.ICMP:
        return _icmp_reading(t, ev)
    if ev.method is Method.CONNECT:
        known = t.connect_answers.get(ev.answer)
        if known is not None:
            return known
    return t.answers[ev.answer]


def _icmp_reading(t: Table, ev: PortEvidence) -> Reading:
    if ev.icmp_type is None or ev.icmp_code is None:
        return Reading(UNREACHABLE, "icmp")
    key = (ev.icmp_v6, ev.icmp_type, ev.icmp_code)
    known = None
    if t.icmp_from_target and ev.responder is not None and same_address(ev.responder, ev.address):
        known = t.icmp_from_target.get(key)
    if known is None:
        known = t.icmp.get(key)
    if known is None:
        known = t.icmp_types.get((ev.icmp_v6, ev.icmp_type))
    if known is not None:
        return known
    return Reading(UNREACHABLE, f"icmp{'6' if ev.icmp_v6 else ''}-{ev.icmp_type}-{ev.icmp_code}")


def reason_text(reason: str) -> str:
    """A reason word in evidence words: "admin-prohibited" -> "ICMP administratively
    prohibited", "icmp-3-4" -> "ICMP destination unreachable, code 4", "ENETDOWN" -> "error
    ENETDOWN"."""
    known = REASON_TEXT.get(reason)
    if known is not None:
        return known
    m = _ICMP_REASON.fullmatch(reason)
    if m is not None:
        v6, icmp_type, code = m.groups()
        name = "ICMPv6" if v6 else "ICMP"
        unreach = (v6 and icmp_type == "1") or (not v6 and icmp_type == "3")
        kind = "destination unreachable" if unreach else f"type {icmp_type}"
        return f"{name} {kind}, code {code}"
    if reason == "icmp":
        return "an ICMP error"
    if reason.isupper():
        return f"error {reason}"
    return reason


def connect_errnos(reason: str, protocol: Protocol = Protocol.TCP) -> tuple[str, ...]:
    """The kernel errors that map to ``reason`` ("host-unreach" -> EHOSTUNREACH, EHOSTDOWN),
    for wording connect() evidence; an unknown errno kept as the reason is its own name."""
    names = tuple(name for name, (_, r) in table(protocol).errnos.items() if r == reason)
    if not names and reason.isupper():
        return (reason,)
    return names


# initial_ttl for every TTL, looked up: a full-range scan asks for 65535 answers' hop counts.
_INITIAL_TTL: Final = tuple(next(s for s in INITIAL_TTLS if s >= ttl) for ttl in range(256))


def initial_ttl(ttl: int) -> int:
    """The initial TTL a received ``ttl`` most likely started from (32, 64, 128 or 255)."""
    if not 0 <= ttl <= 255:
        raise ValueError(f"a TTL is 0-255, not {ttl}")
    return _INITIAL_TTL[ttl]


def hops_from_ttl(ttl: int) -> int:
    """Routers between us and the sender, guessed from a received TTL: 63 -> 1, 64 -> 0,
    116 -> 12. A guess: compare it between answers rather than trust it on its own."""
    return initial_ttl(ttl) - ttl


def same_address(a: str, b: str) -> bool:
    """Two spellings of one address ("2001:2::1", "2001:0002:0::1"); a zone index on ``b``
    (the target as typed, "fe80::1%eth0") is not part of the address an answer comes from."""
    if a == b:  # the usual case, and the cheap one
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b.split("%")[0])
    except ValueError:
        return a == b
