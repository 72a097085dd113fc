"""Frames of a capture decoded down to what analyze reads (pure): the IP header's place for
each link type, then one plain record per TCP segment (``TcpSegment``: IPv4, or IPv6 after
its extension headers), per UDP datagram (``UdpDatagram``) and per ICMP / ICMPv6 destination
unreachable or time exceeded quoting a TCP segment or a UDP datagram (``IcmpRecord``).
Everything else (ARP, echo, fragments after the first, port 0...) is None. Written with
``struct``: scapy would build an object graph per packet and is some hundred times slower.

Link types: Ethernet (1, with 802.1Q / QinQ tags, MPLS, PPPoE, LLC/SNAP), RAW (101, the
DLT_RAW values 12 and 14 some tools write, and the IPv4-only 228 / IPv6-only 229), Linux
cooked SLL (113, ``tcpdump -i any`` before 4.99) and SLL2 (276), BSD loopback NULL (0),
OpenBSD LOOP (108), NFLOG (239), PPP (9, 50), Cisco HDLC (104) and 802.11 (105, 127 with
radiotap). Tunnels inside IP (IP in IP, GRE, VXLAN, GTP-U, Geneve) are opened
(``tunnels``): the record is the inner packet's.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from probe.capture import tunnels

LINKTYPE_NULL: Final = 0


LINKTYPE_ETHERNET: Final = 1


LINKTYPE_RAW: Final = 101


LINKTYPE_RAW_BSD: Final = (12, 14)  # DLT_RAW's value on OpenBSD / BSD/OS, written by some tools


LINKTYPE_NFLOG: Final = 239
LINKTYPE_PPP: Final = (9, 50)  # PPP, and PPP in HDLC-like framing (serial links, pppd)
LINKTYPE_C_HDLC: Final = 104  # Cisco HDLC: address, control, then an EtherType
LINKTYPE_IEEE802_11: Final = 105  # Wi-Fi frames (monitor mode without radio headers)
LINKTYPE_RADIOTAP: Final = 127  # Wi-Fi frames behind a radiotap header (monitor mode)


LINKTYPE_LOOP: Final = 108


LINKTYPE_LINUX_SLL: Final = 113


LINKTYPE_IPV4: Final = 228


LINKTYPE_IPV6: Final = 229


LINKTYPE_LINUX_SLL2: Final = 276


LINK_NAMES: Final = {
    LINKTYPE_NULL: "BSD loopback",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    12: "raw IP",
    14: "raw IP",
    LINKTYPE_NFLOG: "Linux NFLOG",
    9: "PPP",
    50: "PPP (HDLC framing)",
    LINKTYPE_C_HDLC: "Cisco HDLC",
    LINKTYPE_IEEE802_11: "802.11",
    LINKTYPE_RADIOTAP: "802.11 radiotap",
    LINKTYPE_LOOP: "OpenBSD loopback",
    LINKTYPE_LINUX_SLL: "Linux cooked (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}


# EtherTypes and the address families a NULL / LOOP header may carry for IPv6.
_ETH_IPV4: Final = 0x0800


_ETH_IPV6: Final = 0x86DD


_AF_INET6: Final = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS


_MAX_TUNNELS: Final = 3  # tunnels in tunnels: more than this is not traffic worth reading


_IPV6_EXTENSIONS: Final = (0, 43, 60)  # hop-by-hop, routing, destination options


_IPV6_FRAGMENT: Final = 44


_IPV6_AH: Final = 51


class TcpSegment(NamedTuple):
    """One TCP segment: addresses packed (4 or 16 bytes), options only on SYN segments."""

    ts: float  # seconds since the epoch
    src: bytes
    dst: bytes
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    ttl: int  # IP TTL / hop limit as captured
    window: int
    options: bytes  # raw TCP options of a SYN or SYN/ACK; b"" for other segments
    ipid: int = 0  # the IPv4 header's identification (IPv6 has none: 0)


class UdpDatagram(NamedTuple):
    """One UDP datagram (not a tunnel's: VXLAN and GTP-U are opened instead)."""

    ts: float
    src: bytes
    dst: bytes
    sport: int
    dport: int
    ttl: int
    size: int  # payload bytes, from the UDP header's length (the capture may cut the rest)


class IcmpRecord(NamedTuple):
    """An ICMP / ICMPv6 error quoting a TCP segment or a UDP datagram: who sent it and what it
    quotes."""

    ts: float
    responder: bytes  # the error's source address (a router, a firewall, the host)
    ttl: int
    v6: bool
    type: int  # v4: 3 unreachable, 11 time exceeded; v6: 1 unreachable, 3 time exceeded
    code: int
    src: bytes  # the quoted segment's source (the client) ...
    dst: bytes  # ... and destination (the server)
    sport: int
    dport: int
    seq: int
    qflags: int = -1  # the quoted segment's TCP flags; -1 when the quote stops before them
    proto: int = 6  # the quoted transport: 6 TCP, 17 UDP (``seq`` 0 and ``qflags`` -1 then)


class Tick(NamedTuple):
    """The capture's last packet when it is none of the above: only its time matters (the
    capture ends there, not at its last TCP or ICMP packet)."""

    ts: float


Record = TcpSegment | UdpDatagram | IcmpRecord | Tick


def ip_offset(link: int, data: bytes) -> int:
    """Where the IP header starts in a frame of this link type; -1 when it is not IP."""
    if link == LINKTYPE_ETHERNET:
        return tunnels.after_ethertype(data, 12)
    if link in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or link in LINKTYPE_RAW_BSD:
        return 0
    if link == LINKTYPE_LINUX_SLL:
        return tunnels.after_ethertype(data, 14)
    if link == LINKTYPE_NFLOG:
        return tunnels.nflog(data)
    if link in LINKTYPE_PPP:
        return tunnels.ppp_frame(data)
    if link == LINKTYPE_C_HDLC:
        return tunnels.after_ethertype(data, 2)
    if link == LINKTYPE_IEEE802_11:
        return tunnels.wifi(data)
    if link == LINKTYPE_RADIOTAP:
        return tunnels.radiotap(data)
    if link == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            return -1
        proto = (data[0] << 8) | data[1]
        return 20 if proto in (_ETH_IPV4, _ETH_IPV6) else -1
    if link in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return -1
        # NULL: the address family in the capturing machine's byte order; LOOP: big-endian.
        family = data[0] | data[3]  # the family is < 256: one of the two end bytes is it
        return 4 if family == 2 or family in _AF_INET6 else -1
    return -1


_IP4: Final = struct.Struct("!BBHHHBBH4s4s").unpack_from


_TCP: Final = struct.Struct("!HHIIBBH").unpack_from


_QUOTE: Final = struct.Struct("!HHI").unpack_from


_UDP: Final = struct.Struct("!HHH").unpack_from


def decode_ip(ts: float, data: bytes, off: int, depth: int = 0) -> Record | None:
    """The TCP segment, UDP datagram or ICMP error in the IP packet at ``data[off:]``, or in
    the packet a tunnel in it carries (``depth`` tunnels deep so far); None for the rest."""
    if len(data) < off + 20:
        return None
    version = data[off] >> 4
    if version == 4:
        vihl, _tos, total, ipid, frag, ttl, proto, _sum, src, dst = _IP4(data, off)
        if frag & 0x1FFF or vihl & 0x0F < 5:
            return None  # a later fragment (no transport header in it), or a broken header
        l4 = off + (vihl & 0x0F) * 4
        end = min(len(data), off + total) if total else len(data)
        v6 = False
    elif version == 6:
        if len(data) < off + 40:
            return None
        proto = data[off + 6]
        ttl = data[off + 7]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        l4 = off + 40
        ipid = 0
        plen = (data[off + 4] << 8) | data[off + 5]
        end = min(len(data), l4 + plen) if plen else len(data)
        proto, l4 = _skip_extensions(data, proto, l4, end)
        if l4 < 0:
            return None
        v6 = True
    else:
        return None
    if proto == 6:
        if end < l4 + 20:
            return None
        sport, dport, seq, ack, hoff, flags, window = _TCP(data, l4)
        hlen = (hoff >> 4) * 4
        options = data[l4 + 20 : l4 + hlen] if flags & 0x02 and hlen > 20 else b""
        return TcpSegment(ts, src, dst, sport, dport, flags, seq, ack, ttl, window, options, ipid)
    if (proto == 1 and not v6) or (proto == 58 and v6):
        return _icmp_error(ts, data, l4, end, src, ttl, v6)
    if proto in (4, 41) and depth < _MAX_TUNNELS:  # IP in IP: IPIP, 6in4 (tunnel brokers)
        return decode_ip(ts, data[:end], l4, depth + 1)
    if proto in (17, 47) and depth < _MAX_TUNNELS:
        kind, inner = tunnels.udp(data, l4, end) if proto == 17 else tunnels.gre(data, l4, end)
        if kind == tunnels.ETHERNET and inner >= 0:
            inner = tunnels.after_ethertype(data, inner + 12)
        if inner >= 0:
            return decode_ip(ts, data[:end], inner, depth + 1)
    if proto == 17 and end >= l4 + 8:
        sport, dport, length = _UDP(data, l4)
        # Port 0 is no service; a tunnel's own datagrams (GTP echo, VXLAN without a VNI) are
        # the tunnel's business, not a flow of its endpoints.
        if sport and dport and not tunnels.tunnel_port(sport, dport):
            return UdpDatagram(ts, src, dst, sport, dport, ttl, max(length - 8, 0))
    return None


def _skip_extensions(data: bytes, proto: int, l4: int, end: int) -> tuple[int, int]:
    """(upper-layer protocol, its offset) after IPv6 extension headers; offset -1 when the
    packet is a later fragment or the headers run past its end."""
    for _ in range(8):  # more extension headers than this is not traffic worth reading
        if proto in _IPV6_EXTENSIONS:
            if end < l4 + 8:
                return proto, -1
            proto, l4 = data[l4], l4 + (data[l4 + 1] + 1) * 8
        elif proto == _IPV6_FRAGMENT:
            if end < l4 + 8:
                return proto, -1
            if ((data[l4 + 2] << 8) | data[l4 + 3]) & 0xFFF8:
                return proto, -1  # fragment offset > 0
            proto, l4 = data[l4], l4 + 8
        elif proto == _IPV6_AH:
            if end < l4 + 8:
                return proto, -1
            proto, l4 = data[l4], l4 + (data[l4 + 1] + 2) * 4
        else:
            return proto, l4
    return proto, -1


def _icmp_error(
    ts: float, data: bytes, l4: int, end: int, responder: bytes, ttl: int, v6: bool
) -> IcmpRecord | None:
    if end < l4 + 8:
        return None
    itype, code = data[l4], data[l4 + 1]
    q = l4 + 8  # the quoted packet
    if v6:
        if itype not in (1, 3) or end < q + 40 + 8 or data[q] >> 4 != 6:
            return None
        qproto, qt = _skip_extensions(data, data[q + 6], q + 40, end)
        if qproto not in (6, 17) or qt < 0 or end < qt + 8:
            return None
        src, dst = data[q + 8 : q + 24], data[q + 24 : q + 40]
    else:
        if itype not in (3, 11) or end < q + 20 or data[q] >> 4 != 4 or data[q + 9] not in (6, 17):
            return None
        qproto = data[q + 9]
        qt = q + (data[q] & 0x0F) * 4
        if end < qt + 8:
            return None
        src, dst = data[q + 12 : q + 16], data[q + 16 : q + 20]
    sport, dport, seq = _QUOTE(data, qt)
    if qproto == 17:
        if not sport or not dport:
            return None
        return IcmpRecord(ts, responder, ttl, v6, itype, code, src, dst, sport, dport, 0, -1, 17)
    qflags = data[qt + 13] if end >= qt + 14 else -1  # IPv4 errors may quote 8 bytes only
    return IcmpRecord(ts, responder, ttl, v6, itype, code, src, dst, sport, dport, seq, qflags)
