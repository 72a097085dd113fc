"""The records of the payload table and the small readers every decoder shares.

Decoders here and in the protocol modules are pure byte readers: they never import scapy
(only the request builders do, lazily) and never raise on any input; a reply that is not
the protocol gives ``None``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Builder",
    "Decoder",
    "Entry",
    "Expect",
    "UdpRequest",
    "clean_text",
    "header_value",
    "u16",
    "u32",
]

TEXT_MAX = 60  # characters of a string taken from a reply (server names, descriptions)

Builder = Callable[[], bytes]
Decoder = Callable[[bytes], "str | None"]


class Expect(StrEnum):
    """Does a server of this protocol answer this request?"""

    ALWAYS = "always"  # DNS, NTP, SIP OPTIONS, STUN, TFTP, NetBIOS, memcached, CoAP, SSDP
    SOMETIMES = "sometimes"  # depends on configuration: community, secret, policy, version
    NEVER = "never"  # syslog, WireGuard without the right key: silence is normal


@dataclass(frozen=True, slots=True)
class UdpRequest:
    """What probe sends to a well-known UDP port, in words for the findings."""

    protocol: str  # short name: "dns", "ntp", "snmp", ...
    ports: tuple[int, ...]  # the well-known ports it is sent to
    request: str  # "an NTP client request (mode 3)"
    expect: Expect
    why: str  # one sentence: why silence means what it means


@dataclass(frozen=True, slots=True)
class Entry:
    """One protocol of the table: its words, the datagrams tried in turn, its decoders."""

    info: UdpRequest
    builders: tuple[Builder, ...]
    decoders: tuple[Decoder, ...]


def u16(data: bytes, offset: int) -> int:
    """Big-endian 16-bit integer at ``offset`` (the caller checked the length)."""
    value: int = struct.unpack_from("!H", data, offset)[0]
    return value


def u32(data: bytes, offset: int) -> int:
    """Big-endian 32-bit integer at ``offset`` (the caller checked the length)."""
    value: int = struct.unpack_from("!I", data, offset)[0]
    return value


def clean_text(raw: bytes | str, limit: int = TEXT_MAX) -> str:
    """Text from a reply made safe to print: control characters out, spaces squeezed, cut."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def header_value(lines: list[str], name: str) -> str | None:
    """The value of the first ``Name: value`` header line of ``lines`` (case-insensitive)."""
    wanted = name.lower()
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == wanted:
            return clean_text(value)
    return None
