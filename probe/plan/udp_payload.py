"""``--payload-hex`` and ``--payload-file``: the bytes a run sends to every UDP port instead of
each port's own request (pure but for reading the one file).

``None`` means no override: each UDP port gets the request of its protocol. ``b""`` is an
override too: an empty datagram to every port.
"""

from __future__ import annotations

import string
from pathlib import Path

from probe.errors import BadInput, quoted
from probe.plan.inputs import read_bytes

__all__ = ["MAX_UDP_PAYLOAD", "parse_hex", "payload_override", "read_payload"]

# The largest UDP payload IPv4 carries: 65535 bytes of IP datagram, less the 20-byte IP header
# and the 8-byte UDP header (IPv6's limit, 65527, is larger: the IPv4 one fits both).
MAX_UDP_PAYLOAD = 65507
_SEPARATORS = str.maketrans("", "", " :\t")
_HEX = frozenset(string.hexdigits)


def parse_hex(text: str) -> bytes:
    """``--payload-hex``: hex digits, with spaces or colons between them if wanted
    (``"de ad:be ef"``) and an optional leading ``0x``. Raises BadInput."""
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    digits = digits.translate(_SEPARATORS)
    bad = next((i for i, ch in enumerate(digits) if ch not in _HEX), None)
    if bad is not None:
        raise BadInput(
            f"--payload-hex must be hex digits (spaces and colons allowed), not {quoted(text)}: "
            f"{quoted(digits[bad])} is no hex digit"
        )
    if len(digits) % 2:
        raise BadInput(
            f"--payload-hex has an odd number of hex digits ({len(digits)}): a byte is two"
        )
    if len(digits) // 2 > MAX_UDP_PAYLOAD:
        raise BadInput(
            f"--payload-hex gives {len(digits) // 2} bytes, more than a UDP datagram carries "
            f"({MAX_UDP_PAYLOAD})"
        )
    return bytes.fromhex(digits)


def read_payload(path: Path) -> bytes:
    """``--payload-file``: the file's bytes, as they are (a regular file of at most
    ``MAX_UDP_PAYLOAD`` bytes). Raises BadInput."""
    return read_bytes(path, "--payload-file", BadInput, limit=MAX_UDP_PAYLOAD)


def payload_override(hex_text: str | None, file: Path | None, has_udp: bool) -> bytes | None:
    """The override the two flags give, or None when neither is given. ``has_udp``: the run
    has UDP ports; without one, either flag is a mistake. Raises BadInput."""
    if hex_text is None and file is None:
        return None
    if hex_text is not None and file is not None:
        raise BadInput("--payload-hex and --payload-file exclude each other: give one")
    flag = "--payload-hex" if hex_text is not None else "--payload-file"
    if not has_udp:
        raise BadInput(
            f"{flag} applies to UDP ports, and there is none to probe: add some "
            "(53/udp, U:53 or --udp)"
        )
    if hex_text is not None:
        return parse_hex(hex_text)
    assert file is not None
    return read_payload(file)
