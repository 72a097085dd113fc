"""Pre-deployment audits: an audit file of expected port states -> pass/fail per expectation.

    [[hosts]]
    target = "cam.example"   # required: one host name or address (no CIDR block)
    profile = "camera"       # optional: the profile's ports are expected open
    open = [80, 6036]        # must answer SYN/ACK
    blocked = [3389]         # must not be open: refused, filtered, rejected or unreachable
    filtered = [23]          # must be silently dropped
    refused = [8080]         # must answer RST

The walk: ``load_audit`` reads and validates the file into an ``AuditPlan`` (frozen records;
every mistake is an ``AuditFileError`` naming the file, the ``[[hosts]]`` entry and its line,
raised before anything is probed). ``run_audit`` probes the hosts with the same engine and
diagnosis as ``probe check`` (one ``runner.run_check`` for all hosts, each with its own port
list: one engine scan for the whole file). ``evaluate`` — pure — compares
the Report with the expectations and picks, for each one that does not hold, the finding that
explains it.

Rules of the file:

- Top level: only ``[[hosts]]`` tables, at least one. Per host: only the keys above; every
  key but ``target`` is optional, but each host must expect something.
- Ports are whole numbers 1-65535, or strings in ``--ports`` syntax (``"https"``,
  ``"8000-8010"``). A port listed twice under the same expectation counts once.
- Contradictions are errors: ``open`` (a list or the profile) against any other list, and
  ``filtered`` against ``refused``. ``blocked`` with ``filtered`` or ``refused`` is allowed
  (both are ways of being blocked) and gives two expectations.
- Each target at most once in the file (names compared without case or trailing dot).

Verdicts: ``pass``; ``fail`` (probed, another state came back); ``error`` (could not be
checked: the name did not resolve, no route, interrupted). A name with IPv4 and IPv6
addresses is probed on both (unless -4/-6): an expectation holds only if it holds on each.
"""

from __future__ import annotations

import contextlib
import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from probe.errors import AuditFileError, PortSpecError, ProfileError, TargetError
from probe.model import (
    DnsStatus,
    Finding,
    Method,
    PortRequest,
    PortResult,
    PortState,
    Report,
    RouteStatus,
    Severity,
    Target,
    TargetReport,
)
from probe.plan.profiles import PortProfile
from probe.plan.targets import MAX_PORT, MIN_PORT, parse_ports, parse_target, service_name
from probe.session.check import Adapters, CheckOptions, run_check
from probe.status import ExitStatus

__all__ = [
    "PORT_OPEN_CODE",
    "AuditHost",
    "AuditPlan",
    "AuditResult",
    "Expect",
    "Expectation",
    "ExpectationResult",
    "HostResult",
    "Observation",
    "Verdict",
    "evaluate",
    "exit_status",
    "load_audit",
    "parse_audit",
    "run_audit",
]


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


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # probed, and another state came back
    ERROR = "error"  # could not be checked (DNS, no route, interrupted)


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

# The code of the explanation given when a port is open but was expected not to be. It is
# made by the audit for its verdicts (JSON, JUnit, terminal), never part of a check's findings:
# an open port is not a problem for `probe check`.
PORT_OPEN_CODE = "port-open"


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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Observation:
    """What one address of the host did on the port; ``state`` None: not probed."""

    address: str | None
    state: PortState | None
    verdict: Verdict


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation, checked. ``message`` is the one-line verdict ("expected open,
    observed refused"); ``finding`` the finding that explains a failure (None on a pass)."""

    expectation: Expectation
    verdict: Verdict
    observations: tuple[Observation, ...]
    message: str
    finding: Finding | None = None


@dataclass(frozen=True)
class HostResult:
    host: AuditHost
    targets: tuple[TargetReport, ...]  # one per address probed (IPv4 and IPv6), or a failed name
    results: tuple[ExpectationResult, ...]
    seconds: float = 0.0  # wall time of the run that probed this host

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict is verdict)


@dataclass(frozen=True)
class AuditResult:
    plan: AuditPlan
    report: Report  # every host's check report, in the file's order
    hosts: tuple[HostResult, ...]
    seconds: float = 0.0
    started: str = ""  # ISO 8601 UTC time the run started

    def count(self, verdict: Verdict) -> int:
        return sum(h.count(verdict) for h in self.hosts)

    @property
    def total(self) -> int:
        return sum(len(h.results) for h in self.hosts)

    @property
    def ok(self) -> bool:
        return self.count(Verdict.PASS) == self.total and not self.report.interrupted


# --------------------------------------------------------------------------- running


def run_audit(
    plan: AuditPlan,
    opts: CheckOptions,
    io: Adapters,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> AuditResult:
    """Probe every host of the plan with ``runner.run_check`` and evaluate the expectations.
    ``opts.ports`` is ignored: each host's ports come from its expectations.

    All hosts are probed together in one run (one engine scan for every host's ports), so
    each host's ``seconds`` is that run's time.
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    begin = clock()
    ports = {h.name: h.requests() for h in plan.hosts}
    report: Report | None = None
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C outside the run: nothing measured
        report = run_check(
            [h.target for h in plan.hosts], replace(opts, ports=()), io, ports_by_input=ports
        )
    took = clock() - begin
    reports: dict[str, tuple[TargetReport, ...]] = {}
    if report is not None:
        for h in plan.hosts:
            reports[h.name] = tuple(t for t in report.targets if t.input == h.name)
    merged = Report(
        targets=tuple(t for h in plan.hosts for t in reports.get(h.name, ())),
        mode=report.mode if report is not None else Method.RAW,
        notes=report.notes if report is not None else (),
        interrupted=report is None or report.interrupted,
    )
    hosts_done = evaluate(plan, merged, reports)
    hosts_timed = tuple(
        replace(h, seconds=took if h.host.name in reports else 0.0) for h in hosts_done
    )
    return AuditResult(
        plan=plan, report=merged, hosts=hosts_timed, seconds=clock() - begin, started=started
    )


def exit_status(result: AuditResult) -> ExitStatus:
    """0 when every expectation holds; 1 when one does not or could not be checked; 3 when
    no host could be probed at all for lack of a route; 130 when interrupted."""
    if result.report.interrupted:
        return ExitStatus.INTERRUPTED
    targets = result.report.targets
    if targets and all(
        t.route is not None and t.route.status is RouteStatus.NO_ROUTE for t in targets
    ):
        return ExitStatus.CANNOT_PROBE
    return ExitStatus.OK if result.ok else ExitStatus.PROBLEM


# --------------------------------------------------------------------------- evaluation (pure)


def evaluate(
    plan: AuditPlan,
    report: Report,
    by_host: Mapping[str, Sequence[TargetReport]] | None = None,
) -> tuple[HostResult, ...]:
    """Compare the report with the plan's expectations, host by host, in the file's order.

    ``by_host`` maps a host's target (as written) to its target reports; by default they are
    found in ``report`` by their ``input``."""
    out: list[HostResult] = []
    for host in plan.hosts:
        if by_host is not None:
            targets = tuple(by_host.get(host.name, ()))
        else:
            targets = tuple(t for t in report.targets if t.input == host.name)
        results = tuple(
            _check(e, targets, report.mode, report.interrupted) for e in host.expectations
        )
        out.append(HostResult(host=host, targets=targets, results=results))
    return tuple(out)


def _check(
    e: Expectation, targets: Sequence[TargetReport], mode: str, interrupted: bool
) -> ExpectationResult:
    observations: list[Observation] = []
    ports: list[PortResult | None] = []
    for t in targets:
        p = next((p for p in t.ports if p.port == e.port), None)
        ports.append(p)
        if p is None:
            observations.append(Observation(t.address, None, Verdict.ERROR))
        else:
            ok = e.expect.holds(p.state)
            observations.append(
                Observation(t.address, p.state, Verdict.PASS if ok else Verdict.FAIL)
            )
    if not targets:
        observations.append(Observation(None, None, Verdict.ERROR))
    verdicts = {o.verdict for o in observations}
    verdict = (
        Verdict.FAIL
        if Verdict.FAIL in verdicts
        else Verdict.ERROR
        if Verdict.ERROR in verdicts
        else Verdict.PASS
    )
    if verdict is Verdict.PASS:
        return ExpectationResult(e, verdict, tuple(observations), _message(e, observations))
    # The first address whose observation decided the verdict explains it.
    index = next(i for i, o in enumerate(observations) if o.verdict is verdict)
    decided = targets[index] if targets else None
    port = ports[index] if targets else None
    if verdict is Verdict.ERROR:
        why = _not_checked(decided, interrupted)
        message = f"expected {e.expect}, not checked: {why}"
        finding = _gate_finding(decided)
    else:
        assert decided is not None and port is not None
        message = _message(e, observations)
        finding = _explaining(decided, port, mode)
    return ExpectationResult(e, verdict, tuple(observations), message, finding)


def _message(e: Expectation, observations: Sequence[Observation]) -> str:
    """ "expected open, observed refused"; per address when the addresses differ."""
    words = [str(o.state) if o.state is not None else "not probed" for o in observations]
    if len(set(words)) == 1:
        return f"expected {e.expect}, observed {words[0]}"
    each = ", ".join(f"{w} on {o.address}" for w, o in zip(words, observations, strict=True))
    return f"expected {e.expect}, observed {each}"


def _not_checked(t: TargetReport | None, interrupted: bool) -> str:
    if t is None:
        return "the run was interrupted before this host" if interrupted else "nothing probed"
    if t.dns.status not in (DnsStatus.OK, DnsStatus.LITERAL):
        return f"{t.input} did not resolve (DNS {t.dns.status})"
    if t.route is not None and t.route.status is RouteStatus.NO_ROUTE:
        return f"this client has no route to {t.address}"
    if interrupted:
        return "the run was interrupted"
    return "the port was not probed"


def _gate_finding(t: TargetReport | None) -> Finding | None:
    """The finding that stopped a target before its ports (DNS failure, no route)."""
    if t is None:
        return None
    return next((f for f in t.findings if f.severity is Severity.ERROR and not f.ports), None)


def _explaining(t: TargetReport, p: PortResult, mode: str) -> Finding | None:
    """The finding that explains the port's state: the first error finding naming the port,
    else the first warning; for an unexpectedly open port, a ``port-open`` explanation."""
    for severity in (Severity.ERROR, Severity.WARNING):
        for f in t.findings:
            if f.severity is severity and p.port in f.ports:
                return f
    if p.state is PortState.OPEN:
        return _open_explanation(t, p, mode)
    return _gate_finding(t)


def _open_explanation(t: TargetReport, p: PortResult, mode: str) -> Finding:
    host = t.address or t.input
    if mode == "connect":
        seen = f"connect() to {p.port} on {host} succeeded"
    else:
        seen = f"SYN/ACK from {p.responder or host} on {p.port}"
        if p.ttl is not None:
            seen += f" with TTL {p.ttl}"
    service = f" ({p.service})" if p.service else ""
    source = t.route.source if t.route is not None and t.route.source else "this client"
    return Finding(
        code=PORT_OPEN_CODE,
        severity=Severity.ERROR,
        ports=(p.port,),
        summary=f"Port {p.port}{service} on {host} is open: something listens there and no "
        "firewall on the way drops or rejects the SYN.",
        evidence=(seen,),
        next_steps=(
            f"if {p.port} must not be reachable from here: stop the service on {host} or bind "
            "it to another address",
            f"to block it instead, add a firewall rule (on {host} or in front of it) that drops "
            f"TCP {p.port} from {source}",
        ),
    )
