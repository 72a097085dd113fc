"""VPN protocols: IKEv2 (500, 4500 NAT-T), OpenVPN (1194) and WireGuard (51820)."""

from __future__ import annotations

import struct

from probe.payloads.base import Entry, Expect, UdpRequest, u16, u32

__all__ = ["IKE", "IKE_NATT", "OPENVPN", "WIREGUARD"]

# Fixed identifiers, so the bytes are the same on every run (and in every test). An IKE
# initiator SPI must not be zero (RFC 7296 3.1); an OpenVPN session ID is any 8 bytes.
_IKE_SPI = b"probe\x70\x72\x01"
_OPENVPN_SESSION = b"probe\x70\x72\x02"
_NON_ESP_MARKER = b"\0\0\0\0"  # RFC 3948 2.2: on 4500, IKE after four zero bytes

_IKE_SA_INIT = 34
_IKE_RESPONSE = 0x20  # flags: the R bit
_IKE_NOTIFY = 41
_IKE_SA = 33
_NOTIFY_NAMES = {
    7: "INVALID_SYNTAX",
    14: "NO_PROPOSAL_CHOSEN",
    17: "INVALID_KE_PAYLOAD",
    16390: "COOKIE",
}

_OPENVPN_HARD_RESET_CLIENT_V2 = 7
_OPENVPN_HARD_RESET_SERVER_V2 = 8
_WG_INITIATION, _WG_RESPONSE, _WG_COOKIE = 1, 2, 3
_WG_SIZES = {_WG_INITIATION: 148, _WG_RESPONSE: 92, _WG_COOKIE: 64}


def build_ike() -> bytes:
    """IKE_SA_INIT (RFC 7296 1.2) with one widely accepted proposal: AES-CBC-256,
    HMAC-SHA2-256 PRF and integrity, MODP 2048 (group 14), with a key exchange payload of
    that group's size and a 32-byte nonce. A responder answers with its own SA_INIT, or a
    notify (NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD, COOKIE): any of them proves IKE."""
    from scapy.contrib.ikev2 import (
        IKEv2,
        IKEv2_KE,
        IKEv2_Nonce,
        IKEv2_Proposal,
        IKEv2_SA,
        IKEv2_Transform,
    )

    transforms = (
        # type 1 ENCR, id 12 AES-CBC, with attribute 14 (key length, TV format) = 256
        IKEv2_Transform(transform_type=1, transform_id=12, length=12, key_length=0x800E0100)
        / IKEv2_Transform(transform_type=2, transform_id=5)  # PRF_HMAC_SHA2_256
        / IKEv2_Transform(transform_type=3, transform_id=12)  # AUTH_HMAC_SHA2_256_128
        / IKEv2_Transform(transform_type=4, transform_id=14)  # D-H group 14
    )
    proposal = IKEv2_Proposal(proposal=1, proto=1, trans_nb=4, trans=transforms)
    message = (
        IKEv2(init_SPI=_IKE_SPI, exch_type=_IKE_SA_INIT, flags="Initiator")
        / IKEv2_SA(prop=proposal)
        / IKEv2_KE(group=14, ke=bytes(range(256)))
        / IKEv2_Nonce(nonce=bytes(range(32, 64)))
    )
    return bytes(message)


def build_ike_natt() -> bytes:
    return _NON_ESP_MARKER + build_ike()


def decode_ike(reply: bytes) -> str | None:
    """ "IKEv2 responder: NO_PROPOSAL_CHOSEN" / "IKEv2 responder, SA_INIT answered"."""
    if len(reply) < 28 or reply[:8] == bytes(8):
        return None
    version, exchange, flags = reply[17], reply[18], reply[19]
    if u32(reply, 24) < 28:  # the header's own length
        return None
    if version >> 4 == 1:
        return "IKEv1 responder"
    if version >> 4 != 2 or not flags & _IKE_RESPONSE:
        return None
    first = reply[16]
    if first == _IKE_NOTIFY and len(reply) >= 36:
        kind = u16(reply, 34)  # generic header 4, protocol 1, SPI size 1, then the type
        return f"IKEv2 responder: {_NOTIFY_NAMES.get(kind, f'notify {kind}')}"
    if exchange == _IKE_SA_INIT and first == _IKE_SA:
        return "IKEv2 responder, SA_INIT answered"
    return f"IKEv2 responder, exchange {exchange}"


def decode_ike_natt(reply: bytes) -> str | None:
    if reply.startswith(_NON_ESP_MARKER):
        return decode_ike(reply[4:])
    return None


def build_openvpn() -> bytes:
    """P_CONTROL_HARD_RESET_CLIENT_V2 without tls-auth (OpenVPN's ssl_pkt.h): opcode 7 and
    key id 0 in one byte, our session ID, an empty ACK array, message packet-id 0."""
    opcode = _OPENVPN_HARD_RESET_CLIENT_V2 << 3
    return struct.pack("!B8sBI", opcode, _OPENVPN_SESSION, 0, 0)


def decode_openvpn(reply: bytes) -> str | None:
    """ "OpenVPN server, hard reset answered"."""
    if len(reply) < 14 or reply[0] >> 3 != _OPENVPN_HARD_RESET_SERVER_V2:
        return None
    acks = reply[9]
    # the server acknowledges our packet-id 0 and names our session back after its ACKs
    end = 10 + 4 * acks
    if acks > 8 or len(reply) < end + 8 + 4:
        return None
    if acks and reply[end : end + 8] != _OPENVPN_SESSION:
        return None
    return "OpenVPN server, hard reset answered"


def build_wireguard() -> bytes:
    """The shape of a handshake initiation (the WireGuard paper, 5.4.2): type 1, three
    reserved bytes, sender index, ephemeral key, encrypted static key and timestamp, mac1,
    mac2: 148 bytes. Without the server's public key mac1 cannot be right, and a WireGuard
    peer drops such a packet without a word: silence is the expected answer."""
    return struct.pack("<B3xI", _WG_INITIATION, 0x70726F62) + bytes(range(140))


def decode_wireguard(reply: bytes) -> str | None:
    if len(reply) < 4 or reply[1:4] != b"\0\0\0":
        return None
    kind = reply[0]
    if _WG_SIZES.get(kind) != len(reply) or kind == _WG_INITIATION:
        return None
    return "WireGuard handshake response" if kind == _WG_RESPONSE else "WireGuard cookie reply"


IKE = Entry(
    UdpRequest(
        "ike",
        (500,),
        "an IKEv2 SA_INIT request",
        Expect.SOMETIMES,
        "an IKE responder answers SA_INIT (if only with NO_PROPOSAL_CHOSEN) unless its policy"
        " ignores unknown peers, so silence most likely means the datagram was dropped",
    ),
    (build_ike,),
    (decode_ike,),
)
IKE_NATT = Entry(
    UdpRequest(
        "ike-natt",
        (4500,),
        "an IKEv2 SA_INIT request with the NAT-T non-ESP marker",
        Expect.SOMETIMES,
        "an IKE responder with NAT traversal answers SA_INIT on 4500 unless its policy"
        " ignores unknown peers, so silence most likely means the datagram was dropped",
    ),
    (build_ike_natt,),
    (decode_ike_natt,),
)
OPENVPN = Entry(
    UdpRequest(
        "openvpn",
        (1194,),
        "an OpenVPN hard reset (client, v2)",
        Expect.SOMETIMES,
        "an OpenVPN server answers a hard reset unless tls-auth or tls-crypt is on, which"
        " makes it drop every packet without the right key",
    ),
    (build_openvpn,),
    (decode_openvpn,),
)
WIREGUARD = Entry(
    UdpRequest(
        "wireguard",
        (51820,),
        "a WireGuard handshake initiation (without the server's key)",
        Expect.NEVER,
        "WireGuard stays silent to anyone without the right key, so silence is also what a"
        " working server gives: only an ICMP error proves anything",
    ),
    (build_wireguard,),
    (decode_wireguard,),
)
