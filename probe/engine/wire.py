"""Bytes on the wire: SYNs from templates, answers decoded, kernel filters. Pure functions.

The hot path never builds a scapy object per port: scapy crafts one SYN template per run
(raw.py), and here each probe is that template with the destination, port, sequence number
and checksum patched in. Answers are decoded with ``struct`` into ``Answer`` records.

Matching: every SYN's sequence number is a cookie — a keyed hash of (destination, port, TTL)
in the upper 28 bits and the try number in the lower 4. The TTL is in the hash so that probes
to one port with different TTLs (trace) are told apart by their answers. A SYN/ACK or RST to
our SYN acknowledges seq+1; an ICMP error quotes our IP header and the first 8 bytes of TCP,
which include the sequence number. So every answer proves which probe and which try it
belongs to, and unrelated traffic or stray packets to our source port are ignored.
"""

from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from probe.model import TcpOptions

TH_FIN, TH_SYN, TH_RST, TH_PUSH, TH_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# -------------------------------------------------------------------------- cookies

TRY_BITS = 4
TRY_MASK = (1 << TRY_BITS) - 1


def cookie(key: int, dst: bytes, port: int, ttl: int = 64) -> int:
    """The upper 28 bits of a probe's sequence number (lower 4 bits: the try number)."""
    data = dst + port.to_bytes(2, "big") + bytes((ttl & 0xFF,))
    return int(zlib.crc32(data, key) << TRY_BITS) & 0xFFFFFFFF


def seq_for(key: int, dst: bytes, port: int, try_no: int, ttl: int = 64) -> int:
    return cookie(key, dst, port, ttl) | (try_no & TRY_MASK)


def split_seq(seq: int) -> tuple[int, int]:
    """(cookie, try number) of a sequence number."""
    return seq & ~TRY_MASK & 0xFFFFFFFF, seq & TRY_MASK


def try_from_seq(key: int, dst: bytes, port: int, seq: int, ttl: int = 64) -> int | None:
    """The try number a sequence number encodes, or None when it is not one of ours."""
    ck, try_no = split_seq(seq)
    if ck != cookie(key, dst, port, ttl):
        return None
    return try_no or None


# -------------------------------------------------------------------------- checksums


def inet_checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def tcp_checksum_v4(src: bytes, dst: bytes, segment: bytes) -> int:
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(segment))
    return inet_checksum(pseudo + segment)


# -------------------------------------------------------------------------- building SYNs


@dataclass(frozen=True)
class SynTemplate:
    """A SYN as bytes with the per-probe fields zeroed. ``ip`` is empty for IPv6 (the kernel
    writes the IPv6 header and, via IPV6_CHECKSUM, the TCP checksum)."""

    ip: bytes  # 20-byte IPv4 header: dst, id, checksum, length zeroed (kernel fills some)
    tcp: bytes  # TCP header with options; dport, seq and checksum zeroed


class SynBuilderV4:
    """SYNs to one destination: the IP header (per TTL) and the checksum's fixed part are
    computed once, so each probe costs one pack and a few additions — this is the hot path
    of a full-range scan."""

    __slots__ = ("_dst", "_headers", "_partial", "_src", "_tcp", "_tpl_ip")

    def __init__(self, tpl: SynTemplate, src: bytes, dst: bytes) -> None:
        self._src, self._dst, self._tcp = src, dst, tpl.tcp
        self._headers: dict[int, bytes] = {}
        # One's-complement sum of the pseudo-header and the template with dport=seq=0.
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tpl.tcp))
        data = pseudo + tpl.tcp
        self._partial: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
        self._tpl_ip = tpl.ip

    def build(self, sport: int, dport: int, seq: int, ttl: int) -> bytes:
        header = self._headers.get(ttl)
        if header is None:
            ip = bytearray(self._tpl_ip)
            ip[8] = ttl
            ip[12:16] = self._src
            ip[16:20] = self._dst
            struct.pack_into("!H", ip, 2, len(ip) + len(self._tcp))
            ip[10:12] = b"\x00\x00"
            struct.pack_into("!H", ip, 10, inet_checksum(bytes(ip)))
            header = self._headers[ttl] = bytes(ip)
        total = self._partial + sport + dport + (seq >> 16) + (seq & 0xFFFF)
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        tcp = bytearray(self._tcp)
        struct.pack_into("!HHI", tcp, 0, sport, dport, seq)
        struct.pack_into("!H", tcp, 16, ~total & 0xFFFF)
        return header + tcp


def build_syn_v4(
    tpl: SynTemplate, src: bytes, dst: bytes, sport: int, dport: int, seq: int, ttl: int
) -> bytes:
    return SynBuilderV4(tpl, src, dst).build(sport, dport, seq, ttl)


def ipv6_header(src: bytes, dst: bytes, next_header: int, hop_limit: int, length: int) -> bytes:
    """An IPv6 header, for writing IPv6 packets to a capture (the kernel writes the real one)."""
    return struct.pack("!IHBB", 6 << 28, length, next_header, hop_limit) + src + dst


def build_syn_v6(tpl: SynTemplate, sport: int, dport: int, seq: int) -> bytes:
    tcp = bytearray(tpl.tcp)
    struct.pack_into("!HHI", tcp, 0, sport, dport, seq)
    return bytes(tcp)


# -------------------------------------------------------------------------- decoding answers


class Answer(NamedTuple):
    """One decoded packet that may answer a probe. A named tuple: a full-range scan decodes
    65535 of these, and a tuple is built several times faster than a frozen dataclass."""

    kind: str  # "tcp" or "icmp"
    responder: str  # who sent this packet
    ttl: int | None  # IP TTL / hop limit of this packet
    target: bytes  # packed address the probe went to
    port: int  # the probe's destination port
    sport: int  # the probe's source port (ours)
    seq: int  # the probe's sequence number (ack-1 for TCP, quoted for ICMP)
    flags: int = 0  # TCP flags
    window: int | None = None
    options: bytes = b""
    ip_id: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None


_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
_IPV4 = struct.Struct("!BxxxHxxBBxx4s")  # version/IHL, identification, TTL, protocol, source


@lru_cache(maxsize=1024)
def _ntop4(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, packed)  # remembered: answers repeat few sources


def parse_tcp_v4(pkt: bytes) -> Answer | None:
    """An IPv4 packet carrying TCP, as a raw IPPROTO_TCP socket returns it. The hot path of
    a scan's receiver: one unpack per header, no copy of the packet."""
    if len(pkt) < 40:
        return None
    vhl, ip_id, ttl, proto, src = _IPV4.unpack_from(pkt)
    if vhl >> 4 != 4 or proto != socket.IPPROTO_TCP:
        return None
    ihl = (vhl & 0x0F) * 4
    if len(pkt) < ihl + 20:
        return None
    return _tcp(pkt, ihl, len(pkt), _ntop4(src), src, ttl, ip_id)


def parse_tcp_v6(segment: bytes, src: str, hoplimit: int | None) -> Answer | None:
    """A TCP segment from a raw IPv6 socket (the kernel strips the IPv6 header)."""
    if len(segment) < 20:
        return None
    packed = socket.inet_pton(socket.AF_INET6, src)
    return _tcp(segment, 0, len(segment), src, packed, hoplimit, None)


def _tcp(
    buf: bytes | bytearray,
    at: int,
    end: int,
    src: str,
    src_packed: bytes,
    ttl: int | None,
    ip_id: int | None,
) -> Answer | None:
    """The TCP header at ``at`` (the packet ends at ``end``): a SYN/ACK or RST, else None."""
    sport, dport, _seq, ack, off, flags, window = _TCP.unpack_from(buf, at)
    if not flags & TH_RST and flags & (TH_SYN | TH_ACK) != TH_SYN | TH_ACK:
        return None
    hlen = (off >> 4) * 4
    options = bytes(buf[at + 20 : min(at + hlen, end)]) if hlen > 20 else b""
    seq = (ack - 1) & 0xFFFFFFFF
    return Answer("tcp", src, ttl, src_packed, sport, dport, seq, flags, window, options, ip_id)


def parse_icmp_v4(pkt: bytes) -> Answer | None:
    """An IPv4 ICMP error (unreachable, time exceeded) quoting one of our SYNs."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_ICMP:
        return None
    ihl = (pkt[0] & 0x0F) * 4
    icmp = pkt[ihl:]
    if len(icmp) < 8 + 20 + 8 or icmp[0] not in (3, 11):
        return None
    quoted = icmp[8:]
    qihl = (quoted[0] & 0x0F) * 4
    if quoted[0] >> 4 != 4 or quoted[9] != socket.IPPROTO_TCP or len(quoted) < qihl + 8:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", quoted, qihl)
    return Answer(
        kind="icmp",
        responder=socket.inet_ntop(socket.AF_INET, pkt[12:16]),
        ttl=pkt[8],
        target=bytes(quoted[16:20]),
        port=dport,
        sport=sport,
        seq=seq,
        ip_id=struct.unpack_from("!H", pkt, 4)[0],
        icmp_type=icmp[0],
        icmp_code=icmp[1],
    )


def parse_icmp_v6(msg: bytes, src: str, hoplimit: int | None) -> Answer | None:
    """An ICMPv6 error (type 1 unreachable, 3 time exceeded) quoting one of our SYNs."""
    if len(msg) < 8 + 40 + 8 or msg[0] not in (1, 3):
        return None
    quoted = msg[8:]
    # Quoted IPv6 header: next header at 6, destination at 24..40. Extension headers in
    # our own SYNs never occur, so TCP follows at 40.
    if quoted[0] >> 4 != 6 or quoted[6] != socket.IPPROTO_TCP:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", quoted, 40)
    return Answer(
        kind="icmp",
        responder=src,
        ttl=hoplimit,
        target=bytes(quoted[24:40]),
        port=dport,
        sport=sport,
        seq=seq,
        icmp_type=msg[0],
        icmp_code=msg[1],
    )


def parse_options(opts: bytes) -> TcpOptions:
    """TCP options of a SYN/ACK: MSS, window scale, SACK permitted, timestamps."""
    mss = wscale = None
    sack = ts = False
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:  # end of options
            break
        if kind == 1:  # NOP
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        length = opts[i + 1]
        if length < 2 or i + length > len(opts):
            break  # malformed: stop rather than misread
        body = opts[i + 2 : i + length]
        if kind == 2 and len(body) == 2:
            mss = struct.unpack("!H", body)[0]
        elif kind == 3 and len(body) == 1:
            wscale = body[0]
        elif kind == 4:
            sack = True
        elif kind == 8:
            ts = True
        i += length
    return TcpOptions(mss=mss, wscale=wscale, sack_permitted=sack, timestamps=ts)


# -------------------------------------------------------------------------- kernel filters

# Classic BPF opcodes used below.
_LDX_MSH = 0xB1  # X = 4 * (P[k] & 0xf)      (IPv4 header length)
_LD_B_IND = 0x50  # A = P[X + k]   (byte)
_LD_H_IND = 0x48  # A = P[X + k]   (half word)
_LD_B_ABS = 0x30
_LD_H_ABS = 0x28
_AND_K = 0x54
_LSH_K = 0x64
_ADD_X = 0x0C
_TAX = 0x07
_JEQ_K = 0x15
_JGT_K = 0x25
_JGE_K = 0x35
_RET_K = 0x06

Insn = tuple[int, int, int, int]
_ACCEPT: Insn = (_RET_K, 0, 0, 0x40000)
_DROP: Insn = (_RET_K, 0, 0, 0)


def _in_ports(sport: int, span: int) -> list[Insn]:
    """A = a port: accept when sport <= A < sport + span, else drop (the two last insns)."""
    return [(_JGE_K, 0, 2, sport), (_JGT_K, 1, 0, sport + span - 1), _ACCEPT, _DROP]


def bpf_tcp_v4(sport: int, span: int = 1) -> list[Insn]:
    """Raw IPv4 TCP socket: keep packets to our source ports (data starts at the IP header)."""
    return [(_LDX_MSH, 0, 0, 0), (_LD_H_IND, 0, 0, 2), *_in_ports(sport, span)]


def bpf_icmp_v4(sport: int, span: int = 1) -> list[Insn]:
    """Raw ICMP socket: unreachable (3) / time exceeded (11) quoting TCP from our ports."""
    return [
        (_LDX_MSH, 0, 0, 0),  # X = outer header length
        (_LD_B_IND, 0, 0, 0),  # A = ICMP type
        (_JEQ_K, 1, 0, 3),
        (_JEQ_K, 0, 11, 11),
        (_LD_B_IND, 0, 0, 8 + 9),  # quoted protocol
        (_JEQ_K, 0, 9, socket.IPPROTO_TCP),
        (_LD_B_IND, 0, 0, 8),  # quoted version/IHL
        (_AND_K, 0, 0, 0x0F),
        (_LSH_K, 0, 0, 2),
        (_ADD_X, 0, 0, 0),
        (_TAX, 0, 0, 0),  # X = outer + quoted header lengths
        (_LD_H_IND, 0, 0, 8),  # quoted TCP source port
        *_in_ports(sport, span),
    ]


def bpf_tcp_v6(sport: int, span: int = 1) -> list[Insn]:
    """Raw IPv6 TCP socket: data starts at the TCP header."""
    return [(_LD_H_ABS, 0, 0, 2), *_in_ports(sport, span)]


def bpf_icmp_v6(sport: int, span: int = 1) -> list[Insn]:
    """Raw ICMPv6 socket: type 1/3 quoting TCP (next header 6) from our source ports."""
    return [
        (_LD_B_ABS, 0, 0, 0),
        (_JEQ_K, 1, 0, 1),
        (_JEQ_K, 0, 6, 3),
        (_LD_B_ABS, 0, 0, 8 + 6),
        (_JEQ_K, 0, 4, socket.IPPROTO_TCP),
        (_LD_H_ABS, 0, 0, 8 + 40),
        *_in_ports(sport, span),
    ]


def run_bpf(prog: list[Insn], pkt: bytes) -> bool:
    """A tiny interpreter for the opcodes above, so the filters are unit-tested without
    a kernel. Returns whether the kernel would pass the packet."""
    a = x = 0
    pc = 0
    for _ in range(256):
        code, jt, jf, k = prog[pc]
        pc += 1
        try:
            if code == _LDX_MSH:
                x = 4 * (pkt[k] & 0x0F)
            elif code == _LD_B_IND:
                a = pkt[x + k]
            elif code == _LD_H_IND:
                a = struct.unpack_from("!H", pkt, x + k)[0]
            elif code == _LD_B_ABS:
                a = pkt[k]
            elif code == _LD_H_ABS:
                a = struct.unpack_from("!H", pkt, k)[0]
            elif code == _AND_K:
                a &= k
            elif code == _LSH_K:
                a = (a << k) & 0xFFFFFFFF
            elif code == _ADD_X:
                a = (a + x) & 0xFFFFFFFF
            elif code == _TAX:
                x = a
            elif code == _JEQ_K:
                pc += jt if a == k else jf
            elif code == _JGT_K:
                pc += jt if a > k else jf
            elif code == _JGE_K:
                pc += jt if a >= k else jf
            elif code == _RET_K:
                return k != 0
        except (IndexError, struct.error):
            return False  # the kernel drops packets that a load runs past
    return False
