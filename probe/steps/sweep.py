"""ICMP echo to many addresses at once, for host discovery (edge): which of them answer.

The ping step sends three echo requests to one address and measures them; discovery only
needs to know who answers at all, for up to a /16 at a time. Here one raw socket per
family sends one echo request to every address, paced at ``rate``, and reads replies while
it sends; after a window of ``wait`` seconds the silent ones get a second request (a lost
request or reply must not hide a host). Every request of a sweep carries one random
identifier and an 8-byte random token as data: a reply is ours only if it gives both back
and comes from an address asked (a raw ICMP socket also sees everyone else's pings).

Echo replies are not rate limited by Linux (icmp_ratemask leaves them out), but a host's
firewall often drops echo (Windows does by default): the TCP probes of discovery run beside
this. Raw ICMP sockets need root or CAP_NET_RAW; without them ``NoPermission``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence

from probe.engine import inet
from probe.engine.inet import inet_checksum
from probe.errors import NoPermission
from probe.steps.icmp import ECHO_REQUEST, decode_icmp

RATE = 20_000.0  # echo requests a second when no rate is given
TRIES = 2
BATCH = 64  # requests sent between two reads of the sockets
_READS = 4096  # packets read per look at a socket, at most (a flood cannot hold the loop)
_RCVBUF = 4 * 1024 * 1024
_SO_RCVBUFFORCE = 33
# --pcap's writer: (time, a whole IP packet, sent by us?) — engine.base.PacketLog's shape.
PacketLog = Callable[[float, bytes, bool], None]
_ICMPV6 = 58
_IPV4_TEMPLATE = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, 1, 0, bytes(4), bytes(4))


def echo_request(ident: int, seq: int, token: bytes, *, v6: bool) -> bytes:
    """An echo request; IPv6's checksum is the kernel's to fill in (raw ICMPv6 sockets)."""
    head = struct.pack("!BBHHH", ECHO_REQUEST[v6], 0, 0, ident, seq)
    if v6:
        return head + token
    check = inet_checksum(head + token)
    return head[:2] + struct.pack("!H", check) + head[4:] + token


def reply_from(message: bytes, ident: int, token: bytes, *, v6: bool) -> bool:
    """``message`` (ICMP, no IP header) is an echo reply to this sweep's requests."""
    got = decode_icmp(message, v6=v6)
    return got is not None and not got.is_error and got.ident == ident and message[8:16] == token


def sweep(
    addresses: Sequence[str],
    wait: float,
    rate: float | None = None,
    cancel: threading.Event | None = None,
    packet_log: PacketLog | None = None,
) -> frozenset[str]:
    """The addresses among ``addresses`` that answered an echo request; ``cancel`` stops
    it within a batch (or a tenth of a second while waiting) with what answered so far;
    ``packet_log`` (--pcap) gets every request and every reply of ours."""
    record = None if packet_log is None else _Recorder(packet_log)
    stopped = cancel.is_set if cancel is not None else (lambda: False)
    ident = int.from_bytes(os.urandom(2), "big")
    token = os.urandom(8)
    asked = set(addresses)
    answered: set[str] = set()
    with contextlib.ExitStack() as stack:
        socks = {v6: _open(v6, stack) for v6 in {":" in a for a in asked}}
        poller = select.poll()
        for sock in socks.values():
            poller.register(sock.fileno(), select.POLLIN)
        gap = 1.0 / (rate or RATE)
        for _ in range(TRIES):
            todo = [a for a in addresses if a not in answered]
            if not todo or stopped():
                break
            start = time.monotonic()
            for k, address in enumerate(todo):
                v6 = ":" in address
                request = echo_request(ident, k & 0xFFFF, token, v6=v6)
                with contextlib.suppress(OSError):  # no route, neighbour queue full: silent
                    socks[v6].sendto(request, (address, 0))
                    if record is not None:
                        record.sent(address, request, v6)
                if k % BATCH == BATCH - 1:
                    if stopped():
                        break
                    _read(socks, ident, token, asked, answered, record)
                    ahead = start + (k + 1) * gap - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            end = time.monotonic() + wait
            while (left := end - time.monotonic()) > 0 and len(answered) < len(asked):
                if stopped():
                    break
                if poller.poll(min(left, 0.1) * 1000):
                    _read(socks, ident, token, asked, answered, record)
    return frozenset(answered)


def _open(v6: bool, stack: contextlib.ExitStack) -> socket.socket:
    family = socket.AF_INET6 if v6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    try:
        sock = stack.enter_context(socket.socket(family, socket.SOCK_RAW, proto))
    except PermissionError as exc:
        raise NoPermission("an ICMP echo sweep needs root or CAP_NET_RAW") from exc
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
    return sock


def _read(
    socks: dict[bool, socket.socket],
    ident: int,
    token: bytes,
    asked: set[str],
    out: set[str],
    record: _Recorder | None,
) -> None:
    for v6, sock in socks.items():
        for _ in range(_READS):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            message = data if v6 else data[(data[0] & 0x0F) * 4 :]
            source = str(addr[0]).split("%")[0]
            if source in asked and reply_from(message, ident, token, v6=v6):
                out.add(source)
                if record is not None:
                    record.received(source, data, v6)


class _Recorder:
    """The sweep's packets for --pcap as whole IP packets: the kernel writes the IP header
    of what a raw ICMP socket sends (and strips IPv6's from what it reads), so the capture
    gets one written here, from the source address the kernel picks toward each address."""

    def __init__(self, log: PacketLog) -> None:
        self._log = log
        self._ours: dict[str, bytes] = {}

    def _packed(self, address: str, v6: bool) -> tuple[bytes, bytes]:
        """(this machine's address toward ``address``, ``address``), packed."""
        family = socket.AF_INET6 if v6 else socket.AF_INET
        ours = self._ours.get(address)
        if ours is None:
            ours = self._ours[address] = socket.inet_pton(family, inet.source_for(address))
        return ours, socket.inet_pton(family, address)

    def sent(self, address: str, message: bytes, v6: bool) -> None:
        src, dst = self._packed(address, v6)
        if v6:
            header = inet.ipv6_header(src, dst, _ICMPV6, 64, len(message))
        else:
            header = inet.ipv4_header(_IPV4_TEMPLATE, src, dst, 64, 20 + len(message))
        self._log(time.time(), header + message, True)

    def received(self, address: str, data: bytes, v6: bool) -> None:
        if v6:  # the hop limit is not asked for: 0 in the capture
            ours, theirs = self._packed(address, v6)
            data = inet.ipv6_header(theirs, ours, _ICMPV6, 0, len(data)) + data
        self._log(time.time(), data, False)
