"""Who answers for an on-link target: ARP (IPv4) or neighbour solicitation (IPv6) (edge).

The kernel's neighbour cache keeps one MAC address per IP address, the first or the last
that answered, and says nothing about the others. To see an address conflict, the
question has to be asked by hand and *every* answer collected: here a few requests are
broadcast (IPv6: sent to the target's solicited-node multicast group) on the route's
interface through a packet socket, and replies are gathered for a fixed window. Two MAC
addresses answering is the ``duplicate-ip`` case; none at all, for a target on the client's
own segment, means the device is off, unplugged or on another VLAN — a firewall on the host
cannot hide it, since hosts answer ARP before any firewall rule sees a packet.

Every on-link target of a run is asked in the same window (``neighbours_many``): one packet
socket per (interface, source address, family), requests for all of its addresses in each
round, and each reply counted for the address it answers for. A /24 costs about one window,
not 256. The rate is capped (``MAX_RATE`` frames a second, ``MAX_SENT`` in all): a switch or
a host's ARP rate limiter would otherwise drop the very answers wanted.

Packet sockets need root or CAP_NET_RAW, like the raw engine: without them
``NoPermission`` is raised and the session leaves ``arp`` out of the report. Interfaces that
have no MAC addresses (loopback, VPN tunnels) are not asked at all: their addresses get
None. Frames are built and parsed by the pure functions below, without scapy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from probe.engine.inet import inet_checksum
from probe.errors import NoPermission
from probe.model import ArpResult, RouteResult

__all__ = [
    "Group",
    "Plan",
    "arp_reply_sender",
    "arp_request",
    "fold_answers",
    "group_targets",
    "mac_text",
    "neighbour_advert_target",
    "neighbour_solicitation",
    "neighbours",
    "neighbours_many",
    "parse_arp_reply",
    "parse_neighbour_advert",
    "send_plan",
]

ETH_P_ARP: Final = 0x0806
ETH_P_IPV6: Final = 0x86DD
ARPHRD_ETHER: Final = 1
PACKET_OUTGOING: Final = 4
BROADCAST: Final = b"\xff" * 6
ND_SOLICIT: Final = 135
ND_ADVERT: Final = 136
MAX_FRAMES: Final = 10_000  # frames read per socket in one window, at most (a busy segment)
MAX_SENT: Final = 4096  # requests sent in one window, at most; addresses past it are not asked
MAX_RATE: Final = 2000.0  # requests a second, at most

DEFAULT_WAIT: Final = 1.0  # seconds answers are collected for
DEFAULT_REQUESTS: Final = 3  # requests sent, spread over the first half of the window


def mac_text(raw: bytes) -> str:
    """6 bytes -> "02:70:72:00:77:01"."""
    return ":".join(f"{b:02x}" for b in raw)


def _host(address: str) -> str:
    """An address without its zone index, in the one text form answers are compared in."""
    return str(ipaddress.ip_address(address.split("%", 1)[0]))


# --------------------------------------------------------------------------- IPv4: ARP


def arp_request(src_mac: bytes, src_ip: str, target: str) -> bytes:
    """A broadcast ARP request "who has TARGET? tell SRC_IP" as an Ethernet frame."""
    eth = BROADCAST + src_mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)  # Ethernet, IPv4, request
    arp += src_mac + socket.inet_aton(src_ip) + b"\0" * 6 + socket.inet_aton(target)
    return eth + arp


def arp_reply_sender(frame: bytes) -> tuple[str, str] | None:
    """(the address it answers for, the MAC that answers) of an ARP reply; None for any
    other frame."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 2):
        return None
    return str(ipaddress.IPv4Address(frame[28:32])), mac_text(frame[22:28])


def parse_arp_reply(frame: bytes, target: str) -> str | None:
    """The sender MAC of an ARP reply from ``target``; None for any other frame."""
    return _answer_for(arp_reply_sender(frame), target)


def _answer_for(answer: tuple[str, str] | None, target: str) -> str | None:
    return answer[1] if answer is not None and answer[0] == _host(target) else None


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


def neighbour_advert_target(frame: bytes) -> tuple[str, str] | None:
    """(the advert's target address, the MAC that answers: its target link-layer address
    option, else the frame's Ethernet source) of a neighbour advertisement; None for any
    other frame."""
    if len(frame) < 14 + 40 + 24 or frame[12:14] != b"\x86\xdd":
        return None
    ip6 = frame[14:54]
    if ip6[6] != socket.IPPROTO_ICMPV6 or ip6[7] != 255:  # ND is never routed
        return None
    icmp = frame[54:]
    if icmp[0] != ND_ADVERT:
        return None
    target = str(ipaddress.IPv6Address(icmp[8:24]))
    options = icmp[24:]
    for _ in range(16):  # a handful of options at most
        if len(options) < 8 or options[1] == 0:
            break
        kind, length = options[0], options[1] * 8
        if kind == 2 and length >= 8:  # target link-layer address
            return target, mac_text(options[2:8])
        options = options[length:]
    return target, mac_text(frame[6:12])


def parse_neighbour_advert(frame: bytes, target: str) -> str | None:
    """The MAC in a neighbour advertisement for ``target``; None for any other frame."""
    return _answer_for(neighbour_advert_target(frame), target)


# --------------------------------------------------------------------------- the plan (pure)


@dataclass(frozen=True)
class Group:
    """The addresses asked through one packet socket."""

    interface: str
    source: str  # our address on it, without a zone index
    v6: bool
    hosts: tuple[str, ...]  # each once, as ``_host`` writes them


def _group_key(address: str, route: RouteResult) -> tuple[str, str, bool, str] | None:
    """(interface, source, IPv6?, host), or None when there is nothing to ask through."""
    if route.interface is None or route.source is None:
        return None
    host = _host(address)
    return route.interface, route.source.split("%", 1)[0], ":" in host, host


def group_targets(targets: Iterable[tuple[str, RouteResult]], limit: int = MAX_SENT) -> list[Group]:
    """The targets that can be asked, by (interface, source address, family) in the order
    first seen; each address once, ``limit`` addresses in all. Targets without an interface
    or source address, and those past the limit, are not asked."""
    groups: dict[tuple[str, str, bool], dict[str, None]] = {}
    asked = 0
    for address, route in targets:
        key = _group_key(address, route)
        if key is None:
            continue
        hosts = groups.setdefault(key[:3], {})
        if key[3] not in hosts and asked < limit:
            hosts[key[3]] = None
            asked += 1
    return [Group(*key, tuple(hosts)) for key, hosts in groups.items() if hosts]


@dataclass(frozen=True)
class Plan:
    """When each request of a window leaves, and when the window closes. Request k asks
    address k % per_round, in round k // per_round."""

    rounds: int  # requests per address
    offsets: tuple[float, ...]  # seconds after the window opens, one per request
    window: float  # seconds


def send_plan(per_round: int, requests: int, wait: float) -> Plan:
    """The requests of a window that asks ``per_round`` addresses ``requests`` times each.

    The rounds are spread over the first half of a ``wait``-second window, as for a single
    address; fewer rounds when that many would pass MAX_SENT requests; no faster than
    MAX_RATE. When sending takes longer than half the window, the window stays open for
    half of ``wait`` after the last request, so the last asked get as long to answer as
    the first."""
    rounds = max(1, min(requests, MAX_SENT // max(1, per_round)))
    gap = 1.0 / MAX_RATE
    spacing = max(wait / 2 / rounds, per_round * gap)
    offsets = tuple(r * spacing + i * gap for r in range(rounds) for i in range(per_round))
    window = max(wait, round(offsets[-1] + wait / 2, 3)) if offsets else wait
    return Plan(rounds, offsets, window)


def fold_answers(
    answers: Iterable[tuple[str, str] | None], hosts: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """(address, MAC) answers, as ``arp_reply_sender`` / ``neighbour_advert_target`` give
    them -> every asked address's MACs, each once, in the order they first answered.
    Answers for addresses not asked, and None (not an answer), are left out."""
    seen: dict[str, dict[str, None]] = {host: {} for host in hosts}
    for answer in answers:
        if answer is not None and answer[0] in seen:
            seen[answer[0]].setdefault(answer[1], None)
    return {host: tuple(macs) for host, macs in seen.items()}


# --------------------------------------------------------------------------- the edge


def neighbours(
    address: str,
    route: RouteResult,
    *,
    wait: float = DEFAULT_WAIT,
    requests: int = DEFAULT_REQUESTS,
) -> ArpResult | None:
    """Ask who has ``address`` on the route's interface: ``neighbours_many`` for one."""
    return neighbours_many([(address, route)], wait=wait, requests=requests)[address]


def neighbours_many(
    targets: Sequence[tuple[str, RouteResult]],
    *,
    wait: float = DEFAULT_WAIT,
    requests: int = DEFAULT_REQUESTS,
) -> dict[str, ArpResult | None]:
    """Ask who has each address on its route's interface, all in one window of ``wait``
    seconds (longer only when the rate cap makes sending take longer, see ``send_plan``):
    every MAC that answers for each, in the order they first answered.

    None for an address that cannot be asked: no interface or source address known, an
    interface without MAC addresses, past MAX_SENT addresses, or a socket error on its
    interface. Fewer rounds than ``requests`` when that many would pass MAX_SENT requests.
    Raises NoPermission without CAP_NET_RAW.
    """
    groups = group_targets(targets)
    found: dict[tuple[str, str, bool, str], ArpResult] = {}
    with contextlib.ExitStack() as stack:
        links = [link for g in groups if (link := _open(g, stack)) is not None]
        plan = send_plan(sum(len(link.frames) for link in links), requests, wait)
        _exchange(links, plan)
    for link in links:
        if link.failed:
            continue
        g = link.group
        macs = fold_answers(link.answers, g.hosts)
        for host in g.hosts:
            found[(g.interface, g.source, g.v6, host)] = ArpResult(
                macs=macs[host], requests=plan.rounds, wait_s=plan.window, interface=g.interface
            )
    return {
        address: None if (key := _group_key(address, route)) is None else found.get(key)
        for address, route in targets
    }


@dataclass
class _Link:
    """One group's packet socket, its requests (one per address) and what it heard."""

    group: Group
    sock: socket.socket
    frames: tuple[bytes, ...]
    answers: list[tuple[str, str] | None] = field(default_factory=list)
    heard: int = 0  # frames read, ours left out
    failed: bool = False  # the interface went away mid-window: nothing can be said

    @property
    def active(self) -> bool:
        return not self.failed and self.heard < MAX_FRAMES

    def fileno(self) -> int:
        return self.sock.fileno()


def _open(group: Group, stack: contextlib.ExitStack) -> _Link | None:
    """A packet socket bound to the group's interface; None when it is not an Ethernet-like
    interface (or is gone)."""
    proto = ETH_P_IPV6 if group.v6 else ETH_P_ARP
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    except PermissionError as exc:
        raise NoPermission(
            "ARP needs root or CAP_NET_RAW (a packet socket), like the SYN probes"
        ) from exc
    stack.enter_context(sock)
    try:
        sock.bind((group.interface, proto))
    except OSError:  # the interface went away, or is not a packet interface
        return None
    _, _, _, hatype, own_mac = sock.getsockname()
    if hatype != ARPHRD_ETHER or len(own_mac) != 6:
        return None
    build = neighbour_solicitation if group.v6 else arp_request
    frames = tuple(build(own_mac, group.source, host) for host in group.hosts)
    return _Link(group, sock, frames)


def _exchange(links: Sequence[_Link], plan: Plan) -> None:
    """Send every link's requests as ``plan`` says, round after round, and gather the
    answers into each link until the window closes."""
    per_round = [(link, frame) for link in links for frame in link.frames]
    sends = deque((at, *per_round[k % len(per_round)]) for k, at in enumerate(plan.offsets))
    start = time.monotonic()
    end = start + plan.window
    while True:
        now = time.monotonic()
        while sends and start + sends[0][0] <= now:
            _, link, frame = sends.popleft()
            if link.active:
                _send(link, frame)
        readers = [link for link in links if link.active]
        if now >= end or not readers:
            return
        until = min(end, start + sends[0][0]) if sends else end
        ready, _, _ = select.select(readers, [], [], max(0.0, until - now))
        for link in ready:
            _receive(link)


def _send(link: _Link, frame: bytes) -> None:
    try:
        link.sock.send(frame)
    except OSError:  # interface down or gone: its addresses are not measured
        link.failed = True


def _receive(link: _Link) -> None:
    try:
        data, where = link.sock.recvfrom(2048)
    except OSError:
        link.failed = True
        return
    if where[2] == PACKET_OUTGOING:  # our own requests, seen going out
        return
    link.heard += 1
    parse = neighbour_advert_target if link.group.v6 else arp_reply_sender
    link.answers.append(parse(data))
