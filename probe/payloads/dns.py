"""DNS-shaped protocols: DNS (53), multicast DNS (5353) and NetBIOS name service (137).

All three share DNS's 12-byte header (RFC 1035 4.1.1; NetBIOS: RFC 1002 4.2.1), so one
header reader serves them.
"""

from __future__ import annotations

from probe.payloads.base import Entry, Expect, UdpRequest, clean_text, u16

__all__ = ["DNS", "MDNS", "NETBIOS_NS"]

# A transaction id of our own: an answer echoes it, which tells it apart from stray traffic.
_TXID = 0x7072  # "pr"

_RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}


def build_dns() -> bytes:
    """The root's NS records, recursion desired: every resolver answers it (REFUSED counts:
    an authoritative-only server that refuses still proves a DNS server)."""
    from scapy.layers.dns import DNS as ScapyDNS
    from scapy.layers.dns import DNSQR

    return bytes(ScapyDNS(id=_TXID, rd=1, qd=DNSQR(qname=".", qtype="NS")))


def build_mdns() -> bytes:
    """DNS-SD's service enumeration (RFC 6763 9). Sent from a port other than 5353 it is a
    "legacy unicast" query (RFC 6762 6.7): a responder answers to the source port."""
    from scapy.layers.dns import DNS as ScapyDNS
    from scapy.layers.dns import DNSQR

    question = DNSQR(qname="_services._dns-sd._udp.local", qtype="PTR")
    return bytes(ScapyDNS(id=_TXID, rd=0, qd=question))


def build_netbios() -> bytes:
    """A node status request for the wildcard name "*" (RFC 1002 4.2.17): any NetBIOS
    name service answers with its table of names, whatever they are."""
    from scapy.layers.netbios import NBNSHeader, NBNSNodeStatusRequest

    return bytes(NBNSHeader(NAME_TRN_ID=_TXID, QDCOUNT=1) / NBNSNodeStatusRequest())


def _answer_header(reply: bytes) -> tuple[int, int, int] | None:
    """(flags, question count, answer count) of a DNS-shaped response, or None."""
    if len(reply) < 12:
        return None
    flags = u16(reply, 2)
    if not flags & 0x8000:  # QR: a response
        return None
    return flags, u16(reply, 4), u16(reply, 6)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def decode_dns(reply: bytes) -> str | None:
    """ "DNS: NOERROR, 2 answers"."""
    header = _answer_header(reply)
    if header is None:
        return None
    flags, questions, answers = header
    opcode = (flags >> 11) & 0xF
    if opcode not in (0, 2) or questions > 16:  # a standard/status answer echoes <= 1 question
        return None
    rcode = flags & 0xF
    name = _RCODES.get(rcode, f"RCODE {rcode}")
    return f"DNS: {name}, {_plural(answers, 'answer')}"


def decode_mdns(reply: bytes) -> str | None:
    """ "mDNS: NOERROR, 3 answers"."""
    words = decode_dns(reply)
    return None if words is None else "mDNS" + words[3:]


def _skip_name(reply: bytes, pos: int) -> int | None:
    """Offset past a (possibly compressed) name at ``pos``, or None if it runs off the end."""
    for _ in range(128):
        if pos >= len(reply):
            return None
        length = reply[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length
    return None


def decode_netbios(reply: bytes) -> str | None:
    """ "NetBIOS node status: SRV, group WORKGROUP (4 names)"; a name query's answer too."""
    header = _answer_header(reply)
    if header is None:
        return None
    flags, _, answers = header
    if (flags >> 11) & 0xF != 0:  # opcode: query
        return None
    if flags & 0xF:
        return f"NetBIOS name service: error {flags & 0xF}"
    pos = _skip_name(reply, 12)
    if answers < 1 or pos is None or pos + 10 > len(reply):
        return None
    rr_type = u16(reply, pos)
    rdata = pos + 10
    if rr_type == 0x20:  # NB: a name query's positive answer (flags, then an IPv4 address)
        if rdata + 6 > len(reply):
            return None
        return "NetBIOS name service: name registered at " + ".".join(
            str(b) for b in reply[rdata + 2 : rdata + 6]
        )
    if rr_type != 0x21 or rdata >= len(reply):  # NBSTAT
        return None
    count = reply[rdata]
    unique: list[str] = []
    groups: list[str] = []
    for i in range(count):
        start = rdata + 1 + 18 * i  # 15 name bytes, a suffix, 2 bytes of flags
        if start + 18 > len(reply):
            break
        name = clean_text(reply[start : start + 15], 15)
        if reply[start + 15] == 0 and name:  # suffix 0x00: the workstation / domain name
            (groups if reply[start + 16] & 0x80 else unique).append(name)
    words = "NetBIOS node status"
    if unique:
        words += f": {unique[0]}"
    if groups:
        words += f", group {groups[0]}"
    return f"{words} ({_plural(count, 'name')})"


DNS = Entry(
    UdpRequest(
        "dns",
        (53,),
        "a DNS query for the root's NS records",
        Expect.ALWAYS,
        "a DNS server answers every query, even with REFUSED, so silence means the query was"
        " dropped or nothing serves DNS there",
    ),
    (build_dns,),
    (decode_dns,),
)
MDNS = Entry(
    UdpRequest(
        "mdns",
        (5353,),
        "a multicast DNS query for _services._dns-sd._udp.local PTR",
        Expect.SOMETIMES,
        "an mDNS responder answers only when it has services to announce, and many ignore"
        " queries from outside their own link, so silence proves little",
    ),
    (build_mdns,),
    (decode_mdns,),
)
NETBIOS_NS = Entry(
    UdpRequest(
        "netbios-ns",
        (137,),
        "a NetBIOS node status request for the name *",
        Expect.ALWAYS,
        "a NetBIOS name service answers a node status request with its names, so silence"
        " means the datagram was dropped or NetBIOS over TCP/IP is off",
    ),
    (build_netbios,),
    (decode_netbios,),
)
