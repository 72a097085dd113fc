"""TCP for the raw engine: SYNs from a template, SYN/ACKs and RSTs decoded, TCP options.

The hot path builds no object per port: one SYN template per engine, like a Linux client's
(MSS, SACK permitted, timestamps, window scale — offered so the server's SYN/ACK shows what it
supports), packed with ``struct`` (the unit tests check it byte for byte against scapy's), and
each probe is that template with the destination port, sequence number and checksum patched
in. Answers are decoded with ``struct`` too: a TCP check never loads scapy.

A SYN's sequence number is its tag (cookies.py): a SYN/ACK or RST to it acknowledges seq + 1,
an ICMP error quotes it. The kernel has no socket for our SYNs, so it answers a SYN/ACK with
a RST of its own — the half-open scan every SYN scanner does, and why the port is never
really "connected".
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass

from probe.engine import bpf, inet
from probe.engine.transport import Answer
from probe.model import AnswerKind, Protocol, TcpOptions

TH_SYN, TH_RST, TH_ACK = 0x02, 0x04, 0x10

_HEADER = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
_PORTS_SEQ = struct.Struct("!HHI")
_SYN_ACK, _RST = AnswerKind.SYN_ACK, AnswerKind.RST  # looked up once: parsing is the hot path

# The template's headers: IPv4 (version/IHL, TOS, length, id, flags/fragment, TTL, protocol,
# checksum, addresses), TCP (ports, seq, ack, data offset, flags, window, checksum, urgent)
# and the SYN's options (kind, length, value each; timestamps: value and echo).
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_TCP_HEADER = struct.Struct("!HHIIBBHHH")
_SYN_OPTIONS = struct.Struct("!BBHBBBBIIBBBB")
_MSS, _WSCALE, _WINDOW = 1460, 7, 64240  # Linux on Ethernet: MSS of a 1500-byte MTU
_DF = 0x4000  # don't fragment, as Linux sets it on TCP (path MTU discovery)


@dataclass(frozen=True)
class SynTemplate:
    """A SYN as bytes with the per-probe fields zeroed."""

    ip: bytes  # 20-byte IPv4 header: addresses, id, length, checksum zeroed (IPv6: unused)
    tcp: bytes  # TCP header with options; ports, seq and checksum zeroed


def syn_template(tsval: int | None = None) -> SynTemplate:
    """The engine's SYN: a Linux client's options in Linux's order (MSS, SACK permitted,
    timestamps, NOP, window scale), DF set. ``tsval``: the timestamp clock (random when None:
    a real client's clock says nothing about it, and a fixed one would mark every probe)."""
    if tsval is None:
        tsval = random.getrandbits(32)
    options = _SYN_OPTIONS.pack(2, 4, _MSS, 4, 2, 8, 10, tsval, 0, 1, 3, 3, _WSCALE)
    tcp = _TCP_HEADER.pack(0, 0, 0, 0, (5 + len(options) // 4) << 4, TH_SYN, _WINDOW, 0, 0)
    ip = _IPV4_HEADER.pack(0x45, 0, 0, 0, _DF, 64, socket.IPPROTO_TCP, 0, bytes(4), bytes(4))
    return SynTemplate(ip=ip, tcp=tcp + options)


class SynBuilderV4:
    """SYNs to one IPv4 destination: the IP header (per TTL) and the checksum's fixed part
    are computed once, so each probe costs one pack and a few additions — this is the hot
    path of a full-range scan."""

    __slots__ = ("_dst", "_headers", "_partial", "_src", "_tcp", "_tpl_ip")

    def __init__(self, tpl: SynTemplate, src: bytes, dst: bytes) -> None:
        self._src, self._dst, self._tcp, self._tpl_ip = src, dst, tpl.tcp, tpl.ip
        self._headers: dict[int, bytes] = {}
        # One's-complement sum of the pseudo-header and the template with ports=seq=0.
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(tpl.tcp))
        self._partial = inet.word_sum(pseudo + tpl.tcp)

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes = b"") -> bytes:
        """A SYN; ``payload`` is ignored (a SYN carries none)."""
        header = self._headers.get(ttl)
        if header is None:
            length = len(self._tpl_ip) + len(self._tcp)
            header = inet.ipv4_header(self._tpl_ip, self._src, self._dst, ttl, length)
            self._headers[ttl] = header
        total = self._partial + sport + dport + (tag >> 16) + (tag & 0xFFFF)
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        tcp = bytearray(self._tcp)
        _PORTS_SEQ.pack_into(tcp, 0, sport, dport, tag)
        struct.pack_into("!H", tcp, 16, ~total & 0xFFFF)
        return header + tcp


class SynBuilderV6:
    """SYNs over IPv6: the TCP header alone (the kernel writes the IPv6 header and, asked by
    IPV6_CHECKSUM, the checksum; the hop limit travels as ancillary data)."""

    __slots__ = ("_tcp",)

    def __init__(self, tpl: SynTemplate) -> None:
        self._tcp = tpl.tcp

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes = b"") -> bytes:
        tcp = bytearray(self._tcp)
        _PORTS_SEQ.pack_into(tcp, 0, sport, dport, tag)
        return bytes(tcp)


# -------------------------------------------------------------------------- decoding answers


def parse_v4(pkt: bytes) -> Answer | None:
    """An IPv4 packet carrying TCP, as a raw IPPROTO_TCP socket returns it. The hot path of
    a scan's receiver: one unpack per header, no copy of the packet."""
    if len(pkt) < 40:
        return None
    vhl, ip_id, ttl, proto, src = inet.IPV4.unpack_from(pkt)
    if vhl >> 4 != 4 or proto != socket.IPPROTO_TCP:
        return None
    ihl = (vhl & 0x0F) * 4
    if len(pkt) < ihl + 20:
        return None
    return _answer(pkt, ihl, len(pkt), inet.ntop4(src), src, ttl, ip_id)


def parse_v6(segment: bytes, src: str, hoplimit: int | None) -> Answer | None:
    """A TCP segment from a raw IPv6 socket (the kernel strips the IPv6 header)."""
    if len(segment) < 20:
        return None
    packed = socket.inet_pton(socket.AF_INET6, src)
    return _answer(segment, 0, len(segment), src, packed, hoplimit, None)


def _answer(
    buf: bytes, at: int, end: int, src: str, src_packed: bytes, ttl: int | None, ip_id: int | None
) -> Answer | None:
    """The TCP header at ``at`` (the packet ends at ``end``): a SYN/ACK or RST, else None."""
    sport, dport, seq, ack, off, flags, window = _HEADER.unpack_from(buf, at)
    if not flags & TH_RST and flags & (TH_SYN | TH_ACK) != TH_SYN | TH_ACK:
        return None
    # A RST without ACK answers a segment that had ACK set: a bare ACK probe (ack.py), whose
    # ACK number it returns as its own sequence number (RFC 793). Every other answer
    # acknowledges the SYN's sequence number + 1.
    tag = seq if flags & (TH_RST | TH_ACK) == TH_RST else (ack - 1) & 0xFFFFFFFF
    if flags & TH_SYN and not flags & TH_RST:  # RFC 793, SYN-SENT: RST is checked first
        hlen = (off >> 4) * 4
        opts = parse_options(buf[at + 20 : min(at + hlen, end)]) if hlen > 20 else TcpOptions()
        return Answer(_SYN_ACK, src, ttl, src_packed, sport, dport, tag, window, opts, ip_id)
    return Answer(_RST, src, ttl, src_packed, sport, dport, tag, window, None, ip_id)


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


# -------------------------------------------------------------------------- the transport


class Tcp:
    """TCP as the raw engine's transport: SYN probes (transport.Transport)."""

    protocol = Protocol.TCP
    number = socket.IPPROTO_TCP
    checksum_at = 16
    tagged = True

    def __init__(self, template: SynTemplate | None = None) -> None:
        self.template = template if template is not None else syn_template()

    def builder(self, src: bytes, dst: bytes) -> SynBuilderV4 | SynBuilderV6:
        if len(dst) == 16:
            return SynBuilderV6(self.template)
        return SynBuilderV4(self.template, src, dst)

    def answer_filter(self, v6: bool, first: int, span: int) -> list[bpf.Insn]:
        return bpf.to_ports_v6(first, span) if v6 else bpf.to_ports_v4(first, span)

    # The module's functions themselves: the receive loop calls them once per packet.
    parse_v4 = staticmethod(parse_v4)
    parse_v6 = staticmethod(parse_v6)

    def quoted(self, buf: bytes, at: int) -> tuple[int, int, int]:
        sport, dport, seq = _PORTS_SEQ.unpack_from(buf, at)
        return int(sport), int(dport), int(seq)
