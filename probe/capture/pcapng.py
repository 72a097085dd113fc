"""The pcapng format's pieces the reader needs (pure): block types, the shortest length each
block can have, and an Interface Description Block's link type, snap length and clock.

A block is ``type, length, body, length`` (both lengths equal, a multiple of 4). A length
shorter than the block type's fixed fields is damage: reading the fields would run into the
next block, or past the end of the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

SHB: Final = b"\x0a\x0d\x0d\x0a"  # Section Header Block, as it starts the file
BOM: Final = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}  # byte-order magic

IDB: Final = 1  # Interface Description Block
PB: Final = 2  # Packet Block (obsolete)
SPB: Final = 3  # Simple Packet Block
EPB: Final = 6  # Enhanced Packet Block

# type -> the shortest valid block: 8 bytes of type and length, the fixed fields, 4 bytes of
# trailing length. Other types need only the 12.
MIN_LENGTH: Final = {
    0x0A0D0D0A: 28,  # BOM, version, section length
    IDB: 20,  # link type, reserved, snap length
    PB: 32,  # interface, drops, timestamp, captured and original lengths
    SPB: 16,  # original length
    EPB: 32,  # interface, timestamp, captured and original lengths
}


@dataclass(frozen=True, slots=True)
class Interface:
    link: int
    scale: float  # seconds per timestamp tick
    offset: float  # seconds added to every timestamp (if_tsoffset)
    snaplen: int


def interface(buf: bytes, pos: int, blen: int, order: str) -> Interface:
    """The Interface Description Block at ``buf[pos:pos + blen]`` (at least MIN_LENGTH)."""
    link, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, pos + 8)
    scale, offset = 1e-6, 0.0  # pcapng's default resolution: microseconds
    opt = pos + 16
    stop = pos + blen - 4
    opt_head = struct.Struct(order + "HH").unpack_from
    while opt + 4 <= stop:
        code, length = opt_head(buf, opt)
        if code == 0:  # opt_endofopt
            break
        value = opt + 4
        if value + length > stop:
            break
        if code == 9 and length >= 1:  # if_tsresol: a power of 10, or of 2 with the top bit
            v = buf[value]
            scale = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0**-v
        elif code == 14 and length >= 8:  # if_tsoffset: seconds
            offset = float(struct.unpack_from(order + "q", buf, value)[0])
        opt = value + ((length + 3) & ~3)
    return Interface(link, scale, offset, snaplen)
