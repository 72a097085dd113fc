"""Bare TCP ACKs for host discovery: nmap's "ACK ping" (-PA), built with ``struct``.

An ACK that belongs to no connection is answered by any live host with a RST, whatever the
port and whether anything listens there (RFC 793, "Reset Generation": a segment for a
connection that does not exist gets a RST). A stateless filter that lets replies to the
inside's own connections out passes such an ACK; only a stateful firewall drops it. So an
ACK to port 80 finds hosts that drop SYNs to closed ports and ICMP echo alike.

The RST gives the probe's tag back in its *sequence* number: for an incoming segment with
ACK set, the reset "takes its sequence number from the ACK field of the segment" and
carries no ACK itself (tcp.py decodes it so). The tag is put in the ACK field for that, and
in the sequence number too, because an ICMP error is sure to quote only the first 8 bytes
of the TCP header (ports and sequence number): either answer gives the tag back.
"""

from __future__ import annotations

import socket
import struct

from probe.engine import inet

TH_ACK = 0x10
WINDOW = 1024  # nmap's ACK ping uses 1024 as well: nothing about it marks a real client
_DF = 0x4000
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")  # ports, seq, ack, data offset, flags, window, ck, urg
_TEMPLATE = _TCP_HEADER.pack(0, 0, 0, 0, 5 << 4, TH_ACK, WINDOW, 0, 0)
_IP_TEMPLATE = _IPV4_HEADER.pack(0x45, 0, 0, 0, _DF, 64, socket.IPPROTO_TCP, 0, bytes(4), bytes(4))


class AckBuilderV4:
    """ACKs to one IPv4 destination, with the IP header (TTL and DF are ours)."""

    __slots__ = ("_dst", "_headers", "_partial", "_src")

    def __init__(self, src: bytes, dst: bytes) -> None:
        self._src, self._dst = src, dst
        self._headers: dict[int, bytes] = {}
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(_TEMPLATE))
        self._partial = inet.word_sum(pseudo + _TEMPLATE)

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes = b"") -> bytes:
        """An ACK with ``tag`` as sequence and acknowledgement number; no payload."""
        header = self._headers.get(ttl)
        if header is None:
            length = len(_IP_TEMPLATE) + len(_TEMPLATE)
            header = inet.ipv4_header(_IP_TEMPLATE, self._src, self._dst, ttl, length)
            self._headers[ttl] = header
        # The tag is in the segment twice: its two words count twice in the checksum.
        total = self._partial + sport + dport + 2 * ((tag >> 16) + (tag & 0xFFFF))
        while total >> 16:
            total = (total >> 16) + (total & 0xFFFF)
        return header + _segment(sport, dport, tag, ~total & 0xFFFF)


class AckBuilderV6:
    """ACKs over IPv6: the TCP header alone; the kernel writes the IPv6 header and the
    checksum (IPV6_CHECKSUM on the transport's socket)."""

    __slots__ = ()

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes = b"") -> bytes:
        return _segment(sport, dport, tag, 0)


def _segment(sport: int, dport: int, tag: int, checksum: int) -> bytes:
    return _TCP_HEADER.pack(sport, dport, tag, tag, 5 << 4, TH_ACK, WINDOW, checksum, 0)


def builder(src: bytes, dst: bytes) -> AckBuilderV4 | AckBuilderV6:
    """ACKs from ``src`` to ``dst`` (packed: 4 bytes IPv4, 16 bytes IPv6)."""
    return AckBuilderV6() if len(dst) == 16 else AckBuilderV4(src, dst)
