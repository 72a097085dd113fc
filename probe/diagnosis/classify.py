"""Answer -> state: what came back to one probe, as the contract's port state and reason.

Pure and table-driven. The engine records raw facts (``PortEvidence``); here each fact is
looked up in a table and becomes a ``PortResult`` with one state word (open, refused,
filtered, rejected, unreachable) and an nmap-style reason word (syn-ack, reset, no-response,
admin-prohibited, port-unreach, host-unreach, net-unreach, conn-refused, ...).

Order of the lookups:

1. ``errno_name`` — a verdict from this machine's kernel: the connect() fallback's error, or a
   raw ``sendto()`` the kernel refused (failed ARP, unreachable route, output firewall).
2. ICMP / ICMPv6 destination unreachable (and time exceeded), by (v6, type, code).
3. The TCP answer itself: SYN/ACK, RST, or nothing after every try.

Also the TTL arithmetic the diagnosis uses to tell a host from a device in front of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from probe.model import AnswerKind, PortEvidence, PortResult, PortState, Protocol

Verdict = tuple[PortState, str]

OPEN: Final = PortState.OPEN
REFUSED: Final = PortState.REFUSED
FILTERED: Final = PortState.FILTERED
REJECTED: Final = PortState.REJECTED
UNREACHABLE: Final = PortState.UNREACHABLE

# What came back to the SYN, when no ICMP table and no errno applies.
ANSWER_TABLE: Final[Mapping[AnswerKind, Verdict]] = {
    AnswerKind.SYN_ACK: (OPEN, "syn-ack"),
    AnswerKind.RST: (REFUSED, "reset"),
    AnswerKind.NONE: (FILTERED, "no-response"),
}

# The connect() fallback only knows the kernel said "refused": a RST, or an ICMP port
# unreachable, which Linux reports the same way.
CONNECT_RST: Final[Verdict] = (REFUSED, "conn-refused")

# ICMP errors quoting our SYN, by (icmp_v6, type, code). IPv4 type 3 and IPv6 type 1 are
# "destination unreachable"; the prohibited and port-unreachable codes are what firewalls
# send when they REJECT instead of DROP (a TCP stack itself answers a closed port with a
# RST, never with ICMP port unreachable).
ICMP_TABLE: Final[Mapping[tuple[bool, int, int], Verdict]] = {
    (False, 3, 0): (UNREACHABLE, "net-unreach"),
    (False, 3, 1): (UNREACHABLE, "host-unreach"),
    (False, 3, 2): (REJECTED, "proto-unreach"),
    (False, 3, 3): (REJECTED, "port-unreach"),
    (False, 3, 6): (UNREACHABLE, "net-unreach"),  # destination network unknown
    (False, 3, 7): (UNREACHABLE, "host-unreach"),  # destination host unknown
    (False, 3, 9): (REJECTED, "admin-prohibited"),  # network administratively prohibited
    (False, 3, 10): (REJECTED, "admin-prohibited"),  # host administratively prohibited
    (False, 3, 13): (REJECTED, "admin-prohibited"),  # communication administratively prohibited
    (True, 1, 0): (UNREACHABLE, "net-unreach"),  # no route to destination
    (True, 1, 1): (REJECTED, "admin-prohibited"),
    (True, 1, 2): (UNREACHABLE, "beyond-scope"),  # beyond scope of source address
    (True, 1, 3): (UNREACHABLE, "host-unreach"),  # address unreachable (failed neighbour disc.)
    (True, 1, 4): (REJECTED, "port-unreach"),
    (True, 1, 5): (REJECTED, "policy"),  # source address failed ingress/egress policy
    (True, 1, 6): (REJECTED, "reject-route"),  # reject route to destination
}

# ICMP types that mean the same whatever the code: a SYN whose TTL ran out on the way is a
# routing loop (or a path longer than our TTL), not an answer from the target.
ICMP_TYPE_TABLE: Final[Mapping[tuple[bool, int], Verdict]] = {
    (False, 11): (UNREACHABLE, "time-exceeded"),
    (True, 3): (UNREACHABLE, "time-exceeded"),
}

# The local kernel's verdict (connect() fallback, or a raw sendto() it refused).
ERRNO_TABLE: Final[Mapping[str, Verdict]] = {
    "ECONNREFUSED": CONNECT_RST,
    "EHOSTUNREACH": (UNREACHABLE, "host-unreach"),  # ICMP unreachable/prohibited, or no ARP
    "EHOSTDOWN": (UNREACHABLE, "host-unreach"),  # Linux: neighbour discovery failed
    "ENETUNREACH": (UNREACHABLE, "net-unreach"),
    "EACCES": (REJECTED, "local-reject"),  # an output firewall rule on this machine
    "EPERM": (REJECTED, "local-reject"),
    "ETIMEDOUT": (FILTERED, "no-response"),
}

# Reason word -> words for evidence lines. Unknown words fall back in reason_text().
REASON_TEXT: Final[Mapping[str, str]] = {
    "syn-ack": "SYN/ACK",
    "reset": "RST",
    "conn-refused": "connection refused",
    "no-response": "no answer",
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


def classify(ev: PortEvidence, service: str | None = None) -> PortResult:
    """Turn one port's evidence into its state and reason.

    Raw-SYN evidence keeps responder, TTL, RTT and IP ID for every answer, and window and
    TCP options for open ports only (the contract's report shape). connect() evidence keeps
    only the RTT: the fallback cannot see who answered or with which TTL, and must not claim it.
    """
    state, reason = verdict(ev)
    if ev.method == "connect":
        return PortResult(ev.port, state, reason, ev.tries, service=service, rtt_ms=ev.rtt_ms)
    is_open = state is PortState.OPEN
    return PortResult(  # positional, in field order: a full-range scan makes 65535 of these
        ev.port,
        state,
        reason,
        ev.tries,
        Protocol.TCP,
        service,
        ev.responder,
        ev.ttl,
        ev.rtt_ms,
        ev.window if is_open else None,
        ev.tcp_options if is_open else None,
        ev.ip_id,
    )


def verdict(ev: PortEvidence) -> Verdict:
    """(state, reason) for one port's evidence; see the module docstring for the order."""
    if ev.errno_name is not None and ev.icmp_type is None:
        known = ERRNO_TABLE.get(ev.errno_name)
        if known is not None:
            return known
        if ev.answer is AnswerKind.ICMP:
            return UNREACHABLE, ev.errno_name  # some other kernel error: keep its word
    if ev.answer is AnswerKind.ICMP:
        return _icmp_verdict(ev)
    if ev.answer is AnswerKind.RST and ev.method == "connect":
        return CONNECT_RST
    return ANSWER_TABLE[ev.answer]


def _icmp_verdict(ev: PortEvidence) -> Verdict:
    if ev.icmp_type is None or ev.icmp_code is None:
        return UNREACHABLE, "icmp"
    known = ICMP_TABLE.get((ev.icmp_v6, ev.icmp_type, ev.icmp_code))
    if known is None:
        known = ICMP_TYPE_TABLE.get((ev.icmp_v6, ev.icmp_type))
    if known is not None:
        return known
    return UNREACHABLE, f"icmp{'6' if ev.icmp_v6 else ''}-{ev.icmp_type}-{ev.icmp_code}"


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


def connect_errnos(reason: str) -> tuple[str, ...]:
    """The kernel errors that map to ``reason`` ("host-unreach" -> EHOSTUNREACH, EHOSTDOWN),
    for wording connect() evidence; an unknown errno kept as the reason is its own name."""
    names = tuple(name for name, (_, r) in ERRNO_TABLE.items() if r == reason)
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
