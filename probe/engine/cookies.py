"""Which probe an answer belongs to: cookies in the probe, try numbers in the source port.

Every probe carries a tag the answer gives back: for TCP the SYN's sequence number (a SYN/ACK
or RST acknowledges it + 1, an ICMP error quotes it). Its upper 28 bits are a cookie — a
keyed hash of (destination, port, TTL, protocol) with a key of the scan's own — and its lower
4 bits the try number. The TTL is in the hash so that probes to one port at several TTLs
(trace) are told apart by their answers; the key so that a stray or forged packet, or another
scan's answer, never passes for ours.

Source ports come in blocks of 16: a scan owns one block while it runs, and try N of a probe
leaves from the block's first port + N (1..15). A retry from the same port with a new
sequence number would hit the server's half-open connection when its SYN/ACK was lost, and
Linux answers that with a RST: a false "refused" on a lossy path (nmap varies the source
port per try for the same reason). Blocks are aligned, so a port's upper bits name its block
(the scan an answer is routed to) and its lower 4 bits the try.
"""

from __future__ import annotations

import struct
import zlib

TRY_BITS = 4
TRY_MASK = (1 << TRY_BITS) - 1
BLOCK = 1 << TRY_BITS  # source ports per scan: the block's first port is never used
MASK32 = 0xFFFFFFFF


_TAIL = struct.Struct("!HBB")


def prefix(key: int, dst: bytes) -> int:
    """The cookie hash's state after the scan's key and the destination: computed once per
    destination, as a full-range scan makes 65535 cookies to one."""
    return zlib.crc32(dst, key)


def cookie(prefix: int, port: int, ttl: int, number: int) -> int:
    """The upper 28 bits of a probe's tag (lower 4 bits: the try number), from the
    destination's ``prefix``; ``number`` is the IP protocol number, so a TCP and a UDP probe
    to one port never share a cookie."""
    return (zlib.crc32(_TAIL.pack(port, ttl & 0xFF, number & 0xFF), prefix) << TRY_BITS) & MASK32


def split(tag: int) -> tuple[int, int]:
    """(cookie, try number) of a probe's tag."""
    return tag & ~TRY_MASK & MASK32, tag & TRY_MASK


def block_of(port: int) -> int:
    """The number of the block a source port belongs to."""
    return port >> TRY_BITS
