"""SYNs built and answers decoded a batch at a time, with numpy: the per-packet floor.

A big scan's Python cost used to be a few microseconds per packet on each side: a pack and a
few additions per SYN, an unpack, a tuple and a dictionary lookup per answer. Here a batch of
probes is one array of packets (one row each, the template broadcast, the fields written as
columns, both checksums summed for the whole batch at once) that sendmmsg sends straight from
numpy's buffer (burst.py); a batch of answers read by recvmmsg is one array too, decoded as
columns (every header field of every packet in a few vector operations) and matched to its
probes by a sorted array of cookies instead of a dictionary per answer.

Only what Python must still do per packet stays per packet: the evidence record of an answer
(the report is made of them) and the TCP options of a SYN/ACK (cached by their bytes, which
repeat: a server's stack sends the same options to every probe but for the timestamps).

The rows are the same bytes the per-packet builder in tcp.py makes (the unit tests compare
both with scapy), and the decoder reads the same fields tcp.parse_v4 does. Addresses are
``uint32`` of the address's network-order value (``int.from_bytes(packed, "big")``).

numpy is imported by the engine only for a scan big enough to gain from it: a helpdesk check
of two ports does not pay its import.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from probe.engine.cookies import TRY_BITS
from probe.engine.tcp import TH_ACK, TH_RST, TH_SYN, SynTemplate, parse_options
from probe.model import TcpOptions

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

KIND_NONE, KIND_SYN_ACK, KIND_RST = 0, 1, 2  # Decoded.kind
_TCP_MIN = 20
_PROTO_TCP = 6


# ------------------------------------------------------------------------------ checksums


def word_sums(rows: U8, start: int, end: int) -> npt.NDArray[np.uint64]:
    """Per row, the plain sum of the big-endian 16-bit words of ``rows[:, start:end]`` (an odd
    length is padded with a zero byte, as RFC 1071 says)."""
    part = rows[:, start:end].astype(np.uint64)
    if part.shape[1] % 2:
        part = np.concatenate([part, np.zeros((part.shape[0], 1), np.uint64)], axis=1)
    words: npt.NDArray[np.uint64] = (part[:, 0::2] << np.uint64(8)) | part[:, 1::2]
    total: npt.NDArray[np.uint64] = words.sum(axis=1, dtype=np.uint64)
    return total


def fold(total: npt.NDArray[np.uint64]) -> U16:
    """RFC 1071's end: fold the carries back in and take the one's complement."""
    for _ in range(3):  # 64-bit sums of at most a few thousand words fold in three rounds
        total = (total >> np.uint64(16)) + (total & np.uint64(0xFFFF))
    return (~total & np.uint64(0xFFFF)).astype(np.uint16)


def _put16(rows: U8, at: int, values: npt.NDArray[np.integer]) -> None:
    rows[:, at] = (values >> 8) & 0xFF
    rows[:, at + 1] = values & 0xFF


def _put32(rows: U8, at: int, values: npt.NDArray[np.integer]) -> None:
    rows[:, at : at + 4] = values.astype(">u4").view(np.uint8).reshape(-1, 4)


def _get16(rows: U8, at: I64) -> npt.NDArray[np.uint32]:
    n = np.arange(rows.shape[0])
    high = rows[n, at].astype(np.uint32) << np.uint32(8)
    return (high | rows[n, at + 1]).astype(np.uint32)


def _get32(rows: U8, at: I64) -> U32:
    return ((_get16(rows, at) << 16) | _get16(rows, at + 2)).astype(np.uint32)


# ------------------------------------------------------------------------------ building


class SynRows:
    """IPv4 SYNs from one template, a batch at a time: the rows tcp.SynBuilderV4 builds one
    by one, byte for byte."""

    def __init__(self, tpl: SynTemplate) -> None:
        self.row: U8 = np.frombuffer(tpl.ip + tpl.tcp, np.uint8)
        self.size = len(self.row)
        self._tcp_len = len(tpl.tcp)

    def build(self, src: U32, dst: U32, sport: U16, dport: U16, seq: U32, ttl: U8) -> U8:
        """One row per probe (arrays of equal length; ``src`` and ``ttl`` may be scalars
        broadcast to all)."""
        n = len(dst)
        rows = np.empty((n, self.size), np.uint8)
        rows[:] = self.row
        rows[:, 2] = self.size >> 8
        rows[:, 3] = self.size & 0xFF
        rows[:, 8] = ttl
        src_col = np.broadcast_to(np.asarray(src, np.uint32), (n,))
        _put32(rows, 12, src_col)
        _put32(rows, 16, dst)
        _put16(rows, 20, sport)
        _put16(rows, 22, dport)
        _put32(rows, 24, seq)
        _put16(rows, 10, fold(word_sums(rows, 0, 20)))
        pseudo = (
            (src_col >> 16).astype(np.uint64)
            + (src_col & 0xFFFF)
            + (dst >> 16)
            + (dst & 0xFFFF)
            + _PROTO_TCP
            + self._tcp_len
        )
        _put16(rows, 36, fold(word_sums(rows, 20, self.size) + pseudo))
        return rows


# ------------------------------------------------------------------------------ decoding


@dataclass(frozen=True)
class Decoded:
    """A batch of received packets as columns, one entry per packet. ``kind`` is KIND_NONE
    for a packet that answers no SYN (not TCP, too short, a plain ACK): its other fields mean
    nothing. ``sport`` is the probe's source port (the answer's destination port), ``port``
    the probe's destination port, ``tag`` what the answer acknowledges (tcp._answer's rule)."""

    kind: U8
    src: U32
    ttl: U8
    ip_id: npt.NDArray[np.uint32]
    port: npt.NDArray[np.uint32]
    sport: npt.NDArray[np.uint32]
    tag: U32
    window: npt.NDArray[np.uint32]
    at: I64  # where the TCP header starts in the row
    hlen: I64  # the TCP header's length with options, as far as the packet holds it
    # When each packet reached the socket (time.monotonic()'s clock; burst.RecvRows.arrivals),
    # where the reader knows it: an answer's RTT is measured to it, not to when it was read.
    arrived: npt.NDArray[np.float64] | None = None

    def times(self, ks: I64, now: float) -> list[float]:
        """When rows ``ks`` arrived; ``now`` (when they were read) where that is not known."""
        if self.arrived is None:
            return [now] * len(ks)
        got: list[float] = self.arrived[ks].tolist()
        return got

    def options(self, rows: U8, k: int) -> TcpOptions:
        """Row ``k``'s SYN/ACK options, decoded (an empty TcpOptions for a bare header)."""
        start = int(self.at[k]) + _TCP_MIN
        end = int(self.at[k] + self.hlen[k])
        if end <= start:
            return TcpOptions()
        return _options(_timestamps_blanked(rows[k, start:end].tobytes()))


def decode_v4(rows: U8, lengths: npt.NDArray[np.integer]) -> Decoded:
    """IPv4 packets as a raw IPPROTO_TCP socket returns them, ``lengths[k]`` bytes of row
    ``k`` (a row may be shorter than the packet was: only headers are read)."""
    n, slot = rows.shape
    if n and slot >= 40 and rows.flags.c_contiguous and bool((rows[:, 0] == 0x45).all()):
        return _plain_v4(rows, lengths)
    size: I64 = np.minimum(np.asarray(lengths, np.int64), slot).astype(np.int64)
    vhl = rows[:, 0]
    ihl = (vhl & 0x0F).astype(np.int64) * 4
    ok = (vhl >> 4 == 4) & (rows[:, 9] == _PROTO_TCP) & (size >= 40) & (ihl >= 20)
    ok &= size >= ihl + _TCP_MIN
    at = np.where(ok, ihl, 0)
    src = _get32(rows, np.full(n, 12, np.int64))
    ip_id = _get16(rows, np.full(n, 4, np.int64))
    return _tcp(rows, size, at, ok, src, rows[:, 8].copy(), ip_id)


@lru_cache(maxsize=8)
def _header_fields(width: int) -> np.dtype[np.void]:
    """A row of ``width`` bytes holding an IPv4 header without options and a TCP header, as
    a record: each field a column of the batch without a copy."""
    fields = {
        "ttl": ("u1", 8),
        "proto": ("u1", 9),
        "id": (">u2", 4),
        "src": (">u4", 12),
        "port": (">u2", 20),
        "sport": (">u2", 22),
        "seq": (">u4", 24),
        "ack": (">u4", 28),
        "off": ("u1", 32),
        "flags": ("u1", 33),
        "window": (">u2", 34),
    }
    return np.dtype(
        {
            "names": list(fields),
            "formats": [f for f, _ in fields.values()],
            "offsets": [at for _, at in fields.values()],
            "itemsize": width,
        }
    )


def _plain_v4(rows: U8, lengths: npt.NDArray[np.integer]) -> Decoded:
    """``decode_v4`` for a batch of IPv4 headers without options (nearly every answer): the
    fields at fixed offsets, read through a record view in a few vector operations."""
    n, slot = rows.shape
    r = rows.view(_header_fields(slot))[:, 0]
    size: I64 = np.minimum(np.asarray(lengths, np.int64), slot).astype(np.int64)
    ok = (r["proto"] == _PROTO_TCP) & (size >= 40)
    kind, tag, hlen = _reading(
        r["flags"], r["seq"].astype(np.uint32), r["ack"].astype(np.uint32), r["off"], size - 20, ok
    )
    return Decoded(
        kind=kind,
        src=r["src"].astype(np.uint32),
        ttl=r["ttl"].astype(np.uint8),
        ip_id=r["id"].astype(np.uint32),
        port=r["port"].astype(np.uint32),
        sport=r["sport"].astype(np.uint32),
        tag=tag,
        window=r["window"].astype(np.uint32),
        at=np.full(n, 20, np.int64),
        hlen=hlen,
    )


def decode_segments(rows: U8, lengths: npt.NDArray[np.integer], src: U32, ttl: U8) -> Decoded:
    """TCP segments without their IP header (what a raw IPv6 socket returns), with each one's
    source and hop limit from elsewhere (IPv6: the socket address and ancillary data; the
    ``src`` column then holds an index into the caller's own table of addresses)."""
    n, slot = rows.shape
    size: I64 = np.minimum(np.asarray(lengths, np.int64), slot).astype(np.int64)
    ok = size >= _TCP_MIN
    zeros = np.zeros(n, np.int64)
    return _tcp(rows, size, zeros, ok, src, ttl, np.zeros(n, np.uint32))


def _tcp(
    rows: U8,
    lengths: I64,
    at: I64,
    ok: Bools,
    src: U32,
    ttl: U8,
    ip_id: npt.NDArray[np.uint32],
) -> Decoded:
    idx = np.arange(rows.shape[0])
    kind, tag, hlen = _reading(
        rows[idx, at + 13], _get32(rows, at + 4), _get32(rows, at + 8), rows[idx, at + 12],
        lengths - at, ok,
    )  # fmt: skip
    return Decoded(
        kind=kind,
        src=src.astype(np.uint32),
        ttl=ttl,
        ip_id=ip_id,
        port=_get16(rows, at),
        sport=_get16(rows, at + 2),
        tag=tag,
        window=_get16(rows, at + 14),
        at=at,
        hlen=hlen,
    )


def _reading(
    flags: U8, seq: U32, ack: U32, offset: U8, room: I64, ok: Bools
) -> tuple[U8, U32, I64]:
    """(kind, tag, header length) of TCP headers, by tcp._answer's rules; ``offset`` is the
    data offset byte, ``room`` how much of each header the packet holds, ``ok`` which rows
    hold one at all."""
    syn_ack = (flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK)
    rst = (flags & TH_RST) != 0
    ok = ok & (rst | syn_ack)
    # RST wins over SYN (RFC 793, SYN-SENT: the RST check comes before the SYN's).
    kind = np.where(ok, np.where(rst, KIND_RST, KIND_SYN_ACK), KIND_NONE).astype(np.uint8)
    # A RST without ACK answers a bare ACK probe, whose ACK number it returns as its sequence
    # number (RFC 793); every other answer acknowledges the SYN's sequence number + 1.
    bare_rst = (flags & (TH_RST | TH_ACK)) == TH_RST
    tag = np.where(bare_rst, seq, ack - np.uint32(1)).astype(np.uint32)
    hlen = (offset >> 4).astype(np.int64) * 4
    return kind, tag, np.where(kind == KIND_SYN_ACK, np.minimum(hlen, room), _TCP_MIN)


def _timestamps_blanked(opts: bytes) -> bytes:
    """The options with a timestamp option's values zeroed where Linux puts it (after MSS and
    SACK permitted): they change with every packet and say nothing parse_options keeps, so the
    cache below sees one key per server stack instead of one per packet."""
    if len(opts) >= 16 and opts[:2] == b"\x02\x04" and opts[4:8] == b"\x04\x02\x08\x0a":
        return opts[:8] + bytes(8) + opts[16:]
    return opts


@lru_cache(maxsize=256)
def _options(opts: bytes) -> TcpOptions:
    return parse_options(opts)


# ------------------------------------------------------------------------------ matching


class CookieIndex:
    """A scan's IPv4 TCP probes by cookie, for answers matched a batch at a time.

    ``cookies``, ``dst`` and ``port`` are the jobs' (``-1``-free: jobs the bulk path does not
    send are left out by the caller with ``jobs``). A cookie is 28 bits: in a scan of tens of
    thousands of probes two probes do share one now and then; answers to such a cookie are
    marked ``ambiguous`` for the caller's exact lookup (by address, port and cookie)."""

    def __init__(self, jobs: I64, cookies: U32, dst: U32, port: U16) -> None:
        order = np.argsort(cookies, kind="stable")
        self._cookies = cookies[order]
        self._jobs = jobs[order]
        self._dst = dst[order]
        self._port = port[order].astype(np.uint32)
        same = self._cookies[1:] == self._cookies[:-1]
        shared = np.zeros(len(order), np.bool_)
        shared[1:] |= same
        shared[:-1] |= same
        self._shared = shared

    def lookup(self, cookie: U32, src: U32, port: npt.NDArray[np.uint32]) -> tuple[I64, Bools]:
        """(job or -1, ambiguous) per answer: the job whose cookie, address and port all
        agree; ambiguous where the cookie is shared and the caller must look it up exactly."""
        if len(self._cookies) == 0:
            none = np.full(len(cookie), -1, np.int64)
            return none, np.zeros(len(cookie), np.bool_)
        pos = np.minimum(np.searchsorted(self._cookies, cookie), len(self._cookies) - 1)
        hit = self._cookies[pos] == cookie
        ambiguous = hit & self._shared[pos]
        hit &= ~ambiguous & (self._dst[pos] == src) & (self._port[pos] == port)
        return np.where(hit, self._jobs[pos], -1), ambiguous


def _crc_tables() -> npt.NDArray[np.uint32]:
    """CRC-32 is affine in its data for a given length: crc32(d, seed) = crc32(0000, seed) ^
    L(d), with L linear and the same for every seed. L of a 4-byte d is the XOR of one table
    entry per byte: table[k][v] = L(v at byte k)."""
    zero = zlib.crc32(bytes(4))
    tables = np.zeros((4, 256), np.uint32)
    for k in range(4):
        for v in range(256):
            tables[k, v] = zlib.crc32(bytes(k) + bytes([v]) + bytes(3 - k)) ^ zero
    return tables


_CRC = _crc_tables()


def cookie_column(base: U32, port: U16, ttl: U8, protocol: U8) -> U32:
    """``cookies.cookie(prefix, port, ttl, protocol)`` per probe, as a column: ``base`` is
    ``zlib.crc32(bytes(4), prefix)`` of each probe's destination, the rest as packed there
    (port in network order, then the TTL and the protocol number)."""
    crc = base ^ _CRC[0][port >> 8] ^ _CRC[1][port & 0xFF] ^ _CRC[2][ttl] ^ _CRC[3][protocol]
    cookie: U32 = (crc << np.uint32(TRY_BITS)).astype(np.uint32)
    return cookie


def addresses(packed: list[bytes]) -> U32:
    """IPv4 addresses (4 bytes each) as the uint32 column the builder and decoder use."""
    return np.frombuffer(b"".join(packed), ">u4").astype(np.uint32)
