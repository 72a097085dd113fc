"""wire.py against scapy's own dissection: the bytes we build are the SYNs scapy would build,
and the answers scapy builds decode to the right facts. Also the BPF programs, run through
the interpreter on the same packets."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6

from probe.engine import wire
from probe.model import TcpOptions

SRC = "198.18.0.2"
DST = "198.18.1.10"
SPORT = 45000


def packed(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def template() -> wire.SynTemplate:
    tcp = bytearray(bytes(TCP(sport=0, dport=0, seq=0, flags="S", options=[("MSS", 1460)])))
    tcp[16:18] = b"\0\0"
    ip = bytes(IP(src="0.0.0.0", dst="0.0.0.0", ttl=64, flags="DF", proto=6))[:20]
    return wire.SynTemplate(ip=ip, tcp=bytes(tcp))


def test_built_syn_has_valid_checksums_and_fields() -> None:
    seq = wire.seq_for(7, packed(DST), 6036, 2)
    pkt = IP(wire.build_syn_v4(template(), packed(SRC), packed(DST), SPORT, 6036, seq, 17))
    tcp = pkt[TCP]
    assert (pkt.src, pkt.dst, pkt.ttl) == (SRC, DST, 17)
    assert (tcp.sport, tcp.dport, tcp.seq, str(tcp.flags)) == (SPORT, 6036, seq, "S")
    # Recompute both checksums the way scapy does and compare with ours.
    ip_ck, tcp_ck = pkt.chksum, tcp.chksum
    del pkt.chksum
    del pkt[TCP].chksum
    again = IP(bytes(pkt))
    assert (ip_ck, tcp_ck) == (again.chksum, again[TCP].chksum)


def test_cookie_roundtrip_and_rejection() -> None:
    dst = packed(DST)
    for try_no in (1, 2, 3, 15):
        assert wire.try_from_seq(99, dst, 80, wire.seq_for(99, dst, 80, try_no)) == try_no
    seq = wire.seq_for(99, dst, 80, 1)
    assert wire.try_from_seq(99, dst, 81, seq) is None  # another port
    assert wire.try_from_seq(98, dst, 80, seq) is None  # another run's key
    assert wire.try_from_seq(99, dst, 80, seq & ~wire.TRY_MASK) is None  # try 0 is never sent


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
    a = wire.parse_tcp_v4(bytes(answer))
    assert a is not None
    assert (a.responder, a.ttl, a.port, a.sport, a.seq, a.window, a.ip_id) == (
        DST,
        63,
        80,
        SPORT,
        seq,
        65160,
        4242,
    )
    assert a.target == packed(DST)
    assert wire.parse_options(a.options) == TcpOptions(1400, 7, True, True)


def test_plain_ack_and_non_tcp_are_ignored() -> None:
    assert wire.parse_tcp_v4(bytes(IP(src=DST) / TCP(flags="A"))) is None
    assert wire.parse_tcp_v4(bytes(IP(src=DST) / ICMP())) is None
    assert wire.parse_tcp_v4(b"\x45") is None


def test_rst_decodes() -> None:
    a = wire.parse_tcp_v4(
        bytes(IP(src=DST, ttl=64) / TCP(sport=81, dport=SPORT, flags="RA", ack=11))
    )
    assert a is not None and a.flags & wire.TH_RST and a.seq == 10 and a.ttl == 64


def test_icmp_quote_decodes_to_the_probe() -> None:
    syn = IP(src=SRC, dst=DST, ttl=63) / TCP(sport=SPORT, dport=8443, seq=777, flags="S")
    err = IP(src="198.18.0.1", dst=SRC, ttl=64) / ICMP(type=3, code=13) / bytes(syn)[:28]
    a = wire.parse_icmp_v4(bytes(err))
    assert a is not None
    assert (a.kind, a.responder, a.icmp_type, a.icmp_code) == ("icmp", "198.18.0.1", 3, 13)
    assert (a.target, a.port, a.sport, a.seq) == (packed(DST), 8443, SPORT, 777)


def test_icmp_echo_reply_is_not_an_answer() -> None:
    assert wire.parse_icmp_v4(bytes(IP(src=DST) / ICMP(type=0) / (b"x" * 40))) is None


def test_icmpv6_quote_decodes() -> None:
    syn = IPv6(src="2001:2::2", dst="2001:2:0:1::10") / TCP(sport=SPORT, dport=80, seq=5, flags="S")
    msg = bytes(ICMPv6DestUnreach(code=1) / bytes(syn))
    a = wire.parse_icmp_v6(msg, "2001:2::1", 64)
    assert a is not None
    assert (a.responder, a.ttl, a.icmp_type, a.icmp_code) == ("2001:2::1", 64, 1, 1)
    assert (a.target, a.port, a.sport, a.seq) == (packed("2001:2:0:1::10"), 80, SPORT, 5)


def test_tcp_v6_segment_decodes() -> None:
    seg = bytes(TCP(sport=443, dport=SPORT, flags="SA", ack=100, options=[("MSS", 1440)]))
    a = wire.parse_tcp_v6(seg, "2001:2:0:1::10", 62)
    assert a is not None and a.seq == 99 and a.ttl == 62 and a.port == 443
    assert wire.parse_options(a.options).mss == 1440


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
    assert wire.parse_options(opts) == expected


def test_bpf_tcp_filter_passes_only_our_port() -> None:
    prog = wire.bpf_tcp_v4(SPORT)
    ours = bytes(IP(src=DST) / TCP(sport=80, dport=SPORT, flags="SA"))
    other = bytes(IP(src=DST) / TCP(sport=80, dport=SPORT + 1, flags="SA"))
    with_options = bytes(IP(src=DST, options=b"\x01\x01\x01\x00") / TCP(sport=80, dport=SPORT))
    assert wire.run_bpf(prog, ours)
    assert not wire.run_bpf(prog, other)
    assert wire.run_bpf(prog, with_options)  # IP options move the TCP header


def test_bpf_icmp_filter() -> None:
    prog = wire.bpf_icmp_v4(SPORT)

    def err(icmp_type: int, sport: int, quoted_ip_opts: bytes = b"") -> bytes:
        syn = IP(src=SRC, dst=DST, options=quoted_ip_opts) / TCP(sport=sport, dport=80)
        return bytes(IP(src="198.18.0.1") / ICMP(type=icmp_type, code=1) / bytes(syn)[:48])

    assert wire.run_bpf(prog, err(3, SPORT))
    assert wire.run_bpf(prog, err(11, SPORT))  # time exceeded, for trace
    assert wire.run_bpf(prog, err(3, SPORT, b"\x01\x01\x01\x00"))
    assert not wire.run_bpf(prog, err(3, SPORT + 1))
    assert not wire.run_bpf(prog, err(5, SPORT))  # redirect
    assert not wire.run_bpf(prog, bytes(IP(src=DST) / ICMP(type=0) / (b"x" * 40)))


def test_bpf_v6_filters() -> None:
    assert wire.run_bpf(wire.bpf_tcp_v6(SPORT), bytes(TCP(sport=80, dport=SPORT)))
    assert not wire.run_bpf(wire.bpf_tcp_v6(SPORT), bytes(TCP(sport=80, dport=1)))
    syn = IPv6(src="2001:2::2", dst="2001:2::10") / TCP(sport=SPORT, dport=80)
    assert wire.run_bpf(wire.bpf_icmp_v6(SPORT), bytes(ICMPv6DestUnreach() / bytes(syn)))
    syn_other = IPv6(src="2001:2::2", dst="2001:2::10") / TCP(sport=1, dport=80)
    assert not wire.run_bpf(wire.bpf_icmp_v6(SPORT), bytes(ICMPv6DestUnreach() / bytes(syn_other)))


def test_ipv6_header_for_captures() -> None:
    hdr = wire.ipv6_header(packed("2001:2::2"), packed("2001:2::10"), 6, 64, 20)
    pkt = IPv6(hdr + bytes(TCP()))
    assert (pkt.src, pkt.dst, pkt.nh, pkt.hlim, pkt.plen) == ("2001:2::2", "2001:2::10", 6, 64, 20)


def test_builder_keeps_fields_and_checksums_across_many_probes() -> None:
    builder = wire.SynBuilderV4(template(), packed(SRC), packed(DST))
    for port, seq, ttl in ((1, 0, 1), (65535, 0xFFFFFFFF, 255), (6036, 0x80000001, 64)):
        pkt = IP(builder.build(SPORT + ttl % 16, port, seq, ttl))
        assert (pkt.dst, pkt.ttl, pkt[TCP].dport, pkt[TCP].seq) == (DST, ttl, port, seq)
        assert pkt[TCP].sport == SPORT + ttl % 16
        assert str(pkt[TCP].flags) == "S" and pkt[TCP].window == 8192
        assert pkt[TCP].options == [("MSS", 1460)]
        ip_ck, tcp_ck = pkt.chksum, pkt[TCP].chksum
        del pkt.chksum
        del pkt[TCP].chksum
        again = IP(bytes(pkt))
        assert (ip_ck, tcp_ck) == (again.chksum, again[TCP].chksum)


def test_filters_accept_the_whole_per_try_port_range() -> None:
    tcp, icmp = wire.bpf_tcp_v4(SPORT, 16), wire.bpf_icmp_v4(SPORT, 16)
    for port, ok in ((SPORT - 1, False), (SPORT, True), (SPORT + 15, True), (SPORT + 16, False)):
        assert wire.run_bpf(tcp, bytes(IP(src=DST) / TCP(sport=80, dport=port))) is ok
        syn = IP(src=SRC, dst=DST) / TCP(sport=port, dport=80)
        err = IP(src="198.18.0.1") / ICMP(type=3, code=13) / bytes(syn)[:28]
        assert wire.run_bpf(icmp, bytes(err)) is ok
        assert wire.run_bpf(wire.bpf_tcp_v6(SPORT, 16), bytes(TCP(sport=80, dport=port))) is ok
        syn6 = IPv6(src="2001:2::2", dst="2001:2::10") / TCP(sport=port, dport=80)
        assert (
            wire.run_bpf(wire.bpf_icmp_v6(SPORT, 16), bytes(ICMPv6DestUnreach() / bytes(syn6)))
            is ok
        )
