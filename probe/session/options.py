"""What one run is asked to do: the options of a check and of a trace, as frozen records.

The CLI builds them once from its flags; watch and serve build them from their own settings.
A ``Session`` takes them per call, so one session serves runs with different options.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.model import PortRequest, Protocol


@dataclass(frozen=True)
class CheckOptions:
    ports: tuple[PortRequest, ...]
    nameservers: tuple[str, ...] = ()
    families: tuple[int, ...] = (4, 6)
    tries: int = 3
    timeout: float = 1.0
    dns_timeout: float = 3.0
    ping: bool = True
    connect: bool = False  # probe with connect() even when raw sockets are allowed
    rate: float | None = None
    app: bool = False  # after an open port: connect() and a protocol hello
    app_protocol: str | None = None  # the hello to use instead of the port's service name
    # --payload-hex / --payload-file: sent to every UDP port instead of its protocol's
    # request; None: each port's own request (b"" is an empty datagram to every port).
    payload: bytes | None = None
    # --wait-for-icmp: probe the UDP ports left silent again, one a second per host, so that
    # closed ports get the ICMP port unreachable the host's rate limit held back.
    wait_for_icmp: bool = False
    # Host discovery first when a run has more than 256 addresses (session/discovery.py):
    # check's default, off with --all-hosts; the other commands probe every address.
    discover: bool = False
    # --source: every probe of the run leaves from this address of this computer (ping -I,
    # nmap -S); targets of the other family get no route. None: the route's own source.
    source: str | None = None


@dataclass(frozen=True)
class TraceOptions:
    port: int
    max_hops: int = 30
    tries: int = 3  # SYNs per hop before the hop counts as silent
    timeout: float = 1.0
    silent_hops: int = 3  # consecutive silent hops past the last answer that end the trace
    nameservers: tuple[str, ...] = ()
    families: tuple[int, ...] = (4, 6)
    dns_timeout: float = 3.0
    protocol: Protocol = Protocol.TCP  # SYNs, or (--udp) datagrams carrying the port's request
    source: str | None = None  # --source: as CheckOptions.source
