"""What to send to a UDP port, and what its answer says.

An empty datagram gets no answer from most UDP services, so each well-known port gets a real
request of its protocol (crafted with scapy's layers where scapy has them; scapy is imported
only when a datagram is first built, so importing this package is cheap). ``decode`` reads
an answer in a few words for the findings, with no scapy at all, and never raises.

    request_for(123)   -> UdpRequest("ntp", (123,), "an NTP client request (mode 3)", ...)
    payloads_for(161)  -> (SNMP v2c get sysDescr, SNMPv3 discovery): tried in turn
    decode(123, reply) -> "NTP server, stratum 2, refid 127.127.1.1"

The table (one entry per protocol) is in ``table``, one module per protocol family beside it.
"""

from __future__ import annotations

import functools

from probe.payloads.base import Expect, UdpRequest
from probe.payloads.table import BY_PORT

__all__ = ["Expect", "UdpRequest", "decode", "payloads_for", "request_for"]


def request_for(port: int) -> UdpRequest | None:
    """The request probe sends to ``port``, in words; None for a port without one."""
    entry = BY_PORT.get(port)
    return None if entry is None else entry.info


@functools.cache
def payloads_for(port: int) -> tuple[bytes, ...]:
    """The datagram(s) for ``port``: try n sends ``payloads[(n - 1) % len(payloads)]``;
    ``()`` for a port without a request (an empty datagram is sent). Built once."""
    entry = BY_PORT.get(port)
    return () if entry is None else tuple(build() for build in entry.builders)


def decode(port: int, reply: bytes) -> str | None:
    """What ``reply`` from ``port`` says, in a few words; None when it is not that port's
    protocol (the caller then says "N bytes"). Never raises."""
    entry = BY_PORT.get(port)
    if entry is None:
        return None
    for read in entry.decoders:
        try:
            words = read(reply)
        except Exception:  # a decoder's bug must not turn an answer into a crash
            words = None
        if words is not None:
            return words
    return None
