"""--payload-hex and --payload-file: what each accepts, and every refusal as one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.errors import BadInput
from probe.plan.udp_payload import MAX_UDP_PAYLOAD, parse_hex, payload_override, read_payload


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deadbeef", b"\xde\xad\xbe\xef"),
        ("DE AD BE EF", b"\xde\xad\xbe\xef"),
        ("de:ad:be:ef", b"\xde\xad\xbe\xef"),
        (" 0x0102 ", b"\x01\x02"),
        ("0X01\t02", b"\x01\x02"),
        ("", b""),  # an empty datagram to every UDP port: an override too
    ],
)
def test_hex_payloads(text: str, expected: bytes) -> None:
    assert parse_hex(text) == expected


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("zz", "--payload-hex must be hex digits (spaces and colons allowed), not 'zz': 'z'"),
        ("01-02", "'-' is no hex digit"),
        ("abc", "odd number of hex digits (3): a byte is two"),
        ("\x1b[31m", "'\\x1b[31m'"),
        ("00" * (MAX_UDP_PAYLOAD + 1), f"{MAX_UDP_PAYLOAD + 1} bytes, more than a UDP datagram"),
    ],
)
def test_bad_hex_is_one_line(text: str, piece: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_hex(text)
    message = str(info.value)
    assert piece in message and message.isprintable() and len(message) < 400


def test_payload_file_is_read_as_bytes_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "request.bin"
    path.write_bytes(b"\x00\xff" * 10)
    assert read_payload(path) == b"\x00\xff" * 10
    path.write_bytes(b"x" * MAX_UDP_PAYLOAD)
    assert len(read_payload(path)) == MAX_UDP_PAYLOAD
    path.write_bytes(b"x" * (MAX_UDP_PAYLOAD + 1))
    with pytest.raises(BadInput, match=r"request\.bin is larger than 65507 bytes"):
        read_payload(path)
    with pytest.raises(BadInput, match=r"cannot read --payload-file .*absent: No such file"):
        read_payload(tmp_path / "absent")
    os.mkfifo(tmp_path / "pipe")  # refused before it is read: a FIFO may never end
    with pytest.raises(BadInput, match="it is a FIFO"):
        read_payload(tmp_path / "pipe")
    with pytest.raises(BadInput, match="it is a directory"):
        read_payload(tmp_path)


def test_override_rules(tmp_path: Path) -> None:
    path = tmp_path / "p.bin"
    path.write_bytes(b"hello")
    assert payload_override(None, None, has_udp=True) is None
    assert payload_override(None, None, has_udp=False) is None
    assert payload_override("68 65", None, has_udp=True) == b"he"
    assert payload_override(None, path, has_udp=True) == b"hello"
    with pytest.raises(BadInput, match="--payload-hex and --payload-file exclude each other"):
        payload_override("00", path, has_udp=True)
    with pytest.raises(BadInput, match="--payload-hex applies to UDP ports, and there is none"):
        payload_override("00", None, has_udp=False)
    with pytest.raises(BadInput, match="--payload-file applies to UDP ports"):
        payload_override(None, path, has_udp=False)
