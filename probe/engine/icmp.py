"""ICMP and ICMPv6 errors that answer a probe, whatever its transport.

A router or firewall that drops a probe with an error (destination unreachable, time
exceeded) quotes the probe's IP header and at least the first 8 bytes of its transport
header: ports and, for TCP, the sequence number. The quote is what ties the error to the
probe: the transport whose protocol number the quoted header names decodes those 8 bytes
(``Transport.quoted``), and the answer is matched like any other.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from collections.abc import Mapping, Sequence

from probe.engine.base import Job
from probe.engine.transport import Answer, Transport
from probe.model import AnswerKind, Protocol

_V4_ERRORS = (3, 11)  # destination unreachable, time exceeded (trace)
_V6_ERRORS = (1, 3)


class IcmpDecoder:
    """Errors quoting a probe of one of ``transports`` (by IP protocol number)."""

    def __init__(self, transports: Mapping[int, Transport]) -> None:
        self._by_number = dict(transports)

    def parse_v4(self, pkt: bytes) -> Answer | None:
        """An IPv4 packet from a raw ICMP socket."""
        if len(pkt) < 20 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_ICMP:
            return None
        ihl = (pkt[0] & 0x0F) * 4
        at = ihl + 8  # the quoted IP header
        if len(pkt) < at + 20 + 8 or pkt[ihl] not in _V4_ERRORS:
            return None
        transport = self._by_number.get(pkt[at + 9])
        qihl = (pkt[at] & 0x0F) * 4
        if transport is None or pkt[at] >> 4 != 4 or len(pkt) < at + qihl + 8:
            return None
        sport, dport, tag = transport.quoted(pkt, at + qihl)
        return Answer(
            AnswerKind.ICMP,
            socket.inet_ntop(socket.AF_INET, pkt[12:16]),
            pkt[8],
            bytes(pkt[at + 16 : at + 20]),
            dport,
            sport,
            tag,
            ip_id=struct.unpack_from("!H", pkt, 4)[0],
            icmp_type=pkt[ihl],
            icmp_code=pkt[ihl + 1],
        )

    def parse_v6(self, msg: bytes, src: str, hoplimit: int | None) -> Answer | None:
        """An ICMPv6 message from a raw ICMPv6 socket (the kernel strips the IPv6 header)."""
        if len(msg) < 8 + 40 + 8 or msg[0] not in _V6_ERRORS:
            return None
        # Quoted IPv6 header: next header at 6, destination at 24..40. Our probes carry no
        # extension headers, so the transport header follows at 40.
        transport = self._by_number.get(msg[8 + 6])
        if transport is None or msg[8] >> 4 != 6:
            return None
        sport, dport, tag = transport.quoted(msg, 8 + 40)
        return Answer(
            AnswerKind.ICMP,
            src,
            hoplimit,
            bytes(msg[8 + 24 : 8 + 40]),
            dport,
            sport,
            tag,
            icmp_type=msg[0],
            icmp_code=msg[1],
        )


# Errors whose senders are known to rate-limit them and whose later absence is misread as a
# drop: a router's host / network unreachable (the SYNs after the pings get nothing), and a
# host's own port unreachable for UDP (a closed port is known by nothing else). A firewall's
# administratively prohibited is left alone: it answers for a few ports, and slowing every
# other port of the host down for them would cost a full-range scan dearly.
_UNREACH_V4 = frozenset({0, 1, 6, 7})  # net, host, net unknown, host unknown
_UNREACH_V6 = frozenset({0, 3})  # no route, address unreachable
SPACING = 1.0  # seconds between tries to an address once its ICMP errors are rate-limited
SPACED_MAX = 16  # probes to one address in a scan, at most, for its retries to be spaced


def rate_limited(a: Answer, address: str, protocol: Protocol) -> bool:
    """``a`` (an ICMP error answering a probe to ``address``) comes from a sender that
    rate-limits such errors, and whose later silence would be misread."""
    v6 = len(a.target) == 16
    if a.icmp_type != (1 if v6 else 3):
        return False
    own = a.responder == address
    if own:
        return protocol is Protocol.UDP and a.icmp_code == (4 if v6 else 3)
    return a.icmp_code in (_UNREACH_V6 if v6 else _UNREACH_V4)


def crowded(jobs: Sequence[Job]) -> set[str]:
    """The addresses with more than SPACED_MAX probes: spacing their retries would not decide
    more ports (one ICMP token a second for all of them) and would slow the whole scan."""
    per_address = Counter(job.address for job in jobs)
    return {a for a, n in per_address.items() if n > SPACED_MAX}
