"""Audit files: the expected port states per host, read and validated into an ``AuditPlan``.

    [[hosts]]
    target = "cam.example"   # required: one host name or address (no CIDR block)
    profile = "camera"       # optional: the profile's ports are expected open
    open = [80, 6036]        # must answer SYN/ACK
    blocked = [3389]         # must not be open: refused, filtered, rejected or unreachable
    filtered = [23]          # must be silently dropped
    refused = [8080]         # must answer RST

Every mistake is an ``AuditFileError`` naming the file, the ``[[hosts]]`` entry and its line,
raised before anything is probed. ``probe.session.audit`` runs the plan; ``probe.diagnosis.expect``
judges the report against it.

Rules of the file:

- Top level: only ``[[hosts]]`` tables, at least one. Per host: only the keys above; every
  key but ``target`` is optional, but each host must expect something.
- Ports are whole numbers 1-65535, or strings in ``--ports`` syntax (``"https"``,
  ``"8000-8010"``). A port listed twice under the same expectation counts once.
- Contradictions are errors: ``open`` (a list or the profile) against any other list, and
  ``filtered`` against ``refused``. ``blocked`` with ``filtered`` or ``refused`` is allowed
  (both are ways of being blocked) and gives two expectations.
- Each target at most once in the file (names compared without case or trailing dot).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from probe.errors import AuditFileError, PortSpecError, ProfileError, TargetError
from probe.model import PortRequest, PortState, Target
from probe.plan.ports import MAX_PORT, MIN_PORT, parse_ports, service_name
from probe.plan.profiles import PortProfile
from probe.plan.targets import parse_target


class Expect(StrEnum):
    """What a port must do; the member values are the audit file's keys."""

    OPEN = "open"
    BLOCKED = "blocked"
    FILTERED = "filtered"
    REFUSED = "refused"

    def holds(self, state: PortState) -> bool:
        if self is Expect.OPEN:
            return state is PortState.OPEN
        if self is Expect.BLOCKED:
            return state is not PortState.OPEN
        if self is Expect.FILTERED:
            return state is PortState.FILTERED
        return state is PortState.REFUSED


# Pairs that cannot both hold for one port. BLOCKED with FILTERED or REFUSED is not a
# contradiction: filtered and refused are ways of being blocked.
_CONTRADICTIONS = frozenset(
    {
        frozenset({Expect.OPEN, Expect.BLOCKED}),
        frozenset({Expect.OPEN, Expect.FILTERED}),
        frozenset({Expect.OPEN, Expect.REFUSED}),
        frozenset({Expect.FILTERED, Expect.REFUSED}),
    }
)
_TOP_KEYS = ("hosts",)
_HOST_KEYS = ("target", "profile", *(e.value for e in Expect))
_HOSTS_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*hosts[ \t]*\]\]", re.MULTILINE)
_AT_END = "(at end of document)"

# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Expectation:
    """One port's expected state; ``sources`` says where it came from ("open",
    "profile camera"), ``service`` the name the port is known by."""

    port: int
    expect: Expect
    service: str | None = None
    sources: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The test's name: "port 80 open"."""
        return f"port {self.port} {self.expect}"


@dataclass(frozen=True)
class AuditHost:
    """One ``[[hosts]]`` entry: ``entry`` is its 1-based position, ``line`` its header's line."""

    target: Target
    expectations: tuple[Expectation, ...]
    profile: str | None = None
    entry: int = 1
    line: int | None = None

    @property
    def name(self) -> str:
        return self.target.input

    def requests(self) -> tuple[PortRequest, ...]:
        """The ports to probe for this host, sorted, each once."""
        services: dict[int, str | None] = {}
        for e in self.expectations:
            if services.get(e.port) is None:
                services[e.port] = e.service
        return tuple(PortRequest(port, services[port]) for port in sorted(services))


@dataclass(frozen=True)
class AuditPlan:
    source: str  # the audit file, as named on the command line
    hosts: tuple[AuditHost, ...]

    @property
    def expectation_count(self) -> int:
        return sum(len(h.expectations) for h in self.hosts)


# --------------------------------------------------------------------------- parsing


def load_audit(path: Path, profiles_dirs: Sequence[Path] = ()) -> AuditPlan:
    """Read and validate an audit file. Profiles named in it are looked up in the usual
    places plus ``profiles_dirs``. Raises AuditFileError (exit 2) for any mistake."""
    from probe.plan import profiles

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditFileError(f"cannot read audit file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditFileError(
            f"audit file {path} is not UTF-8 text (byte {exc.start + 1} cannot be decoded)"
        ) from None
    cache: dict[str, PortProfile] = {}

    def lookup(name: str) -> PortProfile:
        if name not in cache:
            cache[name] = profiles.get_profile(name, list(profiles_dirs))
        return cache[name]

    return parse_audit(text, str(path), lookup)


def parse_audit(text: str, source: str, profile: Callable[[str], PortProfile]) -> AuditPlan:
    """Parse an audit file's text; ``source`` names it in messages and ``profile`` looks a
    profile up by name (raising ProfileError when unknown). Raises AuditFileError."""
    where = f"audit file {source}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The parser's message ends with "(at line L, column C)", or "(at end of document)".
        raise AuditFileError(
            f"{where} is not valid TOML: {_toml_position(str(exc), text)}"
        ) from None
    if not data:
        raise AuditFileError(
            f"{where} is empty: it needs at least one [[hosts]] table with a target, "
            'like [[hosts]] target = "web.example" open = [443]'
        )
    unknown = [key for key in data if key not in _TOP_KEYS]
    if unknown:
        raise AuditFileError(
            f"{where} has unknown key '{unknown[0]}' at the top level: only [[hosts]] tables "
            "are allowed there"
        )
    entries = data.get("hosts")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise AuditFileError(f"{where}: 'hosts' must be [[hosts]] tables, one per host")
    if not entries:
        raise AuditFileError(f"{where} has no hosts: add at least one [[hosts]] table")
    lines = _header_lines(text, len(entries))
    hosts: list[AuditHost] = []
    seen: dict[tuple[str, str | None], AuditHost] = {}
    for index, entry in enumerate(entries, start=1):
        host = _parse_host(entry, index, lines[index - 1], where, profile)
        key = _target_key(host.target)
        if key in seen:
            first = seen[key]
            raise AuditFileError(
                f"{_entry_where(where, index, host.line, host.name)}: the target is already "
                f"in hosts entry {first.entry} ({first.name}); put all of a host's "
                "expectations in one [[hosts]] table"
            )
        seen[key] = host
        hosts.append(host)
    return AuditPlan(source=source, hosts=tuple(hosts))


def _toml_position(message: str, text: str) -> str:
    """The parser's message, with "end of document" turned into a line and column too."""
    if message.endswith(_AT_END):
        lines = text.split("\n")
        return message[: -len(_AT_END)] + (
            f"(at end of document, line {len(lines)}, column {len(lines[-1]) + 1})"
        )
    return message


def _header_lines(text: str, count: int) -> list[int | None]:
    """The line of each ``[[hosts]]`` header, when the file is written with headers (an
    inline ``hosts = [...]`` has none: then no lines are given)."""
    found = [text.count("\n", 0, m.start()) + 1 for m in _HOSTS_HEADER.finditer(text)]
    return list(found) if len(found) == count else [None] * count


def _entry_where(where: str, index: int, line: int | None, target: str | None) -> str:
    at = f", line {line}" if line is not None else ""
    name = f" ({target})" if target else ""
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
) -> AuditHost:
    raw_target = entry.get("target")
    label = raw_target.strip() if isinstance(raw_target, str) and raw_target.strip() else None
    here = _entry_where(where, index, line, label)
    unknown = [key for key in entry if key not in _HOST_KEYS]
    if unknown:
        raise AuditFileError(
            f"{here} has unknown key '{unknown[0]}' (allowed: {', '.join(_HOST_KEYS)})"
        )
    if raw_target is None:
        raise AuditFileError(f"{here} has no 'target' (a host name or address)")
    if label is None:
        raise AuditFileError(f"{here}: 'target' must be a host name or address, not {raw_target!r}")
    target = _parse_target(label, here)

    # port -> expectation -> Expectation: duplicates under one expectation merge.
    found: dict[int, dict[Expect, Expectation]] = {}

    def add(port: int, expect: Expect, service: str | None, source: str) -> None:
        mine = found.setdefault(port, {})
        for other, earlier in mine.items():
            if frozenset({other, expect}) in _CONTRADICTIONS:
                raise AuditFileError(
                    f"{here}: port {port} is expected both {other} ({', '.join(earlier.sources)}) "
                    f"and {expect} ({source}); list it under one expectation"
                )
        known = mine.get(expect)
        if known is None:
            mine[expect] = Expectation(port, expect, service, (source,))
        elif source not in known.sources:
            mine[expect] = replace(
                known, service=known.service or service, sources=(*known.sources, source)
            )

    profile_name = entry.get("profile")
    if profile_name is not None:
        if not isinstance(profile_name, str) or not profile_name.strip():
            raise AuditFileError(
                f"{here}: 'profile' must be a profile's name, not {profile_name!r}"
            )
        try:
            chosen = profile(profile_name.strip())
        except ProfileError as exc:
            raise AuditFileError(f"{here}: {exc}") from None
        profile_name = chosen.name
        for request in chosen.requests():
            add(request.port, Expect.OPEN, request.service, f"profile {chosen.name}")
    for expect in Expect:
        for request in _port_list(entry.get(expect.value), expect.value, here):
            add(request.port, expect, request.service, expect.value)

    if not found:
        raise AuditFileError(
            f"{here} expects nothing: give it ports under open, blocked, filtered or refused, "
            "or a profile"
        )
    order = list(Expect)
    expectations = tuple(
        e
        for port in sorted(found)
        for e in sorted(found[port].values(), key=lambda e: order.index(e.expect))
    )
    return AuditHost(
        target=target,
        expectations=expectations,
        profile=profile_name,
        entry=index,
        line=line,
    )


def _parse_target(text: str, here: str) -> Target:
    if "/" in text:
        raise AuditFileError(
            f"{here}: target '{text}' is a CIDR block; an audit names one host per [[hosts]] "
            "table (its name or address)"
        )
    try:
        (target,) = parse_target(text)
    except TargetError as exc:
        raise AuditFileError(f"{here}: {exc}") from None
    return target


def _port_list(value: object, key: str, here: str) -> tuple[PortRequest, ...]:
    """A list of ports: whole numbers, or strings in --ports syntax ("https", "8000-8010")."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise AuditFileError(
            f"{here}: '{key}' must be a list of ports like [80, 443], not {value!r}"
        )
    out: list[PortRequest] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise AuditFileError(f"{here}: '{key}' has {item!r}, which is not a port")
        if isinstance(item, int):
            if not MIN_PORT <= item <= MAX_PORT:
                raise AuditFileError(
                    f"{here}: '{key}' has port {item}, out of range {MIN_PORT}-{MAX_PORT}"
                )
            out.append(PortRequest(item, service_name(item)))
            continue
        try:
            out.extend(parse_ports(item))
        except PortSpecError as exc:
            raise AuditFileError(f"{here}: '{key}': {exc}") from None
    return tuple(out)
