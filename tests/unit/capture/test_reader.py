"""Capture files: the pcap writer behind --pcap and the streaming pcap / pcapng reader behind
probe analyze. Files are built here byte by byte with struct (and, as an independent writer,
with scapy), so the reader is checked against the formats, not against itself."""

from __future__ import annotations

import gzip
import io
import socket
import struct
import threading
from pathlib import Path

import pytest

from probe.capture import packets, times, writer
from probe.capture import reader as capture
from probe.capture.packets import IcmpRecord, TcpSegment, Tick
from probe.capture.writer import PcapWriter
from probe.errors import BadInput, CaptureError

CLIENT, SERVER, ROUTER = "198.18.0.2", "198.18.1.10", "198.18.0.1"
CLIENT6, SERVER6, ROUTER6 = "2001:2::2", "2001:2:0:1::10", "2001:2::1"
SYN, SYN_ACK, RST_ACK, ACK = 0x02, 0x12, 0x14, 0x10
OPTS = bytes.fromhex("020405b4 0402 01030307 0101")  # MSS 1460, SACK, WS 7, padding


def a4(s: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, s)


def a6(s: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, s)


# --------------------------------------------------------------------------- packet builders


def tcp(
    sport: int, dport: int, flags: int, seq: int = 1000, ack: int = 0, opts: bytes = b""
) -> bytes:
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, 64240, 0, 0) + opts


def ip4(
    src: str, dst: str, payload: bytes, proto: int = 6, ttl: int = 64, frag: int = 0x4000
) -> bytes:
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, ttl, proto, 0, a4(src), a4(dst)
    )
    return head + payload


def ip6(src: str, dst: str, payload: bytes, nh: int = 6, hops: int = 64) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hops, a6(src), a6(dst)) + payload


def syn4(ttl: int = 64, sport: int = 40000, dport: int = 80) -> bytes:
    return ip4(CLIENT, SERVER, tcp(sport, dport, SYN, opts=OPTS), ttl=ttl)


def icmp4_error(typ: int, code: int, quoted: bytes, src: str = ROUTER) -> bytes:
    return ip4(src, CLIENT, struct.pack("!BBHI", typ, code, 0, 0) + quoted[:28], proto=1)


def icmp6_error(typ: int, code: int, quoted: bytes, src: str = ROUTER6) -> bytes:
    return ip6(src, CLIENT6, struct.pack("!BBHI", typ, code, 0, 0) + quoted, nh=58)


def ether(pkt: bytes, vlan: bool = False) -> bytes:
    etype = b"\x86\xdd" if pkt[0] >> 4 == 6 else b"\x08\x00"
    tag = b"\x81\x00\x00\x05" if vlan else b""
    return b"\x02" * 6 + b"\x04" * 6 + tag + etype


def eth(pkt: bytes, vlan: bool = False) -> bytes:
    return ether(pkt, vlan) + pkt


def sll(pkt: bytes) -> bytes:
    proto = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, proto) + pkt


def sll2(pkt: bytes) -> bytes:
    proto = 0x86DD if pkt[0] >> 4 == 6 else 0x0800
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, b"\x02" * 8) + pkt


def null(pkt: bytes, family: int, order: str) -> bytes:
    return struct.pack(order + "I", family) + pkt


# --------------------------------------------------------------------------- file builders


def pcap_file(
    frames: list[tuple[float, bytes]], link: int = 1, order: str = "<", nano: bool = False
) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, link)]
    for ts, data in frames:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nano else 1e6))
        out.append(struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data)
    return b"".join(out)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str = "<") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    return block(0x0A0D0D0A, body, order)


def idb(link: int, order: str = "<", tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(9, bytes((tsresol,)), order)
    if tsoffset:
        opts += option(14, struct.pack(order + "q", tsoffset), order)
    if opts:
        opts += option(0, b"", order)
    return block(1, struct.pack(order + "HHI", link, 0, 0) + opts, order)


def epb(iface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    head = struct.pack(
        order + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(6, head + data, order)


def spb(data: bytes, order: str = "<") -> bytes:
    return block(3, struct.pack(order + "I", len(data)) + data, order)


def old_pb(iface: int, ticks: int, data: bytes, order: str = "<") -> bytes:
    head = struct.pack(
        order + "HHIIII", iface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(2, head + data, order)


def write(tmp_path: Path, data: bytes, name: str = "cap.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_frames(path: Path) -> tuple[list[tuple[float, int, bytes]], capture.CaptureInfo]:
    with capture.open_capture(path) as cap:
        frames = list(cap.frames())
    return frames, cap.info


def read_records(path: Path) -> tuple[list[packets.Record], capture.CaptureInfo]:
    with capture.open_capture(path) as cap:
        records = list(cap.records())
    return records, cap.info


# --------------------------------------------------------------------------- writer


def test_writer_writes_raw_ip_pcap_that_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "out.pcap"
    v4 = syn4()
    v6 = ip6(CLIENT6, SERVER6, tcp(40000, 443, SYN))
    with PcapWriter(path) as w:
        w.write(1700000000.25, v4, True)
        w.write(1700000000.5, v6, False)
    raw = path.read_bytes()
    magic, major, minor, _, _, snaplen, link = struct.unpack_from("<IHHiIII", raw)
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, writer.LINKTYPE_RAW)
    assert snaplen >= 65535
    frames, info = read_frames(path)
    assert [(ts, data) for ts, _, data in frames] == [(1700000000.25, v4), (1700000000.5, v6)]
    assert info.packets == 2 and not info.truncated and w.packets == 2


def test_writer_file_is_valid_after_every_packet_without_close(tmp_path: Path) -> None:
    path = tmp_path / "live.pcap"
    w = PcapWriter(path)
    try:
        for n in range(1, 4):
            w.write(1700000000.0 + n, syn4(ttl=n), True)
            frames, info = read_frames(path)  # another reader, while the writer is open
            assert len(frames) == n and not info.truncated
            assert frames[-1][2][8] == n  # the TTL of the last packet written
    finally:
        w.close()
    w.write(1.0, syn4(), True)  # after close: dropped, no error
    assert read_frames(path)[1].packets == 3


def test_scapy_reads_the_writers_file(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap

    path = tmp_path / "out.pcap"
    with PcapWriter(path) as w:
        w.write(1700000000.123456, syn4(ttl=57), True)
    pkts = rdpcap(str(path))
    assert len(pkts) == 1
    assert pkts[0][IP].src == CLIENT and pkts[0][IP].ttl == 57 and pkts[0][TCP].dport == 80
    assert abs(float(pkts[0].time) - 1700000000.123456) < 1e-6


def test_writer_on_an_unwritable_path_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot write the capture file"):
        PcapWriter(tmp_path / "no-such-dir" / "x.pcap")


def test_recording_gives_the_packet_log_and_notes_an_empty_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.pcap"
    with writer.recording(path) as log:
        assert log is not None
        log(1.0, syn4(), True)
    assert read_frames(path)[1].packets == 1
    assert capsys.readouterr().err == ""
    with writer.recording(path):
        pass  # connect() mode: nothing logged
    err = capsys.readouterr().err
    assert "holds no packets" in err and "connect()" in err and len(err.splitlines()) == 1
    with writer.recording(None) as nothing:
        assert nothing is None


# --------------------------------------------------------------------------- pcap reader


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    ts = 1700000000.123457
    path = write(tmp_path, pcap_file([(ts, eth(syn4()))], order=order, nano=nano))
    frames, info = read_frames(path)
    assert len(frames) == 1 and frames[0][1] == packets.LINKTYPE_ETHERNET
    assert abs(frames[0][0] - ts) < 1e-6
    assert info.format == "pcap" and info.link_names == ("Ethernet",)


def test_pcap_reads_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture, "CHUNK", 37)  # smaller than one record: every case of a split
    pkts = [(1.0 + i, eth(syn4(ttl=1 + i % 200))) for i in range(300)]
    frames, info = read_frames(write(tmp_path, pcap_file(pkts)))
    assert [d for _, _, d in frames] == [d for _, d in pkts]
    assert info.packets == 300 and info.first_ts == 1.0 and info.last_ts == 300.0


def test_reading_streams_instead_of_loading_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, pcap_file([(float(i), eth(syn4())) for i in range(20000)]))
    assert path.stat().st_size > 100 * 4096  # a hundred chunks' worth
    monkeypatch.setattr(capture, "CHUNK", 4096)
    reads: list[int] = []
    real_open = open

    def counting_open(p: object, mode: str = "r", *a: object, **k: object) -> object:
        f = real_open(p, mode, *a, **k)  # type: ignore[call-overload]
        if "b" in mode and "r" in mode:
            return _Counting(f, reads)
        return f

    monkeypatch.setattr("builtins.open", counting_open)
    with capture.open_capture(path) as cap:
        it = cap.frames()
        next(it)
        assert sum(reads) <= 2 * 4096  # the first packet came after reading one chunk or two
        rest = sum(1 for _ in it)
    assert rest == 19999 and max(reads) <= 4096


class _Counting(io.RawIOBase):
    def __init__(self, f: io.BufferedReader, reads: list[int]) -> None:
        self.f, self.reads = f, reads

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.reads.append(len(data))
        return data

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------- pcapng reader


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_interfaces_resolutions_and_block_kinds(tmp_path: Path, order: str) -> None:
    v4, v6 = syn4(), ip6(CLIENT6, SERVER6, tcp(40000, 443, SYN))
    data = b"".join(
        [
            shb(order),
            idb(packets.LINKTYPE_ETHERNET, order),  # 0: microseconds (the default)
            idb(packets.LINKTYPE_LINUX_SLL2, order, tsresol=9),  # 1: nanoseconds
            idb(packets.LINKTYPE_RAW, order, tsresol=0x80 | 10, tsoffset=1000),  # 2: 2^-10 s
            block(4, b"\x00" * 8, order),  # name resolution block: skipped
            epb(0, 1_700_000_000_250_000, eth(v4), order),
            epb(1, 1_700_000_000_500_000_000, sll2(v6), order),
            epb(2, 3 * 1024 + 512, v4, order),
            block(5, struct.pack(order + "III", 0, 0, 0), order),  # statistics: skipped
            old_pb(0, 1_700_000_001_000_000, eth(v4), order),
        ]
    )
    frames, info = read_frames(write(tmp_path, data, "cap.pcapng"))
    assert [(round(ts, 6), link) for ts, link, _ in frames] == [
        (1700000000.25, 1),
        (1700000000.5, 276),
        (1003.5, 101),
        (1700000001.0, 1),
    ]
    assert [d for _, _, d in frames] == [eth(v4), sll2(v6), v4, eth(v4)]
    assert info.format == "pcapng" and info.link_types == (1, 276, 101)


def test_pcapng_sections_restart_interfaces_and_byte_order(tmp_path: Path) -> None:
    data = b"".join(
        [
            shb("<"),
            idb(packets.LINKTYPE_ETHERNET, "<"),
            epb(0, 1_000_000, eth(syn4()), "<"),
            shb(">"),
            idb(packets.LINKTYPE_RAW, ">"),
            epb(0, 2_000_000, syn4(), ">"),
            spb(syn4(ttl=9), ">"),  # no timestamp: the previous packet's
        ]
    )
    frames, _ = read_frames(write(tmp_path, data, "cap.pcapng"))
    assert [(ts, link) for ts, link, _ in frames] == [(1.0, 1), (2.0, 101), (2.0, 101)]
    assert frames[2][2][8] == 9


def test_scapy_written_pcapng_reads(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter

    path = tmp_path / "scapy.pcapng"
    pkt = Ether() / IP(src=CLIENT, dst=SERVER, ttl=61) / TCP(sport=41000, dport=8443, flags="S")
    pkt.time = 1700000000.5
    with PcapNgWriter(str(path)) as w:
        w.write(pkt)
    records, info = read_records(path)
    assert info.format == "pcapng" and info.packets == 1
    (r,) = records
    assert isinstance(r, TcpSegment)
    assert (r.src, r.dst, r.sport, r.dport, r.flags, r.ttl) == (
        a4(CLIENT),
        a4(SERVER),
        41000,
        8443,
        SYN,
        61,
    )
    assert abs(r.ts - 1700000000.5) < 1e-6


# --------------------------------------------------------------------------- decoding


def _frame(kind: str, pkt: bytes) -> tuple[int, bytes]:
    if kind == "ethernet":
        return packets.LINKTYPE_ETHERNET, eth(pkt)
    if kind == "vlan":
        return packets.LINKTYPE_ETHERNET, eth(pkt, vlan=True)
    if kind == "raw":
        return packets.LINKTYPE_RAW, pkt
    if kind == "sll":
        return packets.LINKTYPE_LINUX_SLL, sll(pkt)
    if kind == "sll2":
        return packets.LINKTYPE_LINUX_SLL2, sll2(pkt)
    family = 2 if pkt[0] >> 4 == 4 else 30
    if kind == "null-le":
        return packets.LINKTYPE_NULL, null(pkt, family, "<")
    if kind == "null-be":
        return packets.LINKTYPE_NULL, null(pkt, family, ">")
    assert kind == "loop"
    return packets.LINKTYPE_LOOP, null(pkt, family, ">")


LINKS = ["ethernet", "vlan", "raw", "sll", "sll2", "null-le", "null-be", "loop"]


@pytest.mark.parametrize("kind", LINKS)
@pytest.mark.parametrize("family", [4, 6])
def test_every_link_type_decodes_tcp(tmp_path: Path, kind: str, family: int) -> None:
    if family == 4:
        pkt = ip4(SERVER, CLIENT, tcp(80, 40000, SYN_ACK, 7, 1001, OPTS), ttl=63)
        src, dst = a4(SERVER), a4(CLIENT)
    else:
        pkt = ip6(SERVER6, CLIENT6, tcp(80, 40000, SYN_ACK, 7, 1001, OPTS), hops=63)
        src, dst = a6(SERVER6), a6(CLIENT6)
    link, frame = _frame(kind, pkt)
    records, info = read_records(write(tmp_path, pcap_file([(5.0, frame)], link=link)))
    ipid = 1 if family == 4 else 0  # ip4() numbers its packets 1; IPv6 has no IP ID
    assert records == [
        TcpSegment(5.0, src, dst, 80, 40000, SYN_ACK, 7, 1001, 63, 64240, OPTS, ipid)
    ]
    assert info.tcp == 1 and info.skipped == 0


def test_non_tcp_and_later_fragments_are_skipped(tmp_path: Path) -> None:
    udp = ip4(CLIENT, SERVER, b"\x00" * 8, proto=17)
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\x00" * 28
    later_fragment = ip4(CLIENT, SERVER, b"\x00" * 20, frag=0x2000 | 185)
    echo = ip4(CLIENT, SERVER, struct.pack("!BBHI", 8, 0, 0, 0), proto=1)
    frames = [(1.0, eth(udp)), (2.0, arp), (3.0, eth(later_fragment)), (4.0, eth(echo))]
    frames.append((5.0, eth(syn4())))
    records, info = read_records(write(tmp_path, pcap_file(frames)))
    assert len(records) == 1 and info.skipped == 4 and info.packets == 5


def test_ipv6_extension_headers_are_walked(tmp_path: Path) -> None:
    seg = tcp(40000, 80, SYN)
    hop_by_hop = bytes((60, 0)) + b"\x01\x04\x00\x00\x00\x00"  # next: destination options
    dest_opts = bytes((6, 0)) + b"\x01\x04\x00\x00\x00\x00"  # next: TCP
    first_fragment = bytes((6, 0, 0, 1)) + b"\x00\x00\x00\x2a"  # offset 0, more fragments
    later_fragment = bytes((6, 0, 0x05, 0x00)) + b"\x00\x00\x00\x2a"  # offset 160
    frames = [
        (1.0, ip6(CLIENT6, SERVER6, hop_by_hop + dest_opts + seg, nh=0)),
        (2.0, ip6(CLIENT6, SERVER6, first_fragment + seg, nh=44)),
        (3.0, ip6(CLIENT6, SERVER6, later_fragment + seg, nh=44)),
    ]
    records, info = read_records(write(tmp_path, pcap_file(frames, link=101)))
    assert [(r.ts, r.dport) for r in records if isinstance(r, TcpSegment)] == [(1.0, 80), (2.0, 80)]
    assert info.skipped == 1


def test_icmp_errors_quoting_tcp(tmp_path: Path) -> None:
    quoted4 = ip4(CLIENT, SERVER, tcp(40000, 8443, SYN, seq=4242))
    quoted6 = ip6(CLIENT6, SERVER6, tcp(40001, 8444, SYN, seq=4343))
    not_tcp = ip4(CLIENT, SERVER, b"\x00" * 8, proto=17)
    frames = [
        (1.0, eth(icmp4_error(3, 13, quoted4))),
        (2.0, eth(icmp6_error(1, 4, quoted6))),
        (3.0, eth(icmp4_error(11, 0, quoted4))),
        (4.0, eth(icmp4_error(3, 3, not_tcp))),  # quotes UDP: not ours to analyse
    ]
    records, info = read_records(write(tmp_path, pcap_file(frames)))
    assert records == [
        IcmpRecord(1.0, a4(ROUTER), 64, False, 3, 13, a4(CLIENT), a4(SERVER), 40000, 8443, 4242),
        # IPv6 quotes the whole segment: its flags too (IPv4's 8 bytes here stop before them)
        IcmpRecord(
            2.0, a6(ROUTER6), 64, True, 1, 4, a6(CLIENT6), a6(SERVER6), 40001, 8444, 4343, SYN
        ),
        IcmpRecord(3.0, a4(ROUTER), 64, False, 11, 0, a4(CLIENT), a4(SERVER), 40000, 8443, 4242),
        Tick(4.0),  # the last packet is skipped, but the capture ends there (issue 17)
    ]
    assert info.icmp_errors == 3 and info.skipped == 1


def test_options_only_on_syn_segments(tmp_path: Path) -> None:
    data = ip4(CLIENT, SERVER, tcp(40000, 80, ACK, opts=b"\x01\x01\x08\x0a" + b"\x00" * 8))
    (r,), _ = read_records(write(tmp_path, pcap_file([(1.0, data)], link=101)))
    assert isinstance(r, TcpSegment) and r.options == b""


def test_unknown_link_type_is_counted_not_decoded(tmp_path: Path) -> None:
    records, info = read_records(write(tmp_path, pcap_file([(1.0, syn4())], link=147)))
    assert records == [Tick(1.0)] and info.skipped == 1
    assert info.link_names == ("link type 147",)
    assert info.unknown_links == ((147, 1),)
    assert info.remarks[0].startswith("1 packet skipped: link type 147 unknown")


def test_gzip_compressed_captures_are_read_and_cut_ones_up_to_the_cut(tmp_path: Path) -> None:
    frames = [(float(i), eth(syn4(sport=40000 + i))) for i in range(3)]
    packed = gzip.compress(pcap_file(frames))
    records, info = read_records(write(tmp_path, packed))
    assert [r.sport for r in records if isinstance(r, TcpSegment)] == [40000, 40001, 40002]
    assert info.compressed and info.format == "pcap" and not info.truncated
    records, info = read_records(write(tmp_path, packed[:-12]))  # the gzip trailer cut off
    assert info.truncated and "compressed data ends early" in (info.problem or "")


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\n", "not a capture file"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 40, "damaged gzip-compressed file"),
        (gzip.compress(b"hello"), "not a capture file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "cut off inside its pcap header"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00", "cut off inside its pcapng header"),
        (pcap_file([]), "without any packet"),
        (pcap_file([(1.0, eth(syn4()))])[:40], "before its first packet"),
        (shb() + idb(1) + epb(0, 1, eth(syn4()))[:30], "before its first packet"),
        (shb()[:-4] + b"\x00\x00\x00\x00" * 3, "before its first packet"),
    ],
)
def test_not_a_usable_capture_is_a_capture_error(tmp_path: Path, data: bytes, words: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(CaptureError, match=words):
        read_frames(path)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="directory"):
        capture.open_capture(tmp_path)
    with pytest.raises(CaptureError, match="cannot read"):
        capture.open_capture(tmp_path / "missing.pcap")


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncated_tail_keeps_what_was_read(tmp_path: Path, fmt: str) -> None:
    frames = [(float(i), eth(syn4())) for i in range(1, 11)]
    if fmt == "pcap":
        data = pcap_file(frames)
    else:
        data = shb() + idb(1) + b"".join(epb(0, int(ts * 1e6), d) for ts, d in frames)
    read, info = read_frames(write(tmp_path, data[:-7]))
    assert len(read) == 9 and info.packets == 9
    assert info.truncated and info.problem is not None and "middle" in info.problem


def test_damaged_record_length_stops_reading(tmp_path: Path) -> None:
    good = pcap_file([(1.0, eth(syn4())), (2.0, eth(syn4()))])
    bad = good + struct.pack("<IIII", 3, 0, 0x7FFFFFFF, 60) + b"\x00" * 60
    read, info = read_frames(write(tmp_path, bad))
    assert len(read) == 2 and info.truncated and "damaged" in (info.problem or "")


def test_a_capture_is_read_once(tmp_path: Path) -> None:
    with capture.open_capture(write(tmp_path, pcap_file([(1.0, eth(syn4()))]))) as cap:
        list(cap.frames())
        with pytest.raises(RuntimeError):
            list(cap.frames())


def short_block(btype: int, length: int, order: str = "<") -> bytes:
    """A block whose length field says ``length`` (12 to 28), with as many bytes as it says."""
    return struct.pack(order + "II", btype, length) + b"\x01" * (length - 8)


_SHORTEST = {6: 32, 2: 32, 1: 20, 3: 16}  # enhanced, obsolete, interface, simple packet


@pytest.mark.parametrize(
    ("btype", "length"),
    [(t, n) for t, shortest in _SHORTEST.items() for n in range(12, shortest, 4)],
)
@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_block_too_short_for_its_fields_is_damage(
    tmp_path: Path, btype: int, length: int, order: str
) -> None:
    # Found by fuzzing: a packet or interface block shorter than its own fixed fields, ending
    # the file, was read past the end of the buffer (struct.error: a traceback).
    good = shb(order) + idb(1, order) + epb(0, 1_000_000, eth(syn4()), order)
    frames, info = read_frames(write(tmp_path, good + short_block(btype, length, order)))
    assert len(frames) == 1 and info.truncated
    assert info.problem == f"a damaged block at byte {len(good)}"
    # Alone after the headers: a damaged file before its first packet, exit 2.
    alone = write(tmp_path, shb(order) + idb(1, order) + short_block(btype, length, order))
    with pytest.raises(CaptureError, match="damaged block at byte 48, before its first"):
        read_frames(alone)


@pytest.mark.parametrize(
    ("tsresol", "tsoffset", "ticks"),
    [
        (0x80, 0, (1 << 64) - 1),  # 2^0 s per tick: 2^64 seconds
        (0, 0, 1 << 62),  # 10^0 s per tick
        (6, (1 << 63) - 1, 0),  # an offset of 2^63 - 1 seconds
        (6, -(1 << 63), 0),  # and of -2^63
    ],
)
def test_pcapng_timestamps_outside_every_calendar_are_counted(
    tmp_path: Path, tsresol: int, tsoffset: int, ticks: int
) -> None:
    data = shb() + idb(1, tsresol=tsresol, tsoffset=tsoffset) + epb(0, ticks, eth(syn4()))
    data += idb(1) + epb(1, 1_700_000_000_000_000, eth(syn4()))
    frames, info = read_frames(write(tmp_path, data, "cap.pcapng"))
    assert len(frames) == 2 and info.bad_times == 1
    assert info.first_ts == frames[0][0] and not -1e11 < frames[0][0] < 1e12


def test_pcapng_negative_offset_is_a_date_before_1970(tmp_path: Path) -> None:
    data = shb() + idb(1, tsoffset=-100_000_000) + epb(0, 123_456, eth(syn4()))
    frames, info = read_frames(write(tmp_path, data, "cap.pcapng"))
    assert info.bad_times == 0
    assert times.iso(frames[0][0]) == "1966-10-31T14:13:20.123456Z"
    assert times.clock(frames[0][0]) == "1966-10-31 14:13:20.123 UTC"


@pytest.mark.parametrize(
    ("ts", "iso", "clock"),
    [
        (1_700_000_000.5, "2023-11-14T22:13:20.500000Z", "2023-11-14 22:13:20.500 UTC"),
        (-1.25, "1969-12-31T23:59:58.750000Z", "1969-12-31 23:59:58.750 UTC"),
        (times.START, "0001-01-01T00:00:00.000000Z", "0001-01-01 00:00:00.000 UTC"),
        (times.END - 1, "9999-12-31T23:59:59.000000Z", "9999-12-31 23:59:59.000 UTC"),
        (times.END, None, None),
        (times.START - 1, None, None),
        (2.0**64, None, None),
        (-(2.0**63), None, None),
        (float("nan"), None, None),
    ],
)
def test_timestamps_are_iso_dates_or_none(ts: float, iso: str | None, clock: str | None) -> None:
    assert times.iso(ts) == iso and times.clock(ts) == clock


def test_a_read_error_mid_file_keeps_what_was_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, pcap_file([(float(i), eth(syn4())) for i in range(200)]))
    monkeypatch.setattr(capture, "CHUNK", 4096)
    with capture.open_capture(path) as cap:
        cap._file = _Failing(cap._file)  # type: ignore[assignment]
        frames = list(cap.frames())
    assert 0 < len(frames) < 200
    assert cap.info.truncated and cap.info.problem == "a read error: Input/output error"


class _Failing(io.RawIOBase):
    def __init__(self, f: io.BufferedReader) -> None:
        self.f = f

    def read(self, n: int = -1) -> bytes:
        raise OSError(5, "Input/output error")

    def close(self) -> None:
        self.f.close()


def test_a_set_cancel_event_stops_reading_at_the_next_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, pcap_file([(float(i), eth(syn4())) for i in range(2000)]))
    monkeypatch.setattr(capture, "CHUNK", 4096)
    cancel = threading.Event()
    with capture.open_capture(path, cancel) as cap:
        frames = []
        for frame in cap.frames():
            frames.append(frame)
            cancel.set()
    assert 0 < len(frames) < 100  # the first chunk, not the file
    assert cap.info.interrupted and not cap.info.truncated and cap.info.packets == len(frames)
    with capture.open_capture(path, cancel) as cap:  # set before the start: one chunk read
        assert len(list(cap.frames())) == len(frames)
    assert cap.info.interrupted
