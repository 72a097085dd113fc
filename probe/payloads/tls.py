"""Encrypted transports over UDP: QUIC (443) and DTLS (443, 4433, 5349)."""

from __future__ import annotations

import struct

from probe.payloads.base import Entry, Expect, UdpRequest, u16, u32

__all__ = ["DTLS", "QUIC"]

QUIC_SIZE = 1200  # RFC 9000 14.1: a client's Initial fills a datagram of at least 1200 bytes
# RFC 9000 15: versions of the form 0x?a?a?a?a are reserved to force version negotiation.
# A version-1 Initial whose payload does not decrypt is dropped silently by every server
# (the keys come from the connection ID, and a bad AEAD tag is not answered); an unknown
# version in a full-size Initial is answered with Version Negotiation (RFC 9000 6.1)
# without any cryptography, which is all a reachability check needs.
QUIC_FORCE_NEGOTIATION = 0x1A2A3A4A
_QUIC_DCID = b"probe\x70\x72\x03"
_QUIC_SCID = b"probe\x70\x72\x04"
_QUIC_VERSIONS = {1: "1", 0x6B3343CF: "2"}

_DTLS_VERSIONS = {0xFEFF: "DTLS 1.0", 0xFEFD: "DTLS 1.2", 0xFEFC: "DTLS 1.3"}
_HANDSHAKE, _ALERT = 22, 21
_SERVER_HELLO, _HELLO_VERIFY = 2, 3
_ALERTS = {
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    47: "illegal_parameter",
    50: "decode_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    109: "missing_extension",
    112: "unrecognized_name",
}
# ECDHE with AES-GCM (web, WebRTC), RSA key exchange, and the CCM_8 / PSK suites of
# constrained devices (CoAP over DTLS, RFC 7252 9.1.3).
_CIPHER_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0x009C, 0x002F, 0xC0AE, 0xC0A8)


def build_quic() -> bytes:
    """A long-header Initial (RFC 9000 17.2.2) with a reserved version, padded to 1200."""
    from scapy.layers.quic import QUIC_Initial

    # header: 1 + version 4 + DCID 1+8 + SCID 1+8 + token length 1 + Length 2 + PN 1
    header_size = 27
    padding = QUIC_SIZE - header_size  # PADDING frames are zero bytes
    initial = QUIC_Initial(
        Version=QUIC_FORCE_NEGOTIATION,
        DstConnID=_QUIC_DCID,
        SrcConnID=_QUIC_SCID,
        PacketNumber=0,
        Length=1 + padding,  # packet number and payload
    )
    return bytes(initial) + bytes(padding)


def decode_quic(reply: bytes) -> str | None:
    """ "QUIC: version negotiation, versions 1, 2" / "QUIC server, version 1"."""
    if len(reply) < 7 or not reply[0] & 0x80:  # long header only
        return None
    version = u32(reply, 1)
    dcid_len = reply[5]
    if dcid_len > 20 or len(reply) < 7 + dcid_len:
        return None
    scid_at = 6 + dcid_len
    scid_len = reply[scid_at]
    body = scid_at + 1 + scid_len
    if scid_len > 20 or len(reply) < body:
        return None
    if version == 0:  # Version Negotiation: our SCID comes back as its DCID
        if reply[6:scid_at] != _QUIC_SCID:
            return None
        count = min((len(reply) - body) // 4, 16)
        offered = [u32(reply, body + 4 * i) for i in range(count)]
        names = [
            _QUIC_VERSIONS.get(v, f"0x{v:08x}") for v in offered if v & 0x0F0F0F0F != 0x0A0A0A0A
        ]
        return "QUIC: version negotiation, versions " + (", ".join(names) or "none")
    if not reply[0] & 0x40:  # the fixed bit of every other QUIC long header
        return None
    kind = "retry" if (reply[0] >> 4) & 3 == 3 else "server"
    return f"QUIC {kind}, version {_QUIC_VERSIONS.get(version, f'0x{version:08x}')}"


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def build_dtls() -> bytes:
    """A DTLS 1.2 ClientHello (RFC 6347 4.2.2, 4.3.2) in one DTLS 1.0 record, as OpenSSL
    sends its first flight: empty session ID and cookie. A server answers with a
    HelloVerifyRequest (its cookie), a ServerHello, or an alert. scapy has TLS layers but
    none for DTLS's record and handshake headers, so struct."""
    suites = b"".join(struct.pack("!H", s) for s in _CIPHER_SUITES)
    extensions = b"".join(
        (
            _extension(10, struct.pack("!HHHH", 6, 0x001D, 0x0017, 0x0018)),  # groups
            _extension(11, b"\x01\x00"),  # EC point formats: uncompressed
            _extension(13, struct.pack("!H5H", 10, 0x0403, 0x0804, 0x0401, 0x0503, 0x0501)),
            _extension(23, b""),  # extended master secret
            _extension(0xFF01, b"\x00"),  # renegotiation info, empty
        )
    )
    body = (
        struct.pack("!H", 0xFEFD)  # client_version: DTLS 1.2
        + bytes(range(32))  # random
        + b"\x00"  # session ID: none
        + b"\x00"  # cookie: none yet
        + struct.pack("!H", len(suites))
        + suites
        + b"\x01\x00"  # compression: null only
        + struct.pack("!H", len(extensions))
        + extensions
    )
    size = len(body).to_bytes(3, "big")
    # msg_type 1, length, message_seq 0, fragment_offset 0, fragment_length = length
    handshake = b"\x01" + size + b"\x00\x00" + b"\x00\x00\x00" + size + body
    # content type 22, version DTLS 1.0 (as in a first flight), epoch 0, sequence number 0
    return struct.pack("!BHH6sH", _HANDSHAKE, 0xFEFF, 0, bytes(6), len(handshake)) + handshake


def decode_dtls(reply: bytes) -> str | None:
    """ "DTLS server, HelloVerifyRequest" / "DTLS server, ServerHello (DTLS 1.2)" / alert."""
    if len(reply) < 13 or reply[0] not in (_HANDSHAKE, _ALERT):
        return None
    if u16(reply, 1) not in _DTLS_VERSIONS or u16(reply, 11) > len(reply) - 13:
        return None
    if reply[0] == _ALERT:
        if len(reply) < 15:
            return None
        description = reply[14]
        return f"DTLS alert: {_ALERTS.get(description, f'alert {description}')}"
    if len(reply) < 25:
        return None
    kind = reply[13]
    if kind == _HELLO_VERIFY:
        return "DTLS server, HelloVerifyRequest"
    if kind == _SERVER_HELLO and len(reply) >= 27:
        version = _DTLS_VERSIONS.get(u16(reply, 25), "unknown version")
        return f"DTLS server, ServerHello ({version})"
    return None


QUIC = Entry(
    UdpRequest(
        "quic",
        (443,),
        "a QUIC Initial (1200 bytes, a version that forces version negotiation),"
        " then a DTLS ClientHello",
        Expect.SOMETIMES,
        "a QUIC server answers an unknown version with version negotiation, but not every"
        " server on 443/udp speaks QUIC (or DTLS), so silence is often just no QUIC there",
    ),
    (build_quic, build_dtls),
    (decode_quic, decode_dtls),
)
DTLS = Entry(
    UdpRequest(
        "dtls",
        (4433, 5349),
        "a DTLS 1.2 ClientHello",
        Expect.SOMETIMES,
        "a DTLS server answers a ClientHello (with a cookie or an alert) when it accepts this"
        " version and its suites, so silence may be its configuration as well as a firewall",
    ),
    (build_dtls,),
    (decode_dtls,),
)
