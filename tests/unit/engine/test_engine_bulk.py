"""bulk.py against scapy and the per-packet code of tcp.py: the SYN rows are the builder's
bytes with scapy's checksums, the decoded columns are tcp.parse_v4/parse_v6's answers and
scapy's dissection (IPv4 and IPv6, odd and truncated packets), and the cookie index finds
the job a plain dictionary finds. Addresses: 198.18.0.0/15 and 2001:2::/48 only."""

from __future__ import annotations

import random
import socket
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from probe.engine import bulk, cookies, inet, tcp
from probe.engine.transport import Answer
from probe.model import AnswerKind, TcpOptions

U8 = npt.NDArray[np.uint8]

QUICK = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NET = 0xC6120000  # 198.18.0.0/15 (benchmarking): the only IPv4 addresses of these tests
ADDRESSES = st.integers(NET, NET + 0x1FFFF)
PORTS = st.integers(0, 0xFFFF)
TTLS = st.integers(0, 255)
U32S = st.integers(0, 0xFFFFFFFF)
EDGE32 = st.one_of(st.sampled_from([0, 1, 0xFFFFFFFF]), U32S)  # ack - 1 wraps at 0
US = "198.18.0.2"
V6_SRC = "2001:2::5"
KINDS = {AnswerKind.SYN_ACK: bulk.KIND_SYN_ACK, AnswerKind.RST: bulk.KIND_RST}


def dotted(a: int) -> str:
    return socket.inet_ntoa(a.to_bytes(4, "big"))


def as_int(address: str) -> int:
    return int.from_bytes(socket.inet_aton(address), "big")


def u32(values: list[int]) -> npt.NDArray[np.uint32]:
    return np.array(values, np.uint32)


def u16(values: list[int]) -> npt.NDArray[np.uint16]:
    return np.array(values, np.uint16)


def table(packets: list[bytes], slot: int, pad: int = 0) -> tuple[U8, npt.NDArray[np.int64]]:
    """Packets as rows of ``slot`` bytes (``pad`` after each one's end) and their lengths."""
    rows = np.full((len(packets), slot), pad, np.uint8)
    for k, pkt in enumerate(packets):
        rows[k, : len(pkt)] = np.frombuffer(pkt[:slot], np.uint8)
    return rows, np.array([len(p) for p in packets], np.int64)


# ------------------------------------------------------------------------------ checksums


@QUICK
@given(
    width=st.integers(0, 70),
    data=st.data(),
)
def test_word_sums_and_fold_are_inet_checksum(width: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 8))
    raw = [data.draw(st.binary(min_size=width, max_size=width)) for _ in range(n)]
    rows = np.frombuffer(b"".join(raw), np.uint8).reshape(n, width)
    start = data.draw(st.integers(0, width))
    end = data.draw(st.integers(start, width))
    sums = bulk.word_sums(rows, start, end)
    folded = bulk.fold(sums)
    assert folded.dtype == np.uint16 and sums.shape == folded.shape == (n,)
    for k in range(n):
        part = raw[k][start:end]
        assert int(folded[k]) == inet.inet_checksum(part)
        padded = part + b"\0" * (len(part) % 2)
        assert int(sums[k]) == inet.word_sum(padded)


@pytest.mark.parametrize("width", [1, 2, 3, 39, 40, 1500, 65535])
@pytest.mark.parametrize("byte", [0x00, 0x01, 0x80, 0xFF])
def test_checksums_of_uniform_rows_fold_their_carries(width: int, byte: int) -> None:
    rows = np.full((2, width), byte, np.uint8)
    expected = inet.inet_checksum(bytes([byte]) * width)
    assert bulk.fold(bulk.word_sums(rows, 0, width)).tolist() == [expected, expected]


# ------------------------------------------------------------------------------ building

PROBES = st.lists(st.tuples(ADDRESSES, ADDRESSES, PORTS, PORTS, EDGE32, TTLS), max_size=30)


def small_template() -> tcp.SynTemplate:
    """A SYN with MSS only (a 24-byte TCP header: another length in the pseudo-header)."""
    syn = bytearray(bytes(TCP(sport=0, dport=0, seq=0, flags="S", options=[("MSS", 1460)])))
    syn[16:18] = b"\0\0"
    ip = bytearray(bytes(IP(src="0.0.0.0", dst="0.0.0.0", ttl=64, id=0, flags="DF", proto=6)))
    ip[2:4] = ip[10:12] = b"\0\0"
    return tcp.SynTemplate(ip=bytes(ip), tcp=bytes(syn))


def a_template(tsval: int, small: bool) -> tcp.SynTemplate:
    return small_template() if small else tcp.syn_template(tsval)


def build(tpl: tcp.SynTemplate, probes: list[tuple[int, int, int, int, int, int]]) -> U8:
    src, dst, sport, dport, seq, ttl = (
        (list(c) for c in zip(*probes, strict=True)) if probes else ([[] for _ in range(6)])
    )
    return bulk.SynRows(tpl).build(
        u32(src), u32(dst), u16(sport), u16(dport), u32(seq), np.array(ttl, np.uint8)
    )


@QUICK
@given(probes=PROBES, tsval=U32S, small=st.booleans())
def test_bulk_syns_are_the_per_packet_builders_byte_for_byte(
    probes: list[tuple[int, int, int, int, int, int]], tsval: int, small: bool
) -> None:
    tpl = a_template(tsval, small)
    rows = build(tpl, probes)
    assert rows.dtype == np.uint8
    assert rows.shape == (len(probes), len(tpl.ip) + len(tpl.tcp))
    for row, (src, dst, sport, dport, seq, ttl) in zip(rows, probes, strict=True):
        one = tcp.SynBuilderV4(tpl, src.to_bytes(4, "big"), dst.to_bytes(4, "big"))
        assert row.tobytes() == one.build(sport, dport, seq, ttl)


@QUICK
@given(probes=PROBES.filter(bool), tsval=U32S, small=st.booleans())
def test_bulk_syns_carry_scapys_checksums_and_fields(
    probes: list[tuple[int, int, int, int, int, int]], tsval: int, small: bool
) -> None:
    tpl = a_template(tsval, small)
    rows = build(tpl, probes)
    for row, (src, dst, sport, dport, seq, ttl) in zip(rows, probes, strict=True):
        pkt = IP(row.tobytes())
        syn = pkt[TCP]
        assert (pkt.version, pkt.ihl, pkt.len, pkt.proto) == (4, 5, len(row), 6)
        assert (pkt.src, pkt.dst, pkt.ttl, pkt.id, str(pkt.flags)) == (
            dotted(src),
            dotted(dst),
            ttl,
            0,
            "DF",
        )
        assert (syn.sport, syn.dport, syn.seq, syn.ack, str(syn.flags)) == (
            sport,
            dport,
            seq,
            0,
            "S",
        )
        ours = (pkt.chksum, syn.chksum)
        del pkt.chksum
        del pkt[TCP].chksum
        again = IP(bytes(pkt))
        assert ours == (again.chksum, again[TCP].chksum)


@QUICK
@given(probes=PROBES.filter(bool), src=ADDRESSES, ttl=TTLS, numpy_scalar=st.booleans())
def test_a_scalar_source_and_ttl_are_broadcast_to_every_row(
    probes: list[tuple[int, int, int, int, int, int]], src: int, ttl: int, numpy_scalar: bool
) -> None:
    tpl = tcp.syn_template(7)
    columns = [(src, d, sp, dp, seq, ttl) for _, d, sp, dp, seq, _ in probes]
    _, dst, sport, dport, seq, _ = (list(c) for c in zip(*columns, strict=True))
    scalar_src: Any = np.uint32(src) if numpy_scalar else src
    scalar_ttl: Any = np.uint8(ttl) if numpy_scalar else ttl
    rows = bulk.SynRows(tpl).build(
        scalar_src, u32(dst), u16(sport), u16(dport), u32(seq), scalar_ttl
    )
    assert np.array_equal(rows, build(tpl, columns))
    assert (rows[:, 8] == ttl).all()
    assert all(row[12:16].tobytes() == src.to_bytes(4, "big") for row in rows)


# ------------------------------------------------------------------------------ decoding

LINUX = "linux"
LAYOUTS = ["linux", "windows", "none", "mss", "malformed", "random", "lookalike", "cut"]
MALFORMED = [
    b"\x02\x00\x05\xb4",  # zero length
    b"\x02\x01\x05\xb4",  # length 1
    b"\x02\x10\x05\xb4",  # longer than the options
    b"\x02\x03\x05\x01",  # MSS of the wrong length
    b"\x03\x04\x07\x01",  # window scale of the wrong length
    b"\x01\x01\x01\x03",  # a kind at the end, no length
    b"\x00\x02\x04\x05\xb4\x00\x00\x00",  # end of options first
    b"\x1e\x04\xaa\xbb\x02\x04\x05\xb4",  # an unknown kind, then MSS
    b"\x02\x04\x05\xb4\x08\x0a\x00\x00",  # a timestamp cut by its own length
    b"\x01\x02\x04\x05\xb4\x04\x02\x04\x02\x03\x03\x0e",  # odd alignment, SACK twice
]


LOOKALIKE = [
    b"\x01\x01\x01\x01\x02\x04\x08\x0a",  # MSS 2058 at 4: no timestamp
    b"\x03\x03\x07\x01\x02\x04\x08\x0a",  # window scale, NOP, MSS 2058
    b"\x02\x04\x05\xb4\x01\x02\x08\x0a",  # MSS, NOP, a 2-byte MSS option: malformed
    b"\x02\x04\x05\xb4\x01\x01\x08\x0a",  # MSS, NOP, NOP, a timestamp's kind and length
]


def linux_options(mss: int, wscale: int, tsval: int, tsecr: int) -> list[tuple[str, Any]]:
    return [
        ("MSS", mss),
        ("SAckOK", b""),
        ("Timestamp", (tsval, tsecr)),
        ("NOP", None),
        ("WScale", wscale),
    ]


@st.composite
def tcp_segments(draw: st.DrawFn, flags: st.SearchStrategy[int] | None = None) -> TCP:
    """A TCP answer as scapy builds it: random fields, one of LAYOUTS for its options."""
    fields: dict[str, Any] = {
        "sport": draw(PORTS),
        "dport": draw(PORTS),
        "seq": draw(EDGE32),
        "ack": draw(EDGE32),
        "window": draw(PORTS),
        "flags": draw(
            flags
            if flags is not None
            else st.one_of(
                st.sampled_from([0x12, 0x14, 0x04, 0x10, 0x02, 0x06, 0x16, 0x11, 0x52, 0x1C]),
                st.integers(0, 255),
            )
        ),
    }
    layout = draw(st.sampled_from(LAYOUTS))
    mss, wscale = draw(PORTS), draw(st.integers(0, 14))
    if layout == "linux":
        return TCP(**fields, options=linux_options(mss, wscale, draw(U32S), draw(U32S)))
    if layout == "windows":
        nop = ("NOP", None)
        opts = [("MSS", mss), nop, ("WScale", wscale), nop, nop, ("SAckOK", b"")]
        return TCP(**fields, options=opts)
    if layout == "none":
        return TCP(**fields)
    if layout == "mss":
        return TCP(**fields, options=[("MSS", mss)])
    if layout == "cut":  # the header says more options than the packet holds
        full = bytes(TCP(options=linux_options(mss, wscale, draw(U32S), draw(U32S))))[20:]
        raw = full[: draw(st.integers(0, len(full) - 1))]
        offset = draw(st.integers(5 + (len(raw) + 3) // 4, 15))
        return TCP(**fields, dataofs=offset) / Raw(raw) if raw else TCP(**fields, dataofs=offset)
    if layout == "malformed":
        raw = draw(st.sampled_from(MALFORMED))
    else:
        words = draw(st.integers(1, 10))
        raw = draw(st.binary(min_size=4 * words, max_size=4 * words))
        if layout == "lookalike":  # 08 0a where Linux's timestamp starts, maybe not one
            head = draw(st.sampled_from(LOOKALIKE))
            raw = (head + draw(VALID_OPTIONS))[:40]
    raw += bytes(-len(raw) % 4)
    return TCP(**fields, dataofs=5 + len(raw) // 4) / Raw(raw)


@st.composite
def ipv4_answers(draw: st.DrawFn) -> bytes:
    """An IPv4 packet carrying TCP, with 0 to 40 bytes of IP options (IHL 5 to 15)."""
    ip_options = draw(st.sampled_from([0, 4, 8, 20, 40]))
    ip = IP(
        src=dotted(draw(ADDRESSES)),
        dst=US,
        ttl=draw(TTLS),
        id=draw(PORTS),
        options=[IPOption(b"\x01" * ip_options)] if ip_options else [],
    )
    return bytes(ip / draw(tcp_segments()))


@st.composite
def other_packets(draw: st.DrawFn) -> bytes:
    """Packets that answer no SYN: UDP, ICMP, IPv6, an IPv4 header saying version 6, ..."""
    src = dotted(draw(ADDRESSES))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return bytes(
            IP(src=src, dst=US) / UDP(sport=draw(PORTS), dport=draw(PORTS)) / Raw(b"x" * 20)
        )
    if choice == 1:
        return bytes(
            IP(src=src, dst=US) / ICMP(type=draw(st.sampled_from([0, 3, 11]))) / Raw(bytes(28))
        )
    if choice == 2:
        return bytes(IPv6(src=V6_SRC, dst="2001:2::2") / TCP(flags="SA", ack=draw(U32S)))
    pkt = bytearray(bytes(IP(src=src, dst=US) / TCP(flags="SA", ack=draw(U32S))))
    pkt[0] = 0x60 | (pkt[0] & 0x0F)
    return bytes(pkt)


PACKETS = st.one_of(ipv4_answers(), ipv4_answers(), other_packets())


def check_row(d: bulk.Decoded, rows: U8, k: int, a: Answer | None, v4: bool = True) -> None:
    """Row ``k`` of ``d`` holds what the per-packet parser made of the same bytes."""
    if a is None:
        assert int(d.kind[k]) == bulk.KIND_NONE
        return
    assert int(d.kind[k]) == KINDS[a.kind]
    if v4:
        assert int(d.src[k]) == int.from_bytes(a.target, "big")
        assert int(d.ip_id[k]) == a.ip_id
    assert int(d.ttl[k]) == a.ttl
    assert (int(d.port[k]), int(d.sport[k]), int(d.tag[k])) == (a.port, a.sport, a.tag)
    assert int(d.window[k]) == a.window
    expected = a.options if a.kind is AnswerKind.SYN_ACK else TcpOptions()
    assert d.options(rows, k) == expected


def check_against_scapy(d: bulk.Decoded, k: int, segment: TCP, ip: IP | None) -> None:
    """Row ``k`` against scapy's dissection of the whole packet (a TCP answer)."""
    flags = int(segment.flags)
    if flags & tcp.TH_RST:
        kind = bulk.KIND_RST
    elif flags & 0x12 == 0x12:
        kind = bulk.KIND_SYN_ACK
    else:
        kind = bulk.KIND_NONE
    assert int(d.kind[k]) == kind
    if kind == bulk.KIND_NONE:
        return
    if ip is not None:
        assert int(d.src[k]) == as_int(ip.src)
        assert (int(d.ttl[k]), int(d.ip_id[k]), int(d.at[k])) == (ip.ttl, ip.id, ip.ihl * 4)
    tag = segment.seq if flags & 0x14 == 0x04 else (segment.ack - 1) % 2**32
    assert (int(d.port[k]), int(d.sport[k])) == (segment.sport, segment.dport)
    assert (int(d.tag[k]), int(d.window[k])) == (tag, segment.window)


@QUICK
@given(packets=st.lists(PACKETS, min_size=1, max_size=12), pad=st.sampled_from([0x00, 0xFF]))
def test_decode_v4_is_parse_v4_and_scapy_for_recorded_answers(
    packets: list[bytes], pad: int
) -> None:
    longest = max(40, *(len(p) for p in packets))
    for slot in (128, longest):  # a receive buffer, and rows exactly as long as the longest
        rows, lengths = table(packets, slot, pad)
        d = bulk.decode_v4(rows, lengths)
        assert d.kind.shape == d.src.shape == d.tag.shape == (len(packets),)
        for k, pkt in enumerate(packets):
            check_row(d, rows, k, tcp.parse_v4(pkt))
            ip = IP(pkt)
            if ip.version == 4 and ip.proto == 6:
                check_against_scapy(d, k, ip[TCP], ip)
    for pkt in packets:  # one packet alone, in a row as long as itself
        rows, lengths = table([pkt], max(40, len(pkt)), pad)
        check_row(bulk.decode_v4(rows, lengths), rows, 0, tcp.parse_v4(pkt))


@QUICK
@given(packets=st.lists(ipv4_answers(), min_size=1, max_size=8), data=st.data())
def test_decode_v4_of_truncated_random_answers(packets: list[bytes], data: st.DataObject) -> None:
    cut = [p[: data.draw(st.integers(0, len(p)))] for p in packets]
    rows, lengths = table(cut, 128, 0xFF)
    d = bulk.decode_v4(rows, lengths)
    for k, pkt in enumerate(cut):
        check_row(d, rows, k, tcp.parse_v4(pkt))


def recorded() -> list[bytes]:
    """Answers as scapy builds them, one of each sort the decoder tells apart."""
    ip = IP(src="198.18.1.10", dst=US, ttl=57, id=0xBEEF)
    linux = linux_options(1400, 7, 0xDEADBEEF, 0x01020304)
    nop = ("NOP", None)
    windows = [("MSS", 1460), nop, ("WScale", 8), nop, nop, ("SAckOK", b"")]
    return [
        bytes(ip / TCP(sport=443, dport=45001, flags="SA", ack=0, window=65160, options=linux)),
        bytes(ip / TCP(sport=3389, dport=45002, flags="SA", ack=0x12345671, options=windows)),
        bytes(ip / TCP(sport=80, dport=45003, flags="SA", ack=0xFFFFFFFF)),
        bytes(ip / TCP(sport=22, dport=45004, flags="SA", ack=17, options=[("MSS", 536)])),
        bytes(ip / TCP(sport=81, dport=45005, flags="RA", ack=0x80000000)),
        bytes(ip / TCP(sport=82, dport=45006, flags="R", seq=0xCAFEBABE, ack=5)),  # to an ACK
        bytes(ip / TCP(sport=83, dport=45007, flags="A", ack=5)),
        bytes(ip / TCP(sport=84, dport=45008, flags="S", seq=5)),
        bytes(ip / TCP(sport=85, dport=45009, flags="FA", ack=5)),
        bytes(ip / TCP(sport=86, dport=45010, flags="SA", dataofs=12) / Raw(b"\x02\x04\x05\xb4")),
        bytes(ip / TCP(sport=87, dport=45011, flags="SA", dataofs=6) / Raw(b"\x02\x00\x05\xb4")),
        bytes(
            IP(src="198.19.255.254", dst=US, ttl=1, id=0, options=[IPOption(b"\x01" * 40)])
            / TCP(sport=65535, dport=0, flags="SA", ack=1, options=linux)
        ),
        bytes(IP(src="198.18.0.1", dst=US, options=[IPOption(b"\x01" * 4)]) / TCP(flags="R")),
        bytes(IP(src="198.18.0.1", dst=US) / UDP(sport=53, dport=45012) / Raw(b"\0" * 30)),
        bytes(IP(src="198.18.0.1", dst=US) / ICMP(type=3, code=3) / Raw(bytes(28))),
    ]


RECORDED = recorded()


def test_the_recorded_answers_decode_to_the_kinds_they_are() -> None:
    rows, lengths = table(RECORDED, 128)
    d = bulk.decode_v4(rows, lengths)
    s, r, n = bulk.KIND_SYN_ACK, bulk.KIND_RST, bulk.KIND_NONE
    assert d.kind.tolist() == [s, s, s, s, r, r, n, n, n, s, s, s, r, n, n]
    assert d.tag[:6].tolist() == [0xFFFFFFFF, 0x12345670, 0xFFFFFFFE, 16, 0x7FFFFFFF, 0xCAFEBABE]
    assert d.options(rows, 0) == TcpOptions(1400, 7, True, True)
    assert d.options(rows, 1) == TcpOptions(1460, 8, True, False)
    assert d.options(rows, 9) == TcpOptions(mss=1460)  # 28 bytes of options said, 4 there
    assert d.options(rows, 10) == TcpOptions()
    assert (int(d.at[11]), int(d.src[11]), int(d.ttl[11])) == (60, as_int("198.19.255.254"), 1)
    assert int(d.at[12]) == 24
    for k, pkt in enumerate(RECORDED):
        check_row(d, rows, k, tcp.parse_v4(pkt))


@pytest.mark.parametrize("pad", [0x00, 0xFF])
@pytest.mark.parametrize("index", range(len(RECORDED)))
def test_decode_v4_of_a_packet_cut_at_every_length(index: int, pad: int) -> None:
    pkt = RECORDED[index]
    cuts = [pkt[:n] for n in range(len(pkt) + 1)]
    rows, lengths = table(cuts, max(40, len(pkt)), pad)
    d = bulk.decode_v4(rows, lengths)
    for k, cut in enumerate(cuts):
        check_row(d, rows, k, tcp.parse_v4(cut))
    assert (d.kind[:40] == bulk.KIND_NONE).all()  # nothing shorter than two headers answers


@pytest.mark.parametrize("index", range(len(RECORDED)))
def test_a_row_shorter_than_its_packet_is_read_as_far_as_it_goes(index: int) -> None:
    pkt = RECORDED[index]
    for slot in range(40, len(pkt) + 1):
        rows, _ = table([pkt], slot)
        d = bulk.decode_v4(rows, np.array([len(pkt)]))  # the length the kernel said
        check_row(d, rows, 0, tcp.parse_v4(pkt[:slot]))


@pytest.mark.parametrize("ihl", range(5))
def test_an_ipv4_header_shorter_than_20_bytes_answers_nothing(ihl: int) -> None:
    # From 198.18.x.y the source's second byte (0x12) reads as SYN+ACK at offset 13: a
    # header whose IHL is taken at its word would be a SYN/ACK read from the IP header.
    pkt = bytearray(bytes(IP(src="198.18.0.5", dst=US) / TCP(flags="A", ack=1)))
    pkt[0] = 0x40 | ihl
    rows, lengths = table([bytes(pkt)], 128)
    assert int(bulk.decode_v4(rows, lengths).kind[0]) == bulk.KIND_NONE


@pytest.mark.parametrize(("flags", "tag"), [("SR", 9), ("SRA", 99)])
def test_syn_with_rst_is_a_rst_as_parse_v4_says(flags: str, tag: int) -> None:
    # RFC 793, SYN-SENT: RST is checked before SYN (once a bulk/per-packet disagreement).
    pkt = bytes(
        IP(src="198.18.0.5", dst=US)
        / TCP(sport=80, dport=45000, flags=flags, seq=9, ack=100, options=[("MSS", 1460)])
    )
    rows, lengths = table([pkt], 128)
    d = bulk.decode_v4(rows, lengths)
    assert (int(d.kind[0]), int(d.tag[0])) == (bulk.KIND_RST, tag)
    check_row(d, rows, 0, tcp.parse_v4(pkt))


def test_options_that_only_look_like_linuxs_timestamp() -> None:
    # 08 0a at bytes 6..7 as an MSS option's value, not a timestamp's kind and length: the
    # bytes after it are options (once zeroed as timestamp values, losing the window scale).
    opts = b"\x01\x01\x01\x01\x02\x04\x08\x0a\x03\x03\x07\x01\x01\x01\x01\x01"  # MSS 2058, WS 7
    pkt = bytes(IP(src="198.18.0.5", dst=US) / TCP(flags="SA", ack=1, dataofs=9) / Raw(opts))
    rows, lengths = table([pkt], 128)
    assert tcp.parse_options(opts) == TcpOptions(mss=2058, wscale=7)
    assert bulk.decode_v4(rows, lengths).options(rows, 0) == TcpOptions(mss=2058, wscale=7)


VALID_OPTIONS = st.lists(
    st.one_of(
        st.just(b"\x01"),
        st.just(b"\x04\x02"),
        st.integers(0, 14).map(lambda w: bytes([3, 3, w])),
        PORTS.map(lambda m: b"\x02\x04" + m.to_bytes(2, "big")),
        st.binary(min_size=8, max_size=8).map(lambda v: b"\x08\x0a" + v),
    ),
    max_size=8,
).map(b"".join)
OPTION_BYTES = st.one_of(
    st.binary(max_size=40),
    VALID_OPTIONS,
    st.tuples(st.sampled_from(LOOKALIKE), VALID_OPTIONS).map(lambda t: t[0] + t[1]),
    st.tuples(PORTS, st.integers(0, 14), U32S, U32S, st.binary(max_size=20)).map(
        lambda t: bytes(TCP(options=linux_options(*t[:4])))[20:] + t[4]
    ),
)


@QUICK
@given(options=st.lists(OPTION_BYTES, min_size=1, max_size=16))
def test_syn_ack_options_are_parse_options_of_their_bytes(options: list[bytes]) -> None:
    packets = []
    for opts in options:
        raw = opts[:40] + bytes(-len(opts[:40]) % 4)
        tcp_part = TCP(sport=443, dport=45000, flags="SA", ack=1, dataofs=5 + len(raw) // 4)
        packets.append(bytes(IP(src="198.18.0.5", dst=US) / tcp_part / Raw(raw)))
    rows, lengths = table(packets, 128)
    d = bulk.decode_v4(rows, lengths)
    assert (d.kind == bulk.KIND_SYN_ACK).all()
    for k, opts in enumerate(options):
        raw = opts[:40] + bytes(-len(opts[:40]) % 4)
        assert d.options(rows, k) == tcp.parse_options(raw)


def test_options_of_one_stack_with_other_timestamps_decode_alike() -> None:
    packets = [
        bytes(IP(src="198.18.0.5") / TCP(flags="SA", options=linux_options(1460, ws, ts, ts ^ 1)))
        for ws, ts in ((7, 0), (7, 0xFFFFFFFF), (9, 5), (0, 5))
    ]
    rows, lengths = table(packets, 128)
    d = bulk.decode_v4(rows, lengths)
    assert [d.options(rows, k).wscale for k in range(4)] == [7, 7, 9, 0]
    assert all(d.options(rows, k) == tcp.parse_v4(p).options for k, p in enumerate(packets))  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ IPv6 segments

ODD_SEGMENTS = st.one_of(
    st.binary(max_size=19),
    st.binary(min_size=20, max_size=60),
    st.builds(lambda p: bytes(UDP(sport=p, dport=53) / Raw(b"q" * 12)), PORTS),
)


@QUICK
@given(
    segments=st.lists(
        st.one_of(tcp_segments().map(bytes), tcp_segments().map(bytes), ODD_SEGMENTS),
        min_size=1,
        max_size=12,
    ),
    data=st.data(),
)
def test_decode_segments_is_parse_v6_and_scapy(segments: list[bytes], data: st.DataObject) -> None:
    n = len(segments)
    src = u32(data.draw(st.lists(U32S, min_size=n, max_size=n)))
    ttl = np.array(data.draw(st.lists(TTLS, min_size=n, max_size=n)), np.uint8)
    for slot in (128, max(20, *(len(s) for s in segments))):
        rows, lengths = table(segments, slot, 0xFF)
        d = bulk.decode_segments(rows, lengths, src, ttl)
        assert np.array_equal(d.src, src) and d.src.dtype == np.uint32  # passed through
        assert np.array_equal(d.ttl, ttl)
        for k, seg in enumerate(segments):
            check_row(d, rows, k, tcp.parse_v6(seg, V6_SRC, int(ttl[k])), v4=False)
            if len(seg) >= 20 and seg[12] >> 4 >= 5:  # a header scapy dissects whole
                check_against_scapy(d, k, TCP(seg), None)
            if len(seg) < 20:
                assert int(d.kind[k]) == bulk.KIND_NONE


def test_segments_cut_at_every_length() -> None:
    seg = bytes(
        TCP(sport=443, dport=45000, flags="SA", ack=100, options=linux_options(1440, 7, 1, 2))
    )
    cuts = [seg[:n] for n in range(len(seg) + 1)]
    rows, lengths = table(cuts, len(seg), 0xFF)
    ttl = np.full(len(cuts), 61, np.uint8)
    d = bulk.decode_segments(rows, lengths, u32(list(range(len(cuts)))), ttl)
    for k, cut in enumerate(cuts):
        check_row(d, rows, k, tcp.parse_v6(cut, V6_SRC, 61), v4=False)
    assert (d.kind[:20] == bulk.KIND_NONE).all() and (d.kind[20:] == bulk.KIND_SYN_ACK).all()
    assert d.options(rows, len(seg)) == TcpOptions(1440, 7, True, True)


# ------------------------------------------------------------------------------ matching


def index(jobs: list[tuple[int, int, int, int]]) -> bulk.CookieIndex:
    """jobs: (job, cookie, dst, port)."""
    job, cookie, dst, port = (
        (list(c) for c in zip(*jobs, strict=True)) if jobs else ([[] for _ in range(4)])
    )
    return bulk.CookieIndex(np.array(job, np.int64), u32(cookie), u32(dst), u16(port))


def lookup(
    idx: bulk.CookieIndex, answers: list[tuple[int, int, int]]
) -> tuple[list[int], list[bool]]:
    cookie, src, port = (
        (list(c) for c in zip(*answers, strict=True)) if answers else ([[] for _ in range(3)])
    )
    found, ambiguous = idx.lookup(u32(cookie), u32(src), u32(port))
    assert found.dtype == np.int64 and ambiguous.dtype == np.bool_
    return found.tolist(), ambiguous.tolist()


@QUICK
@given(
    cookie_values=st.lists(st.integers(0, 2**28 - 1), unique=True, min_size=1, max_size=40),
    data=st.data(),
)
def test_distinct_cookies_find_their_jobs_and_nothing_else(
    cookie_values: list[int], data: st.DataObject
) -> None:
    n = len(cookie_values)
    dsts = data.draw(st.lists(ADDRESSES, min_size=n, max_size=n))
    ports = data.draw(st.lists(PORTS, min_size=n, max_size=n))
    jobs = data.draw(st.permutations([7 * k + 3 for k in range(n)]))
    cookie_of = [c << cookies.TRY_BITS for c in cookie_values]
    idx = index(list(zip(jobs, cookie_of, dsts, ports, strict=True)))
    order = data.draw(st.permutations(range(n)))
    right = [(cookie_of[k], dsts[k], ports[k]) for k in order]
    assert lookup(idx, right) == ([jobs[k] for k in order], [False] * n)
    wrong_address = [(c, d ^ 1, p) for c, d, p in right]
    wrong_port = [(c, d, (p + 1) % 65536) for c, d, p in right]
    assert lookup(idx, wrong_address) == ([-1] * n, [False] * n)
    assert lookup(idx, wrong_port) == ([-1] * n, [False] * n)
    known = set(cookie_of)
    stray = data.draw(st.lists(U32S.filter(lambda c: c not in known), max_size=10))
    strays = [(c, dsts[0], ports[0]) for c in stray]
    assert lookup(idx, strays) == ([-1] * len(stray), [False] * len(stray))


SMALL_COOKIES = st.integers(0, 5).map(lambda c: c << cookies.TRY_BITS)
SMALL_ADDRESSES = st.sampled_from([NET + 1, NET + 2, NET + 0x1FFFF])
SMALL_PORTS = st.sampled_from([0, 80, 65535])


@QUICK
@given(
    jobs=st.lists(st.tuples(SMALL_COOKIES, SMALL_ADDRESSES, SMALL_PORTS), max_size=12),
    answers=st.lists(st.tuples(SMALL_COOKIES, SMALL_ADDRESSES, SMALL_PORTS), max_size=20),
)
def test_lookup_is_the_model_with_shared_cookies_ambiguous(
    jobs: list[tuple[int, int, int]], answers: list[tuple[int, int, int]]
) -> None:
    idx = index([(100 + k, c, d, p) for k, (c, d, p) in enumerate(jobs)])
    expected: tuple[list[int], list[bool]] = ([], [])
    for cookie, src, port in answers:
        holders = [k for k, (c, _, _) in enumerate(jobs) if c == cookie]
        if len(holders) > 1:
            job, ambiguous = -1, True
        elif holders and jobs[holders[0]][1:] == (src, port):
            job, ambiguous = 100 + holders[0], False
        else:
            job, ambiguous = -1, False
        expected[0].append(job)
        expected[1].append(ambiguous)
    assert lookup(idx, answers) == expected


def test_shared_cookies_are_ambiguous_for_both_jobs_wherever_they_sort() -> None:
    low, mid, high = 0x10, 0x12340, 0xFFFFFFF0
    jobs = [
        (0, low, NET + 1, 80),
        (1, low, NET + 2, 443),
        (2, mid, NET + 3, 22),
        (3, high, NET + 4, 25),
        (4, high, NET + 4, 26),
        (5, 0x20, NET + 5, 53),
    ]
    answers = [(c, d, p) for _, c, d, p in jobs] + [(low, NET + 9, 9)]
    assert lookup(index(jobs), answers) == (
        [-1, -1, 2, -1, -1, 5, -1],
        [True, True, False, True, True, False, True],
    )


def test_an_empty_index_finds_nothing() -> None:
    empty = index([])
    assert lookup(empty, [(0x10, NET + 1, 80), (0, NET, 0)]) == ([-1, -1], [False, False])
    assert lookup(empty, []) == ([], [])
    assert lookup(index([(1, 0x10, NET + 1, 80)]), []) == ([], [])


def test_a_scans_worth_of_engine_cookies_is_a_dictionary_lookup() -> None:
    rng = random.Random(20240611)
    key = rng.getrandbits(32)
    n = 50_000
    dsts = [NET + rng.randrange(0x20000) for _ in range(n)]
    ports = [rng.randrange(1, 65536) for _ in range(n)]
    ttl = 64
    cookie_of = [
        cookies.cookie(cookies.prefix(key, d.to_bytes(4, "big")), p, ttl, socket.IPPROTO_TCP)
        for d, p in zip(dsts, ports, strict=True)
    ]
    jobs = rng.sample(range(10 * n), n)
    exact = {(d, p, c): j for d, p, c, j in zip(dsts, ports, cookie_of, jobs, strict=True)}
    count: dict[int, int] = {}
    for c in cookie_of:
        count[c] = count.get(c, 0) + 1
    idx = bulk.CookieIndex(np.array(jobs, np.int64), u32(cookie_of), u32(dsts), u16(ports))

    answers = [(c, d, p) for c, d, p in zip(cookie_of, dsts, ports, strict=True)]
    for _ in range(5000):  # strays: unknown cookies, a job's cookie from elsewhere
        k = rng.randrange(n)
        answers.append((rng.getrandbits(28) << 4, dsts[k], ports[k]))
        answers.append((cookie_of[k], NET + rng.randrange(0x20000), ports[k]))
        answers.append((cookie_of[k], dsts[k], rng.randrange(65536)))
    rng.shuffle(answers)
    found, ambiguous = lookup(idx, answers)
    for (c, d, p), job, amb in zip(answers, found, ambiguous, strict=True):
        shared = count.get(c, 0) > 1
        assert amb == shared
        assert job == (-1 if shared else exact.get((d, p, c), -1))
    hits = sum(j != -1 for j in found)
    assert hits >= n - 2 * sum(v for v in count.values() if v > 1)  # all but the shared


# ------------------------------------------------------------------------------ addresses


@QUICK
@given(values=st.lists(ADDRESSES, max_size=50))
def test_addresses_are_their_network_order_value(values: list[int]) -> None:
    column = bulk.addresses([v.to_bytes(4, "big") for v in values])
    assert column.dtype == np.uint32 and column.shape == (len(values),)
    assert column.tolist() == values
    assert column.tolist() == [int.from_bytes(socket.inet_aton(dotted(v)), "big") for v in values]


# ------------------------------------------------------------------------------ cookies


@given(
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFFFFFF),  # the destination's prefix
            st.integers(0, 0xFFFF),  # port
            st.integers(0, 255),  # TTL
            st.sampled_from([6, 17, 1, 58, 0, 255]),  # protocol number
        ),
        min_size=1,
        max_size=64,
    )
)
@QUICK
def test_a_column_of_cookies_is_the_per_probe_function(
    probes: list[tuple[int, int, int, int]],
) -> None:
    prefix, port, ttl, number = (list(c) for c in zip(*probes, strict=True))
    base = np.array([zlib.crc32(bytes(4), p) for p in prefix], np.uint32)
    column = bulk.cookie_column(
        base, u16(port), np.array(ttl, np.uint8), np.array(number, np.uint8)
    )
    assert column.dtype == np.uint32
    assert column.tolist() == [cookies.cookie(*probe) for probe in probes]
