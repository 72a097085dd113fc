"""Who answers for an on-link target: ARP (IPv4) or neighbour solicitation (IPv6) (edge).

The kernel's neighbour cache keeps one MAC address per IP address, the first or the last
that answered, and says nothing about the others. To see an address conflict, the
question has to be asked by hand and *every* answer collected: here a few requests are
broadcast (IPv6: sent to the target's solicited-node multicast group) on the route's
interface through a packet socket, and replies are gathered for a fixed window. Two MAC
addresses answering is the ``duplicate-ip`` case; none at all, for a target on the client's
own segment, means the device is off, unplugged or on another VLAN — a firewall on the host
cannot hide it, since hosts answer ARP before any firewall rule sees a packet.

Packet sockets need root or CAP_NET_RAW, like the SYN engine: without them
``NoPermission`` is raised and the runner leaves ``arp`` out of the report. Interfaces that
have no MAC addresses (loopback, VPN tunnels) are not asked at all: ``neighbours`` returns
None. Frames are built and parsed by the pure functions below, without scapy.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time
from typing import Final

from probe.engine.wire import inet_checksum
from probe.errors import NoPermission
from probe.model import ArpResult, RouteResult

__all__ = [
    "arp_request",
    "mac_text",
    "neighbour_solicitation",
    "neighbours",
    "parse_arp_reply",
    "parse_neighbour_advert",
]

ETH_P_ARP: Final = 0x0806
ETH_P_IPV6: Final = 0x86DD
ARPHRD_ETHER: Final = 1
PACKET_OUTGOING: Final = 4
BROADCAST: Final = b"\xff" * 6
ND_SOLICIT: Final = 135
ND_ADVERT: Final = 136
MAX_FRAMES: Final = 10_000  # frames read in one window, at most (a busy segment)

DEFAULT_WAIT: Final = 1.0  # seconds answers are collected for
DEFAULT_REQUESTS: Final = 3  # requests sent, spread over the first half of the window


def mac_text(raw: bytes) -> str:
    """6 bytes -> "02:70:72:00:77:01"."""
    return ":".join(f"{b:02x}" for b in raw)


# --------------------------------------------------------------------------- IPv4: ARP


def arp_request(src_mac: bytes, src_ip: str, target: str) -> bytes:
    """A broadcast ARP request "who has TARGET? tell SRC_IP" as an Ethernet frame."""
    eth = BROADCAST + src_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)  # Ethernet, IPv4, request
    arp += src_mac + socket.inet_aton(src_ip) + b"\0" * 6 + socket.inet_aton(target)
    return eth + arp


def parse_arp_reply(frame: bytes, target: str) -> str | None:
    """The sender MAC of an ARP reply from ``target``; None for any other frame."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 2):
        return None
    if frame[28:32] != socket.inet_aton(target):
        return None
    return mac_text(frame[22:28])


# --------------------------------------------------------------------------- IPv6: NDP


def _solicited_node(target: bytes) -> bytes:
    return bytes.fromhex("ff0200000000000000000001ff") + target[13:]


def neighbour_solicitation(src_mac: bytes, src_ip: str, target: str) -> bytes:
    """A neighbour solicitation for ``target`` to its solicited-node multicast group, with
    our source link-layer address option, as an Ethernet frame (hop limit 255, as RFC 4861
    requires of every ND message)."""
    tgt = socket.inet_pton(socket.AF_INET6, target)
    src = socket.inet_pton(socket.AF_INET6, src_ip)
    dst = _solicited_node(tgt)
    body = struct.pack("!BBHI", ND_SOLICIT, 0, 0, 0) + tgt + bytes((1, 1)) + src_mac
    pseudo = src + dst + struct.pack("!I3xB", len(body), socket.IPPROTO_ICMPV6)
    checksum = inet_checksum(pseudo + body)
    body = body[:2] + struct.pack("!H", checksum) + body[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(body), socket.IPPROTO_ICMPV6, 255) + src + dst
    eth = b"\x33\x33" + dst[12:] + src_mac + struct.pack("!H", ETH_P_IPV6)
    return eth + ip6 + body


def parse_neighbour_advert(frame: bytes, target: str) -> str | None:
    """The MAC in a neighbour advertisement for ``target`` (its target link-layer address
    option, else the frame's Ethernet source); None for any other frame."""
    if len(frame) < 14 + 40 + 24 or frame[12:14] != b"\x86\xdd":
        return None
    ip6 = frame[14:54]
    if ip6[6] != socket.IPPROTO_ICMPV6 or ip6[7] != 255:  # ND is never routed
        return None
    icmp = frame[54:]
    if icmp[0] != ND_ADVERT or icmp[8:24] != socket.inet_pton(socket.AF_INET6, target):
        return None
    options = icmp[24:]
    for _ in range(16):  # a handful of options at most
        if len(options) < 8 or options[1] == 0:
            break
        kind, length = options[0], options[1] * 8
        if kind == 2 and length >= 8:  # target link-layer address
            return mac_text(options[2:8])
        options = options[length:]
    return mac_text(frame[6:12])


# --------------------------------------------------------------------------- the edge


def neighbours(
    address: str,
    route: RouteResult,
    *,
    wait: float = DEFAULT_WAIT,
    requests: int = DEFAULT_REQUESTS,
) -> ArpResult | None:
    """Ask who has ``address`` on the route's interface; every MAC that answers within
    ``wait`` seconds, in the order they first answered.

    None when it cannot be asked: no interface or source address known, or an interface
    without MAC addresses. Raises NoPermission without CAP_NET_RAW.
    """
    host = address.split("%", 1)[0]
    if route.interface is None or route.source is None:
        return None
    v6 = ipaddress.ip_address(host).version == 6
    proto = ETH_P_IPV6 if v6 else ETH_P_ARP
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    except PermissionError as exc:
        raise NoPermission(
            "ARP needs root or CAP_NET_RAW (a packet socket), like the SYN probes"
        ) from exc
    with sock:
        try:
            sock.bind((route.interface, proto))
        except OSError:  # the interface went away, or is not a packet interface
            return None
        _, _, _, hatype, own_mac = sock.getsockname()
        if hatype != ARPHRD_ETHER or len(own_mac) != 6:
            return None
        source = route.source.split("%", 1)[0]
        if v6:
            frame = neighbour_solicitation(own_mac, source, host)
        else:
            frame = arp_request(own_mac, source, host)
        macs = _collect(sock, frame, host, v6, wait, max(1, requests))
    return ArpResult(macs=macs, requests=max(1, requests), wait_s=wait, interface=route.interface)


def _collect(
    sock: socket.socket, frame: bytes, target: str, v6: bool, wait: float, requests: int
) -> tuple[str, ...]:
    """Send ``requests`` copies of ``frame`` over the first half of the window; gather the
    answers until the window closes."""
    parse = parse_neighbour_advert if v6 else parse_arp_reply
    start = time.monotonic()
    end = start + wait
    sends = [start + i * (wait / 2) / requests for i in range(requests)]
    seen: dict[str, None] = {}
    frames = 0
    while frames < MAX_FRAMES:
        now = time.monotonic()
        while sends and sends[0] <= now:
            sends.pop(0)
            sock.send(frame)
        if now >= end:
            break
        until = min(end, sends[0]) if sends else end
        ready, _, _ = select.select([sock], [], [], max(0.0, until - now))
        if not ready:
            continue
        data, where = sock.recvfrom(2048)
        frames += 1
        if where[2] == PACKET_OUTGOING:
            continue
        mac = parse(data, target)
        if mac is not None:
            seen.setdefault(mac, None)
    return tuple(seen)
