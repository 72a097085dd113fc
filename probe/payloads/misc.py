"""Small binary protocols: TFTP (69), RADIUS (1812), STUN (3478), CoAP (5683), memcached
(11211)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct

from probe.payloads.base import Entry, Expect, UdpRequest, clean_text, u16, u32

__all__ = ["COAP", "MEMCACHED", "RADIUS", "STUN", "TFTP"]

_RADIUS_ID = 0x70
_RADIUS_CODES = {
    2: "Access-Accept",
    3: "Access-Reject",
    5: "Accounting-Response",
    11: "Access-Challenge",
}
_STUN_MAGIC = 0x2112A442
_STUN_TXID = b"probe-\x70\x72\x05\x06\x07\x08"  # 12 bytes, echoed by the server
_COAP_MESSAGE_ID = 0x7072
_MEMCACHED_REQUEST_ID = 0x7072
_TFTP_FILE = "probe-reachability-check"  # a name no server has: the answer is an ERROR


def build_tftp() -> bytes:
    """A read request (RFC 1350) in octet mode for a file no server has. Quirk: the
    server's answer (DATA or ERROR) comes from a new port of its own (its transfer ID), not
    from 69, so the answer must be matched by address and our port only."""
    from scapy.layers.tftp import TFTP as ScapyTFTP
    from scapy.layers.tftp import TFTP_RRQ

    return bytes(ScapyTFTP() / TFTP_RRQ(filename=_TFTP_FILE, mode="octet"))


def decode_tftp(reply: bytes) -> str | None:
    """ "TFTP error 1: File not found" / "TFTP: data block 1"."""
    if len(reply) < 4 or reply[0] != 0:
        return None
    opcode = reply[1]
    if opcode == 5:  # ERROR: code, message, NUL
        if not reply.endswith(b"\0"):
            return None
        message = clean_text(reply[4:-1])
        return f"TFTP error {u16(reply, 2)}" + (f": {message}" if message else "")
    if opcode == 3:
        return f"TFTP: data block {u16(reply, 2)}"
    if opcode == 6:
        return "TFTP: option acknowledgement"
    return None


def build_radius() -> bytes:
    """A Status-Server (RFC 5997) with its mandatory Message-Authenticator. probe does not
    know the shared secret, so the HMAC-MD5 is keyed with an empty one: a server that checks
    it (all of them) or that does not know our address drops the packet without a word."""
    from scapy.layers.radius import Radius, RadiusAttr_Message_Authenticator

    packet = Radius(
        code=12,
        id=_RADIUS_ID,
        authenticator=bytes(range(16)),
        attributes=[RadiusAttr_Message_Authenticator(value=bytes(16))],  # type: ignore[no-untyped-call]
    )
    raw = bytes(packet)
    digest = hmac.new(b"", raw, hashlib.md5).digest()
    return raw[:-16] + digest  # the attribute is the last one: its value is the last 16


def decode_radius(reply: bytes) -> str | None:
    """ "RADIUS server: Access-Reject"."""
    if len(reply) < 20 or reply[1] != _RADIUS_ID or not 20 <= u16(reply, 2) <= len(reply):
        return None
    name = _RADIUS_CODES.get(reply[0])
    return None if name is None else f"RADIUS server: {name}"


def build_stun() -> bytes:
    """A Binding request (RFC 8489 6): type 0x0001, no attributes, the magic cookie and
    our 96-bit transaction ID."""
    return struct.pack("!HHI12s", 0x0001, 0, _STUN_MAGIC, _STUN_TXID)


def _stun_address(value: bytes, xor: bool) -> str | None:
    """MAPPED-ADDRESS / XOR-MAPPED-ADDRESS (RFC 8489 14.1, 14.2) -> "198.18.0.2:40000"."""
    if len(value) < 8:
        return None
    family, port = value[1], u16(value, 2)
    raw = value[4:]
    if xor:
        port ^= _STUN_MAGIC >> 16
        key = struct.pack("!I", _STUN_MAGIC) + _STUN_TXID
        raw = bytes(a ^ b for a, b in zip(raw, key, strict=False))
    if family == 1:
        return f"{ipaddress.IPv4Address(raw[:4])}:{port}"
    if family == 2 and len(raw) >= 16:
        return f"[{ipaddress.IPv6Address(raw[:16])}]:{port}"
    return None


def decode_stun(reply: bytes) -> str | None:
    """ "STUN binding success, mapped 198.18.0.2:40000" / "STUN binding error 401"."""
    if len(reply) < 20 or u32(reply, 4) != _STUN_MAGIC or reply[8:20] != _STUN_TXID:
        return None
    kind = u16(reply, 0)
    end = min(len(reply), 20 + u16(reply, 2))
    mapped: str | None = None
    error: int | None = None
    pos = 20
    for _ in range(32):
        if pos + 4 > end:
            break
        attr, size = u16(reply, pos), u16(reply, pos + 2)
        value = reply[pos + 4 : pos + 4 + size]
        if attr in (0x0020, 0x0001) and mapped is None:
            mapped = _stun_address(value, xor=attr == 0x0020)
        elif attr == 0x0009 and len(value) >= 4:  # ERROR-CODE: class * 100 + number
            error = (value[2] & 7) * 100 + value[3]
        pos += 4 + size + (-size % 4)  # attributes are padded to 4 bytes
    if kind == 0x0101:
        return "STUN binding success" + (f", mapped {mapped}" if mapped else "")
    if kind == 0x0111:
        return "STUN binding error" + (f" {error}" if error is not None else "")
    return None


def build_coap() -> bytes:
    """A confirmable GET /.well-known/core (RFC 7252 3, RFC 6690): version 1, type CON,
    no token, code 0.01, our message ID, then two Uri-Path options (number 11): the first
    with delta 11 and length 11, the second with delta 0 and length 4."""
    header = struct.pack("!BBH", 0x40, 0x01, _COAP_MESSAGE_ID)
    return header + b"\xbb.well-known" + b"\x04core"


def decode_coap(reply: bytes) -> str | None:
    """ "CoAP 2.05" / "CoAP reset"."""
    if len(reply) < 4 or reply[0] >> 6 != 1 or (reply[0] & 0x0F) > 8:
        return None
    kind, code = (reply[0] >> 4) & 3, reply[1]
    if kind in (2, 3) and u16(reply, 2) != _COAP_MESSAGE_ID:  # ACK/RST echo our message ID
        return None
    if kind == 3:
        return "CoAP reset"
    if code == 0:
        return "CoAP: empty acknowledgement"
    if code >> 5 not in (2, 4, 5):  # responses only: success, client error, server error
        return None
    return f"CoAP {code >> 5}.{code & 0x1F:02d}"


def build_memcached() -> bytes:
    """``version`` over UDP: memcached's 8-byte frame header (request ID, sequence number
    0, one datagram in all, reserved) before the text command (memcached's protocol.txt)."""
    return struct.pack("!HHHH", _MEMCACHED_REQUEST_ID, 0, 1, 0) + b"version\r\n"


def decode_memcached(reply: bytes) -> str | None:
    """ "memcached VERSION 1.6.21"."""
    if len(reply) < 10 or u16(reply, 0) != _MEMCACHED_REQUEST_ID:
        return None
    text = reply[8:]
    if text.startswith(b"VERSION "):
        return "memcached " + clean_text(text.split(b"\r\n", 1)[0])
    if text.startswith((b"ERROR", b"SERVER_ERROR", b"CLIENT_ERROR")):
        return "memcached: " + clean_text(text.split(b"\r\n", 1)[0])
    return None


TFTP = Entry(
    UdpRequest(
        "tftp",
        (69,),
        "a TFTP read request for a file that does not exist",
        Expect.ALWAYS,
        "a TFTP server answers every read request, with the file or an error, so silence"
        " means the request was dropped (or its answer, which comes from another port)",
    ),
    (build_tftp,),
    (decode_tftp,),
)
RADIUS = Entry(
    UdpRequest(
        "radius",
        (1812,),
        "a RADIUS Status-Server (without the shared secret)",
        Expect.SOMETIMES,
        "a RADIUS server drops packets from clients it does not know or with a wrong secret,"
        " without a word, so silence is its normal answer to probe",
    ),
    (build_radius,),
    (decode_radius,),
)
STUN = Entry(
    UdpRequest(
        "stun",
        (3478,),
        "a STUN binding request",
        Expect.ALWAYS,
        "a STUN or TURN server answers every binding request, so silence means the request"
        " was dropped or nothing serves STUN there",
    ),
    (build_stun,),
    (decode_stun,),
)
COAP = Entry(
    UdpRequest(
        "coap",
        (5683,),
        "a CoAP GET /.well-known/core",
        Expect.ALWAYS,
        "a CoAP server answers a confirmable request (if only with an error or a reset), so"
        " silence means the request was dropped",
    ),
    (build_coap,),
    (decode_coap,),
)
MEMCACHED = Entry(
    UdpRequest(
        "memcached",
        (11211,),
        "a memcached 'version' command",
        Expect.ALWAYS,
        "memcached with UDP on answers every command; UDP is off by default since 1.5.6, and"
        " then the port is closed rather than silent, so silence means a drop",
    ),
    (build_memcached,),
    (decode_memcached,),
)
