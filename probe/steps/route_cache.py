"""Route answers once per distinct route, not once per address: a cache by routing prefix.

A check of a /16 asks for 65,536 routes that are, on nearly every client, one or two routes.
The kernel is asked for the first address of a prefix: its answer (interface, gateway,
source) and, with RTM_F_FIB_MATCH, the routing-table entry that matched (say 0.0.0.0/0).
Later addresses inside that prefix get the same answer without asking, under these rules —
a cached answer is only ever one the kernel itself would give:

- Longest-prefix match: a more specific route inside the cached prefix (in any table,
  including the local table's /32 local and broadcast routes), and a policy rule whose
  destination lies inside it, are holes: an address in a hole is asked about again.
- Only plain unicast routes with one nexthop are cached. A multipath route (or a nexthop
  object) picks its nexthop by a hash of each flow's addresses; a ``local`` route may answer
  with the destination itself as source; broadcast, multicast and reject routes are asked
  per address (reject routes fail the lookup, and a failure names no prefix to cache by).
- IPv4 takes its source address from the route (its ``src``, else the nexthop's device for
  the gateway): the same for every address of the route. IPv6 picks a source per destination
  (RFC 6724: scope, then the longest matching prefix among the interface's addresses), so the
  IPv6 source is asked per address through a connected UDP socket (the same kernel function;
  no packet is sent), and only the interface and gateway come from the cache.
- A link-local address with a zone is asked with its interface and never cached.
- Any route, rule, address or link change empties the cache: the kernel's notifications
  arrive on a subscribed netlink socket, read before every lookup.

IPv6 default routers of one preference, none known reachable: the kernel itself rotates
among them from one lookup to the next (round-robin); the cache keeps the first answer.

Not seen by the notifications: ICMP redirects and PMTU news, kept per destination as route
exceptions. PMTU changes no interface, gateway or source; a redirect can change the gateway
of one destination, which a cached answer would not show (accepting redirects is off on
routers and commonly on hardened hosts).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from probe.steps.netlink import RouteAnswer

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Kernel(Protocol):
    """What the cache asks: netlink.Netlink, or a fake routing table in tests."""

    def get(
        self,
        address: str,
        oif: int | None = None,
        fib_match: bool = False,
        src: str | None = None,
    ) -> RouteAnswer:
        """The kernel's answer for one destination (fib_match: the matched table entry;
        src: for packets from that source)."""

    def prefixes(self, version: int) -> list[_Network]:
        """Every route prefix of the family in every table, and every rule's destination."""

    def changed(self) -> bool:
        """Whether a route, rule, address or link changed since the last call."""


@dataclass(frozen=True)
class _Entry:
    answer: RouteAnswer
    holes: dict[int, frozenset[int]]  # prefix length -> network numbers (address >> shift)

    def hides(self, number: int, bits: int) -> bool:
        return any(number >> (bits - n) in nets for n, nets in self.holes.items())


class RouteCache:
    """Kernel route answers, asked once per distinct route. Safe from several threads."""

    def __init__(self, kernel: Kernel, source: Callable[[str], str | None]) -> None:
        self._kernel = kernel
        self._source = source  # IPv6: the source address toward one destination, or None
        self._lock = threading.Lock()
        self._clear()
        self.asked = 0  # kernel lookups so far (the benchmark and tests read it)

    def answer(self, host: str, oif: int | None = None, src: str | None = None) -> RouteAnswer:
        """The kernel's answer toward ``host`` (an address literal without zone); with
        ``src``, for packets from that source, asked each time (the cache keeps answers by
        destination alone, and a source rule may route its packets another way)."""
        if src is not None:
            with self._lock:
                self.asked += 1
                return self._kernel.get(host, oif, src=src)
        ip = ipaddress.ip_address(host)
        with self._lock:
            if self._kernel.changed():
                self._clear()
            entry = self._find(ip) if oif is None else None
            if entry is not None:
                got = self._for_address(entry.answer, ip)
                if got is not None:
                    return got
            self.asked += 1
            answer = self._kernel.get(host, oif)
            if oif is None and entry is None and _cacheable(answer):
                self._remember(ip, answer)
            return answer

    def _clear(self) -> None:
        self._entries: dict[tuple[int, int], dict[int, _Entry]] = {}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}  # longest first
        self._prefixes: dict[int, list[_Network]] = {}

    def _find(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> _Entry | None:
        number, bits = int(ip), ip.max_prefixlen
        for length in self._lengths[ip.version]:
            entry = self._entries[(ip.version, length)].get(number >> (bits - length))
            if entry is not None:
                # In a hole: a more specific route or rule may answer otherwise: ask.
                return None if entry.hides(number, bits) else entry
        return None

    def _for_address(
        self, answer: RouteAnswer, ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ) -> RouteAnswer | None:
        if ip.version == 4:
            return replace(answer, prefix=f"{ip}/32")
        source = self._source(str(ip))
        if source is None:  # the socket layer disagrees: let the kernel answer in full
            return None
        return replace(answer, prefsrc=source, prefix=f"{ip}/128")

    def _remember(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, answer: RouteAnswer
    ) -> None:
        self.asked += 1
        matched = self._kernel.get(str(ip), None, fib_match=True)
        if not _cacheable(matched) or matched.prefix is None:
            return
        net = ipaddress.ip_network(matched.prefix, strict=False)
        if ip not in net:
            return
        table = self._entries.setdefault((ip.version, net.prefixlen), {})
        key = int(net.network_address) >> (ip.max_prefixlen - net.prefixlen)
        if key in table:  # known, and this address is in one of its holes
            return
        if ip.version not in self._prefixes:
            self._prefixes[ip.version] = self._kernel.prefixes(ip.version)
        holes: dict[int, set[int]] = {}
        for inner in self._prefixes[ip.version]:
            if inner.prefixlen > net.prefixlen and inner.subnet_of(net):  # type: ignore[arg-type]
                shift = ip.max_prefixlen - inner.prefixlen
                holes.setdefault(inner.prefixlen, set()).add(int(inner.network_address) >> shift)
        table[key] = _Entry(answer, {n: frozenset(s) for n, s in holes.items()})
        lengths = self._lengths[ip.version]
        if net.prefixlen not in lengths:
            lengths.append(net.prefixlen)
            lengths.sort(reverse=True)


def _cacheable(answer: RouteAnswer) -> bool:
    return answer.error == 0 and answer.route_type == "unicast" and not answer.multipath
