"""Property tests (hypothesis) of the capture parsers, piece by piece: whatever the bytes, a
frame decodes to a record or None, a pcapng interface block to an Interface, a file to
records or a CaptureError, a timestamp to an ISO date or None, and the attempt tracker takes
any sequence of records. Derandomized: the same examples every run."""

from __future__ import annotations

import struct
import tempfile
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.capture import packets, pcapng, times
from probe.capture.analyze import analyze
from probe.capture.packets import IcmpRecord, TcpSegment, UdpDatagram
from probe.capture.reader import open_capture
from probe.engine.tcp import parse_options
from probe.errors import CaptureError
from probe.model import Protocol

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LINKS = st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 239, 276, 147])


def ip_frames() -> st.SearchStrategy[bytes]:
    """Bytes that start like IPv4 or IPv6 often enough to reach the deeper branches."""
    v4 = st.tuples(st.integers(0x40, 0x4F), st.binary(max_size=120)).map(
        lambda t: bytes((t[0],)) + t[1]
    )
    v6 = st.tuples(st.sampled_from([0, 6, 17, 43, 44, 51, 58, 60]), st.binary(max_size=160)).map(
        lambda t: b"\x60\x00\x00\x00" + t[1][:2].ljust(2, b"\x00") + bytes((t[0],)) + t[1][2:]
    )
    return st.one_of(v4, v6, st.binary(max_size=200))


@FUZZ
@given(LINKS, ip_frames(), st.integers(0, 24))
def test_a_frame_decodes_to_a_record_or_none(link: int, data: bytes, pad: int) -> None:
    frame = b"\x00" * pad + data
    off = packets.ip_offset(link, frame)
    assert -1 <= off <= len(frame)
    rec = packets.decode_ip(1.0, frame, max(off, 0))
    assert rec is None or isinstance(rec, TcpSegment | UdpDatagram | IcmpRecord)


def tunnel_frames() -> st.SearchStrategy[bytes]:
    """Ethernet frames whose EtherType is MPLS, PPPoE or a VLAN tag, and IPv4 packets carrying
    GRE or UDP to the VXLAN / GTP-U ports, each followed by any bytes: the tunnel parsers'
    branches, with their lengths and flags at random."""
    l2 = st.tuples(st.sampled_from([0x8847, 0x8864, 0x8100]), st.binary(max_size=120)).map(
        lambda t: b"\x00" * 12 + t[0].to_bytes(2, "big") + t[1]
    )
    l4 = st.tuples(
        st.sampled_from([b"\x2f", b"\x11"]),
        st.sampled_from([b"\x12\xb5", b"\x08\x68", b"\x21\x18", b"\x00\x35"]),
        st.binary(max_size=150),
    ).map(
        lambda t: b"\x00" * 12 + b"\x08\x00\x45\x00\x00\x00\x00\x00\x00\x00\x40"
        + t[0] + b"\x00" * 10 + (b"\x00\x35" + t[1] if t[0] == b"\x11" else b"") + t[2]
    )  # fmt: skip
    return st.one_of(l2, l4)


@FUZZ
@given(tunnel_frames())
def test_a_tunnelled_frame_decodes_to_a_record_or_none(frame: bytes) -> None:
    off = packets.ip_offset(1, frame)
    assert -1 <= off <= len(frame)
    rec = packets.decode_ip(1.0, frame, max(off, 0))
    assert rec is None or isinstance(rec, TcpSegment | UdpDatagram | IcmpRecord)


@FUZZ
@given(st.binary(max_size=60))
def test_tcp_options_parse_whatever_the_bytes(opts: bytes) -> None:
    parsed = parse_options(opts)
    assert parsed.mss is None or 0 <= parsed.mss <= 0xFFFF


@FUZZ
@given(st.sampled_from(["<", ">"]), st.binary(max_size=80))
def test_an_interface_block_of_any_options_reads(order: str, body: bytes) -> None:
    body += b"\x00" * (-len(body) % 4)
    blen = 12 + 8 + len(body)
    buf = struct.pack(order + "IIHHI", 1, blen, 1, 0, 0) + body + struct.pack(order + "I", blen)
    assert blen >= pcapng.MIN_LENGTH[pcapng.IDB]
    iface = pcapng.interface(buf, 0, blen, order)
    assert iface.scale > 0 and iface.link == 1


def _pcap_head() -> bytes:
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _pcapng_head() -> bytes:
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    idb_body = struct.pack("<HHI", 1, 0, 0)
    return (
        struct.pack("<II", 0x0A0D0D0A, 28) + shb_body + struct.pack("<I", 28)
        + struct.pack("<II", 1, 20) + idb_body + struct.pack("<I", 20)
    )  # fmt: skip


@FUZZ
@given(st.sampled_from(["pcap", "pcapng"]), st.binary(max_size=400))
def test_a_file_of_any_tail_reads_or_is_a_capture_error(fmt: str, tail: bytes) -> None:
    head = _pcap_head() if fmt == "pcap" else _pcapng_head()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"any.{fmt}"
        path.write_bytes(head + tail)
        try:
            with open_capture(path) as cap:
                records = list(cap.records())
        except CaptureError as exc:
            assert str(exc).startswith(str(path))
            return
    info = cap.info
    assert info.packets >= 1 and info.tcp + info.udp + info.icmp_errors == len(records)
    assert info.tcp + info.udp + info.icmp_errors + info.skipped == info.packets


@FUZZ
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_timestamp_is_an_iso_date_or_none(ts: float) -> None:
    text = times.iso(ts)
    assert (text is None) == (not times.in_range(ts))
    if text is not None:
        assert len(text) == 27 and text.endswith("Z")
        datetime.fromisoformat(text[:-1])
        clock = times.clock(ts)
        assert clock is not None and clock[:19] == text[:19].replace("T", " ")


ADDRS = st.sampled_from([bytes((198, 18, 0, 2)), bytes((198, 18, 1, 10)), bytes(16)])
PORTS = st.sampled_from([53, 69, 80, 123, 443, 514, 33434, 40000, 40001])
TIMES = st.floats(-1e3, 1e3) | st.sampled_from([0.0, 2.0**64, -(2.0**63)])
SEGMENTS = st.builds(
    TcpSegment,
    TIMES, ADDRS, ADDRS, PORTS, PORTS, st.integers(0, 0xFF), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=12),
)  # fmt: skip
ERRORS = st.builds(
    IcmpRecord,
    TIMES, ADDRS, st.integers(0, 255), st.booleans(), st.integers(0, 12), st.integers(0, 15),
    ADDRS, ADDRS, PORTS, PORTS, st.integers(0, 2**32 - 1), st.integers(-1, 0xFF),
    st.sampled_from([6, 17]),
)  # fmt: skip
DATAGRAMS = st.builds(
    UdpDatagram,
    TIMES, ADDRS | st.just(bytes((224, 0, 0, 251))), ADDRS, PORTS, PORTS, st.integers(0, 255),
    st.integers(0, 0xFFFF),
)  # fmt: skip


@FUZZ
@given(st.lists(st.one_of(SEGMENTS, ERRORS, DATAGRAMS), max_size=40))
def test_the_tracker_takes_any_records(
    records: list[TcpSegment | UdpDatagram | IcmpRecord],
) -> None:
    result = analyze(records)
    assert result.attempts >= 0 and result.flows >= 0
    udp = sum(o.count for o in result.outcomes if o.protocol is Protocol.UDP)
    assert sum(o.count for o in result.outcomes) - udp <= result.attempts
    assert udp <= result.flows
    assert len(result.findings) == len(result.outcomes)
