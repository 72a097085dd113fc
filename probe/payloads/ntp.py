"""NTP (123): a client request, and what a server's answer says about its clock."""

from __future__ import annotations

from probe.payloads.base import Entry, Expect, UdpRequest, clean_text

__all__ = ["NTP"]

_MODE_SERVER = 4
_MODE_BROADCAST = 5
_TRANSMIT = 3_900_000_000  # seconds since 1900 (NTP's era 0): 2023-08-02


def build_ntp() -> bytes:
    """An NTPv4 client request (mode 3, RFC 5905 7.3): 48 bytes, every clock field zero but
    the transmit timestamp, which a server copies into its answer's origin timestamp. A
    fixed one (scapy would put the build time there): the bytes are the same on every run,
    and a server needs no true time from a client."""
    from scapy.layers.ntp import NTPHeader

    request = NTPHeader(
        version=4, mode=3, stratum=0, poll=0, precision=0, ref_id=b"", orig=0, sent=_TRANSMIT
    )
    return bytes(request)


def decode_ntp(reply: bytes) -> str | None:
    """ "NTP server, stratum 2, refid 127.127.1.1"."""
    if len(reply) < 48:
        return None
    leap, version, mode = reply[0] >> 6, (reply[0] >> 3) & 7, reply[0] & 7
    if mode not in (_MODE_SERVER, _MODE_BROADCAST) or not 1 <= version <= 4:
        return None
    stratum = reply[1]
    refid = reply[12:16]
    if stratum == 0:
        # A kiss-o'-death (RFC 5905 7.4): the refid is an ASCII code, "RATE", "DENY"...
        code = clean_text(refid.rstrip(b"\0"), 4) or "?"
        return f"NTP server, kiss-o'-death {code}"
    if stratum >= 16 or leap == 3:
        return "NTP server, not synchronised"
    if stratum == 1:  # a primary server: the refid names its reference clock ("GPS", "PPS")
        source = clean_text(refid.rstrip(b"\0"), 4) or "?"
    else:  # secondary: the IPv4 address of its server (for IPv6 servers, a hash of it)
        source = ".".join(str(b) for b in refid)
    return f"NTP server, stratum {stratum}, refid {source}"


NTP = Entry(
    UdpRequest(
        "ntp",
        (123,),
        "an NTP client request (mode 3)",
        Expect.ALWAYS,
        "an NTP server always answers a client request, so silence means the datagram was"
        " dropped or no NTP server runs there",
    ),
    (build_ntp,),
    (decode_ntp,),
)
