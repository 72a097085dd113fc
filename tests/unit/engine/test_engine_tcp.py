"""tcp.py against scapy's own dissection: the SYNs we build are the SYNs scapy would build,
and the answers scapy builds decode to the right facts."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet import ICMP, IP, TCP

from probe.engine import tcp
from probe.model import AnswerKind, Protocol, TcpOptions

SRC = "198.18.0.2"
DST = "198.18.1.10"
SPORT = 45000


def packed(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def template() -> tcp.SynTemplate:
    syn = bytearray(bytes(TCP(sport=0, dport=0, seq=0, flags="S", options=[("MSS", 1460)])))
    syn[16:18] = b"\0\0"
    ip = bytes(IP(src="0.0.0.0", dst="0.0.0.0", ttl=64, flags="DF", proto=6))[:20]
    return tcp.SynTemplate(ip=ip, tcp=bytes(syn))


def checksums_hold(pkt: IP) -> bool:
    """Recompute both checksums the way scapy does and compare with ours."""
    ip_ck, tcp_ck = pkt.chksum, pkt[TCP].chksum
    del pkt.chksum
    del pkt[TCP].chksum
    again = IP(bytes(pkt))
    return bool((ip_ck, tcp_ck) == (again.chksum, again[TCP].chksum))


def test_built_syn_has_valid_checksums_and_fields() -> None:
    builder = tcp.Tcp(template()).builder(packed(SRC), packed(DST))
    pkt = IP(builder.build(SPORT, 6036, 0x12345672, 17, b""))
    syn = pkt[TCP]
    assert (pkt.src, pkt.dst, pkt.ttl) == (SRC, DST, 17)
    assert (syn.sport, syn.dport, syn.seq, str(syn.flags)) == (SPORT, 6036, 0x12345672, "S")
    assert checksums_hold(pkt)


def test_builder_keeps_fields_and_checksums_across_many_probes() -> None:
    builder = tcp.SynBuilderV4(template(), packed(SRC), packed(DST))
    for port, seq, ttl in ((1, 0, 1), (65535, 0xFFFFFFFF, 255), (6036, 0x80000001, 64)):
        pkt = IP(builder.build(SPORT + ttl % 16, port, seq, ttl))
        assert (pkt.dst, pkt.ttl, pkt[TCP].dport, pkt[TCP].seq) == (DST, ttl, port, seq)
        assert pkt[TCP].sport == SPORT + ttl % 16
        assert str(pkt[TCP].flags) == "S" and pkt[TCP].window == 8192
        assert pkt[TCP].options == [("MSS", 1460)]
        assert checksums_hold(pkt)


def test_the_engines_syn_offers_what_a_linux_client_does() -> None:
    t = tcp.Tcp()  # the template scapy crafts when a raw engine opens
    pkt = IP(t.builder(packed(SRC), packed(DST)).build(SPORT, 443, 7, 64, b""))
    assert pkt.flags == "DF" and pkt[TCP].window == 64240
    kinds = [name for name, _ in pkt[TCP].options]
    assert kinds == ["MSS", "SAckOK", "Timestamp", "NOP", "WScale"]
    assert checksums_hold(pkt)
    assert (t.protocol, t.number, t.checksum_at) == (Protocol.TCP, socket.IPPROTO_TCP, 16)


def test_ipv6_syn_is_the_tcp_header_alone() -> None:
    builder = tcp.Tcp(template()).builder(packed("2001:2::2"), packed("2001:2::10"))
    seg = TCP(builder.build(SPORT, 80, 99, 5, b""))
    assert (seg.sport, seg.dport, seg.seq, str(seg.flags)) == (SPORT, 80, 99, "S")
    assert seg.chksum == 0  # the kernel fills it in (IPV6_CHECKSUM)


def test_syn_ack_decodes_with_options() -> None:
    seq = 0x12345671
    answer = IP(src=DST, dst=SRC, ttl=63, id=4242) / TCP(
        sport=80,
        dport=SPORT,
        flags="SA",
        ack=seq + 1,
        window=65160,
        options=[
            ("MSS", 1400),
            ("SAckOK", b""),
            ("Timestamp", (1, 2)),
            ("NOP", None),
            ("WScale", 7),
        ],
    )
    a = tcp.parse_v4(bytes(answer))
    assert a is not None and a.kind is AnswerKind.SYN_ACK
    assert (a.responder, a.ttl, a.port, a.sport, a.tag, a.window, a.ip_id) == (
        DST,
        63,
        80,
        SPORT,
        seq,
        65160,
        4242,
    )
    assert a.target == packed(DST)
    assert a.options == TcpOptions(1400, 7, True, True)


def test_plain_ack_and_non_tcp_are_ignored() -> None:
    assert tcp.parse_v4(bytes(IP(src=DST) / TCP(flags="A"))) is None
    assert tcp.parse_v4(bytes(IP(src=DST) / ICMP())) is None
    assert tcp.parse_v4(b"\x45") is None


def test_rst_decodes() -> None:
    a = tcp.parse_v4(bytes(IP(src=DST, ttl=64) / TCP(sport=81, dport=SPORT, flags="RA", ack=11)))
    assert a is not None and a.kind is AnswerKind.RST and a.tag == 10 and a.ttl == 64
    assert a.options is None


def test_tcp_v6_segment_decodes() -> None:
    seg = bytes(TCP(sport=443, dport=SPORT, flags="SA", ack=100, options=[("MSS", 1440)]))
    a = tcp.parse_v6(seg, "2001:2:0:1::10", 62)
    assert a is not None and a.tag == 99 and a.ttl == 62 and a.port == 443
    assert a.options is not None and a.options.mss == 1440


def test_quoted_probe() -> None:
    syn = bytes(TCP(sport=SPORT, dport=8443, seq=777, flags="S"))
    assert tcp.Tcp(template()).quoted(b"xx" + syn, 2) == (SPORT, 8443, 777)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (b"", TcpOptions()),
        (b"\x02\x04\x05\xb4", TcpOptions(mss=1460)),
        (b"\x01\x01\x04\x02\x01\x03\x03\x0e", TcpOptions(wscale=14, sack_permitted=True)),
        (b"\x02\x04\x05", TcpOptions()),  # truncated: nothing misread
        (b"\x02\x00\x05\xb4", TcpOptions()),  # zero length: stop
        (b"\x00\x02\x04\x05\xb4", TcpOptions()),  # end of options first
    ],
)
def test_option_parser(opts: bytes, expected: TcpOptions) -> None:
    assert tcp.parse_options(opts) == expected
