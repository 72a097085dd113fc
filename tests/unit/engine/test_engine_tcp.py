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


LINUX_OPTIONS = ("MSS", 1460), ("SAckOK", b""), ("NOP", None), ("WScale", 7)


def scapy_syn(tsval: int, sport: int = 0, dport: int = 0, seq: int = 0) -> TCP:
    """The engine's SYN as scapy crafts it (what the template was built with before)."""
    mss, sack, nop, wscale = LINUX_OPTIONS
    opts = [mss, sack, ("Timestamp", (tsval, 0)), nop, wscale]
    return TCP(sport=sport, dport=dport, seq=seq, flags="S", window=64240, options=opts)


@pytest.mark.parametrize("tsval", [0, 1, 0x01020304, 0x80000000, 0xFFFFFFFF])
def test_the_template_is_the_syn_scapy_crafts_byte_for_byte(tsval: int) -> None:
    tpl = tcp.syn_template(tsval)
    syn = bytearray(bytes(scapy_syn(tsval)))
    syn[16:18] = b"\0\0"  # the checksum: patched per probe
    assert tpl.tcp == bytes(syn)
    ip = bytearray(bytes(IP(src="0.0.0.0", dst="0.0.0.0", ttl=64, id=0, flags="DF", proto=6)))
    ip[2:4] = ip[10:12] = b"\0\0"  # length and checksum: written per packet
    assert tpl.ip == bytes(ip)


@pytest.mark.parametrize(
    ("sport", "dport", "seq", "ttl", "tsval"),
    [(SPORT, 80, 0, 64, 0), (33008, 1, 0xFFFFFFFF, 1, 0xFFFFFFFF), (60999, 65535, 7, 255, 42)],
)
def test_built_syns_are_the_packets_scapy_builds_byte_for_byte(
    sport: int, dport: int, seq: int, ttl: int, tsval: int
) -> None:
    builder = tcp.Tcp(tcp.syn_template(tsval)).builder(packed(SRC), packed(DST))
    ours = builder.build(sport, dport, seq, ttl)
    theirs = IP(src=SRC, dst=DST, ttl=ttl, id=0, flags="DF") / scapy_syn(tsval, sport, dport, seq)
    assert ours == bytes(theirs)


def test_the_timestamp_clock_is_random_per_template() -> None:
    clocks = {tcp.syn_template().tcp[28:32] for _ in range(8)}  # TSval: after MSS, SAckOK, kind/len
    assert len(clocks) > 1


def test_the_engines_syn_offers_what_a_linux_client_does() -> None:
    t = tcp.Tcp()  # the template the raw engine builds when it opens
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


def test_the_raw_engines_transports_load_no_scapy() -> None:
    # scapy costs about 0.1 s of imports: a TCP check (and a UDP one until a request of a
    # protocol scapy knows is built) must not pay it.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from probe.engine import raw\n"
        "transports = [make() for make in raw.TRANSPORTS.values()]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
