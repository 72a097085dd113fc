"""Encapsulations and further link types (issue 17, item 4): frames built here as plain bytes,
decoded to the inner TCP segment; the outer layers never leak into the record."""

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
    pptp = struct.pack("!HH", 0x3001, 0x880B) + b"\x00" * 8 + inner4()  # version 1: PPP
    assert decoded(101, ip4(OUTER_A, OUTER_B, pptp, proto=47)) is None


def test_vxlan() -> None:
    vxlan = struct.pack("!II", 0x08000000, 5001 << 8) + eth(0x0800, inner4())
    assert_inner(decoded(1, eth(0x0800, ip4(OUTER_A, OUTER_B, udp(4789, vxlan), proto=17))))
    other = udp(4790, vxlan)  # not a VXLAN port: plain UDP, a datagram of its own
    frame = eth(0x0800, ip4(OUTER_A, OUTER_B, other, proto=17))
    rec = decode_ip(1.0, frame, ip_offset(1, frame))
    assert isinstance(rec, UdpDatagram) and (rec.dport, rec.size) == (4790, len(vxlan))
    no_vni = udp(4789, b"\x00" * 8 + eth(0x0800, inner4()))  # I flag clear: the tunnel's own
    assert decode_ip(1.0, ip4(OUTER_A, OUTER_B, no_vni, proto=17), 0) is None


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
