"""icmp.py: ICMP and ICMPv6 errors decode to the probe they quote, through the transport
the quoted header names; other messages and other protocols are not answers."""

from __future__ import annotations

import socket

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6

from probe.engine import tcp
from probe.engine.icmp import IcmpDecoder
from probe.model import AnswerKind

SRC = "198.18.0.2"
DST = "198.18.1.10"
SPORT = 45000
DECODER = IcmpDecoder({socket.IPPROTO_TCP: tcp.Tcp(tcp.SynTemplate(ip=b"", tcp=b""))})


def packed(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def test_icmp_quote_decodes_to_the_probe() -> None:
    syn = IP(src=SRC, dst=DST, ttl=63) / TCP(sport=SPORT, dport=8443, seq=777, flags="S")
    err = IP(src="198.18.0.1", dst=SRC, ttl=64, id=7) / ICMP(type=3, code=13) / bytes(syn)[:28]
    a = DECODER.parse_v4(bytes(err))
    assert a is not None
    assert (a.kind, a.responder, a.ttl, a.ip_id) == (AnswerKind.ICMP, "198.18.0.1", 64, 7)
    assert (a.icmp_type, a.icmp_code) == (3, 13)
    assert (a.target, a.port, a.sport, a.tag) == (packed(DST), 8443, SPORT, 777)


def test_quoted_ip_options_move_the_quoted_header() -> None:
    syn = IP(src=SRC, dst=DST, options=b"\x01\x01\x01\x00") / TCP(sport=SPORT, dport=80, seq=5)
    err = IP(src="198.18.0.1") / ICMP(type=11, code=0) / bytes(syn)[:32]
    a = DECODER.parse_v4(bytes(err))
    assert a is not None and (a.port, a.sport, a.tag, a.icmp_type) == (80, SPORT, 5, 11)


def test_echo_reply_redirect_and_other_protocols_are_not_answers() -> None:
    assert DECODER.parse_v4(bytes(IP(src=DST) / ICMP(type=0) / (b"x" * 40))) is None
    syn = bytes(IP(src=SRC, dst=DST) / TCP(sport=SPORT, dport=80))[:28]
    assert DECODER.parse_v4(bytes(IP(src=DST) / ICMP(type=5) / syn)) is None
    datagram = bytes(IP(src=SRC, dst=DST) / UDP(sport=SPORT, dport=53))[:28]
    assert DECODER.parse_v4(bytes(IP(src=DST) / ICMP(type=3, code=3) / datagram)) is None
    assert DECODER.parse_v4(bytes(IP(src=DST) / ICMP(type=3) / syn[:20])) is None  # cut short


def test_icmpv6_quote_decodes() -> None:
    syn = IPv6(src="2001:2::2", dst="2001:2:0:1::10") / TCP(sport=SPORT, dport=80, seq=5, flags="S")
    msg = bytes(ICMPv6DestUnreach(code=1) / bytes(syn))
    a = DECODER.parse_v6(msg, "2001:2::1", 64)
    assert a is not None and a.kind is AnswerKind.ICMP
    assert (a.responder, a.ttl, a.icmp_type, a.icmp_code) == ("2001:2::1", 64, 1, 1)
    assert (a.target, a.port, a.sport, a.tag) == (packed("2001:2:0:1::10"), 80, SPORT, 5)


def test_icmpv6_quoting_udp_is_not_a_tcp_answer() -> None:
    dgram = IPv6(src="2001:2::2", dst="2001:2::10") / UDP(sport=SPORT, dport=53) / (b"x" * 8)
    assert DECODER.parse_v6(bytes(ICMPv6DestUnreach() / bytes(dgram)), "2001:2::1", 64) is None
