"""``probe audit`` for a person: per host, the expectations against what was observed.

A table of expectation, observation and verdict, then each failure with the finding that
explains it, written exactly as ``probe check`` writes findings::

    cam.example → 203.0.113.7
      PORT  SERVICE     EXPECTED  OBSERVED  RESULT
      80    http        open      open      pass
      6036  nvr-client  open      refused   FAIL
      FAIL port 6036 open: expected open, observed refused
      ✘ port-refused-by-middlebox (port 6036): Port 6036 is answered by a device in front ...
          evidence: SYN/ACK on 80 with TTL 63 (≈ 1 hop); RST on 6036 with TTL 64 ...
          next:     check the port forwarding (virtual server / PAT rule) for 6036 ...

    Audit FAILED: 1 of 2 expectations not met (1 passed)

When the audit also wrote a JUnit file (``Options.junit_path``), the last line names it.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from probe.diagnosis.expect import AuditResult, ExpectationResult, HostResult, Verdict
from probe.diagnosis.words import plural
from probe.model import Finding
from probe.output.text.pen import Pen, TextFormat, hang, render_finding

__all__ = ["AuditText", "render_audit"]

_COLUMNS = ("PORT", "SERVICE", "EXPECTED", "OBSERVED", "RESULT")
_WORD = {Verdict.PASS: "pass", Verdict.FAIL: "FAIL", Verdict.ERROR: "ERROR"}
_STYLE = {Verdict.PASS: "ok", Verdict.FAIL: "fail", Verdict.ERROR: "fail"}
_INDENT = "  "


class AuditText(TextFormat[AuditResult]):
    def draw(self, result: AuditResult, console: Console) -> None:
        render_audit(result, console, self.options.junit_path)


def render_audit(result: AuditResult, console: Console, junit: Path | None = None) -> None:
    pen = Pen(console)
    for note in result.report.notes:
        hang(console, 0, pen.styled("Note: ", "note"), Text(pen.clean(note)))
    hosts = len(result.hosts)
    console.print(
        Text(
            f"Audit of {pen.clean(result.plan.source)}: {hosts} {plural(hosts, 'host')}, "
            f"{result.total} {plural(result.total, 'expectation')}",
            style=pen.style("heading"),
        ),
        soft_wrap=True,
    )
    for host in result.hosts:
        console.print()
        _render_host(host, console, pen)
    console.print()
    if result.report.interrupted:
        console.print(Text("Interrupted: partial results", style=pen.style("interrupted")))
    console.print(_summary(result, pen), soft_wrap=True)
    if junit is not None:
        console.print(f"JUnit report: {pen.clean(str(junit))}", soft_wrap=True, markup=False)


def _render_host(h: HostResult, console: Console, pen: Pen) -> None:
    head = Text(pen.clean(h.host.name), style=pen.style("target"))
    addresses = [t.address for t in h.targets if t.address and t.address != h.host.name]
    if addresses:
        head.append(f" {pen.glyphs.arrow} {', '.join(addresses)}")
    elif not any(t.address for t in h.targets):
        head.append(" (no address)")
    if h.host.profile:
        head.append(f"  (profile {h.host.profile})", style=pen.style("dim"))
    console.print(head, soft_wrap=True)

    rows = [_row(r) for r in h.results]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(_COLUMNS)]
    header = "  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)).rstrip()
    console.print(Text(_INDENT + header, style=pen.style("heading")), soft_wrap=True)
    for r, row in zip(h.results, rows, strict=True):
        line = Text(_INDENT + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        line.rstrip()
        start = len(_INDENT) + sum(widths[:4]) + 8  # the RESULT column
        line.stylize(pen.style(_STYLE[r.verdict]), start, start + len(row[4]))
        console.print(line, soft_wrap=True, no_wrap=True, overflow="ignore")

    shown: list[Finding] = []
    for r in h.results:
        if r.verdict is Verdict.PASS:
            continue
        mark = pen.styled(_WORD[r.verdict], _STYLE[r.verdict])
        mark.append(" ")
        body = Text(f"{r.expectation.name}: {pen.clean(r.message)}")
        hang(console, len(_INDENT), mark, body)
        if r.finding is None:
            continue
        if r.finding in shown:
            note = Text(f"explained above: {r.finding.code}", style=pen.style("dim"))
            hang(console, len(_INDENT) * 2, Text(), note)
            continue
        shown.append(r.finding)
        render_finding(r.finding, console, pen)


def _row(r: ExpectationResult) -> tuple[str, str, str, str, str]:
    e = r.expectation
    states = [str(o.state) if o.state is not None else "-" for o in r.observations]
    if len(set(states)) == 1:
        observed = states[0]
    else:
        observed = ", ".join(
            f"{s} ({o.address})" for s, o in zip(states, r.observations, strict=True)
        )
    return (e.port_label, e.service or "-", str(e.expect), observed, _WORD[r.verdict])


def _summary(result: AuditResult, pen: Pen) -> Text:
    passed = result.count(Verdict.PASS)
    failed = result.count(Verdict.FAIL)
    errors = result.count(Verdict.ERROR)
    total = result.total
    if result.ok:
        return Text(
            f"Audit passed: all {total} {plural(total, 'expectation')} met",
            style=pen.style("ok"),
        )
    parts = [f"{failed + errors} of {total} expectations not met ({passed} passed"]
    if errors:
        parts.append(f", {errors} could not be checked")
    parts.append(")")
    return Text("Audit FAILED: " + "".join(parts), style=pen.style("fail"))
