"""The payload table: one entry per protocol, and the port -> entry index built from it.

Adding a protocol is one ``Entry`` in its family's module and one line in ``ENTRIES``.
A port belongs to one entry only (``test_table`` checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from probe.payloads import dns, misc, ntp, snmp, text, tls, vpn
from probe.payloads.base import Entry

__all__ = ["BY_PORT", "ENTRIES"]

ENTRIES: tuple[Entry, ...] = (
    dns.DNS,
    dns.MDNS,
    dns.NETBIOS_NS,
    ntp.NTP,
    snmp.SNMP,
    text.SIP,
    text.SSDP,
    text.SYSLOG,
    vpn.IKE,
    vpn.IKE_NATT,
    vpn.OPENVPN,
    vpn.WIREGUARD,
    misc.TFTP,
    misc.RADIUS,
    misc.STUN,
    misc.COAP,
    misc.MEMCACHED,
    tls.QUIC,
    tls.DTLS,
)

BY_PORT: Mapping[int, Entry] = MappingProxyType(
    {port: entry for entry in ENTRIES for port in entry.info.ports}
)
