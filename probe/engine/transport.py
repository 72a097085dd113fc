"""What the raw engine asks of each transport protocol: build a probe, filter and decode its
answers. tcp.py and udp.py implement it; the engine, the scan loop and the receive
side work with any of them through this interface and the decoded ``Answer`` record.
"""

from __future__ import annotations

import typing
from typing import NamedTuple

from probe.engine.bpf import Insn
from probe.model import AnswerKind, Protocol, TcpOptions


class Answer(NamedTuple):
    """One decoded packet that may answer a probe. A named tuple: a full-range scan decodes
    65535 of these, and a tuple is built several times faster than a frozen dataclass."""

    kind: AnswerKind  # SYN_ACK, RST, ICMP (an error quoting the probe)
    responder: str  # who sent this packet
    ttl: int | None  # IP TTL / hop limit of this packet
    target: bytes  # packed address the probe went to
    port: int  # the probe's destination port
    sport: int  # the probe's source port (ours)
    tag: int  # the probe's tag (cookies.py): TCP's sequence number, from the ACK or a quote
    window: int | None = None
    options: TcpOptions | None = None  # a SYN/ACK's, decoded
    ip_id: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    payload: bytes | None = None  # a UDP reply's data (its first model.REPLY_KEEP bytes)


class Builder(typing.Protocol):
    """Probes of one transport to one destination, as the raw socket sends them: IPv4 with
    the IP header (ours to write: TTL and DF), IPv6 without (the kernel writes it, the hop
    limit goes as ancillary data)."""

    def build(self, sport: int, dport: int, tag: int, ttl: int, payload: bytes) -> bytes: ...


class Transport(typing.Protocol):
    """One transport protocol, as the raw engine uses it. Ports sit at bytes 0-3 of its
    header (the kernel filters in bpf.py rely on that)."""

    protocol: Protocol
    number: int  # IP protocol number (IPv6: next header)
    checksum_at: int  # offset of the checksum in its header: the IPv6 kernel fills it in
    # Whether answers give the probe's tag back (TCP: the ACK number). A transport whose
    # answers do not (a UDP reply) gives as tag the try number its destination port stands
    # for (the cookie part 0), and its probes are told apart by address and ports alone.
    tagged: bool

    def builder(self, src: bytes, dst: bytes) -> Builder:
        """Probes from ``src`` to ``dst`` (packed: 4 bytes IPv4, 16 bytes IPv6)."""
        ...

    def answer_filter(self, v6: bool, first: int, span: int) -> list[Insn]:
        """The BPF program for this protocol's raw receive socket: answers to our ports."""
        ...

    def parse_v4(self, pkt: bytes) -> Answer | None:
        """An IPv4 packet of this protocol as its raw socket returns it, if it answers a probe."""
        ...

    def parse_v6(self, segment: bytes, src: str, hoplimit: int | None) -> Answer | None:
        """The same for IPv6, where the kernel strips the IP header."""
        ...

    def quoted(self, buf: bytes, at: int) -> tuple[int, int, int]:
        """(source port, destination port, tag) of a probe quoted in an ICMP error: the first
        8 bytes of its header start at ``at`` (all an IPv4 router must quote)."""
        ...
