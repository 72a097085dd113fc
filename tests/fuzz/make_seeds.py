"""Builds the seed captures that tcpdump could not record here (see seeds/README.md), from the
recorded ones and with struct: VLAN and QinQ tags put into the recorded Ethernet frames, raw
IP through probe's own --pcap writer, a pcapng file of several sections and interfaces, IPv6
with extension headers, and BSD loopback. Deterministic: run it again and the files come out
byte for byte the same (tests/fuzz checks that).

    python tests/fuzz/make_seeds.py        # rewrites the built files in tests/fuzz/seeds/
"""

from __future__ import annotations

import socket
import struct
import sys
import tempfile
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"
RECORDED = ("eth.pcap", "eth-nano.pcap", "sll.pcap", "sll2-nano.pcap")

SYN, SYN_ACK, ACK, RST_ACK, PSH_ACK = 0x02, 0x12, 0x10, 0x14, 0x18
OPTS = bytes.fromhex("020405b4 0402 080a0000000100000000 01 030307")


def pcap_frames(data: bytes) -> tuple[int, list[tuple[int, int, bytes]]]:
    """(link type, [(seconds, microseconds or nanoseconds, frame)]) of a little-endian pcap."""
    link = struct.unpack_from("<I", data, 20)[0]
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from("<IIII", data, pos)
        out.append((sec, frac, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return link, out


def pcap(link: int, frames: list[tuple[int, int, bytes]], *, nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, link)]
    out += [struct.pack("<IIII", s, f, len(d), len(d)) + d for s, f, d in frames]
    return b"".join(out)


# --------------------------------------------------------------------------- pcapng


def block(btype: int, body: bytes, order: str) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def option(code: int, value: bytes, order: str) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str, comment: bytes = b"") -> bytes:
    opts = option(1, comment, order) + option(0, b"", order) if comment else b""
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + opts, order)


def idb(link: int, order: str, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = option(2, b"veth-fz", order)  # if_name
    if tsresol is not None:
        opts += option(9, bytes((tsresol,)), order)
    if tsoffset:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    opts += option(0, b"", order)
    return block(1, struct.pack(order + "HHI", link, 0, 0) + opts, order)


def epb(iface: int, ticks: int, data: bytes, order: str) -> bytes:
    head = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(6, head + data + option(1, b"seed", order) + option(0, b"", order), order)


def spb(data: bytes, order: str) -> bytes:
    return block(3, struct.pack(order + "I", len(data)) + data, order)


def old_pb(iface: int, ticks: int, data: bytes, order: str) -> bytes:
    head = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(2, head + data, order)


def multi_section(eth: list[tuple[int, int, bytes]], sll2: list[tuple[int, int, bytes]]) -> bytes:
    """Section 1, little-endian: Ethernet in microseconds and SLL2 in nanoseconds, interleaved,
    with a name resolution block; section 2, big-endian: raw IP in 2^-10 s ticks with an
    offset, as enhanced, simple and obsolete packet blocks, and a custom block."""
    le, be = "<", ">"
    out = [shb(le, b"probe fuzz seed"), idb(1, le), idb(276, le, tsresol=9)]
    out.append(
        block(4, struct.pack(le + "HH4s", 1, 4 + 11, bytes((198, 18, 50, 2))) + b"srv\x00", le)
    )
    for (s1, u1, f1), (s2, n2, f2) in zip(eth, sll2, strict=False):
        out.append(epb(0, s1 * 1_000_000 + u1, f1, le))
        out.append(epb(1, s2 * 1_000_000_000 + n2, f2, le))
    out += [shb(be), idb(101, be, tsresol=0x80 | 10, tsoffset=eth[-1][0] + 1)]
    raw = [f[14:] for _, _, f in eth]  # the IP packets of the Ethernet frames
    for n, pkt in enumerate(raw):
        ticks = n * 256  # a quarter second apart
        out.append((epb(0, ticks, pkt, be), spb(pkt, be), old_pb(0, ticks, pkt, be))[n % 3])
    out.append(block(0x00000BAD, struct.pack(be + "I", 32473) + b"custom", be))
    return b"".join(out)


# --------------------------------------------------------------------------- frames


def a(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


def tcp(sport: int, dport: int, flags: int, seq: int = 1000, ack: int = 0) -> bytes:
    opts = OPTS if flags & SYN else b""
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 64240, 0, 0) + opts


def ip6(src: str, dst: str, nh: int, payload: bytes, hops: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hops, a(src), a(dst)) + payload


def ext(nh: int, length8: int = 0) -> bytes:
    """Hop-by-hop / routing / destination options header: next header, length, padding."""
    return bytes((nh, length8)) + b"\x01\x04\x00\x00\x00\x00" + b"\x00" * (8 * length8)


def frag_first(nh: int) -> bytes:
    return struct.pack("!BBHI", nh, 0, 0x0001, 0xC0FFEE)  # offset 0, more fragments


def ah(nh: int) -> bytes:
    return struct.pack("!BBHII", nh, 4, 0, 0x100, 1) + b"\x00" * 12  # (4 + 2) * 4 = 24 bytes


def eth6(pkt: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x86\xdd" + pkt


def ipv6_extensions(t0: int) -> list[tuple[int, int, bytes]]:
    """Each outcome over IPv6, behind a different chain of extension headers, a second apart
    from ``t0`` on."""
    c, s, r = "2001:2::2", "2001:2:0:1::10", "2001:2::1"
    frames: list[bytes] = []
    # ok: hop-by-hop then destination options before TCP
    frames += [
        ip6(c, s, 0, ext(60) + ext(6, 1) + tcp(40000, 443, SYN)),
        ip6(s, c, 6, tcp(443, 40000, SYN_ACK, 5000, 1001), hops=63),
        ip6(c, s, 43, ext(6) + tcp(40000, 443, ACK, 1001, 5001)),  # routing header
    ]
    # refused: a first fragment (offset 0) carrying the SYN, then the RST behind AH
    frames += [
        ip6(c, s, 44, frag_first(6) + tcp(40001, 81, SYN)),
        ip6(s, c, 51, ah(6) + tcp(81, 40001, RST_ACK, 0, 1001), hops=63),
    ]
    # rejected: ICMPv6 admin-prohibited quoting a SYN sent with a hop-by-hop header
    syn = ip6(c, s, 0, ext(6) + tcp(40002, 3389, SYN))
    frames += [syn, ip6(r, c, 58, struct.pack("!BBHI", 1, 1, 0, 0) + syn, hops=64)]
    # unanswered: the triple SYN behind a destination options header
    frames += [ip6(c, s, 60, ext(6) + tcp(40003, 8443, SYN))] * 3
    # a later fragment: no transport header in it, skipped
    frames.append(ip6(c, s, 44, struct.pack("!BBHI", 6, 0, 0x0101, 7) + b"\x00" * 16))
    return [(t0 + n, 0, eth6(f)) for n, f in enumerate(frames)]


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def ip4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, ttl, proto, 0,
                       a(src), a(dst))  # fmt: skip
    return head + payload


def eth4(pkt: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + pkt


def udp_flows(t0: int) -> list[tuple[int, int, bytes]]:
    """Each UDP outcome, IPv4 and IPv6, a quarter second apart from ``t0`` on: a DNS query and
    its answer (ok), a closed port's ICMP port unreachable from the server (refused), a
    router's ICMP admin-prohibited (rejected) and host unreachable (unreachable), an NTP
    request sent three times (unanswered), syslog (one-way), mDNS to a multicast group (left
    out), a TFTP read answered from a new port, ICMPv6 port unreachable quoting a datagram."""
    c, s, r, dns = "198.18.50.1", "198.18.50.2", "198.18.50.254", "198.18.51.53"
    c6, s6 = "2001:2::2", "2001:2:0:1::10"
    query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x03web\x05probe\x04test\x00"
    query += struct.pack("!HH", 1, 1)  # A, IN
    answer = (
        query[:2]
        + b"\x81\x80"
        + query[4:]
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04"
        + a(s)
    )
    closed = ip4(c, s, 17, udp(40001, 9002, b"hello"))
    prohibited = ip4(c, "198.18.56.10", 17, udp(40002, 161, b"\x30" * 40))
    unreachable = ip4(c, "198.18.54.10", 17, udp(40003, 53, query))
    ntp = b"\x23" + b"\x00" * 47
    v6_closed = ip6(c6, s6, 17, udp(40006, 9002, b"hello"))
    frames = [
        ip4(c, dns, 17, udp(40000, 53, query)),
        ip4(dns, c, 17, udp(53, 40000, answer), ttl=63),
        closed,
        ip4(s, c, 1, struct.pack("!BBHI", 3, 3, 0, 0) + closed[:28], ttl=63),
        prohibited,
        ip4(r, c, 1, struct.pack("!BBHI", 3, 13, 0, 0) + prohibited[:28]),
        unreachable,
        ip4(r, c, 1, struct.pack("!BBHI", 3, 1, 0, 0) + unreachable[:28]),
        *[ip4(c, "198.18.55.10", 17, udp(40004, 123, ntp))] * 3,
        ip4(c, s, 17, udp(40005, 514, b"<13>probe fuzz seed")),
        ip4(c, "224.0.0.251", 17, udp(5353, 5353, query), ttl=255),
        ip4(c, s, 17, udp(40007, 69, b"\x00\x01seed.bin\x00octet\x00")),
        ip4(s, c, 17, udp(50000, 40007, b"\x00\x03\x00\x01" + b"d" * 20), ttl=63),
        ip4(c, s, 17, udp(40007, 50000, b"\x00\x04\x00\x01")),
        v6_closed,
        ip6(s6, c6, 58, struct.pack("!BBHI", 1, 4, 0, 0) + v6_closed, hops=63),
    ]
    out = []
    for n, f in enumerate(frames):
        sec, quarter = divmod(n, 4)
        out.append((t0 + sec, quarter * 250_000, eth6(f) if f[0] >> 4 == 6 else eth4(f)))
    return out


def tagged(frames: list[tuple[int, int, bytes]], tags: bytes) -> list[tuple[int, int, bytes]]:
    """The frames with VLAN tags put between the MAC addresses and the EtherType."""
    return [(s, f, d[:12] + tags + d[12:]) for s, f, d in frames]


def null_loopback(frames: list[tuple[int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """BSD loopback (link type 0): the address family in the host's byte order (here
    little-endian: 2 for IPv4, 30 for IPv6 as macOS writes it)."""
    out = []
    for s, f, d in frames:
        family = 30 if d[12:14] == b"\x86\xdd" else 2
        out.append((s, f, struct.pack("<I", family) + d[14:]))
    return out


def raw_ip(frames: list[tuple[int, int, bytes]]) -> bytes:
    """The IP packets through probe's own --pcap writer (link type raw IP)."""
    from probe.capture.writer import PcapWriter

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.pcap"
        with PcapWriter(path) as w:
            for s, u, d in frames:
                w.write(s + u / 1e6, d[14:])
        return path.read_bytes()


def build(seeds: Path = SEEDS) -> dict[str, bytes]:
    """The built seeds, by file name, from the recorded ones in ``seeds``."""
    _, eth = pcap_frames((seeds / "eth.pcap").read_bytes())
    _, sll2 = pcap_frames((seeds / "sll2-nano.pcap").read_bytes())
    v6 = ipv6_extensions(eth[-1][0] + 1)
    eth_nano = [(sec, usec * 1000, d) for sec, usec, d in eth]
    return {
        "vlan.pcap": pcap(1, tagged(eth, b"\x81\x00\x00\x0a")),
        "qinq-nano.pcap": pcap(1, tagged(eth_nano, b"\x88\xa8\x00\x14\x81\x00\x00\x1e"), nano=True),
        "raw-ip.pcap": raw_ip(eth),
        "multi-section.pcapng": multi_section(eth, sll2),
        "ipv6-extensions.pcap": pcap(1, v6),
        "null-loopback.pcap": pcap(0, null_loopback(eth + v6)),
        "udp.pcap": pcap(1, udp_flows(eth[0][0])),
    }


def main() -> int:
    for name, data in build().items():
        (SEEDS / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
