"""``probe check`` of many addresses for a person: a summary, not a checklist per address.

    198.19.0.0/16: 65,534 addresses probed: 65,534 up (answered something), 0 silent
      PORT  SERVICE    OPEN    REFUSED  FILTERED
      22    ssh        0       65,534   0
      80    http       65,534  0        0
      ...
      Findings, by code and port
      ✘ port-refused       22     65,534 hosts  e.g. 198.19.0.1, 198.19.0.2, 198.19.0.3
      ✘ port-filtered      8443   65,534 hosts  e.g. ...

``Summary`` is plain data filled one target at a time (``add``), so a run of a /16 never
holds its reports; ``render_summary`` prints it. Each address's checklist is printed only
with ``-v`` (``SummaryText`` prints it as each batch comes); ``--open`` prints a line per
address that opened a port, with those ports, as they come.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TextIO

from rich.console import Console
from rich.text import Text

from probe.diagnosis.discovery import Discovery
from probe.model import PingStatus, PortResult, PortState, Protocol, Report, Severity, TargetReport
from probe.output.base import Options
from probe.output.text.check import render_check
from probe.output.text.pen import Pen, console_for, hang

__all__ = ["FindingGroup", "Summary", "SummaryText", "open_line", "render_summary"]

EXAMPLES = 3  # addresses shown per finding group
INPUTS_SHOWN = 4  # targets as typed named in the heading
_ANSWERED = (PortState.OPEN, PortState.REFUSED)  # the host itself said something
Endpoint = tuple[int, Protocol]


@dataclass
class FindingGroup:
    """One finding code on one port (or on no port: a host-wide finding), across hosts."""

    code: str
    severity: Severity
    port: Endpoint | None
    hosts: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """What a large run found, counted: hosts, each port's states, the findings grouped."""

    inputs: list[str] = field(default_factory=list)  # the first targets as typed
    addresses: int = 0  # targets with an address
    up: int = 0  # answered something: an echo reply, a SYN/ACK or RST (UDP: an answer)
    no_address: int = 0  # names that gave none
    ports: dict[Endpoint, Counter[PortState]] = field(default_factory=dict)
    services: dict[Endpoint, str | None] = field(default_factory=dict)
    findings: dict[tuple[str, Endpoint | None], FindingGroup] = field(default_factory=dict)

    def add(self, t: TargetReport) -> None:
        if len(self.inputs) <= INPUTS_SHOWN and t.input not in self.inputs:
            self.inputs.append(t.input)  # one more than shown: says there are more
        if t.address is None:
            self.no_address += 1
            return
        self.addresses += 1
        if _up(t):
            self.up += 1
        for p in t.ports:
            key = (p.port, p.protocol)
            self.ports.setdefault(key, Counter())[p.state] += 1
            if self.services.get(key) is None:
                self.services[key] = p.service
        for f in t.findings:
            protocols = f.protocols or (Protocol.TCP,) * len(f.ports)
            where: list[Endpoint | None] = list(zip(f.ports, protocols, strict=False))
            for port in where or [None]:
                group = self.findings.get((f.code, port))
                if group is None:
                    group = self.findings[f.code, port] = FindingGroup(f.code, f.severity, port)
                group.hosts += 1
                if len(group.examples) < EXAMPLES:
                    group.examples.append(t.address)

    def add_all(self, targets: Iterable[TargetReport]) -> None:
        for t in targets:
            self.add(t)

    @property
    def silent(self) -> int:
        return self.addresses - self.up


def _up(t: TargetReport) -> bool:
    if t.ping is not None and t.ping.status is PingStatus.OK and t.ping.received:
        return True
    return any(p.state in _ANSWERED and p.responder in (None, t.address) for p in t.ports)


def _n(value: int) -> str:
    return f"{value:,}"


def _port_name(port: Endpoint) -> str:
    number, proto = port
    return str(number) if proto is Protocol.TCP else f"{number}/{proto}"


def render_summary(s: Summary, console: Console, pen: Pen) -> None:
    """The summary: hosts, a row per port with its count in each state, the findings."""
    named = ", ".join(pen.clean(i) for i in s.inputs[:INPUTS_SHOWN])
    if len(s.inputs) > INPUTS_SHOWN:
        named += ", ..."
    head = Text(named, style=pen.style("target"))
    head.append(
        f": {_n(s.addresses)} addresses probed: {_n(s.up)} up (answered something), "
        f"{_n(s.silent)} silent"
    )
    if s.no_address:
        head.append(f"; {_n(s.no_address)} names without an address")
    console.print(head, soft_wrap=True)
    if s.ports:
        _ports_table(s, console, pen)
    if s.findings:
        _findings(s, console, pen)


def _ports_table(s: Summary, console: Console, pen: Pen) -> None:
    """A row per port: how many addresses gave each state."""
    states = [st for st in PortState if any(c[st] for c in s.ports.values())]
    rows = [
        (_port_name(k), s.services.get(k) or "-", *(_n(s.ports[k][st]) for st in states))
        for k in sorted(s.ports, key=lambda k: (k[0], str(k[1])))
    ]
    heads = ("PORT", "SERVICE", *(st.value.upper() for st in states))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    line = "    " + "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
    console.print(Text(line.rstrip(), style=pen.style("heading")), soft_wrap=True)
    for r in rows:
        cells = "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
        console.print(Text(("    " + cells).rstrip()), soft_wrap=True)


def _findings(s: Summary, console: Console, pen: Pen) -> None:
    """A line per finding code and port: how many hosts, and a few of them."""
    heading = Text("Findings, by code and port", style=pen.style("heading"))
    hang(console, 2, heading, Text())
    groups = sorted(s.findings.values(), key=_order)
    code_w = max(len(g.code) for g in groups)
    port_w = max(len(_where(g)) for g in groups)
    for g in groups:
        row = Text("  ").append_text(pen.severity_mark(g.severity))
        hosts = f"{_n(g.hosts)} {'host' if g.hosts == 1 else 'hosts'}"
        row.append(f" {g.code:<{code_w}}  {_where(g):<{port_w}}  {hosts}  e.g. ")
        row.append(", ".join(g.examples))
        console.print(row, soft_wrap=True)


def _order(g: FindingGroup) -> tuple[int, str, int, str]:
    rank = {Severity.ERROR: 0, Severity.WARNING: 1}.get(g.severity, 2)
    number, proto = g.port if g.port is not None else (-1, "")
    return rank, g.code, number, str(proto)


def _where(g: FindingGroup) -> str:
    return "-" if g.port is None else _port_name(g.port)


def open_line(t: TargetReport) -> str | None:
    """``--open``'s line for one address: its open ports, or None when it opened none."""
    opened = [p for p in t.ports if p.state is PortState.OPEN]
    if not opened or t.address is None:
        return None
    return f"{t.address}  " + ", ".join(_open_port(p) for p in opened)


def _open_port(p: PortResult) -> str:
    name = _port_name((p.port, p.protocol))
    return f"{name} {p.service}" if p.service else name


class SummaryText:
    """A large run's text, batch by batch: with ``verbose`` each address's checklist as it
    comes, with ``only_open`` a line per address that opened a port; the summary at the end."""

    def __init__(self, out: TextIO, options: Options, *, only_open: bool = False) -> None:
        self.console = console_for(out, options)
        self.pen = Pen(self.console)
        self.verbose = options.verbose
        self.only_open = only_open
        self.summary = Summary()
        self.listed = 0

    def add(self, report: Report) -> None:
        self.summary.add_all(report.targets)
        shown = report.targets
        if self.only_open:
            shown = tuple(t for t in shown if open_line(t) is not None)
        if self.verbose and shown:
            if self.listed:
                self.console.print()
            part = replace(report, targets=shown, notes=(), interrupted=False, discovery=None)
            render_check(part, self.console, verbose=True)
            self.listed += len(shown)
        elif self.only_open and shown:
            text = "\n".join(line for t in shown if (line := open_line(t)) is not None)
            self.console.print(Text(text), soft_wrap=True)
            self.listed += len(shown)

    def end(self, notes: Iterable[str], interrupted: bool, found: Discovery | None = None) -> None:
        if self.listed:
            self.console.print()
        notes = tuple(notes)
        for note in notes:
            hang(self.console, 0, self.pen.styled("Note: ", "note"), Text(self.pen.clean(note)))
        if self.verbose and found is not None and found.silent:
            silent = Text(self.pen.clean(", ".join(found.silent)))
            hang(self.console, 0, self.pen.styled("Not probed: ", "note"), silent)
        if notes:
            self.console.print()
        render_summary(self.summary, self.console, self.pen)
        if not self.verbose:
            more = "--open: the addresses with open ports; -v: each address's checklist"
            self.console.print(Text(f"  ({more})", style=self.pen.style("dim")), soft_wrap=True)
        if interrupted:
            words = Text("Interrupted: partial results", style=self.pen.style("interrupted"))
            self.console.print(words)
