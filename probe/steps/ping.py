"""ICMP echo toward a target with icmplib sockets, recording what came back.

``ping`` sends ``count`` echo requests ``interval`` apart and listens in between, so the run
takes ``(count - 1) * interval + timeout`` at most (less when every request is answered).
It records sent/received, RTT min/avg/max, the TTL (hop limit) of the replies and, when a
router answers with an ICMP error instead, who it was and what it said. All of those are
data in a ``PingResult``; only "cannot open any ICMP socket" raises (NoPermission).

icmplib opens the socket (raw with root or CAP_NET_RAW, else the unprivileged ICMP datagram
socket that Linux allows to the groups in ``net.ipv4.ping_group_range``), builds and sends
the requests. Receiving is done here, because icmplib's ICMPReply carries no TTL: replies are
read with ``recvmsg`` and decoded by the pure functions below.

Network quirks handled here:
- Raw IPv4 sockets deliver the whole IP datagram: the TTL is byte 8 of the header. Raw ICMP
  sockets also see every other ICMP message of the host (other pings, our own requests to a
  local address, errors about other traffic): only messages with our identifier count.
- Datagram (unprivileged) IPv4 sockets and all IPv6 sockets deliver the ICMP message only;
  the TTL / hop limit comes as ancillary data (IP_RECVTTL, IPV6_RECVHOPLIMIT).
- Datagram ICMP sockets never deliver ICMP errors as packets. With IP_RECVERR/IPV6_RECVERR
  the kernel queues them on the socket's error queue (MSG_ERRQUEUE) with the ICMP type, code
  and the router that sent them (the "offender"); without it they are silently dropped.
- On datagram sockets the kernel replaces our identifier with the socket's port number and
  filters replies on it; icmplib's send() updates the request with that identifier.
- Routers rate-limit ICMP errors (Linux: a burst of about 6, then 1 per second per source),
  so some requests may get neither a reply nor an error: one error is enough for the status.
- A request the local kernel refuses to send (no route, reject route) fails in sendto().
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from icmplib import (
    ICMPRequest,
    ICMPSocketError,
    ICMPv4Socket,
    ICMPv6Socket,
    SocketPermissionError,
)
from icmplib.utils import unique_identifier

from probe.errors import CannotProbe, NoPermission, TargetError
from probe.model import PingResult, PingStatus

# Linux values the socket module does not export (include/uapi/linux/in.h, in6.h, errqueue.h).
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3
_SOCK_EXTENDED_ERR = struct.Struct("=IBBBBII")  # errno, origin, type, code, pad, info, data

_ECHO_REPLY = {False: 0, True: 129}
_ECHO_REQUEST = {False: 8, True: 128}
# ICMP errors that quote the request: v4 destination unreachable / time exceeded,
# v6 destination unreachable / packet too big / time exceeded.
_ERROR_TYPES = {False: frozenset({3, 11}), True: frozenset({1, 2, 3})}

_BUFSIZE = 4096
_ANCSIZE = 512
_MAX_READS_PER_WAKE = 64  # bounds one wake-up when a busy host floods a raw socket
_MAX_TURNS = 100_000  # send/wait/read turns of one run
_GROUP_RANGE = "/proc/sys/net/ipv4/ping_group_range"  # per network namespace; v4 and v6


# --------------------------------------------------------------------------- records


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


# --------------------------------------------------------------------------- public


def ping(
    address: str,
    *,
    count: int = 3,
    interval: float = 0.2,
    timeout: float = 1.0,
    privileged: bool | None = None,
) -> PingResult:
    """Ping ``address`` (an IP literal, IPv6 zone allowed) and record what came back.

    ``privileged``: True = raw socket only, False = unprivileged datagram socket only,
    None = raw if allowed, else datagram. Raises NoPermission when no socket can be opened.
    """
    if count < 1 or interval < 0 or timeout <= 0:
        raise ValueError("ping needs count >= 1, interval >= 0 and timeout > 0")
    v6 = _is_v6(address)
    icmp_sock, raw = _open(v6, privileged)
    try:
        tally = _exchange(icmp_sock, raw, v6, address, count, interval, timeout)
    finally:
        icmp_sock.close()
    return summarize(tally)


def skipped() -> PingResult:
    """The PingResult when ping was not run (--no-ping)."""
    return PingResult(PingStatus.SKIPPED)


# --------------------------------------------------------------------------- pure pieces


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
    if len(data) < 8 or data[0] != _ECHO_REQUEST[v6]:
        return None
    level, kind = (socket.IPPROTO_IPV6, _IPV6_RECVERR) if v6 else (socket.IPPROTO_IP, _IP_RECVERR)
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


def permission_message(privileged: bool | None, group_range: str | None) -> str:
    """One sentence naming what is missing to open an ICMP socket."""
    now = f" (now {group_range!r})" if group_range else ""
    raw = "a raw ICMP socket needs root or CAP_NET_RAW"
    dgram = f"an unprivileged ICMP socket needs one of your groups in the net.ipv4.ping_group_range sysctl{now}"  # noqa: E501
    if privileged is True:
        return f"cannot ping: {raw}"
    if privileged is False:
        return f"cannot ping: {dgram}"
    return f"cannot ping: {raw}, and {dgram}"


# --------------------------------------------------------------------------- I/O


def _open(v6: bool, privileged: bool | None) -> tuple[Any, bool]:
    """An icmplib socket (raw first when allowed) and whether it is raw."""
    socket_class = ICMPv6Socket if v6 else ICMPv4Socket
    modes = (True, False) if privileged is None else (privileged,)
    other: ICMPSocketError | None = None
    for raw in modes:
        try:
            icmp_sock = socket_class(privileged=raw)
        except SocketPermissionError:
            continue
        except ICMPSocketError as err:  # e.g. IPv6 disabled: not a permission matter
            other = err
            continue
        _enable_ancillary(icmp_sock.sock, raw, v6)
        return icmp_sock, raw
    if other is not None:
        raise CannotProbe(f"cannot open an ICMP{'v6' if v6 else ''} socket: {other}")
    raise NoPermission(permission_message(privileged, _read_group_range()))


def _enable_ancillary(sock: socket.socket, raw: bool, v6: bool) -> None:
    # Best effort: without these the TTL or the ICMP errors are unknown, nothing breaks.
    options: list[tuple[int, int]] = []
    if v6:
        options.append((socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT))
        if not raw:
            options.append((socket.IPPROTO_IPV6, _IPV6_RECVERR))
    elif not raw:
        options += [(socket.IPPROTO_IP, _IP_RECVTTL), (socket.IPPROTO_IP, _IP_RECVERR)]
    for level, option in options:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, 1)


def _exchange(
    icmp_sock: Any, raw: bool, v6: bool, address: str, count: int, interval: float, timeout: float
) -> Tally:
    """Send ``count`` requests ``interval`` apart; read answers until each request is
    answered or ``timeout`` after the last one was sent."""
    tally = Tally()
    ident = unique_identifier()
    sent_at: dict[int, float] = {}
    answered: set[int] = set()
    start = time.monotonic()
    next_seq = 0
    end = start + (count - 1) * interval + timeout  # moved once the last request is out
    for _turn in range(_MAX_TURNS):  # the deadline ends the loop; the count is a safety net
        now = time.monotonic()
        if next_seq < count and now >= start + next_seq * interval:
            request = ICMPRequest(address, ident, next_seq)
            try:
                icmp_sock.send(request)
            except ICMPSocketError as err:
                tally.not_sent = _send_error_words(err)
            else:
                sent_at[next_seq] = time.monotonic()
                tally.sent += 1
                ident = request.id  # datagram sockets: the kernel's identifier
            next_seq += 1
            if next_seq == count:
                end = time.monotonic() + timeout
            continue
        if next_seq == count and answered >= set(sent_at):
            break  # every request answered (by a reply or an error)
        if now >= end:
            break
        wake = end if next_seq == count else min(end, start + next_seq * interval)
        readable, _, _ = select.select([icmp_sock.sock], [], [], max(0.0, wake - now))
        if not readable:
            continue
        for message, responder, seen in _drain(icmp_sock.sock, raw, v6):
            sent = sent_at.get(message.sequence)
            if message.ident != ident or sent is None or message.sequence in answered:
                continue  # not ours, or a duplicate
            if seen - sent > timeout:
                continue  # too late to count, like ping's per-request timeout
            answered.add(message.sequence)
            if message.is_error:
                tally.errors.append(IcmpError(responder, message.type, message.code, v6))
            else:
                tally.rtts_ms.append((seen - sent) * 1000.0)
                if tally.ttl is None:
                    tally.ttl = message.ttl
    return tally


def _drain(sock: socket.socket, raw: bool, v6: bool) -> list[tuple[IcmpMessage, str | None, float]]:
    """Everything readable now: (message, who sent it, when it was read)."""
    got: list[tuple[IcmpMessage, str | None, float]] = []
    for _ in range(_MAX_READS_PER_WAKE):
        try:
            item = _read_one(sock, raw, v6)
        except BlockingIOError:
            break
        except OSError:
            # A datagram socket reports a pending ICMP error once as a failed read; its
            # details are on the error queue, read first on the next turn.
            continue
        if item is not None:
            got.append((*item, time.monotonic()))
    return got


def _read_one(sock: socket.socket, raw: bool, v6: bool) -> tuple[IcmpMessage, str | None] | None:
    if not raw:
        try:
            data, anc, _flags, _addr = sock.recvmsg(
                _BUFSIZE, _ANCSIZE, socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT
            )
        except BlockingIOError:
            pass  # nothing queued: read a normal packet
        else:
            return decode_queued_error(data, anc, v6=v6)
    data, anc, _flags, addr = sock.recvmsg(_BUFSIZE, _ANCSIZE, socket.MSG_DONTWAIT)
    if raw and not v6:
        message = decode_ipv4(data)
    else:
        message = decode_icmp(data, v6=v6, ttl=ttl_from_ancillary(anc))
    return (message, str(addr[0])) if message is not None else None


# --------------------------------------------------------------------------- helpers


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
    if len(inner) < 8 or inner[0] != _ECHO_REQUEST[v6]:
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


def _send_error_words(err: ICMPSocketError) -> str:
    # icmplib wraps the OSError (and turns EACCES into "broadcast not allowed", which on
    # Linux is also what a `prohibit` route gives): the original is the implicit context.
    cause = err.__context__
    if isinstance(cause, OSError) and cause.errno is not None:
        return f"{cause.strerror} ({errno.errorcode.get(cause.errno, cause.errno)})"
    return str(err)


def _is_v6(address: str) -> bool:
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        raise TargetError(f"{address!r} is not an IPv4 or IPv6 address") from None
    zone = address.partition("%")[2]
    if zone and not zone.isdigit():
        try:
            socket.if_nametoindex(zone)
        except OSError:
            raise TargetError(f"{address!r}: no interface named {zone!r}") from None
    return version == 6


def _read_group_range() -> str | None:
    try:
        with open(_GROUP_RANGE, encoding="ascii") as handle:
            return " ".join(handle.read().split())
    except OSError:
        return None
