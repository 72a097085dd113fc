"""What a ``/probe`` request may touch, and how many may run at once.

An exporter that probes whatever a URL names is a known SSRF vector: anyone who reaches it
can make it scan the networks behind it. ``Guard`` holds ``--allow-targets`` (networks) and
``--allow-ports``: a request names one host — never a CIDR block — and the module's ports,
never others. A literal address is checked before anything happens; a name is resolved by
the check and each address it gives is checked before any packet goes to it (the Session's
``allow`` hook), so a name cannot smuggle an address past the list. ``InFlight`` bounds the
probes running at once: one more gets a 503 at once rather than a queue.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from probe.errors import BadInput, TargetError, quoted
from probe.model import Protocol, Target
from probe.plan.ports import PortSpec, port_set
from probe.plan.targets import parse_target

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """A request the guard will not serve: 403, with this sentence as the body."""


class BadRequest(Exception):
    """A request that does not parse: 400, with this sentence as the body."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """``--allow-targets``: comma-separated CIDR blocks or addresses."""
    out = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise BadInput(
                f"--allow-targets must be CIDR blocks like 198.18.0.0/15,2001:db8::/32, "
                f"not {quoted(item)}"
            ) from None
    if not out:
        raise BadInput("--allow-targets is empty: give CIDR blocks like 198.18.0.0/15")
    return tuple(out)


def parse_ports(text: str) -> PortSpec:
    """``--allow-ports``: a port spec (``80,443,8000-8100``, ``53/udp``; a bare port is TCP)."""
    from probe.errors import PortSpecError

    try:
        return port_set(text)
    except PortSpecError as exc:
        raise BadInput(f"--allow-ports: {exc}") from None


@dataclass(frozen=True)
class Guard:
    networks: tuple[Network, ...] | None = None  # None: any address
    ports: PortSpec | None = None  # None: any port

    def allows_address(self, address: str) -> bool:
        if self.networks is None:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return False
        return any(ip.version == n.version and ip in n for n in self.networks)

    def refused_ports(self, ports: Sequence[tuple[int, Protocol]]) -> tuple[str, ...]:
        """The (port, protocol) pairs not allowed, as "80" / "53/udp", in order (empty: all
        allowed)."""
        if self.ports is None:
            return ()
        allowed = self.ports
        return tuple(
            str(p) if proto is Protocol.TCP else f"{p}/{proto}"
            for p, proto in ports
            if not allowed.of(proto).has(p)
        )

    def target(self, text: str, ports: Sequence[tuple[int, Protocol]]) -> Target:
        """The one host a request names, checked: BadRequest when it is no target,
        Refused for a CIDR block, a literal outside the allowed networks, or a module port
        outside the allowed ports."""
        text = text.strip()
        if not text:
            raise BadRequest("the target parameter is empty: give a host name or address")
        if "/" in text and _is_block(text):  # refused before it is expanded
            raise Refused(
                f"target {quoted(text)} is a CIDR block: probe serve probes one host per "
                "request (give its name or address)"
            )
        try:
            found = parse_target(text)
        except TargetError as exc:
            raise BadRequest(str(exc)) from None
        if len(found) != 1:
            raise Refused(f"target {quoted(text)} names more than one host")
        (target,) = found
        if target.address is not None and not self.allows_address(target.address):
            raise Refused(self.refusal(target.address))
        refused = self.refused_ports(ports)
        if refused:
            shown = ", ".join(refused[:10])
            raise Refused(f"port {shown} of the module is not allowed (--allow-ports)")
        return target

    def refusal(self, address: str) -> str:
        allowed = ", ".join(str(n) for n in self.networks or ())
        return f"target address {address} is not allowed: --allow-targets permits {allowed}"


def _is_block(text: str) -> bool:
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return False
    return True


class InFlight:
    """At most ``limit`` probes at once; ``enter()`` False when full (answer 503)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1
