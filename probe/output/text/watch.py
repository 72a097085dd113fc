"""``probe watch`` for a person: a line per attempt as it comes, and the statistics and
findings at the end (or when Enter is pressed).

    14:03:12.4  198.18.9.1  80     open       syn-ack  from 198.18.9.1  TTL 63   0.41 ms
    14:03:12.5  198.18.9.1  80     refused    reset    from 198.18.9.1  TTL 63   0.38 ms
                                                             80: open → refused at 14:03:12.5

Times are local. On a colour terminal the state word is coloured and a change of state is
bold; elsewhere the same lines, plain. ``quiet``: only each port's first state and its
changes. The statistics block (``render_stats``) is shared with ``check --repeat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.text import Text

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.host import clock
from probe.diagnosis.watch.names import Resolution
from probe.diagnosis.watch.report import RepeatedReport, WatchResult
from probe.diagnosis.watch.stats import Run, SeriesKey, SeriesStats, key_of, summarize_all
from probe.model import PortState, Protocol, Report
from probe.output.base import Options
from probe.output.text.check import render_check
from probe.output.text.pen import STEP_INDENT, Pen, TextFormat, console_for, format_ms, hang

if TYPE_CHECKING:
    from probe.output.live import Plan

__all__ = ["LiveText", "RepeatedText", "WatchText", "render_stats"]

_SPARKS = "▁▂▃▄▅▆▇█"
_SPARK_MAX = 60  # attempts shown in the sparkline (the last ones)
_BAR = 24  # width of the longest histogram bar
_WINDOWS_SHOWN = 5
_MARKS = {PortState.REFUSED: "r", PortState.FILTERED: ".", PortState.OPEN_FILTERED: "."}
_HISTOGRAM_MIN = 10  # answers before a histogram says anything


def _port(a: Attempt | SeriesStats) -> str:
    return f"{a.port}/{a.protocol}" if a.protocol is not Protocol.TCP else str(a.port)


class LiveText:
    """The live lines of a watch, written as the rounds come."""

    def __init__(self, out: TextIO, options: Options, plan: Plan) -> None:
        self.console = console_for(out, options)
        self.pen = Pen(self.console)
        self.plan = plan
        self.quiet = plan.quiet
        self.attempts: list[Attempt] = []
        self._last: dict[SeriesKey, PortState] = {}

    def start(self, preflight: Report) -> None:
        pen, plan = self.pen, self.plan
        for note in preflight.notes:
            hang(self.console, 0, pen.styled("Note: ", "note"), Text(pen.clean(note)))
        for t in preflight.targets:
            head = Text(pen.clean(t.input), style=pen.style("target"))
            if t.address is None:
                head.append(f": not watched ({t.dns.status})")
            elif t.address != t.input:
                head.append(f" {pen.glyphs.arrow} {t.address}")
            self.console.print(head)
        rounds = f"{plan.count} rounds" if plan.count is not None else "until Ctrl-C"
        ports = f"{plan.ports} {'port' if plan.ports == 1 else 'ports'}"
        self.console.print(
            Text(f"watching {ports} every {plan.interval:g} s, {rounds}", style=pen.style("dim"))
        )

    def round(self, attempts: Sequence[Attempt]) -> None:
        self.attempts += attempts
        for a in attempts:
            key = key_of(a)
            before = self._last.get(key)
            self._last[key] = a.state
            changed = before is not None and before is not a.state
            if self.quiet and before is not None and not changed:
                continue
            self.console.print(self._line(a, before if changed else None), soft_wrap=True)

    def _line(self, a: Attempt, was: PortState | None) -> Text:
        pen = self.pen
        text = Text(f"{clock(a.time)}  {a.address}  {_port(a):<8} ")
        text.append_text(pen.styled(f"{a.state:<11}", _state_style(a.state)))
        text.append(f"{a.reason:<16}")
        if a.responder is not None:
            text.append(f" from {a.responder}")
        if a.ttl is not None:
            text.append(f"  TTL {a.ttl:<3}")
        if a.rtt_ms is not None:
            text.append(f"  {format_ms(a.rtt_ms)} ms")
        if a.tries > 1:
            text.append(f"  (try {a.tries})")
        if was is not None:
            arrow = pen.glyphs.arrow
            change = Text(f"  {_port(a)}: {was} {arrow} {a.state} at {clock(a.time)}")
            change.stylize("" if pen.plain else "bold " + _state_style(a.state))
            text.append_text(change)
        return text

    def lookup(self, r: Resolution, before: Resolution | None) -> None:
        if before is not None and set(before.addresses) == set(r.addresses):
            return
        was = ", ".join(before.addresses) if before is not None else "-"
        now = ", ".join(r.addresses) or "no address"
        line = Text(f"{clock(r.time)}  {self.pen.clean(r.target)}: DNS now {now} (was {was})")
        line.stylize(self.pen.style("warning"))
        self.console.print(line)

    def so_far(self) -> None:
        """The statistics of what was measured so far (Enter)."""
        self.console.print()
        render_stats(summarize_all(self.attempts), self.console, self.pen, self.attempts)
        self.console.print()


def _state_style(state: PortState) -> str:
    return {
        PortState.OPEN: "open",
        PortState.REFUSED: "refused",
        PortState.FILTERED: "filtered",
        PortState.REJECTED: "rejected",
        PortState.UNREACHABLE: "unreachable",
    }.get(state, "filtered")


def _run_words(r: Run | None) -> str:
    if r is None:
        return "none"
    return f"{r.length} ({clock(r.start)} to {clock(r.end)})"


def render_stats(
    stats: Sequence[SeriesStats], console: Console, pen: Pen, attempts: Sequence[Attempt] = ()
) -> None:
    """Per port: counts, RTT figures, runs, downtime windows, the last attempts' RTTs as a
    sparkline (failures as x; from ``attempts``) and an RTT histogram."""
    by_key: dict[SeriesKey, list[Attempt]] = {}
    for a in attempts:
        by_key.setdefault(key_of(a), []).append(a)
    for s in stats:
        head = Text(f"{s.address} port {_port(s)}: ", style=pen.style("heading"))
        counts = ", ".join(f"{n} {state} ({100 * n / s.attempts:.1f} %)" for state, n in s.counts)
        body = f"{s.attempts} attempts, {counts}; success {s.success_rate:.1f} %"
        if s.retried:
            body += f"; {s.retried} answered only on a retry"
        hang(console, STEP_INDENT, head, Text(body))
        lines = []
        r = s.rtt
        if r is not None:
            figures = "/".join(format_ms(v) for v in (r.min, r.avg, r.median, r.p95, r.max, r.mdev))
            jitter = "" if r.jitter is None else f", jitter {format_ms(r.jitter)} ms"
            lines.append(f"rtt min/avg/median/p95/max/mdev {figures} ms{jitter}")
        lines.append(
            f"longest failure run {_run_words(s.longest_failure)}, "
            f"longest success run {_run_words(s.longest_success)}"
        )
        if s.downtime and s.succeeded:  # a port never open has no downtime, it is closed
            shown = [
                f"{clock(w.start)} to {clock(w.end)} ({w.length})"
                for w in s.downtime[:_WINDOWS_SHOWN]
            ]
            more = len(s.downtime) - _WINDOWS_SHOWN
            lines.append(
                "downtime " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
            )
        for line in lines:
            hang(console, STEP_INDENT + 4, Text(""), Text(line))
        mine = by_key.get((s.target, s.address, s.port, s.protocol))
        if mine:
            hang(console, STEP_INDENT + 4, pen.styled("last ", "dim"), _spark_text(mine, pen))
        _histogram(s, console, pen)


def _spark_text(attempts: Sequence[Attempt], pen: Pen) -> Text:
    shown = list(attempts)[-_SPARK_MAX:]
    rtts = [a.rtt_ms for a in shown if a.state is PortState.OPEN and a.rtt_ms is not None]
    low, high = (min(rtts), max(rtts)) if rtts else (0.0, 0.0)
    out = Text()
    for a in shown:
        if a.state is not PortState.OPEN or a.rtt_ms is None:
            out.append_text(pen.styled(_MARKS.get(a.state, "x"), _state_style(a.state)))
            continue
        k = 0 if high <= low else int((a.rtt_ms - low) / (high - low) * (len(_SPARKS) - 1))
        out.append(_SPARKS[k] if pen.glyphs.ok == "✔" else ".:-=+*#%@"[k])
    return out


def _histogram(s: SeriesStats, console: Console, pen: Pen) -> None:
    if len(s.histogram) < 2 or s.rtt is None or s.rtt.count < _HISTOGRAM_MIN:
        return
    top = max(b.count for b in s.histogram) or 1
    block = "█" if pen.glyphs.ok == "✔" else "#"
    fine = s.histogram[0].high - s.histogram[0].low < 0.01  # sub-10 µs bins: 3 decimals
    for b in s.histogram:
        bar = block * max(1 if b.count else 0, round(b.count / top * _BAR))
        low, high = (
            (f"{b.low:.3f}", f"{b.high:.3f}") if fine else (format_ms(b.low), format_ms(b.high))
        )
        span = f"{low}-{high} ms"
        label = f"{span:>18} {b.count:>5} "
        hang(console, STEP_INDENT + 4, Text(label, style=pen.style("dim")), Text(bar))


class WatchText(TextFormat[WatchResult]):
    """The end of a watch: statistics per port, then the checklist with every finding."""

    def draw(self, result: WatchResult, console: Console) -> None:
        pen = Pen(console)
        seconds = max(0.0, result.ended - result.started)
        console.print()
        console.print(
            Text(
                f"--- statistics: {result.rounds} rounds in {seconds:.1f} s, every "
                f"{result.interval:g} s ---",
                style=pen.style("heading"),
            )
        )
        by_key: dict[SeriesKey, list[Attempt]] = {}
        for a in result.attempts:
            by_key.setdefault(key_of(a), []).append(a)
        for t in result.targets:
            for s in t.stats:
                render_stats([s], console, pen)
                mine = by_key.get((s.target, s.address, s.port, s.protocol), [])
                hang(
                    console,
                    STEP_INDENT + 4,
                    Text("last ", style=pen.style("dim")),
                    _spark_text(mine, pen),
                )
        console.print()
        report = Report(
            tuple(t.report for t in result.targets),
            mode=result.mode,
            interrupted=result.interrupted,
        )
        render_check(report, console, verbose=self.options.verbose)


class RepeatedText(TextFormat[RepeatedReport]):
    """``check --repeat``: the check's report, then the statistics of the rounds."""

    def draw(self, result: RepeatedReport, console: Console) -> None:
        render_check(result.report, console, verbose=self.options.verbose)
        pen = Pen(console)
        console.print()
        console.print(
            Text(f"Repeats: {result.rounds} of {result.repeat} rounds", style=pen.style("heading"))
        )
        render_stats(result.stats, console, pen, result.attempts)
