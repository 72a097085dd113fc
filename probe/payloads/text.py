"""Text protocols: SIP (5060), SSDP (1900) and syslog (514).

scapy has no SIP, SSDP or syslog layer; the requests are a few CRLF-terminated lines.
"""

from __future__ import annotations

from probe.payloads.base import Entry, Expect, UdpRequest, clean_text, header_value

__all__ = ["SIP", "SSDP", "SYSLOG"]

_HEAD_MAX = 4096  # bytes of a text reply read for its status line and headers

# RFC 3261 11: OPTIONS asks a user agent or proxy what it supports; every SIP element must
# answer it (200, or 404/403/401: still SIP). probe does not know its own address where the
# bytes are built, so Via, From and Contact name 0.0.0.0; "rport" (RFC 3581) asks the server
# to answer to the datagram's real source address and port, which servers do anyway for UDP
# (RFC 3261 18.2.2 "received"). The branch starts with RFC 3261's magic cookie z9hG4bK.
_SIP_OPTIONS = (
    "OPTIONS sip:0.0.0.0 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 0.0.0.0:5060;branch=z9hG4bK-probe-7072;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:probe@0.0.0.0>;tag=probe7072\r\n"
    "To: <sip:0.0.0.0>\r\n"
    "Call-ID: probe-7072@0.0.0.0\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Contact: <sip:probe@0.0.0.0>\r\n"
    "Accept: application/sdp\r\n"
    "User-Agent: probe\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
)

# UPnP Device Architecture 1.1, 1.3.2: a unicast M-SEARCH. HOST keeps the multicast
# address the specification requires in the header even when sent to one device.
_SSDP_MSEARCH = (
    "M-SEARCH * HTTP/1.1\r\n"
    "HOST: 239.255.255.250:1900\r\n"
    'MAN: "ssdp:discover"\r\n'
    "MX: 1\r\n"
    "ST: ssdp:all\r\n"
    "USER-AGENT: probe UPnP/1.1 probe/1\r\n"
    "\r\n"
)

# RFC 5424 6: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG, "-" for the
# unknown fields; PRI 14 is facility user, severity informational. Nothing ever answers.
_SYSLOG_LINE = "<14>1 - - probe - - - probe: UDP reachability check, no answer expected\n"


def build_sip() -> bytes:
    return _SIP_OPTIONS.encode()


def build_ssdp() -> bytes:
    return _SSDP_MSEARCH.encode()


def build_syslog() -> bytes:
    return _SYSLOG_LINE.encode()


def _head(reply: bytes) -> list[str]:
    """The lines of a text reply's head (before the blank line), decoded leniently."""
    text = reply[:_HEAD_MAX].decode("utf-8", "replace")
    head = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    return [line.rstrip("\r") for line in head.split("\n")]


def decode_sip(reply: bytes) -> str | None:
    """ "SIP/2.0 200 OK, Server: Asterisk"."""
    if not reply.startswith(b"SIP/2.0 "):
        return None
    lines = _head(reply)
    words = clean_text(lines[0])
    server = header_value(lines, "Server") or header_value(lines, "User-Agent")
    return f"{words}, Server: {server}" if server else words


def decode_ssdp(reply: bytes) -> str | None:
    """ "SSDP: HTTP/1.1 200 OK, Server: Linux UPnP/1.0 MiniUPnPd/2.3"."""
    if not reply.startswith(b"HTTP/1."):
        return None
    lines = _head(reply)
    words = "SSDP: " + clean_text(lines[0])
    server = header_value(lines, "Server")
    return f"{words}, Server: {server}" if server else words


SIP = Entry(
    UdpRequest(
        "sip",
        (5060,),
        "a SIP OPTIONS request",
        Expect.ALWAYS,
        "every SIP phone, proxy and PBX must answer OPTIONS, so silence means the request was"
        " dropped (a firewall, or a SIP ALG) or nothing speaks SIP there",
    ),
    (build_sip,),
    (decode_sip,),
)
SSDP = Entry(
    UdpRequest(
        "ssdp",
        (1900,),
        "an SSDP M-SEARCH for ssdp:all",
        Expect.ALWAYS,
        "a UPnP device usually answers a unicast M-SEARCH, so silence most likely means it"
        " was dropped or UPnP discovery is off",
    ),
    (build_ssdp,),
    (decode_ssdp,),
)
SYSLOG = Entry(
    UdpRequest(
        "syslog",
        (514,),
        "a syslog message (RFC 5424)",
        Expect.NEVER,
        "a syslog collector never answers, so silence is what a working one gives too: only"
        " an ICMP error proves anything",
    ),
    (build_syslog,),
    (),
)
