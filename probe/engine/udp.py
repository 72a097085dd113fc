"""UDP for the raw engine: datagrams carrying each port's request, answers and their payloads.

UDP has no handshake and its answers echo nothing of the probe: a reply is told apart only by
its addresses and ports, and an ICMP error by the header it quotes. So UDP is an untagged
transport (transport.Transport): the try number lives in our source port alone (cookies.py),
and what a reply carries is kept (``Answer.payload``) for the payloads package to decode —
"NTP server, stratum 2" is the evidence that something really listens.

The kernel has no socket on our source ports, so it answers a server's reply with an ICMP port
unreachable of its own, the way it answers a SYN/ACK with a RST: harmless, and what every raw
UDP scanner does.
"""

from __future__ import annotations

import socket
import struct

from probe.engine import bpf, inet
from probe.engine.cookies import TRY_MASK
from probe.engine.transport import Answer
from probe.model import REPLY_KEEP, AnswerKind, Protocol

_PORTS = struct.Struct("!HH")
_HEADER = struct.Struct("!HHHH")  # ports, length, checksum
_UDP = AnswerKind.UDP
# IPv4 header for our datagrams: version 4, 20 bytes, DF, TTL 64, protocol 17; addresses,
# length and checksum are written per destination (inet.ipv4_header).
_IP_TEMPLATE = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, 17, 0, bytes(4), bytes(4))


class UdpBuilderV4:
    """Datagrams to one IPv4 destination: IP header per (TTL, length) computed once."""

    __slots__ = ("_dst", "_headers", "_pseudo", "_src")

    def __init__(self, src: bytes, dst: bytes) -> None:
        self._src, self._dst = src, dst
        self._headers: dict[tuple[int, int], bytes] = {}
        self._pseudo = inet.word_sum(src + dst + struct.pack("!BB", 0, socket.IPPROTO_UDP))

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes) -> bytes:
        """A datagram; ``tag`` is not carried (the try number is in ``sport``)."""
        length = 8 + len(payload)
        header = self._headers.get((ttl, length))
        if header is None:
            header = inet.ipv4_header(_IP_TEMPLATE, self._src, self._dst, ttl, 20 + length)
            self._headers[ttl, length] = header
        total = self._pseudo + length + inet.word_sum(_HEADER.pack(sport, dport, length, 0))
        total += inet.word_sum(payload + b"\0" * (len(payload) & 1))  # odd: pad for the sum
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        checksum = ~total & 0xFFFF or 0xFFFF  # 0 would mean "no checksum": send all ones
        return header + _HEADER.pack(sport, dport, length, checksum) + payload


class UdpBuilderV6:
    """Datagrams over IPv6: the UDP header and payload (the kernel writes the IPv6 header
    and, asked by IPV6_CHECKSUM, the checksum, which IPv6 makes mandatory for UDP)."""

    __slots__ = ()

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes) -> bytes:
        return _HEADER.pack(sport, dport, 8 + len(payload), 0) + payload


def parse_v4(pkt: bytes) -> Answer | None:
    """An IPv4 packet carrying UDP, as a raw IPPROTO_UDP socket returns it."""
    if len(pkt) < 28:
        return None
    vhl, ip_id, ttl, proto, src = inet.IPV4.unpack_from(pkt)
    if vhl >> 4 != 4 or proto != socket.IPPROTO_UDP:
        return None
    ihl = (vhl & 0x0F) * 4
    if len(pkt) < ihl + 8:
        return None
    return _answer(pkt, ihl, inet.ntop4(src), src, ttl, ip_id)


def parse_v6(segment: bytes, src: str, hoplimit: int | None) -> Answer | None:
    """A UDP datagram from a raw IPv6 socket (the kernel strips the IPv6 header)."""
    if len(segment) < 8:
        return None
    return _answer(segment, 0, src, socket.inet_pton(socket.AF_INET6, src), hoplimit, None)


def _answer(
    buf: bytes, at: int, src: str, src_packed: bytes, ttl: int | None, ip_id: int | None
) -> Answer:
    sport, dport, length, _ = _HEADER.unpack_from(buf, at)
    end = min(len(buf), at + max(length, 8))
    payload = bytes(buf[at + 8 : min(end, at + 8 + REPLY_KEEP)])
    return Answer(
        _UDP, src, ttl, src_packed, sport, dport, dport & TRY_MASK, ip_id=ip_id, payload=payload
    )


class Udp:
    """UDP as the raw engine's transport (transport.Transport)."""

    protocol = Protocol.UDP
    number = socket.IPPROTO_UDP
    checksum_at = 6
    tagged = False

    def builder(self, src: bytes, dst: bytes) -> UdpBuilderV4 | UdpBuilderV6:
        if len(dst) == 16:
            return UdpBuilderV6()
        return UdpBuilderV4(src, dst)

    def answer_filter(self, v6: bool, first: int, span: int) -> list[bpf.Insn]:
        return bpf.to_ports_v6(first, span) if v6 else bpf.to_ports_v4(first, span)

    parse_v4 = staticmethod(parse_v4)
    parse_v6 = staticmethod(parse_v6)

    def quoted(self, buf: bytes, at: int) -> tuple[int, int, int]:
        """The quoted datagram's ports; its tag is the try number our source port carries."""
        sport, dport = _PORTS.unpack_from(buf, at)
        return int(sport), int(dport), int(sport) & TRY_MASK
