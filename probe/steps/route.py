"""The client's route toward a target: interface, source address, gateway. Sends nothing.

The kernel is asked the question it answers for every packet, in-process over rtnetlink
(netlink.py), once per distinct route: route_cache.py answers the other addresses of a
route's prefix, under rules that never give an address a route the kernel would not.
Turning an answer into a ``RouteResult`` is the pure ``result_of``.

Where netlink cannot be opened (a sandbox without AF_NETLINK), ``ip -j route get ADDRESS``
(iproute2, JSON) is run per address, parsed by the pure ``parse_route_get`` /
``parse_route_error``; without ``ip`` either (minimal containers), a UDP socket is
``connect()``-ed toward the target: that runs the same route lookup and picks the source
address, but sends no packet. The interface and gateway stay unknown (None) on that path.

Linux quirk worth knowing: when the matching route is not a plain unicast route, ``route
get`` does not describe it, it fails with the errno the route type stands for, and so does
``connect()``: ``unreachable`` gives EHOSTUNREACH ("No route to host"), ``blackhole``
EINVAL ("Invalid argument"), ``prohibit`` EACCES ("Permission denied"). No matching route
at all (or a ``throw`` route) gives ENETUNREACH ("Network is unreachable").
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import threading
from dataclasses import replace
from typing import Any

from probe.errors import TargetError
from probe.model import RouteResult, RouteStatus
from probe.steps.netlink import Netlink, RouteAnswer, interface_index
from probe.steps.route_cache import RouteCache

# errno -> the route type it stands for (None: there is simply no route).
_ERRNO_ROUTE_TYPE: dict[int, str | None] = {
    errno.ENETUNREACH: None,
    errno.EHOSTUNREACH: "unreachable",
    errno.EINVAL: "blackhole",
    errno.EACCES: "prohibit",
}

# Route types in a successful answer that still mean "the packet goes nowhere". Current
# kernels fail the lookup instead (see above), older ones answered with these types.
_DEAD_ROUTE_TYPES = frozenset({"unreachable", "blackhole", "prohibit", "throw"})

_IP_TIMEOUT = 5.0  # seconds for the `ip` subprocess; a route lookup takes milliseconds

# The process's route cache (None: netlink cannot be used here), made on the first lookup.
# It lives as long as the process (watch, serve): kernel notifications keep it current.
_shared: list[RouteCache | None] = []
_shared_lock = threading.Lock()


def lookup(address: str, source: str | None = None) -> RouteResult:
    """The interface, source address and gateway the kernel would use toward ``address``;
    with ``source`` (an address of this computer, --source), for packets from it.

    ``address`` is an IPv4 or IPv6 literal, optionally with a zone (``fe80::1%eth0``).
    Outcomes (no route, a reject route, a source of the other family) are data; only a
    malformed address raises.
    """
    host, zone = _split_zone(address)
    if source is not None and (":" in source) != (":" in host):
        return RouteResult(RouteStatus.NO_ROUTE, source=source, detail=other_family(source, host))
    cache = _cache()
    if cache is None:
        return lookup_by_ip(address, source)
    oif = None
    if zone is not None:
        oif = interface_index(zone)
        if oif is None:
            raise TargetError(f"{address!r}: no interface named {zone!r}")
    try:
        return _from(result_of(cache.answer(host, oif, source)), source)
    except OSError:  # netlink opened but stopped answering (a timeout): ask `ip` instead
        return lookup_by_ip(address, source)


def other_family(source: str, host: str) -> str:
    """Why nothing goes to ``host`` from ``source``: their families differ."""
    return (
        f"the source address {source} is IPv{6 if ':' in source else 4}: "
        f"it has no route to an IPv{6 if ':' in host else 4} address"
    )


def _from(result: RouteResult, source: str | None) -> RouteResult:
    # Asked with a source, the kernel answers the route for it and names no other
    # (`ip route get TO from SRC` shows no "src"): the probes leave from the source given.
    if source is None or result.status is not RouteStatus.OK:
        return result
    return replace(result, source=source)


def lookup_by_ip(address: str, source: str | None = None) -> RouteResult:
    """``lookup`` without netlink: one `ip route get` subprocess, else a UDP connect()."""
    host, zone = _split_zone(address)
    ip_cmd = shutil.which("ip")
    if ip_cmd is not None:
        cmd = [ip_cmd, "-j", "route", "get", host]
        if zone is not None:
            cmd += ["oif", zone]
        if source is not None:
            cmd += ["from", source]
        try:
            # LC_ALL=C: the kernel's words ("No route to host") untranslated, as parsed below.
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=_IP_TIMEOUT,
                check=False,
                env={**os.environ, "LC_ALL": "C"},
            )
        except (OSError, subprocess.TimeoutExpired):
            pass  # `ip` is there but cannot run: ask the socket layer instead
        else:
            if done.returncode == 0:
                return _from(parse_route_get(done.stdout), source)
            if "RTNETLINK answers" in done.stderr:
                return parse_route_error(done.stderr)
            # Anything else ("Cannot find device", an old `ip` without -j...): fall back.
    return _from(_lookup_by_socket(host, zone, source), source)


def result_of(answer: RouteAnswer) -> RouteResult:
    """A kernel route answer (netlink, or `ip`'s JSON of it) -> RouteResult."""
    if answer.error:
        return parse_route_error(f"RTNETLINK answers: {os.strerror(answer.error)}")
    route_type = answer.route_type
    if route_type in _DEAD_ROUTE_TYPES:
        return RouteResult(
            RouteStatus.NO_ROUTE,
            interface=answer.interface,
            route_type=route_type,
            detail=f"the matching route is of type {route_type}",
        )
    return RouteResult(
        RouteStatus.OK,
        interface=answer.interface,
        source=answer.prefsrc,
        gateway=answer.gateway,
        route_type=route_type if route_type not in (None, "unicast") else None,
    )


def source_toward(host: str) -> str | None:
    """The source address the kernel picks toward ``host`` (no zone); None when the socket
    layer finds no route. No packet is sent."""
    try:
        return _connected_source(host, None)
    except OSError:
        return None


def _cache() -> RouteCache | None:
    with _shared_lock:
        if not _shared:
            try:
                _shared.append(RouteCache(Netlink(), source_toward))
            except (OSError, AttributeError):  # no AF_NETLINK here (not Linux, a sandbox)
                _shared.append(None)
        return _shared[0]


def parse_route_get(json_text: str) -> RouteResult:
    """``ip -j route get`` output (a JSON list with one route) -> RouteResult."""
    try:
        routes = json.loads(json_text)
    except ValueError:
        return RouteResult(
            RouteStatus.NO_ROUTE,
            detail=f"unreadable `ip route get` output: {json_text.strip()[:200]!r}",
        )
    if not isinstance(routes, list) or not routes or not isinstance(routes[0], dict):
        return RouteResult(RouteStatus.NO_ROUTE, detail="`ip route get` returned no route")
    route: dict[str, Any] = routes[0]
    gateway = _str_or_none(route.get("gateway"))
    via = route.get("via")  # a nexthop of the other family (IPv4 via an IPv6 router)
    if gateway is None and isinstance(via, dict):
        gateway = _str_or_none(via.get("host"))
    answer = RouteAnswer(
        route_type=_str_or_none(route.get("type")),
        interface=_str_or_none(route.get("dev")),
        gateway=gateway,
        # "prefsrc" is the source the kernel picks; "from" only echoes a source we asked for
        # ("::" on IPv6 when we asked nothing).
        prefsrc=_str_or_none(route.get("prefsrc")) or _real_from(route.get("from")),
    )
    return result_of(answer)


def parse_route_error(stderr: str) -> RouteResult:
    """``ip route get`` failure ("RTNETLINK answers: No route to host") -> RouteResult."""
    words = stderr.strip().splitlines()[-1] if stderr.strip() else "no answer from the kernel"
    for number, route_type in _ERRNO_ROUTE_TYPE.items():
        if os.strerror(number) in words:
            return _no_route(words, route_type)
    return RouteResult(RouteStatus.NO_ROUTE, detail=words)


def _lookup_by_socket(host: str, zone: str | None, bound: str | None = None) -> RouteResult:
    """Route lookup through ``connect()`` on a UDP socket: source address only, no packet."""
    try:
        source = _connected_source(host, zone, bound)
    except OSError as err:
        words = f"connect() toward {host}: {err.strerror or err}"
        if err.errno in _ERRNO_ROUTE_TYPE:
            return _no_route(words, _ERRNO_ROUTE_TYPE[err.errno])
        return RouteResult(RouteStatus.NO_ROUTE, detail=words)
    return RouteResult(
        RouteStatus.OK,
        source=source,
        detail="`ip` is not available: interface and gateway unknown",
    )


def _connected_source(host: str, zone: str | None, bound: str | None = None) -> str:
    """The source address a UDP socket ``connect()``-ed toward ``host`` gets: the kernel's
    route lookup, no packet. Raises OSError with the kernel's errno when it finds no route."""
    target = f"{host}%{zone}" if zone is not None else host
    # AI_NUMERICHOST: never a DNS query; getaddrinfo also turns the zone into a scope id.
    try:
        family, _type, _proto, _name, sockaddr = socket.getaddrinfo(
            target, 9, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )[0]
    except socket.gaierror as err:  # an unknown zone: "fe80::1%nosuch"
        why = f"no interface named {zone!r}" if zone else err.strerror
        raise TargetError(f"{target!r}: {why}") from None
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        if bound is not None:
            sock.bind((bound, 0))
        sock.connect(sockaddr)
        return str(sock.getsockname()[0]).split("%", 1)[0]


def _no_route(words: str, route_type: str | None) -> RouteResult:
    if route_type is None:
        detail = f"no route toward the target ({words})"
    else:
        detail = f"the matching route is of type {route_type} ({words})"
    return RouteResult(RouteStatus.NO_ROUTE, route_type=route_type, detail=detail)


def _split_zone(address: str) -> tuple[str, str | None]:
    host, sep, zone = address.partition("%")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise TargetError(f"{address!r} is not an IPv4 or IPv6 address") from None
    if sep and (":" not in host or not zone):
        raise TargetError(f"{address!r}: a zone (%name) only goes with an IPv6 address")
    return host, (zone if sep else None)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _real_from(value: object) -> str | None:
    text = _str_or_none(value)
    return None if text in (None, "::", "0.0.0.0") else text
