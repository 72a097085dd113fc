"""inet.py: the Internet checksum and the headers the engine writes."""

from __future__ import annotations

import socket

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6

from probe.engine import inet


def packed(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def test_checksum_of_a_header_with_its_checksum_is_zero() -> None:
    header = bytes(IP(src="198.18.0.2", dst="198.18.1.10", ttl=9))[:20]
    assert inet.inet_checksum(header) == 0
    assert inet.inet_checksum(b"\x01") == inet.inet_checksum(b"\x01\x00")  # odd length: padded


def test_ipv4_header_from_a_template() -> None:
    tpl = bytes(IP(src="0.0.0.0", dst="0.0.0.0", flags="DF", proto=6))[:20]
    hdr = inet.ipv4_header(tpl, packed("198.18.0.2"), packed("198.18.1.10"), 7, 40)
    pkt = IP(hdr + bytes(20))
    assert (pkt.src, pkt.dst, pkt.ttl, pkt.len, pkt.flags) == (
        "198.18.0.2",
        "198.18.1.10",
        7,
        40,
        "DF",
    )
    assert inet.inet_checksum(hdr) == 0


def test_ipv6_header_for_captures() -> None:
    hdr = inet.ipv6_header(packed("2001:2::2"), packed("2001:2::10"), 6, 64, 20)
    pkt = IPv6(hdr + bytes(TCP()))
    assert (pkt.src, pkt.dst, pkt.nh, pkt.hlim, pkt.plen) == ("2001:2::2", "2001:2::10", 6, 64, 20)
