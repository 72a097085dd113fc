"""``probe check`` for a person: each target as a network engineer's checklist.

    camera.example.com → 198.18.2.1
      ✔ DNS    198.18.2.1 via 198.18.1.53 in 3.10 ms
      ✔ Route  eth0, source 198.18.0.2, gateway 198.18.0.1
      ✔ Ping   3/3 replies, rtt 0.10/0.20/0.30 ms, TTL 64
      ✘ Ports  1 open, 1 refused
        PORT  SERVICE  STATE    REASON   ANSWERED BY  TTL  RTT      TRIES
        80    http     open     syn-ack  198.18.2.1   63   0.40 ms  1      mss 1460 ws 7 ...
        6036  -        refused  reset    198.18.2.1   64   0.20 ms  1
      Findings
      ✘ port-refused-by-middlebox (port 6036): ...
          evidence: ...
          next:     ...
      Verdict: ...

One line per step, marked ✔ (passed), ✘ (failed) or an en dash (skipped, with why). A step
that fails in a way that stops the walk (DNS, route) leaves the later steps shown as skipped.
The DNS line shows the address this computer's applications get; when that is not DNS's
(a hosts-file entry), DNS's own answer follows it. The ports table is
``probe.output.text.ports``; the default profile's closed ports on a host that opens some
port (``outcome.aside``) are no failure of the Ports step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from probe.diagnosis.outcome import aside
from probe.diagnosis.words import cap, numbers, plural, port_words, verb
from probe.model import (
    ArpResult,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortResult,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    SystemSource,
    SystemStatus,
    TargetReport,
)
from probe.output.text.pen import STEP_INDENT, Pen, TextFormat, format_ms, hang, render_finding
from probe.output.text.ports import aside_word, render_ports

__all__ = ["CheckText", "render_check"]

_MAX_ADDRESSES = 4  # DNS answers listed on the DNS line
_NAME_WIDTH = 7  # the step names' column: "Route" and two spaces


@dataclass(frozen=True)
class _Step:
    name: str
    outcome: str  # "ok" | "fail" | "skip"
    detail: str


class CheckText(TextFormat[Report]):
    def draw(self, result: Report, console: Console) -> None:
        render_check(result, console, verbose=self.options.verbose)


def render_check(report: Report, console: Console, *, verbose: bool = False) -> None:
    """Print the report for a person: notes, then one checklist per target, then a verdict."""
    pen = Pen(console)
    for note in report.notes:
        hang(console, 0, pen.styled("Note: ", "note"), Text(pen.clean(note)))
    if verbose and report.discovery is not None and report.discovery.silent:
        silent = ", ".join(report.discovery.silent)
        hang(console, 0, pen.styled("Not probed: ", "note"), Text(pen.clean(silent)))
    if report.notes and report.targets:
        console.print()
    for index, target in enumerate(report.targets):
        if index:
            console.print()
        _render_target(target, report.mode, console, pen, verbose, report.interrupted)
    if report.interrupted:
        if report.targets or report.notes:
            console.print()
        console.print(Text("Interrupted: partial results", style=pen.style("interrupted")))


def _render_target(
    t: TargetReport, mode: Method, console: Console, pen: Pen, verbose: bool, interrupted: bool
) -> None:
    console.print(_header(t, pen))
    others = aside(t.ports)
    steps = _steps(t, mode, pen, verbose, others)
    for step in steps:
        prefix = pen.mark(step.outcome)
        prefix.append(f" {step.name:<{_NAME_WIDTH}}")
        hang(console, STEP_INDENT, prefix, Text(step.detail))
    if t.ports:
        render_ports(t.ports, console, pen, verbose, others=others, target=t)
    if t.findings:
        hang(console, STEP_INDENT, Text("Findings", style=pen.style("heading")), Text())
        for finding in t.findings:
            render_finding(finding, console, pen)
    style, verdict = _verdict(t, steps, others, interrupted)
    hang(
        console,
        STEP_INDENT,
        Text("Verdict: ", style=pen.style("heading")),
        Text(pen.clean(verdict), style=pen.style(style)),
    )


def _header(t: TargetReport, pen: Pen) -> Text:
    text = Text(pen.clean(t.input), style=pen.style("target"))
    if t.address is None:
        text.append(" (no address)")
    elif t.address != t.input:
        text.append(f" {pen.glyphs.arrow} {t.address}")
    return text


# --------------------------------------------------------------------------- steps


def _steps(
    t: TargetReport, mode: Method, pen: Pen, verbose: bool, others: Sequence[PortResult]
) -> list[_Step]:
    """The checklist, in the order the pipeline walks; ``blocked`` says why the rest was not run."""
    dns = _dns_step(t.dns, t.address, pen, verbose)
    steps = [dns]
    blocked = "DNS failed" if dns.outcome == "fail" else None

    if t.route is None:
        steps.append(_Step("Route", "skip", _not_run(blocked)))
    else:
        route = _route_step(t.route, t.address, pen)
        steps.append(route)
        if route.outcome == "fail" and blocked is None:
            blocked = "no route"

    if t.ping is None:
        steps.append(_Step("Ping", "skip", _not_run(blocked)))
    else:
        steps.append(_ping_step(t.ping, pen))

    if t.arp is not None:
        steps.append(_arp_step(t.arp, t.family))

    if t.ports:
        steps.append(_ports_step(t.ports, mode, others))
    else:
        steps.append(_Step("Ports", "skip", _not_run(blocked) if blocked else "none probed"))
    return steps


def _not_run(blocked: str | None) -> str:
    return f"skipped ({blocked})" if blocked else "not run"


def _dns_step(d: DnsResult, address: str | None, pen: Pen, verbose: bool) -> _Step:
    """What the name gave: the address applications here use first, DNS's answer beside it
    when that is another one (a hosts-file entry, another NSS source)."""
    if d.status is DnsStatus.LITERAL:
        return _Step("DNS", "skip", "not needed (address literal)")
    mine = d.system
    local = mine is not None and mine.source in (SystemSource.HOSTS, SystemSource.OTHER)
    if mine is not None and local and address is not None:
        where = "the hosts file" if mine.source is SystemSource.HOSTS else "the system resolver"
        said = _dns_words(d, pen, verbose)[1]
        return _Step("DNS", "ok", f"{_addresses(mine.addresses)} from {where}; DNS servers: {said}")
    outcome, detail = _dns_words(d, pen, verbose)
    if mine is not None and mine.status is not SystemStatus.OK and address is not None:
        detail += f"; this computer's own resolver: {pen.clean(mine.detail or mine.status)}"
    return _Step("DNS", "ok" if address is not None else outcome, detail)


def _dns_words(d: DnsResult, pen: Pen, verbose: bool) -> tuple[str, str]:
    """("ok" or "fail", what the DNS servers said)."""
    asked = pen.clean(", ".join(d.nameservers)) or "the system's resolvers"
    took = f"in {format_ms(d.elapsed_ms)} ms"
    # The detail names what each server said; not when the line already says it all.
    plain = d.status in (DnsStatus.NXDOMAIN, DnsStatus.NO_ANSWER)
    restated = d.detail == f"{d.answered_by} answered {d.status.upper()}"
    said = f"; {pen.clean(d.detail)}" if d.detail and not plain and not restated else ""
    if d.status is DnsStatus.OK and d.addresses:
        parts = [_addresses(d.addresses)]
        if d.answered_by:
            parts.append(f"via {d.answered_by}")
        parts.append(took)
        if d.cname_chain:
            chain = f" {pen.glyphs.arrow} ".join(pen.clean(name) for name in d.cname_chain)
            parts.append(f"(CNAME {chain})")
        if verbose:
            parts.append(f"(asked {asked})")
        return "ok", " ".join(parts)
    failure = {
        DnsStatus.NXDOMAIN: f"NXDOMAIN: the name does not exist (asked {asked}, {took})",
        DnsStatus.SERVFAIL: f"SERVFAIL from {d.answered_by or asked} {took}",
        DnsStatus.REFUSED: f"REFUSED by {d.answered_by or asked} {took}",
        DnsStatus.TIMEOUT: f"no answer from {asked} {took}",
        DnsStatus.NO_ANSWER: f"the name has no address records (asked {asked}, {took})",
    }.get(d.status, f"no address (asked {asked}, {took})")
    return "fail", failure + said


def _addresses(addresses: Sequence[str]) -> str:
    shown = ", ".join(addresses[:_MAX_ADDRESSES])
    if len(addresses) > _MAX_ADDRESSES:
        shown += f" +{len(addresses) - _MAX_ADDRESSES} more"
    return shown


def _route_step(r: RouteResult, address: str | None, pen: Pen) -> _Step:
    said = f"; {pen.clean(r.detail)}" if r.detail else ""
    if r.status is RouteStatus.NO_ROUTE:
        kind = f" ({r.route_type} route)" if r.route_type else ""
        return _Step("Route", "fail", f"no route to {address or 'the target'}{kind}{said}")
    parts = [pen.clean(r.interface)] if r.interface else []
    if r.source:
        parts.append(f"source {r.source}")
    parts.append(f"gateway {r.gateway}" if r.gateway else "on-link (no gateway)")
    return _Step("Route", "ok", ", ".join(parts))


def _ping_step(p: PingResult, pen: Pen) -> _Step:
    said = f"; {pen.clean(p.detail)}" if p.detail else ""
    if p.status is PingStatus.SKIPPED:
        return _Step("Ping", "skip", f"skipped ({pen.clean(p.detail or '--no-ping')})")
    if p.status is PingStatus.UNREACHABLE:
        by = f", reported by {p.responder}" if p.responder else ""
        return _Step("Ping", "fail", f"unreachable{by}{said}")
    parts = [f"{p.received}/{p.sent} replies"]
    if p.rtt_min_ms is not None and p.rtt_avg_ms is not None and p.rtt_max_ms is not None:
        parts.append(
            f"rtt {format_ms(p.rtt_min_ms)}/{format_ms(p.rtt_avg_ms)}/{format_ms(p.rtt_max_ms)} ms"
        )
    if p.ttl is not None:
        parts.append(f"TTL {p.ttl}")
    outcome = "ok" if p.status is PingStatus.OK and p.received else "fail"
    return _Step("Ping", outcome, ", ".join(parts) + said)


def _arp_step(a: ArpResult, family: int | None) -> _Step:
    name = "NDP" if family == 6 else "ARP"
    if not a.macs:
        return _Step(name, "fail", "no answer")
    if len(a.macs) == 1:
        return _Step(name, "ok", f"{a.macs[0]} answers")
    return _Step(name, "fail", f"{len(a.macs)} MAC addresses answer: {', '.join(a.macs)}")


def _ports_step(ports: Sequence[PortResult], mode: Method, others: Sequence[PortResult]) -> _Step:
    counts = Counter(p.state for p in ports)
    counts.subtract(p.state for p in others)
    detail = ", ".join(f"{counts[s]} {s.value}" for s in PortState if counts[s])
    if others:
        n = len(others)
        detail += f"; {n} other {plural(n, 'port')} of the profile {aside_word(others)}"
    if mode == Method.CONNECT:
        detail += " (connect() fallback)"
    outcome = "ok" if counts[PortState.OPEN] + len(others) == len(ports) else "fail"
    return _Step("Ports", outcome, detail)


# --------------------------------------------------------------------------- verdict


def _verdict(
    t: TargetReport, steps: Sequence[_Step], others: Sequence[PortResult], interrupted: bool
) -> tuple[str, str]:
    """(style, sentence): the first error finding says it best; otherwise what the steps say.
    A run interrupted before any of the target's ports was measured has no verdict."""
    for f in t.findings:
        if f.severity is Severity.ERROR:
            return "error", f.summary
    if interrupted and not t.ports:
        return "interrupted", "Interrupted before any port was probed: no verdict"
    opened = numbers(p for p in t.ports if p.state is PortState.OPEN)
    if t.ports and len(opened) + len(others) == len(t.ports):
        if not others:
            return "ok", "All probed ports are open"
        n = len(others)
        return "ok", (
            f"{cap(port_words(opened))} {verb(opened, 'is', 'are')} open; the profile's {n} "
            f"other {plural(n, 'port')} {plural(n, 'is', 'are')} "
            f"{aside_word(others)}"
        )
    for f in t.findings:
        if f.severity is Severity.WARNING:
            return "warning", f.summary
    for step in steps:
        if step.outcome == "fail":
            return "error", f"{step.name}: {step.detail}"
    if not t.ports:
        return "info", "No problem found; no ports were probed"
    return "ok", "No problem found"
