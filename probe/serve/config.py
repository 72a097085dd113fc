"""Modules: what ``/probe?module=NAME`` probes, how, and what each port must do.

A module is a set of port expectations in the audit's vocabulary (open, blocked, filtered,
refused: an expected-closed port is a success when closed) with the check's settings::

    [modules.camera]
    profile = "camera"          # the profile's ports, expected open (like `ports`)
    ports = [80, 6036]          # expected open; a list, or a spec string "80,443,8000-8010"
    blocked = [3389]            # must not be open; also: filtered = [...], refused = [...]
    tries = 3                   # probes per port before "filtered", 1-15
    answer_timeout = 1.0        # longest wait for one answer (probe check --timeout)
    timeout = 10                # the whole probe; the scrape's timeout may cut it shorter
    ping = true
    app = false                 # after an open port: connect() and the protocol's hello
    app_protocol = "http"       # the hello to use (implies app)
    ip_protocol = "ip6"         # preferred family for a name: ip4 or ip6 (blackbox's key)
    ip_protocol_fallback = true # the other family when the preferred one has no address
    nameservers = ["192.0.2.53"]
    source_address = "192.0.2.7"  # probes leave from this address of the exporter (ping -I)

Without a config file every profile is a module of the same name, its ports expected open.
``probe.serve.configfile`` reads the file; every mistake is a ``ConfigError`` (exit 2 at
start; at a SIGHUP reload the old modules stay) naming the file, the line and the key.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from probe.errors import AuditFileError, BadInput, PortSpecError, ProfileError, quoted, shown
from probe.model import PortRequest, Protocol, Target
from probe.plan.audit import port_list, refuse_contradictions
from probe.plan.expectations import Expect, Expectation, HostEntry, Listed, requests_of
from probe.plan.ports import PortSet, merge, port_set
from probe.plan.profiles import PortProfile
from probe.session.options import CheckOptions

DEFAULT_TIMEOUT = 10.0  # seconds for a whole probe (blackbox's default scrape timeout)
MAX_TIMEOUT = 300.0


class ConfigError(BadInput):
    """A config file probe serve cannot use (exit 2 at start)."""


class IpProtocol(StrEnum):
    """blackbox_exporter's words for the preferred address family."""

    IP4 = "ip4"
    IP6 = "ip6"

    @property
    def family(self) -> int:
        return 4 if self is IpProtocol.IP4 else 6


@dataclass(frozen=True)
class Module:
    name: str
    expectations: tuple[Expectation, ...]
    tries: int = 3
    answer_timeout: float = 1.0
    timeout: float = DEFAULT_TIMEOUT
    ping: bool = True
    app: bool = False
    app_protocol: str | None = None
    ip_protocol: IpProtocol = IpProtocol.IP6
    ip_protocol_fallback: bool = True
    nameservers: tuple[str, ...] = ()
    # Every probe of the module leaves from this address of the exporter's machine (its
    # family only: ip_protocol follows it, no fallback). None: the route's source.
    source_address: str | None = None

    @property
    def ports(self) -> tuple[tuple[int, Protocol], ...]:
        """Every (port, protocol) the module probes, in port order."""
        return tuple(sorted({(e.port, e.protocol) for e in self.expectations}))

    def requests(self) -> tuple[PortRequest, ...]:
        return requests_of(self.expectations)

    def families(self) -> tuple[tuple[int, ...], ...]:
        """The families to try, in order: the preferred one, then (fallback) the other; the
        source address's own alone when there is one."""
        if self.source_address is not None:
            return ((6 if ":" in self.source_address else 4,),)
        first = self.ip_protocol.family
        return ((first,), (10 - first,)) if self.ip_protocol_fallback else ((first,),)

    def options(self, families: tuple[int, ...], dns_timeout: float = 3.0) -> CheckOptions:
        return CheckOptions(
            dns_timeout=dns_timeout,
            ports=self.requests(),
            nameservers=self.nameservers,
            families=families,
            tries=self.tries,
            timeout=self.answer_timeout,
            ping=self.ping,
            app=self.app or self.app_protocol is not None,
            app_protocol=self.app_protocol,
            source=self.source_address,
        )


@dataclass(frozen=True)
class ServeConfig:
    modules: Mapping[str, Module]
    source: str  # the file, or "built-in profiles"


# --------------------------------------------------------------------------- building

_SETTINGS = (
    "tries",
    "answer_timeout",
    "timeout",
    "ping",
    "app",
    "app_protocol",
    "ip_protocol",
    "ip_protocol_fallback",
    "nameservers",
    "source_address",
)
# The audit's expectation keys, TCP's and UDP's twins (udp_open, udp_blocked...).
_EXPECT_KEYS = tuple((e, p) for p in Protocol for e in Expect)
MODULE_KEYS = ("profile", "ports", *(e.key(p) for e, p in _EXPECT_KEYS), *_SETTINGS)
Where = Callable[[str | None], str]  # a key (None: the module itself) -> "file, line N, ..."


def from_profiles(profiles: Mapping[str, PortProfile]) -> ServeConfig:
    """Every profile a module of the same name: its ports expected open, default settings."""
    modules = {}
    for name, profile in profiles.items():
        expectations = tuple(Expectation(p.port, Expect.OPEN, p.service) for p in profile.ports)
        modules[name] = Module(name, tuple(sorted(expectations, key=_by_port)))
    return ServeConfig(modules, "built-in profiles")


def _by_port(e: Expectation) -> int:
    return e.port


def build_module(
    name: str, table: Mapping[str, Any], where: Where, profile: Callable[[str], PortProfile]
) -> Module:
    """One module from its table; ``where(key)`` says where a key is, for messages."""
    unknown = [str(key) for key in table if key not in MODULE_KEYS]  # YAML keys may be numbers
    if unknown:
        raise ConfigError(
            f"{where(unknown[0])}: unknown key {quoted(unknown[0])} "
            f"(allowed: {', '.join(MODULE_KEYS)})"
        )
    listed = _listed(table, where, profile)
    if not listed:
        raise ConfigError(
            f"{where(None)}: module {quoted(name)} probes nothing: give it ports, a profile, "
            "or ports under open, blocked, filtered or refused"
        )
    try:
        refuse_contradictions(listed, where(None))
    except AuditFileError as exc:
        raise ConfigError(str(exc)) from None
    entry = HostEntry(Target(name, "name"), tuple(listed))
    settings = _settings(table, where)
    return Module(name, entry.expand().expectations, **settings)


def _listed(
    table: Mapping[str, Any], where: Where, profile: Callable[[str], PortProfile]
) -> list[Listed]:
    listed: list[Listed] = []
    name = table.get("profile")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where('profile')}: 'profile' must be a profile's name")
        try:
            chosen = profile(name.strip())
        except ProfileError as exc:
            raise ConfigError(f"{where('profile')}: {exc}") from None
        names = {p.port: p.service for p in chosen.ports if p.service}
        ports = PortSet(merge((p.port, p.port) for p in chosen.ports), names)
        listed.append(Listed(Expect.OPEN, f"profile {chosen.name}", ports))
    listed += _ports_key(table.get("ports"), where)
    keys: Sequence[tuple[str, Expect, object, Protocol]] = [
        (e.key(p), e, table.get(e.key(p)), p) for e, p in _EXPECT_KEYS
    ]
    for key, expect, value, protocol in keys:
        try:
            ports = port_list(value, key, where(key), protocol)
        except AuditFileError as exc:
            raise ConfigError(str(exc)) from None
        if ports.ranges:
            listed.append(Listed(expect, key, ports))
    return listed


def _ports_key(value: object, where: Where) -> list[Listed]:
    """``ports``: expected open, in --ports syntax, TCP and UDP alike ("80,443,53/udp")."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value  # a spec string: "80,443,8000-8010"
    if not isinstance(items, list):
        raise ConfigError(f"{where('ports')}: 'ports' must be a port spec or a list of ports")
    tcp: list[object] = [i for i in items if not isinstance(i, str)]
    udp: list[object] = []
    for item in items:
        if isinstance(item, str):
            try:
                spec = port_set(item)
            except PortSpecError as exc:
                raise ConfigError(f"{where('ports')}: 'ports': {exc}") from None
            tcp += [f"{a}-{b}" for a, b in spec.tcp.ranges]
            udp += [f"{a}-{b}" for a, b in spec.udp.ranges]
    out = []
    for protocol, some in ((Protocol.TCP, tcp), (Protocol.UDP, udp)):
        try:
            ports = port_list(some or None, "ports", where("ports"), protocol)
        except AuditFileError as exc:
            raise ConfigError(str(exc)) from None
        if ports.ranges:
            out.append(Listed(Expect.OPEN, "ports", ports))
    return out


def _settings(table: Mapping[str, Any], where: Where) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "tries" in table:
        out["tries"] = _whole(table["tries"], "tries", 1, 15, where)
    for key, low, high in (("answer_timeout", 0.05, 60.0), ("timeout", 0.1, MAX_TIMEOUT)):
        if key in table:
            out[key] = _seconds(table[key], key, low, high, where)
    for key in ("ping", "app", "ip_protocol_fallback"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{where(key)}: {key!r} must be true or false")
            out[key] = table[key]
    if "app_protocol" in table:
        from probe.steps.hello import PROTOCOLS

        value = table["app_protocol"]
        if not isinstance(value, str) or value.lower() not in PROTOCOLS:
            raise ConfigError(
                f"{where('app_protocol')}: 'app_protocol' must be one of "
                f"{', '.join(PROTOCOLS)}, not {shown(value)}"
            )
        out["app_protocol"] = value.lower()
    if "ip_protocol" in table:
        value = table["ip_protocol"]
        if value not in tuple(IpProtocol):
            raise ConfigError(
                f"{where('ip_protocol')}: 'ip_protocol' must be ip4 or ip6, not {shown(value)}"
            )
        out["ip_protocol"] = IpProtocol(value)
    if "nameservers" in table:
        out["nameservers"] = _nameservers(table["nameservers"], where)
    if "source_address" in table:
        out["source_address"] = _source(table["source_address"], out.get("ip_protocol"), where)
    return out


def _source(value: object, ip_protocol: IpProtocol | None, where: Where) -> str:
    from probe.engine.inet import is_local

    key = "source_address"
    try:
        address = str(ipaddress.ip_address(value.strip() if isinstance(value, str) else ""))
    except ValueError:
        raise ConfigError(
            f"{where(key)}: {key!r} must be an IP address, not {shown(value)}"
        ) from None
    if not is_local(address):
        raise ConfigError(f"{where(key)}: {key!r} {address} is not an address of this computer")
    family = 6 if ":" in address else 4
    if ip_protocol is not None and ip_protocol.family != family:
        raise ConfigError(
            f"{where(key)}: {key!r} {address} is IPv{family}, but 'ip_protocol' is {ip_protocol}"
        )
    return address


def _whole(value: object, key: str, low: int, high: int, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{where(key)}: {key!r} must be a whole number from {low} to {high}, not {shown(value)}"
        )
    return value


def _seconds(value: object, key: str, low: float, high: float, where: Where) -> float:
    """A number of seconds, or a duration like blackbox's: "5s", "500ms", "1m"."""
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
            if text.endswith(suffix):
                try:
                    number = float(text[: -len(suffix)]) * scale
                except ValueError:
                    number = math.nan
                break
    if not (math.isfinite(number) and low <= number <= high):
        raise ConfigError(
            f'{where(key)}: {key!r} must be a number of seconds (or "5s", "500ms") from '
            f"{low} to {high:g}, not {shown(value)}"
        )
    return number


def _nameservers(value: object, where: Where) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where('nameservers')}: 'nameservers' must be a list of addresses")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_address(str(item).strip())))
        except ValueError:
            raise ConfigError(
                f"{where('nameservers')}: 'nameservers' has {shown(item)}, not an IP address"
            ) from None
    return tuple(out)
