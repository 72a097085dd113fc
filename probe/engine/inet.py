"""IP-level pieces every transport shares: the Internet checksum, the IPv4 header as the
parsers read it, IPv6 headers for captures, the source address toward a destination, and
whether an address is this computer's."""

from __future__ import annotations

import socket
import struct
from functools import lru_cache

# version/IHL, identification, TTL, protocol, source: one unpack per received IPv4 header.
IPV4 = struct.Struct("!BxxxHxxBBxx4s")


def inet_checksum(data: bytes) -> int:
    """RFC 1071: the one's complement of the one's complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def word_sum(data: bytes) -> int:
    """The plain sum of ``data``'s 16-bit words (even length): a checksum's fixed part,
    computed once so that each probe adds only its own fields."""
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def ipv4_header(template: bytes, src: bytes, dst: bytes, ttl: int, length: int) -> bytes:
    """``template`` (20 bytes) with addresses, TTL, total length and header checksum set."""
    ip = bytearray(template)
    ip[8] = ttl
    ip[12:16] = src
    ip[16:20] = dst
    struct.pack_into("!H", ip, 2, length)
    ip[10:12] = b"\x00\x00"
    struct.pack_into("!H", ip, 10, inet_checksum(bytes(ip)))
    return bytes(ip)


def ipv6_header(src: bytes, dst: bytes, next_header: int, hop_limit: int, length: int) -> bytes:
    """An IPv6 header, for writing IPv6 packets to a capture (the kernel writes the real one)."""
    return struct.pack("!IHBB", 6 << 28, length, next_header, hop_limit) + src + dst


@lru_cache(maxsize=1024)
def ntop4(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, packed)  # remembered: answers repeat few sources


def is_local(address: str) -> bool:
    """Whether ``address`` (a literal) belongs to this computer: a socket can be bound to it
    (EADDRNOTAVAIL otherwise). A probe from any other address would be a forged one."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


def source_for(address: str) -> str:
    """The source address the kernel picks toward ``address`` (a UDP connect sends nothing)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        if family == socket.AF_INET:  # a LAN's broadcast address inside a scanned block:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # else EACCES here
        s.connect((address, 9))
        return str(s.getsockname()[0])
