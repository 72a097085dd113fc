"""What a UDP port's protocol does with a request, for reading UDP flows in a capture: does a
server of it answer (DNS, NTP, SNMP, SIP...), or is it one-way by design (syslog, flow export,
SNMP traps, discovery chatter)? One entry per protocol.

UDP has no handshake: silence after a datagram is only a problem where an answer was due. A
flow to a port of an answering protocol with no reply is ``udp-unanswered``; to a one-way
protocol it is ``udp-one-way``, which is how it works. Ports not listed here are judged by the
client's own behaviour (the same datagram sent again: it waited for an answer).

Not ``probe.payloads``' table: that one says whether probe's own request is answered (its
WireGuard datagram has no key, so silence is expected; its unicast SSDP M-SEARCH and NetBIOS
node status are answered). A capture holds real clients: a WireGuard peer's handshake is
answered, while SSDP and NetBIOS are mostly broadcast chatter that nobody answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class UdpService:
    """One UDP protocol: its name, what a client sends it, and whether a server answers."""

    name: str  # "DNS"
    request: str  # "DNS queries": what the client's datagrams are
    answers: bool  # a server of it answers every request (request/response)
    why: str  # why an answer is (or is not) due, said as evidence


def _answering(name: str, request: str, why: str) -> UdpService:
    return UdpService(name, request, True, why)


def _one_way(name: str, request: str, why: str) -> UdpService:
    return UdpService(name, request, False, why)


_DNS = _answering("DNS", "DNS queries", "a DNS server answers every query, if only with an error")
_IKE = _answering(
    "IKE (IPsec VPN)", "IKE messages", "an IKE responder answers SA_INIT, if only with an error"
)
_RADIUS = _answering(
    "RADIUS", "RADIUS requests", "a RADIUS server answers every request from a client it knows"
)
_SYSLOG = _one_way("syslog", "syslog messages", "syslog never answers: messages are sent blind")
_FLOWS = _one_way(
    "flow export (NetFlow / IPFIX)", "flow records", "a flow collector never answers its exporters"
)
_TUNNEL = _one_way(
    "a tunnel (VXLAN / Geneve)", "tunnelled frames", "tunnel endpoints answer nothing per packet"
)
_DISCOVERY = "discovery and name chatter, mostly to multicast or broadcast: unanswered is normal"

_TABLE: Final[dict[int, UdpService]] = {
    53: _DNS,
    69: _answering(
        "TFTP", "TFTP requests", "a TFTP server answers a read or write request (from a new port)"
    ),
    88: _answering("Kerberos", "Kerberos requests", "a KDC answers every request"),
    111: _answering("portmapper (RPC)", "RPC requests", "the portmapper answers every call"),
    123: _answering(
        "NTP", "NTP requests", "an NTP server answers every client request (unless rate limited)"
    ),
    161: _answering(
        "SNMP",
        "SNMP requests",
        "an SNMP agent answers a request with the right community or user; a wrong community "
        "is silently dropped",
    ),
    389: _answering("CLDAP", "CLDAP queries", "a domain controller answers CLDAP pings"),
    443: _answering(
        "QUIC (HTTP/3)",
        "QUIC packets",
        "a QUIC server answers the client's Initial; when UDP 443 is blocked browsers fall back "
        "to TCP",
    ),
    500: _IKE,
    1194: _answering("OpenVPN", "OpenVPN packets", "an OpenVPN server answers the hard reset"),
    1434: _answering("SQL Server Browser", "browser requests", "the SQL Browser answers"),
    1645: _RADIUS,
    1701: _answering("L2TP", "L2TP control messages", "an L2TP peer answers every control message"),
    1812: _RADIUS,
    1813: _answering("RADIUS accounting", "accounting requests", "the server acknowledges each"),
    2049: _answering("NFS", "NFS calls", "an NFS server answers every call"),
    3478: _answering("STUN / TURN", "STUN requests", "a STUN server answers binding requests"),
    4433: _answering("DTLS", "DTLS handshakes", "a DTLS server answers the ClientHello"),
    4500: _IKE,
    5060: _answering("SIP", "SIP requests", "a SIP server or phone answers every request"),
    5349: _answering("STUN / TURN over DTLS", "DTLS handshakes", "a TURN server answers"),
    5683: _answering("CoAP", "CoAP requests", "a CoAP server answers confirmable requests"),
    11211: _answering("memcached", "memcached requests", "memcached answers every request"),
    51820: _answering(
        "WireGuard",
        "WireGuard handshakes",
        "a WireGuard peer answers a handshake from a key it knows (and nothing else)",
    ),
    # one-way by design
    67: _one_way("DHCP", "DHCP messages", _DISCOVERY),
    68: _one_way("DHCP", "DHCP messages", _DISCOVERY),
    137: _one_way("NetBIOS name service", "NetBIOS name queries", _DISCOVERY),
    138: _one_way("NetBIOS datagrams", "NetBIOS datagrams", _DISCOVERY),
    162: _one_way("SNMP traps", "SNMP traps", "SNMP traps are sent blind: no answer is due"),
    514: _SYSLOG,
    520: _one_way("RIP", "RIP updates", "routing updates are broadcast, not answered"),
    546: _one_way("DHCPv6", "DHCPv6 messages", _DISCOVERY),
    547: _one_way("DHCPv6", "DHCPv6 messages", _DISCOVERY),
    1900: _one_way("SSDP", "SSDP messages", _DISCOVERY),
    1985: _one_way("HSRP", "HSRP hellos", "router redundancy hellos are not answered"),
    2055: _FLOWS,
    3702: _one_way("WS-Discovery", "WS-Discovery probes", _DISCOVERY),
    4739: _FLOWS,
    4789: _TUNNEL,
    5353: _one_way("mDNS", "mDNS queries", _DISCOVERY),
    5355: _one_way("LLMNR", "LLMNR queries", _DISCOVERY),
    6081: _TUNNEL,
    6343: _one_way("sFlow", "sFlow samples", "an sFlow collector never answers its agents"),
    6514: _SYSLOG,
    8125: _one_way("StatsD", "StatsD metrics", "StatsD metrics are sent blind"),
    8472: _TUNNEL,
    9995: _FLOWS,
    9996: _FLOWS,
    12201: _one_way("GELF (Graylog)", "GELF messages", "GELF over UDP is sent blind"),
}
SERVICES: Final[Mapping[int, UdpService]] = MappingProxyType(_TABLE)

# Classic traceroute (and mtr / probe trace over UDP) aims at these ports, one per probe.
TRACEROUTE_PORTS: Final = range(33434, 33535)


def service(port: int) -> UdpService | None:
    """The protocol a UDP server port is known for, or None."""
    return _TABLE.get(port)


def rank(port: int) -> tuple[int, int]:
    """Which side of a flow is the server: a known service port before any other port below
    1024, before the rest; then the lower port. The lower rank is the server's."""
    return (0 if port in _TABLE else 1 if port < 1024 else 2), port
