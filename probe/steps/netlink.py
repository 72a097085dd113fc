"""The kernel's routing answers over rtnetlink, in-process: no `ip` subprocess per address.

A small client of the three rtnetlink questions the route step needs, built on the standard
library's ``AF_NETLINK`` sockets (no packet leaves the machine; netlink is a kernel API):

- ``get``: RTM_GETROUTE for one destination, what ``ip route get`` asks. With ``fib_match``
  (RTM_F_FIB_MATCH, Linux 4.13+) the kernel answers with the routing-table entry that matched,
  prefix length included, instead of the per-destination result — that prefix is what lets
  the route cache answer the rest of the prefix without asking again.
- ``prefixes``: every route prefix of a family in every table (the local table's /32s and
  broadcast routes too) and every policy rule's destination prefix: the places where a more
  specific answer may hide inside a cached prefix.
- ``changed``: whether a route, rule, address or link changed since the last look, read from
  a socket subscribed to those multicast groups. The kernel queues the notification before the
  change's own syscall returns, so a change made before a lookup is always seen by it.

Answers are plain records; a failed lookup is an ``errno`` (the kernel's verdict on reject
routes, see route.py), never an exception. ``OSError`` is raised only when netlink itself
cannot be used (a sandbox without AF_NETLINK), and the route step then falls back to `ip`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass

_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_RTM_NEWROUTE, _RTM_GETROUTE, _RTM_NEWRULE, _RTM_GETRULE = 24, 26, 32, 34
_RTM_F_FIB_MATCH = 0x2000
_RTA_DST, _RTA_SRC, _RTA_OIF, _RTA_GATEWAY, _RTA_PREFSRC, _RTA_MULTIPATH = 1, 2, 4, 5, 7, 9
_RTA_VIA, _RTA_NH_ID = 18, 30
_FRA_DST = 1
# Multicast groups whose news can change a route answer: links (up/down), IPv4/IPv6
# addresses (the preferred source), routes and policy rules of both families.
_GROUPS = 0x1 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | (1 << (19 - 1))

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, proto, scope, type
_RTATTR = struct.Struct("=HH")

# rtm_type numbers -> the words `ip` prints
ROUTE_TYPES = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}


@dataclass(frozen=True, slots=True)
class RouteAnswer:
    """One RTM_NEWROUTE answer, or the errno the kernel refused the lookup with."""

    error: int = 0  # errno; 0 for an answer
    route_type: str | None = None
    interface: str | None = None
    gateway: str | None = None  # RTA_GATEWAY, or RTA_VIA (an IPv6 router for IPv4)
    prefsrc: str | None = None
    prefix: str | None = None  # "dst/len" as answered (/32 or /128 unless fib_match)
    multipath: bool = False  # several nexthops (or a nexthop object): chosen per flow


class Netlink:
    """One query socket and one subscription socket; safe from several threads."""

    def __init__(self) -> None:
        proto = socket.NETLINK_ROUTE  # Linux only
        # Subscribed first: a change made while the rest is set up is still reported.
        self._news = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        self._news.bind((0, _GROUPS))
        self._news.setblocking(False)
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
        self._sock.bind((0, 0))
        self._sock.settimeout(5.0)  # the kernel answers in microseconds; never hang on it
        self._seq = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._news.close()
        self._sock.close()

    def get(
        self,
        address: str,
        oif: int | None = None,
        fib_match: bool = False,
        src: str | None = None,
    ) -> RouteAnswer:
        """``ip route get ADDRESS [oif N] [from SRC]``: with a source, the route for packets
        from it (policy routing may choose by source)."""
        ip = ipaddress.ip_address(address)
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        src_len = 0 if src is None else ip.max_prefixlen
        rtm = _RTMSG.pack(family, ip.max_prefixlen, src_len, 0, 0, 0, 0, 0, _fib(fib_match))
        attrs = _attr(_RTA_DST, ip.packed)
        if src is not None:
            attrs += _attr(_RTA_SRC, ipaddress.ip_address(src).packed)
        if oif is not None:
            attrs += _attr(_RTA_OIF, struct.pack("=I", oif))
        messages = self._ask(_RTM_GETROUTE, _NLM_F_REQUEST, rtm + attrs)
        for kind, body in messages:
            if kind == _RTM_NEWROUTE and len(body) >= _RTMSG.size:
                return _route_answer(body)
        return RouteAnswer(error=_error_of(messages) or errno.ENETUNREACH)

    def prefixes(self, version: int) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Every route's prefix (all tables) and every rule's destination, of one family."""
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for ask, answer, dst_attr in ((_RTM_GETROUTE, _RTM_NEWROUTE, _RTA_DST),
                                      (_RTM_GETRULE, _RTM_NEWRULE, _FRA_DST)):  # fmt: skip
            request = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
            for kind, body in self._ask(ask, _NLM_F_REQUEST | _NLM_F_DUMP, request):
                if kind != answer or len(body) < _RTMSG.size:
                    continue
                dst_len = body[1]
                attrs = _attrs(body[_RTMSG.size :])
                raw = attrs.get(dst_attr)
                if raw is None:  # the default route, or a rule for every destination
                    raw = bytes(16 if version == 6 else 4)
                found.append(ipaddress.ip_network((raw, dst_len), strict=False))
        return found

    def changed(self) -> bool:
        """Whether any route, rule, address or link news arrived since the last call."""
        news = False
        while True:
            try:
                if not self._news.recv(65536):
                    return news
                news = True
            except BlockingIOError:
                return news
            except OSError:  # ENOBUFS: so much news that some was lost
                news = True

    def _ask(self, kind: int, flags: int, payload: bytes) -> list[tuple[int, bytes]]:
        with self._lock:
            self._seq += 1
            seq = self._seq
            header = _HEADER.pack(_HEADER.size + len(payload), kind, flags, seq, 0)
            self._sock.send(header + payload)
            got: list[tuple[int, bytes]] = []
            while True:
                data = self._sock.recv(1 << 20)
                offset = 0
                while offset + _HEADER.size <= len(data):
                    length, mtype, _flags, mseq, _pid = _HEADER.unpack_from(data, offset)
                    if length < _HEADER.size:
                        return got
                    body = data[offset + _HEADER.size : offset + length]
                    offset += (length + 3) & ~3
                    if mseq != seq:
                        continue  # a late answer to an earlier question
                    if mtype == _NLMSG_DONE:
                        return got
                    got.append((mtype, body))
                    if mtype == _NLMSG_ERROR or not flags & _NLM_F_DUMP:
                        return got


def _fib(fib_match: bool) -> int:
    return _RTM_F_FIB_MATCH if fib_match else 0


def _attr(kind: int, value: bytes) -> bytes:
    raw = _RTATTR.pack(_RTATTR.size + len(value), kind) + value
    return raw + bytes(-len(raw) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    offset = 0
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        found.setdefault(kind & 0x3FFF, data[offset + _RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return found


def _error_of(messages: list[tuple[int, bytes]]) -> int:
    for kind, body in messages:
        if kind == _NLMSG_ERROR and len(body) >= 4:
            return -int(struct.unpack_from("=i", body)[0])
    return 0


def _route_answer(body: bytes) -> RouteAnswer:
    family, dst_len, _s, _t, _table, _p, _scope, rtype, _flags = _RTMSG.unpack_from(body)
    attrs = _attrs(body[_RTMSG.size :])
    gateway = _address(attrs.get(_RTA_GATEWAY))
    via = attrs.get(_RTA_VIA)  # struct rtvia: a 16-bit family, then the address
    if gateway is None and via is not None and len(via) > 2:
        gateway = _address(via[2:])
    oif = attrs.get(_RTA_OIF)
    dst = _address(attrs.get(_RTA_DST)) or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    return RouteAnswer(
        route_type=ROUTE_TYPES.get(rtype, str(rtype)),
        interface=_interface(struct.unpack("=I", oif)[0]) if oif and len(oif) == 4 else None,
        gateway=gateway,
        prefsrc=_address(attrs.get(_RTA_PREFSRC)),
        prefix=f"{dst}/{dst_len}",
        multipath=_RTA_MULTIPATH in attrs or _RTA_NH_ID in attrs,
    )


def _address(raw: bytes | None) -> str | None:
    if raw is None or len(raw) not in (4, 16):
        return None
    return str(ipaddress.ip_address(raw))


def _interface(index: int) -> str | None:
    try:
        return socket.if_indextoname(index)
    except OSError:  # the link went away between the answer and this look
        return None


def interface_index(name: str) -> int | None:
    """The index of interface ``name``; None when there is none of that name."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None
