"""Port specs: what the user typed after -p -> PortRequest records (pure).

Nothing here touches the network; service names come from ``probe.plan.services``.

Port spec: comma-separated elements, spaces around commas tolerated::

    80    80,443,6036    1-1024    all    http,ssh    22,http,8000-8100

A bare element is TCP. An element may end in ``/udp`` or ``/tcp`` (``53/udp``,
``5060-5070/udp``, ``dns/udp``, ``all/udp``), and, as in nmap, a ``U:`` or ``T:`` prefix
makes its element and every following one UDP or TCP until the next prefix
(``T:80,443,U:53,161``). A suffix may repeat its scope's protocol but not contradict it
(``U:53/tcp`` is an error). The parser can be told that only one protocol is allowed
(``--udp``: every port of the spec is UDP; an audit's ``udp_open`` list): then a bare element
is of that protocol and an explicit other one is an error.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter

from probe.errors import QUOTE_LIMIT, PortSpecError, printable, quoted
from probe.model import PortRequest, Protocol
from probe.plan.services import MAX_PORT, MIN_PORT, port_names, service_name, service_port
from probe.records import slot_setters

__all__ = [
    "MAX_PORT",
    "MIN_PORT",
    "PortSet",
    "PortSpec",
    "Ranges",
    "merge",
    "parse_ports",
    "port_set",
    "service_name",
    "service_port",
]

# --------------------------------------------------------------------------- port sets

Ranges = tuple[tuple[int, int], ...]  # (first, last) port, inclusive


@dataclass(frozen=True)
class PortSet:
    """One protocol's ports of a spec before they are expanded: ``ranges`` merged and sorted;
    ``names`` the services file's names typed for ports the built-in table cannot name."""

    ranges: Ranges
    names: Mapping[int, str] = field(default_factory=dict)
    protocol: Protocol = Protocol.TCP

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)

    def ports(self) -> list[int]:
        return [port for first, last in self.ranges for port in range(first, last + 1)]

    def has(self, port: int) -> bool:
        at = bisect_right(self.ranges, (port, MAX_PORT)) - 1
        return at >= 0 and self.ranges[at][0] <= port <= self.ranges[at][1]

    def name(self, port: int) -> str | None:
        """The name the port is known by: as typed from the services file, or the table's."""
        return self.names.get(port) or service_name(port, self.protocol)

    def requests(self) -> tuple[PortRequest, ...]:
        """One PortRequest per port, in port order, each with its service name."""
        ports = self.ports()
        table = port_names(self.protocol)
        names = {**table, **self.names} if self.names else table
        # Through the records' slots (records.slot_setters) at C speed: "all" is 65535 of them.
        return tuple(
            map(_request, ports, map(names.get, ports), repeat(True), repeat(self.protocol))
        )


_set_port, _set_service, _set_asked, _set_protocol = slot_setters(PortRequest)


def _request(port: int, service: str | None, asked: bool, protocol: Protocol) -> PortRequest:
    """``PortRequest(port, service, asked, protocol)``, made in two thirds of the time."""
    r: PortRequest = object.__new__(PortRequest)
    _set_port(r, port)
    _set_service(r, service)
    _set_asked(r, asked)
    _set_protocol(r, protocol)
    return r


@dataclass(frozen=True)
class PortSpec:
    """A whole spec, one PortSet per protocol (either may be empty)."""

    tcp: PortSet
    udp: PortSet

    def of(self, protocol: Protocol) -> PortSet:
        return self.tcp if protocol is Protocol.TCP else self.udp

    def __len__(self) -> int:
        return len(self.tcp) + len(self.udp)

    def requests(self) -> tuple[PortRequest, ...]:
        """Every port in port order, each (port, protocol) once; on the same number TCP comes
        first (443/tcp, then 443/udp)."""
        tcp, udp = self.tcp.requests(), self.udp.requests()
        if not tcp or not udp:
            return tcp or udp
        return tuple(sorted(tcp + udp, key=attrgetter("port")))  # stable: TCP stays first


def merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Ranges sorted, with overlapping and adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return tuple(out)


# --------------------------------------------------------------------------- parsing

_NUMBER = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]*)\s*-\s*([0-9]*)")
_SERVICE_WORD = re.compile(r"[a-z0-9][a-z0-9_.+-]*", re.IGNORECASE)
_PREFIX = re.compile(r"([a-z]+)\s*:\s*", re.IGNORECASE)  # nmap's T: / U: (S: is SCTP)
_PREFIXES = {"t": Protocol.TCP, "u": Protocol.UDP}
_PROTOCOLS = {p.value: p for p in Protocol}


def _where(element: str, spec: str) -> str:
    """The "in '80,70000'" tail of an error, when the element is not the whole spec."""
    return "" if element == spec.strip() else f" in {quoted(spec)}"


def _port_number(text: str, element: str, spec: str) -> int:
    # int() of a long digit string is slow, and refused past 4300 digits: look at the length.
    digits = text.lstrip("0") or "0"
    port = int(digits) if len(digits) <= len(str(MAX_PORT)) else MAX_PORT + 1
    if not MIN_PORT <= port <= MAX_PORT:
        raise PortSpecError(
            f"port {printable(text, QUOTE_LIMIT)} is out of range {MIN_PORT}-{MAX_PORT}"
            f"{_where(element, spec)}"
        )
    return port


def _no_such_service(word: str, protocol: Protocol, element: str, spec: str) -> PortSpecError:
    other = Protocol.UDP if protocol is Protocol.TCP else Protocol.TCP
    elsewhere = service_port(word, other)
    hint = (
        f": {word.lower()} is {other.upper()} port {elsewhere}, write {word.lower()}/{other}"
        if elsewhere is not None
        else ": give its port number instead"
    )
    kind = "UDP " if protocol is Protocol.UDP else ""
    return PortSpecError(f"unknown {kind}service name {quoted(word)}{_where(element, spec)}{hint}")


def _ports_of(
    body: str, protocol: Protocol, element: str, spec: str
) -> tuple[int, int, str | None]:
    """One element's ports without its protocol: (first, last, the services-file name typed
    for a port the table cannot name)."""
    if body.lower() == "all":
        return MIN_PORT, MAX_PORT, None
    if _NUMBER.fullmatch(body):
        port = _port_number(body, element, spec)
        return port, port, None
    if match := _RANGE.fullmatch(body):
        low_text, high_text = match.groups()
        if not low_text or not high_text:
            missing = "start" if not low_text else "end"
            raise PortSpecError(
                f"port range {quoted(body)} has no {missing}{_where(element, spec)}"
            )
        low = _port_number(low_text, element, spec)
        high = _port_number(high_text, element, spec)
        if low > high:
            raise PortSpecError(
                f"port range {quoted(body)} runs backwards (write {high}-{low})"
                f"{_where(element, spec)}"
            )
        return low, high, None
    if body.lower() in _PROTOCOLS:
        raise PortSpecError(
            f"{quoted(body)} is a protocol, not a port{_where(element, spec)}: write 53/udp, "
            "U:53 or --udp"
        )
    if _SERVICE_WORD.fullmatch(body) and any(ch.isalpha() for ch in body):
        named = service_port(body, protocol)
        if named is None:
            raise _no_such_service(body, protocol, element, spec)
        typed = body.lower() if service_name(named, protocol) is None else None
        return named, named, typed
    raise PortSpecError(
        f"{quoted(element)} is not a port, a range like 1-1024, 'all' or a service name"
        f"{_where(element, spec)}"
    )


def _suffix(text: str, element: str, spec: str) -> tuple[str, Protocol | None]:
    """``53/udp`` -> ("53", UDP); ``53`` -> ("53", None). ``text`` is ``element`` without
    its prefix."""
    if "/" not in text:
        return text, None
    body, *words = (part.strip() for part in text.split("/"))
    if len(words) > 1:
        raise PortSpecError(
            f"{quoted(element)} names more than one protocol{_where(element, spec)}: "
            "write 53/udp or 53/tcp"
        )
    protocol = _PROTOCOLS.get(words[0].lower())
    if protocol is None:
        raise PortSpecError(
            f"{quoted(element)}: probe probes tcp and udp ports, not {quoted(words[0])}"
            f"{_where(element, spec)}"
        )
    if not body:
        raise PortSpecError(
            f"{quoted(element)} has no port before /{protocol}{_where(element, spec)}"
        )
    return body, protocol


def port_set(spec: str, only: Protocol | None = None, why: str | None = None) -> PortSpec:
    """Parse a port spec into merged ranges per protocol, without expanding them (an audit
    file may list "all" for many hosts: it is counted before it is expanded).

    ``only``: every port must be of this protocol (bare elements are); an element that says
    the other one is an error, explained by ``why``. Raises PortSpecError naming the bad
    piece."""
    if not spec.strip():
        raise PortSpecError("the port spec is empty: give ports like 80,443, 1-1024 or all")
    found: dict[Protocol, list[tuple[int, int]]] = {p: [] for p in Protocol}
    typed: dict[Protocol, dict[int, str]] = {p: {} for p in Protocol}
    scope: Protocol | None = None  # set by the last T: / U: prefix
    for raw in spec.split(","):
        element = raw.strip()
        if not element:
            raise PortSpecError(f"the port spec {quoted(spec)} has an empty element")
        body = element
        if prefix := _PREFIX.match(element):
            scope = _PREFIXES.get(prefix.group(1).lower())
            if scope is None:
                raise PortSpecError(
                    f"{quoted(element)}: probe takes T: (TCP) and U: (UDP) prefixes, not "
                    f"{quoted(prefix.group(1) + ':')}{_where(element, spec)}"
                )
            body = element[prefix.end() :]
            if not body or _PREFIX.match(body):
                raise PortSpecError(
                    f"{quoted(element)} needs one port, range or service after "
                    f"{prefix.group(1)}:{_where(element, spec)}"
                )
        body, said = _suffix(body, element, spec)
        if said is not None and scope is not None and said is not scope:
            raise PortSpecError(
                f"{quoted(element)} says {said} inside a {scope.upper()[0]}: list"
                f"{_where(element, spec)}: drop the /{said} or put it after {said.upper()[0]}:"
            )
        protocol = said or scope or only or Protocol.TCP
        if only is not None and protocol is not only:
            reason = why or f"only {only.upper()} ports are allowed here"
            raise PortSpecError(f"{quoted(element)} is {protocol.upper()}, but {reason}")
        first, last, name = _ports_of(body, protocol, element, spec)
        found[protocol].append((first, last))
        if name is not None:
            typed[protocol].setdefault(first, name)
    tcp, udp = (PortSet(merge(found[p]), typed[p], p) for p in (Protocol.TCP, Protocol.UDP))
    return PortSpec(tcp, udp)


def parse_ports(
    spec: str, only: Protocol | None = None, why: str | None = None
) -> tuple[PortRequest, ...]:
    """Parse a port spec into PortRequests: sorted by port (TCP before UDP on the same
    number), each (port, protocol) once, with ``protocol`` set.

    Each request carries its service name: the built-in table's name for the port and
    protocol when it has one, otherwise the name the user typed when it was found in the
    local services file. ``only`` and ``why``: as ``port_set``. Raises PortSpecError naming
    the bad piece.
    """
    return port_set(spec, only, why).requests()
