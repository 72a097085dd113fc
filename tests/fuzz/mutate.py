"""Mutations of capture files, deterministic for a given ``random.Random``.

Blind ones (flip a bit, set a byte, overwrite a 32-bit word with a boundary value, cut,
insert, duplicate or drop a slice, splice two files) and ones aimed at the fields a reader
trusts: the length of a pcap record or pcapng block (set to 0, 12-28, just too large, huge),
a pcapng block cut right after a short length, and an Interface Description Block's clock
(``if_tsresol`` of whole seconds or coarser, ``if_tsoffset`` near +-2^63) — the shapes of
the damage the issue's 5,400 mutated captures found.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

_WORDS = (0, 1, 11, 12, 16, 20, 24, 27, 28, 31, 32, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000)
_WORDS += (0xFFFFFFFF, 1 << 24, (1 << 24) + 4)


def fields(data: bytes) -> list[tuple[int, str, int]]:
    """(offset of the length field, byte order, record or block type) of every pcap record
    (type -1) or pcapng block in ``data``, as far as the file can be walked."""
    out: list[tuple[int, str, int]] = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos, order = 0, "<"
        while pos + 12 <= len(data):
            if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
                order = ">" if data[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d" else "<"
            btype, blen = struct.unpack_from(order + "II", data, pos)
            out.append((pos + 4, order, btype))
            if blen < 12 or blen % 4:
                break
            pos += blen
    elif len(data) >= 24:
        order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        pos = 24
        while pos + 16 <= len(data):
            out.append((pos + 8, order, -1))
            pos += 16 + struct.unpack_from(order + "I", data, pos + 8)[0]
    return out


def _flip(rng: random.Random, b: bytearray, other: bytes) -> None:
    at = rng.randrange(len(b))
    b[at] ^= 1 << rng.randrange(8)


def _byte(rng: random.Random, b: bytearray, other: bytes) -> None:
    b[rng.randrange(len(b))] = rng.choice((0, 1, 0x45, 0x60, 0x7F, 0x80, 0xFF, rng.randrange(256)))


def _word(rng: random.Random, b: bytearray, other: bytes) -> None:
    at = rng.randrange(max(1, len(b) - 3))
    value = rng.choice(_WORDS)
    b[at : at + 4] = value.to_bytes(4, rng.choice(("little", "big")))


def _cut(rng: random.Random, b: bytearray, other: bytes) -> None:
    del b[rng.randrange(len(b) + 1) :]


def _insert(rng: random.Random, b: bytearray, other: bytes) -> None:
    at = rng.randrange(len(b) + 1)
    b[at:at] = rng.randbytes(rng.randint(1, 32))


def _duplicate(rng: random.Random, b: bytearray, other: bytes) -> None:
    at = rng.randrange(len(b))
    piece = b[at : at + rng.randint(1, 256)]
    where = rng.randrange(len(b) + 1)
    b[where:where] = piece


def _drop(rng: random.Random, b: bytearray, other: bytes) -> None:
    at = rng.randrange(len(b))
    del b[at : at + rng.randint(1, 64)]


def _splice(rng: random.Random, b: bytearray, other: bytes) -> None:
    at = rng.randrange(len(b) + 1)
    b[at:] = other[rng.randrange(len(other) + 1) :]


def _length(rng: random.Random, b: bytearray, other: bytes) -> None:
    """A record's or block's length set to a boundary value; sometimes the file ends there."""
    found = fields(bytes(b))
    if not found:
        _word(rng, b, other)
        return
    at, order, _ = rng.choice(found)
    value = rng.choice((0, 4, 12, 16, 20, 24, 27, 28, 32, 0xFFFF, 0xFFFFFFFF, 1 << 24))
    b[at : at + 4] = struct.pack(order + "I", value)
    if rng.random() < 0.5:
        del b[at + 4 + rng.randrange(0, 28) :]


def _clock(rng: random.Random, b: bytearray, other: bytes) -> None:
    """An interface's timestamp resolution or offset set to an extreme (pcapng only)."""
    found = [(at, order) for at, order, btype in fields(bytes(b)) if btype == 1]
    if not found:
        _length(rng, b, other)
        return
    at, order = rng.choice(found)
    start = at + 12  # the block's options, past link type, reserved and snap length
    if rng.random() < 0.5:
        value = bytes((rng.choice((0, 0x80, 0x81, 0xFF, 0x7F, 0xC0)),))
        option = struct.pack(order + "HH", 9, 1) + value + b"\x00\x00\x00"
    else:
        value = struct.pack(order + "q", rng.choice((2**63 - 1, -(2**63), -100_000_000, 2**40)))
        option = struct.pack(order + "HH", 14, 8) + value
    b[start : start + len(option)] = option


MUTATIONS: tuple[Callable[[random.Random, bytearray, bytes], None], ...] = (
    _flip,
    _byte,
    _word,
    _word,
    _cut,
    _insert,
    _duplicate,
    _drop,
    _splice,
    _length,
    _length,
    _length,
    _clock,
    _clock,
)


def mutant(rng: random.Random, seeds: list[bytes]) -> bytes:
    """One to five mutations of one seed."""
    b = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 5)):
        if not b:
            break
        rng.choice(MUTATIONS)(rng, b, rng.choice(seeds))
    return bytes(b)
