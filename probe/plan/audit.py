"""Audit files: the expected port states per host, read and validated into an ``AuditPlan``.

    [[hosts]]
    target = "cam.example"   # required: one host name or address (no CIDR block)
    profile = "camera"       # optional: the profile's ports are expected open
    open = [80, 6036]        # must answer SYN/ACK
    blocked = [3389]         # must not be open: refused, filtered, rejected or unreachable
    filtered = [23]          # must be silently dropped
    refused = [8080]         # must answer RST
    udp_open = [123, 5060]   # UDP: must answer the request sent (probe's, or --payload-*)
    udp_blocked = [161]      # UDP: must not answer: port unreachable, rejected, or silence
    udp_filtered = [69]      # UDP: must stay silent (open|filtered)
    udp_refused = [514]      # UDP: must answer ICMP port unreachable

Every mistake is an ``AuditFileError`` naming the file, the ``[[hosts]]`` entry and its line,
raised before anything is probed. The whole file is checked on port ranges (``AuditFile``),
so its size is known before the expectations are expanded (``AuditFile.plan()``): the CLI
asks for --yes in between. ``probe.session.audit`` runs the plan; ``probe.diagnosis.expect``
judges the report against it.

Rules of the file:

- Top level: only ``[[hosts]]`` tables, at least one. Per host: only the keys above; every
  key but ``target`` is optional, but each host must expect something.
- Ports are whole numbers 1-65535, or strings in ``--ports`` syntax (``"https"``,
  ``"8000-8010"``). A port listed twice under the same expectation counts once. The key says
  the protocol: a string may repeat it (``udp_open = ["53/udp"]``) but not say the other one.
  Service names are looked up for the key's protocol (``udp_open = ["ntp"]`` is 123/udp).
- A profile's ports are expected open over TCP only: its UDP ports are not expected, since a
  silent UDP port (``open|filtered``) may be a service that ignores probe's request; list the
  UDP ones that must answer under ``udp_open``.
- Contradictions are errors, per protocol: ``open`` (a list or the profile) against any
  other list, and ``filtered`` against ``refused``. ``blocked`` with ``filtered`` or
  ``refused`` is allowed (both are ways of being blocked) and gives two expectations. 53/tcp
  and 53/udp are two ports: ``open = [53]`` with ``udp_blocked = [53]`` is fine.
- Each target at most once in the file (names compared without case or trailing dot).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from probe.errors import (
    QUOTE_LIMIT,
    AuditFileError,
    PortSpecError,
    ProfileError,
    TargetError,
    printable,
    quoted,
    shown,
)
from probe.model import Protocol, Target
from probe.plan.expectations import (
    AuditFile,
    AuditHost,
    AuditPlan,
    Expect,
    Expectation,
    HostEntry,
    Listed,
)
from probe.plan.inputs import parse_toml, read_text
from probe.plan.ports import MAX_PORT, MIN_PORT, PortSet, Ranges, merge, port_set
from probe.plan.profiles import PortProfile
from probe.plan.targets import parse_target

__all__ = [
    "AuditFile",
    "AuditHost",
    "AuditPlan",
    "Expect",
    "Expectation",
    "check_audit",
    "load_audit",
    "parse_audit",
    "read_audit",
]


# Pairs that cannot both hold for one port, in the order they are looked for. BLOCKED with
# FILTERED or REFUSED is not a contradiction: filtered and refused are ways of being blocked.
_CONTRADICTIONS = (
    (Expect.OPEN, Expect.BLOCKED),
    (Expect.OPEN, Expect.FILTERED),
    (Expect.OPEN, Expect.REFUSED),
    (Expect.FILTERED, Expect.REFUSED),
)
_TOP_KEYS = ("hosts",)
_KEYS = tuple((e, p) for p in Protocol for e in Expect)  # (expectation, protocol) per key
_HOST_KEYS = ("target", "profile", *(e.key(p) for e, p in _KEYS))
_HOSTS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*hosts[ \t]*\]\]", re.MULTILINE)


# --------------------------------------------------------------------------- parsing


def read_audit(path: Path, profiles_dirs: Sequence[Path] = ()) -> AuditFile:
    """Read and check an audit file (at most ``MAX_INPUT_BYTES``, a regular file). Profiles
    named in it are looked up in the usual places plus ``profiles_dirs``. Raises
    AuditFileError (exit 2) for any mistake."""
    from probe.plan import profiles

    text = read_text(path, "audit file", AuditFileError)
    cache: dict[str, PortProfile] = {}

    def lookup(name: str) -> PortProfile:
        if name not in cache:
            cache[name] = profiles.get_profile(name, list(profiles_dirs))
        return cache[name]

    return check_audit(text, str(path), lookup)


def load_audit(path: Path, profiles_dirs: Sequence[Path] = ()) -> AuditPlan:
    """``read_audit``, expanded."""
    return read_audit(path, profiles_dirs).plan()


def parse_audit(text: str, source: str, profile: Callable[[str], PortProfile]) -> AuditPlan:
    """``check_audit``, expanded."""
    return check_audit(text, source, profile).plan()


def check_audit(text: str, source: str, profile: Callable[[str], PortProfile]) -> AuditFile:
    """Check an audit file's text; ``source`` names it in messages and ``profile`` looks a
    profile up by name (raising ProfileError when unknown). Raises AuditFileError."""
    where = f"audit file {source}"
    data = parse_toml(text, where, AuditFileError)
    if not data:
        raise AuditFileError(
            f"{where} is empty: it needs at least one [[hosts]] table with a target, "
            'like [[hosts]] target = "web.example" open = [443]'
        )
    unknown = [key for key in data if key not in _TOP_KEYS]
    if unknown:
        raise AuditFileError(
            f"{where} has unknown key {quoted(unknown[0])} at the top level: only [[hosts]] "
            "tables are allowed there"
        )
    entries = data.get("hosts")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise AuditFileError(f"{where}: 'hosts' must be [[hosts]] tables, one per host")
    if not entries:
        raise AuditFileError(f"{where} has no hosts: add at least one [[hosts]] table")
    lines = _header_lines(text, len(entries))
    hosts: list[HostEntry] = []
    seen: dict[tuple[str, str | None], HostEntry] = {}
    for index, entry in enumerate(entries, start=1):
        host = _parse_host(entry, index, lines[index - 1], where, profile)
        key = _target_key(host.target)
        if key in seen:
            first = seen[key]
            raise AuditFileError(
                f"{_entry_where(where, index, host.line, host.name)}: the target is already "
                f"in hosts entry {first.entry} ({_label(first.name)}); put all of a host's "
                "expectations in one [[hosts]] table"
            )
        seen[key] = host
        hosts.append(host)
    return AuditFile(source=source, hosts=tuple(hosts))


def _header_lines(text: str, count: int) -> list[int | None]:
    """The line of each ``[[hosts]]`` header, when the file is written with headers (an
    inline ``hosts = [...]`` has none: then no lines are given). One pass over the text."""
    found: list[int | None] = []
    line, counted = 1, 0
    for match in _HOSTS_HEADER.finditer(text):
        line += text.count("\n", counted, match.start())
        counted = match.start()
        found.append(line)
    return found if len(found) == count else [None] * count


def _label(target: str) -> str:
    return printable(target, QUOTE_LIMIT)


def _entry_where(where: str, index: int, line: int | None, target: str | None) -> str:
    at = f", line {line}" if line is not None else ""
    name = f" ({_label(target)})" if target else ""
    return f"{where}, hosts entry {index}{name}{at}"


def _target_key(target: Target) -> tuple[str, str | None]:
    if target.address is None:
        return ("name", target.input.lower().rstrip("."))
    return (target.address, target.zone)


def _parse_host(
    entry: Mapping[str, object],
    index: int,
    line: int | None,
    where: str,
    profile: Callable[[str], PortProfile],
) -> HostEntry:
    raw_target = entry.get("target")
    label = raw_target.strip() if isinstance(raw_target, str) and raw_target.strip() else None
    here = _entry_where(where, index, line, label)
    unknown = [key for key in entry if key not in _HOST_KEYS]
    if unknown:
        raise AuditFileError(
            f"{here} has unknown key {quoted(unknown[0])} (allowed: {', '.join(_HOST_KEYS)})"
        )
    if raw_target is None:
        raise AuditFileError(f"{here} has no 'target' (a host name or address)")
    if label is None:
        raise AuditFileError(
            f"{here}: 'target' must be a host name or address, not {shown(raw_target)}"
        )
    target = _parse_target(label, here)

    listed: list[Listed] = []
    profile_name = entry.get("profile")
    if profile_name is not None:
        if not isinstance(profile_name, str) or not profile_name.strip():
            raise AuditFileError(
                f"{here}: 'profile' must be a profile's name, not {shown(profile_name)}"
            )
        try:
            chosen = profile(profile_name.strip())
        except ProfileError as exc:
            raise AuditFileError(f"{here}: {exc}") from None
        profile_name = chosen.name
        # TCP only: see the module's docstring.
        names = {p.port: p.service for p in chosen.ports if p.service}
        ports = PortSet(merge((p.port, p.port) for p in chosen.ports), names)
        listed.append(Listed(Expect.OPEN, f"profile {chosen.name}", ports))
    for expect, protocol in _KEYS:
        key = expect.key(protocol)
        ports = _port_list(entry.get(key), key, here, protocol)
        if ports.ranges:
            listed.append(Listed(expect, key, ports))
    if not listed:
        raise AuditFileError(
            f"{here} expects nothing: give it ports under open, blocked, filtered or refused "
            "(udp_open, udp_blocked... for UDP), or a profile"
        )
    _refuse_contradictions(listed, here)
    return HostEntry(target, tuple(listed), profile_name, entry=index, line=line)


def _refuse_contradictions(listed: Sequence[Listed], here: str) -> None:
    """The first port expected two ways that cannot both hold, found on the merged ranges
    (linear in the ranges, whatever the number of ports they span), protocol by protocol."""
    for protocol in Protocol:
        mine = [x for x in listed if x.protocol is protocol]
        expects = {x.expect for x in mine}
        if len(expects) < 2:
            continue
        merged = {
            e: merge(r for x in mine if x.expect is e for r in x.ports.ranges) for e in expects
        }
        for a, b in _CONTRADICTIONS:
            port = _first_common(merged.get(a, ()), merged.get(b, ()))
            if port is not None:
                label = f"{port}/udp" if protocol is Protocol.UDP else str(port)
                raise AuditFileError(
                    f"{here}: port {label} is expected both {a} ({_sources(mine, a, port)}) and "
                    f"{b} ({_sources(mine, b, port)}); list it under one expectation"
                )


def _sources(listed: Sequence[Listed], expect: Expect, port: int) -> str:
    return ", ".join(x.source for x in listed if x.expect is expect and x.ports.has(port))


def _first_common(a: Ranges, b: Ranges) -> int | None:
    i = j = 0
    while i < len(a) and j < len(b):
        low, high = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if low <= high:
            return low
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return None


def _parse_target(text: str, here: str) -> Target:
    if "/" in text:
        raise AuditFileError(
            f"{here}: target {quoted(text)} is a CIDR block; an audit names one host per "
            "[[hosts]] table (its name or address)"
        )
    try:
        (target,) = parse_target(text)
    except TargetError as exc:
        raise AuditFileError(f"{here}: {exc}") from None
    return target


def _port_list(value: object, key: str, here: str, protocol: Protocol) -> PortSet:
    """A list of ports of one protocol: whole numbers, or strings in --ports syntax ("https",
    "8000-8010", "53/udp" under a udp_ key), merged (600 times "1-65535" is still 65535
    ports)."""
    if value is None:
        return PortSet((), {}, protocol)
    if not isinstance(value, list):
        raise AuditFileError(
            f"{here}: '{key}' must be a list of ports like [80, 443], not {shown(value)}"
        )
    ranges: list[tuple[int, int]] = []
    names: dict[int, str] = {}
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise AuditFileError(f"{here}: '{key}' has {shown(item)}, which is not a port")
        if isinstance(item, int):
            if not MIN_PORT <= item <= MAX_PORT:
                raise AuditFileError(
                    f"{here}: '{key}' has port {shown(item)}, out of range {MIN_PORT}-{MAX_PORT}"
                )
            ranges.append((item, item))
            continue
        try:
            found = port_set(item, protocol, _only_why(key, protocol)).of(protocol)
        except PortSpecError as exc:
            raise AuditFileError(f"{here}: '{key}': {exc}") from None
        ranges += found.ranges
        for port, name in found.names.items():
            names.setdefault(port, name)
    return PortSet(merge(ranges), names, protocol)


def _only_why(key: str, protocol: Protocol) -> str:
    other = Protocol.UDP if protocol is Protocol.TCP else Protocol.TCP
    try:
        twin = Expect(key.removeprefix("udp_")).key(other)
    except ValueError:  # a key of another vocabulary (serve's "ports"): no twin to name
        return f"'{key}' lists {protocol.upper()} ports here"
    return f"'{key}' lists {protocol.upper()} ports: put it under '{twin}'"


# The audit's port lists and contradiction rules, shared with serve's modules
# (probe.serve.config), which expect port states in the same vocabulary.
port_list = _port_list
refuse_contradictions = _refuse_contradictions
