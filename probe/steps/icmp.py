"""ICMP and ICMPv6 messages read back by the ping step (pure): echo replies, errors quoting
our echo requests (from the packet or from a datagram socket's error queue), their TTL, and
the words for their type and code. No socket is opened here; ``ping`` does the I/O.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from probe.model import PingResult, PingStatus

# Linux values the socket module does not export (include/uapi/linux/in.h, in6.h, errqueue.h).
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3
_SOCK_EXTENDED_ERR = struct.Struct("=IBBBBII")  # errno, origin, type, code, pad, info, data

_ECHO_REPLY = {False: 0, True: 129}
ECHO_REQUEST = {False: 8, True: 128}
# ICMP errors that quote the request: v4 destination unreachable / time exceeded,
# v6 destination unreachable / packet too big / time exceeded.
_ERROR_TYPES = {False: frozenset({3, 11}), True: frozenset({1, 2, 3})}


@dataclass(frozen=True)
class IcmpMessage:
    """An echo reply, or an ICMP error quoting one of our echo requests."""

    is_error: bool
    type: int
    code: int
    ident: int
    sequence: int
    ttl: int | None = None  # of the packet that carried the message, when known


@dataclass(frozen=True)
class IcmpError:
    """An ICMP error that came back instead of an echo reply."""

    responder: str | None
    type: int
    code: int
    v6: bool


@dataclass
class Tally:
    """What one ping run saw, before it becomes a PingResult."""

    sent: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    ttl: int | None = None
    errors: list[IcmpError] = field(default_factory=list)
    not_sent: str | None = None  # the local kernel's words when sendto() failed


def skipped() -> PingResult:
    """The PingResult when ping was not run (--no-ping)."""
    return PingResult(PingStatus.SKIPPED)


def summarize(tally: Tally) -> PingResult:
    """A run's tally -> PingResult. Replies win; else an ICMP error; else silence."""
    received = len(tally.rtts_ms)
    stats = rtt_stats(tally.rtts_ms)
    rtt_min, rtt_avg, rtt_max = stats if stats else (None, None, None)
    if received:
        detail = None
        if tally.errors:
            detail = f"also {describe(tally.errors[0])}"
        return PingResult(
            PingStatus.OK,
            sent=tally.sent,
            received=received,
            rtt_min_ms=rtt_min,
            rtt_avg_ms=rtt_avg,
            rtt_max_ms=rtt_max,
            ttl=tally.ttl,
            detail=detail,
        )
    if tally.errors:
        first = tally.errors[0]
        return PingResult(
            PingStatus.UNREACHABLE,
            sent=tally.sent,
            responder=first.responder,
            detail=describe(first),
        )
    if tally.not_sent is not None and tally.sent == 0:
        return PingResult(
            PingStatus.UNREACHABLE, detail=f"not sent: the local kernel said {tally.not_sent}"
        )
    return PingResult(PingStatus.NO_REPLY, sent=tally.sent, detail=tally.not_sent)


def rtt_stats(rtts_ms: Sequence[float]) -> tuple[float, float, float] | None:
    """(min, avg, max) in ms, rounded to microseconds; None without replies."""
    if not rtts_ms:
        return None
    avg = sum(rtts_ms) / len(rtts_ms)
    return round(min(rtts_ms), 3), round(avg, 3), round(max(rtts_ms), 3)


def ttl_from_ip_header(packet: bytes) -> int | None:
    """The TTL of a raw IPv4 datagram (byte 8 of the header)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    return packet[8]


def ttl_from_ancillary(ancdata: Sequence[tuple[int, int, bytes]]) -> int | None:
    """TTL (IP_TTL) or hop limit (IPV6_HOPLIMIT) from recvmsg's ancillary data."""
    for level, kind, data in ancdata:
        if len(data) < 4:
            continue
        if (level, kind) in (
            (socket.IPPROTO_IP, socket.IP_TTL),
            (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT),
        ):
            value: int = struct.unpack("=i", data[:4])[0]
            return value
    return None


def decode_ipv4(packet: bytes) -> IcmpMessage | None:
    """A raw IPv4 datagram (IP header + ICMP) -> IcmpMessage, or None if not ours to see."""
    ttl = ttl_from_ip_header(packet)
    if ttl is None or packet[9] != socket.IPPROTO_ICMP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    return decode_icmp(packet[ihl:], v6=False, ttl=ttl)


def decode_icmp(message: bytes, *, v6: bool, ttl: int | None = None) -> IcmpMessage | None:
    """An ICMP / ICMPv6 message (no IP header) -> IcmpMessage, or None for anything else
    (echo requests, neighbour discovery, errors about other traffic, truncated packets)."""
    if len(message) < 8:
        return None
    kind, code = message[0], message[1]
    if kind == _ECHO_REPLY[v6]:
        ident, sequence = struct.unpack_from("!HH", message, 4)
        return IcmpMessage(False, kind, code, ident, sequence, ttl)
    if kind not in _ERROR_TYPES[v6]:
        return None
    quoted = _quoted_echo(message[8:], v6)
    if quoted is None:
        return None
    ident, sequence = quoted
    return IcmpMessage(True, kind, code, ident, sequence, ttl)


def decode_queued_error(
    data: bytes, ancdata: Sequence[tuple[int, int, bytes]], *, v6: bool
) -> tuple[IcmpMessage, str | None] | None:
    """An entry of a datagram socket's error queue -> (IcmpMessage, the router that sent it).

    ``data`` is our echo request as quoted by the error; the ancillary data holds a
    ``struct sock_extended_err`` followed by the offender's sockaddr.
    """
    if len(data) < 8 or data[0] != ECHO_REQUEST[v6]:
        return None
    level, kind = (socket.IPPROTO_IPV6, IPV6_RECVERR) if v6 else (socket.IPPROTO_IP, IP_RECVERR)
    for cmsg_level, cmsg_type, cmsg in ancdata:
        if (cmsg_level, cmsg_type) != (level, kind) or len(cmsg) < _SOCK_EXTENDED_ERR.size:
            continue
        _errno, origin, icmp_type, icmp_code, _pad, _info, _data = _SOCK_EXTENDED_ERR.unpack_from(
            cmsg
        )
        if origin not in (_SO_EE_ORIGIN_ICMP, _SO_EE_ORIGIN_ICMP6):
            return None  # a local error (EMSGSIZE...), not something a router said
        ident, sequence = struct.unpack_from("!HH", data, 4)
        message = IcmpMessage(True, icmp_type, icmp_code, ident, sequence)
        return message, _offender(cmsg[_SOCK_EXTENDED_ERR.size :], v6)
    return None


_V4_UNREACHABLE = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed but DF set",
    5: "source route failed",
    6: "destination network unknown",
    7: "destination host unknown",
    8: "source host isolated",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    11: "network unreachable for this type of service",
    12: "host unreachable for this type of service",
    13: "communication administratively prohibited",
    14: "host precedence violation",
    15: "precedence cutoff in effect",
}


_V6_UNREACHABLE = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
    7: "error in source routing header",
}


_TIME_EXCEEDED = {0: "time to live exceeded in transit", 1: "fragment reassembly time exceeded"}


def icmp_words(icmp_type: int, code: int, *, v6: bool) -> str:
    """Plain words for an ICMP error type/code ("host unreachable")."""
    if v6:
        tables = {1: _V6_UNREACHABLE, 3: _TIME_EXCEEDED}
        if icmp_type == 2:
            return "packet too big"
    else:
        tables = {3: _V4_UNREACHABLE, 11: _TIME_EXCEEDED}
    return tables.get(icmp_type, {}).get(code, "unknown ICMP error")


def describe(error: IcmpError) -> str:
    """'host unreachable (ICMP type 3 code 1) from 198.19.200.2'."""
    proto = "ICMPv6" if error.v6 else "ICMP"
    words = icmp_words(error.type, error.code, v6=error.v6)
    where = f" from {error.responder}" if error.responder else ""
    return f"{words} ({proto} type {error.type} code {error.code}){where}"


def _quoted_echo(quoted: bytes, v6: bool) -> tuple[int, int] | None:
    """(identifier, sequence) of the echo request quoted in an ICMP error, if it is one."""
    if v6:
        # IPv6 header (40 bytes, next header at 6); our requests carry no extension header.
        if len(quoted) < 48 or quoted[0] >> 4 != 6 or quoted[6] != socket.IPPROTO_ICMPV6:
            return None
        inner = quoted[40:]
    else:
        if len(quoted) < 28 or quoted[0] >> 4 != 4 or quoted[9] != socket.IPPROTO_ICMP:
            return None
        inner = quoted[(quoted[0] & 0x0F) * 4 :]
    if len(inner) < 8 or inner[0] != ECHO_REQUEST[v6]:
        return None
    ident, sequence = struct.unpack_from("!HH", inner, 4)
    return ident, sequence


def _offender(sockaddr: bytes, v6: bool) -> str | None:
    """The address in a struct sockaddr_in / sockaddr_in6 (SO_EE_OFFENDER)."""
    family = socket.AF_INET6 if v6 else socket.AF_INET
    start, size = (8, 16) if v6 else (4, 4)
    if len(sockaddr) < start + size or struct.unpack_from("=H", sockaddr)[0] != family:
        return None
    return socket.inet_ntop(family, sockaddr[start : start + size])
