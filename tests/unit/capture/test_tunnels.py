"""Encapsulations and further link types (issue 17, item 4, and what the corpus of real
captures showed missing: PPP, Cisco HDLC, LLC/SNAP, Geneve, PPTP, IP in IP, 802.11): frames
built here as plain bytes, decoded to the inner TCP segment; the outer layers never leak into
the record."""

from __future__ import annotations

import socket
import struct

import pytest

from probe.capture.packets import TcpSegment, UdpDatagram, decode_ip, ip_offset

CLIENT, SERVER, OUTER_A, OUTER_B = "198.18.0.2", "198.18.1.10", "198.18.9.1", "198.18.9.2"
CLIENT6, SERVER6 = "2001:2::2", "2001:2:0:1::10"
SYN = 0x02


def a(s: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in s else socket.AF_INET, s)


def tcp_syn(sport: int = 40000, dport: int = 443) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, SYN, 64240, 0, 0)


def ip4(src: str, dst: str, payload: bytes, proto: int = 6, ttl: int = 64) -> bytes:
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 7, 0x4000, ttl, proto, 0, a(src), a(dst)
    )
    return head + payload


def ip6(src: str, dst: str, payload: bytes, nh: int = 6, hops: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hops, a(src), a(dst)) + payload


def inner4() -> bytes:
    return ip4(CLIENT, SERVER, tcp_syn(), ttl=61)


def eth(etype: int, payload: bytes) -> bytes:
    return b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", etype) + payload


def udp(dport: int, payload: bytes, sport: int = 50000) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def decoded(link: int, frame: bytes) -> TcpSegment | None:
    off = ip_offset(link, frame)
    rec = decode_ip(1.0, frame, off) if off >= 0 else None
    assert rec is None or isinstance(rec, TcpSegment)
    return rec


def assert_inner(rec: TcpSegment | None, client: str = CLIENT, server: str = SERVER) -> None:
    assert rec is not None
    assert (rec.src, rec.dst, rec.sport, rec.dport, rec.flags) == (
        a(client),
        a(server),
        40000,
        443,
        SYN,
    )


@pytest.mark.parametrize("link", [12, 14])
def test_bsd_raw_ip_link_types(link: int) -> None:
    assert_inner(decoded(link, inner4()))
    assert_inner(decoded(link, ip6(CLIENT6, SERVER6, tcp_syn())), CLIENT6, SERVER6)


def test_pppoe_session() -> None:
    pppoe = struct.pack("!BBHHH", 0x11, 0, 0x1234, len(inner4()) + 2, 0x0021) + inner4()
    assert_inner(decoded(1, eth(0x8864, pppoe)))
    lcp = struct.pack("!BBHHH", 0x11, 0, 0x1234, 6, 0xC021) + b"\x01" * 4  # not IP
    assert decoded(1, eth(0x8864, lcp)) is None


def test_mpls_label_stack_and_pseudowire() -> None:
    labels = struct.pack("!II", (100 << 12) | 0, (200 << 12) | 0x100 | 64)  # S bit on the 2nd
    assert_inner(decoded(1, eth(0x8847, labels + inner4())))
    pw = struct.pack("!I", (300 << 12) | 0x100 | 64) + b"\x00" * 4 + eth(0x0800, inner4())
    assert_inner(decoded(1, eth(0x8847, pw)))
    no_bottom = struct.pack("!I", 100 << 12) * 20
    assert decoded(1, eth(0x8847, no_bottom)) is None


def test_gre_with_key_and_ethernet_bridging() -> None:
    keyed = struct.pack("!HHI", 0x2000, 0x0800, 42) + inner4()
    rec = decoded(1, eth(0x0800, ip4(OUTER_A, OUTER_B, keyed, proto=47)))
    assert_inner(rec)
    assert rec is not None and rec.ttl == 61  # the inner packet's, not the tunnel's
    teb = struct.pack("!HH", 0, 0x6558) + eth(0x0800, inner4())
    assert_inner(decoded(101, ip4(OUTER_A, OUTER_B, teb, proto=47)))
    pptp = struct.pack("!HH", 0x3001, 0x880B) + b"\x00" * 8 + inner4()  # version 1: no PPP
    assert decoded(101, ip4(OUTER_A, OUTER_B, pptp, proto=47)) is None


def test_pptp_gre_version_1_carries_ppp() -> None:
    # key (payload length, call id), sequence number, acknowledgment number, then PPP
    head = struct.pack("!HHHHII", 0x3081, 0x880B, len(inner4()) + 4, 7, 1, 0)
    assert_inner(decoded(101, ip4(OUTER_A, OUTER_B, head + b"\xff\x03\x00\x21" + inner4(), 47)))
    ack_only = struct.pack("!HHHHI", 0x2081, 0x880B, 0, 7, 1)  # no payload: nothing inside
    assert decoded(101, ip4(OUTER_A, OUTER_B, ack_only, proto=47)) is None


@pytest.mark.parametrize("link", [9, 50])
def test_ppp_link_types(link: int) -> None:
    assert_inner(decoded(link, b"\xff\x03\x00\x21" + inner4()))
    assert_inner(decoded(link, b"\x00\x57" + ip6(CLIENT6, SERVER6, tcp_syn())), CLIENT6, SERVER6)
    assert_inner(decoded(link, b"\xff\x03\x21" + inner4()))  # protocol field compression
    mpls = struct.pack("!I", (100 << 12) | 0x100 | 64)
    assert_inner(decoded(link, b"\xff\x03\x02\x81" + mpls + inner4()))
    assert decoded(link, b"\xff\x03\xc0\x21" + b"\x01" * 8) is None  # LCP


def test_pppoe_with_a_compressed_protocol_field() -> None:
    # one byte, 0x21: what a real PPPoE client sent (suricata-verify's bug-4810 capture)
    pppoe = struct.pack("!BBHHB", 0x11, 0, 0x2D, len(inner4()) + 1, 0x21) + inner4()
    assert_inner(decoded(1, eth(0x8864, pppoe)))


def test_cisco_hdlc() -> None:
    assert_inner(decoded(104, b"\x0f\x00\x08\x00" + inner4()))
    assert decoded(104, b"\x8f\x00\x80\x35" + b"\x00" * 28) is None  # SLARP keepalive


def test_ieee_802_3_frame_with_llc_snap() -> None:
    snap = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + inner4()
    assert_inner(decoded(1, eth(len(snap), snap)))
    stp = b"\x42\x42\x03" + b"\x00" * 35  # 802.3 with another LLC (spanning tree)
    assert decoded(1, eth(len(stp), stp)) is None


def _wifi(fc0: int, fc1: int, payload: bytes, extra: int = 0) -> bytes:
    """An 802.11 frame: frame control, duration, 3 addresses, sequence (+ ``extra`` bytes)."""
    return bytes([fc0, fc1]) + b"\x00" * (22 + extra) + payload


SNAP_IP = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"


def test_wifi_data_frames() -> None:
    assert_inner(decoded(105, _wifi(0x08, 0x01, SNAP_IP + inner4())))  # data, to the AP
    assert_inner(decoded(105, _wifi(0x88, 0x02, SNAP_IP + inner4(), extra=2)))  # QoS data
    assert_inner(decoded(105, _wifi(0x88, 0x82, SNAP_IP + inner4(), extra=6)))  # + HT control
    assert_inner(decoded(105, _wifi(0x88, 0x03, SNAP_IP + inner4(), extra=8)))  # 4 addresses
    assert decoded(105, _wifi(0x88, 0x41, SNAP_IP + inner4(), extra=2)) is None  # WPA: sealed
    assert decoded(105, _wifi(0x80, 0x00, b"\x00" * 40)) is None  # a beacon
    radio = struct.pack("<BBHI", 0, 0, 12, 0) + b"\x00" * 4  # radiotap: 12 bytes, no fields
    assert_inner(decoded(127, radio + _wifi(0x08, 0x02, SNAP_IP + inner4())))


def test_ip_in_ip() -> None:
    assert_inner(decoded(101, ip4(OUTER_A, OUTER_B, inner4(), proto=4)))
    six_in_four = ip4(OUTER_A, OUTER_B, ip6(CLIENT6, SERVER6, tcp_syn()), proto=41)
    assert_inner(decoded(101, six_in_four), CLIENT6, SERVER6)


def test_an_ipv4_header_shorter_than_20_bytes_is_broken() -> None:
    broken = bytearray(ip4(CLIENT, SERVER, tcp_syn()))
    broken[0] = 0x44  # IHL 4: the "transport header" would start inside the IP header
    assert decoded(101, bytes(broken)) is None


def test_vxlan() -> None:
    vxlan = struct.pack("!II", 0x08000000, 5001 << 8) + eth(0x0800, inner4())
    assert_inner(decoded(1, eth(0x0800, ip4(OUTER_A, OUTER_B, udp(4789, vxlan), proto=17))))
    other = udp(4790, vxlan)  # not a VXLAN port: plain UDP, a datagram of its own
    frame = eth(0x0800, ip4(OUTER_A, OUTER_B, other, proto=17))
    rec = decode_ip(1.0, frame, ip_offset(1, frame))
    assert isinstance(rec, UdpDatagram) and (rec.dport, rec.size) == (4790, len(vxlan))
    no_vni = udp(4789, b"\x00" * 8 + eth(0x0800, inner4()))  # I flag clear: the tunnel's own
    assert decode_ip(1.0, ip4(OUTER_A, OUTER_B, no_vni, proto=17), 0) is None


def test_geneve() -> None:
    option = struct.pack("!HBB", 0x0102, 0x80, 1) + b"\x00" * 4  # class, type, 1 word of data
    head = struct.pack("!BBHI", 2, 0, 0x6558, 5001 << 8)  # 2 words of options, Ethernet
    frame = ip4(OUTER_A, OUTER_B, udp(6081, head + option + eth(0x0800, inner4())), proto=17)
    assert_inner(decoded(101, frame))
    ip_inside = struct.pack("!BBHI", 0, 0, 0x0800, 5001 << 8) + inner4()
    assert_inner(decoded(101, ip4(OUTER_A, OUTER_B, udp(6081, ip_inside), proto=17)))
    version_1 = struct.pack("!BBHI", 0x40, 0, 0x0800, 0) + inner4()  # unknown: the tunnel's
    assert decode_ip(1.0, ip4(OUTER_A, OUTER_B, udp(6081, version_1), proto=17), 0) is None


def test_gtp_u_plain_and_with_extension_headers() -> None:
    inner6 = ip6(CLIENT6, SERVER6, tcp_syn())
    plain = struct.pack("!BBHI", 0x30, 255, len(inner6), 77) + inner6
    assert_inner(decoded(101, ip4(OUTER_A, OUTER_B, udp(2152, plain), proto=17)), CLIENT6, SERVER6)
    # E flag: sequence, N-PDU, next type 0x85 (PDU session container, 4 bytes, next 0)
    ext = struct.pack("!BBHIHBB", 0x34, 255, 0, 77, 0, 0, 0x85) + bytes([1, 0x10, 9, 0])
    assert_inner(decoded(101, ip4(OUTER_A, OUTER_B, udp(2152, ext + inner4()), proto=17)))
    echo = struct.pack("!BBHI", 0x30, 1, 0, 0) + inner4()  # echo request: no user packet
    assert decoded(101, ip4(OUTER_A, OUTER_B, udp(2152, echo), proto=17)) is None


def test_nflog() -> None:
    prefix = struct.pack("<HH", 8, 1) + b"\x08\x00\x01\x00"  # NFULA_PACKET_HDR
    payload = struct.pack("<HH", 4 + len(inner4()), 9) + inner4()
    assert_inner(decoded(239, struct.pack("!BBH", 2, 0, 5) + prefix + payload))
    assert decoded(239, struct.pack("!BBH", 2, 0, 5) + prefix) is None


def test_tunnels_in_tunnels_stop_at_a_depth() -> None:
    pkt = inner4()
    for _ in range(3):
        pkt = ip4(OUTER_A, OUTER_B, struct.pack("!HH", 0, 0x0800) + pkt, proto=47)
    assert_inner(decoded(101, pkt))
    pkt = ip4(OUTER_A, OUTER_B, struct.pack("!HH", 0, 0x0800) + pkt, proto=47)
    assert decoded(101, pkt) is None
