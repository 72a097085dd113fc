"""ICMP echo toward a target with icmplib sockets, recording what came back.

``ping`` sends ``count`` echo requests and listens in between. Each request goes as soon as
every earlier one is answered, and at most ``interval`` after the one before it (iputils'
``ping -A``: never more than one request unanswered while answers come, so it floods
nothing): a path that answers takes about ``count`` round trips, not ``count - 1``
intervals, and the run takes ``(count - 1) * interval + timeout`` at most.
It records sent/received, RTT min/avg/max, the TTL (hop limit) of the replies and, when a
router answers with an ICMP error instead, who it was and what it said. All of those are
data in a ``PingResult``; only "cannot open any ICMP socket" raises (NoPermission).

icmplib opens the socket (raw with root or CAP_NET_RAW, else the unprivileged ICMP datagram
socket that Linux allows to the groups in ``net.ipv4.ping_group_range``), builds and sends
the requests. Receiving is done here, because icmplib's ICMPReply carries no TTL: replies are
read with ``recvmsg`` and decoded by the pure functions of ``icmp``.

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
import time
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
from probe.model import PingResult
from probe.steps.icmp import (
    IP_RECVERR,
    IPV6_RECVERR,
    IcmpError,
    IcmpMessage,
    Tally,
    decode_icmp,
    decode_ipv4,
    decode_queued_error,
    summarize,
    ttl_from_ancillary,
)

# Linux's value; the socket module does not export it (include/uapi/linux/in.h).
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)


_BUFSIZE = 4096
_ANCSIZE = 512
_MAX_READS_PER_WAKE = 64  # bounds one wake-up when a busy host floods a raw socket
_MAX_TURNS = 100_000  # send/wait/read turns of one run
_GROUP_RANGE = "/proc/sys/net/ipv4/ping_group_range"  # per network namespace; v4 and v6


# --------------------------------------------------------------------------- public


def ping(
    address: str,
    *,
    count: int = 3,
    interval: float = 0.2,
    timeout: float = 1.0,
    privileged: bool | None = None,
    source: str | None = None,
) -> PingResult:
    """Ping ``address`` (an IP literal, IPv6 zone allowed) and record what came back.

    ``privileged``: True = raw socket only, False = unprivileged datagram socket only,
    None = raw if allowed, else datagram. ``source``: the address to ping from (``ping -I``;
    one of this computer's, of the target's family). Raises NoPermission when no socket can
    be opened.
    """
    if count < 1 or interval < 0 or timeout <= 0:
        raise ValueError("ping needs count >= 1, interval >= 0 and timeout > 0")
    v6 = _is_v6(address)
    icmp_sock, raw = _open(v6, privileged, source)
    try:
        tally = _exchange(icmp_sock, raw, v6, address, count, interval, timeout)
    finally:
        icmp_sock.close()
    return summarize(tally)


# --------------------------------------------------------------------------- pure pieces


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


def _open(v6: bool, privileged: bool | None, source: str | None = None) -> tuple[Any, bool]:
    """An icmplib socket (raw first when allowed), bound to ``source`` when given (the
    kernel then sends from it), and whether it is raw."""
    socket_class = ICMPv6Socket if v6 else ICMPv4Socket
    modes = (True, False) if privileged is None else (privileged,)
    other: ICMPSocketError | None = None
    for raw in modes:
        try:
            icmp_sock = socket_class(address=source, privileged=raw)
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
            options.append((socket.IPPROTO_IPV6, IPV6_RECVERR))
    elif not raw:
        options += [(socket.IPPROTO_IP, _IP_RECVTTL), (socket.IPPROTO_IP, IP_RECVERR)]
    for level, option in options:
        with contextlib.suppress(OSError):
            sock.setsockopt(level, option, 1)


def _exchange(
    icmp_sock: Any, raw: bool, v6: bool, address: str, count: int, interval: float, timeout: float
) -> Tally:
    """Send ``count`` requests, each once the earlier ones are answered or ``interval``
    after the one before; read answers until each request is answered or ``timeout`` after
    the last one was sent."""
    tally = Tally()
    ident = unique_identifier()
    sent_at: dict[int, float] = {}
    answered: set[int] = set()
    start = time.monotonic()
    next_seq = 0
    due = start  # when the next request goes
    end = start + (count - 1) * interval + timeout  # moved once the last request is out
    for _turn in range(_MAX_TURNS):  # the deadline ends the loop; the count is a safety net
        now = time.monotonic()
        if next_seq < count and now >= due:
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
            due = time.monotonic() + interval
            if next_seq == count:
                end = time.monotonic() + timeout
            continue
        if next_seq == count and answered >= set(sent_at):
            break  # every request answered (by a reply or an error)
        if now >= end:
            break
        if answered >= set(sent_at):
            due = now  # the earlier requests are answered: the next need not wait
            continue
        wake = end if next_seq == count else min(end, due)
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
