"""``probe watch``: the same probes again and again, a line per attempt, then statistics and
why it is intermittent."""

from __future__ import annotations

import math
import re
import select
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from probe.cli import options as o
from probe.errors import BadInput, quoted

if TYPE_CHECKING:
    from probe.output.live import Live

MAX_COUNT = 10_000_000
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "": 1.0}
_SPAN = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*")


def seconds(option: str, low: float, high: float) -> Callable[[object], float]:
    """A parser for a span of time: seconds, or a number with ms, s, m or h (``10m``)."""

    def parse(value: object) -> float:
        m = _SPAN.fullmatch(str(value))
        span = float(m.group(1)) * _UNITS[m.group(2) or ""] if m else math.nan
        if math.isfinite(span) and low <= span <= high:
            return span
        raise BadInput(
            f"{option} must be a span of time from {low:g} s to {high:g} s (30, 1.5s, 500ms, "
            f"10m, 2h), not {quoted(str(value))}"
        )

    return parse


TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="TARGET", help="Host names, IPv4/IPv6 addresses or CIDR blocks."),
]
IntervalOpt = Annotated[
    float,
    typer.Option(
        "--interval",
        "-i",
        metavar="S",
        parser=seconds("--interval", 0.05, 3600),
        help="Time from one round of probes to the next (1, 0.5s, 200ms, 1m), 0.05 s to 1 h.",
    ),
]
CountOpt = Annotated[
    int | None,
    typer.Option(
        "--count",
        "-c",
        metavar="N",
        parser=o.whole("--count", 1, MAX_COUNT),
        help="Stop after N rounds. Default: until --duration or Ctrl-C.",
    ),
]
DurationOpt = Annotated[
    float | None,
    typer.Option(
        "--duration",
        metavar="SPAN",
        parser=seconds("--duration", 0.05, 7 * 86400),
        help="Stop after this long (90, 30s, 10m, 2h), up to 7 days.",
    ),
]
ResolveOpt = Annotated[
    int | None,
    typer.Option(
        "--resolve-every",
        metavar="N",
        parser=o.whole("--resolve-every", 1, MAX_COUNT),
        help="Ask DNS again every N rounds, and say when the answer changes.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only changes of state, and the summary.")
]
CsvOpt = Annotated[
    Path | None,
    typer.Option("--csv", metavar="FILE", help="Also write one row per attempt to FILE (CSV)."),
]


def watch(
    targets: TargetsArg = None,
    ports: o.PortsOpt = None,
    profile: o.ProfileOpt = None,
    profiles_dir: o.ProfilesDirOpt = None,
    interval: IntervalOpt = 1.0,
    count: CountOpt = None,
    duration: DurationOpt = None,
    resolve_every: ResolveOpt = None,
    quiet: QuietOpt = False,
    json_out: o.JsonOpt = False,
    csv_file: CsvOpt = None,
    nameserver: o.NameserverOpt = None,
    tries: o.TriesOpt = 3,
    timeout: o.TimeoutOpt = 1.0,
    no_ping: o.NoPingOpt = False,
    connect: o.ConnectOpt = False,
    rate: o.RateOpt = None,
    source: o.SourceOpt = None,
    ipv4: o.V4Opt = False,
    ipv6: o.V6Opt = False,
    verbose: o.VerboseOpt = False,
    pcap: o.PcapOpt = None,
    yes: o.YesOpt = False,
) -> int:
    """Probe each TARGET's ports again and again (every --interval, from a fresh source
    port each time, like a real client) with a line per attempt; at the end (--count,
    --duration or Ctrl-C) the statistics per port and why it is intermittent. Enter prints
    the statistics so far.

    Examples:

      probe watch shop.example.com -p 443 --interval 1 --count 60

      probe watch 192.0.2.10 -p 80,443 --duration 10m --quiet --csv watch.csv

      probe watch vip.example -p 80 --count 100 --interval 0.2 --json
    """
    from probe.diagnosis.watch.report import exit_status
    from probe.output import files
    from probe.output.live import Plan, live_output
    from probe.output.registry import render
    from probe.plan import targets as targets_mod
    from probe.plan.profiles import select_ports
    from probe.session.watch import WatchOptions

    texts = list(targets or ())
    if not texts:
        raise BadInput("give at least one TARGET")
    parsed = targets_mod.parse_targets(texts)
    check = o.check_options(
        nameserver=nameserver,
        ipv4=ipv4,
        ipv6=ipv6,
        tries=tries,
        timeout=timeout,
        no_ping=no_ping,
        connect=connect,
        rate=rate,
        source=source,
        ports=select_ports(ports, profile or [], profiles_dir or []),
    )
    big = targets_mod.oversized(targets_mod.count_addresses(parsed), len(check.ports))
    o.confirm_size(big, yes)
    if csv_file is not None:
        files.check_writable(csv_file, "--csv")
    opts = WatchOptions(check, interval, count, duration, resolve_every)
    fmt = o.output_format(json_out)
    plan = Plan(len(check.ports), interval, count, quiet)
    keyboard = not json_out and sys.stdin.isatty()
    with (
        o.session() as session,
        o.pcap(pcap) as packet_log,
        _rows(csv_file) as rows,
    ):
        live = live_output(fmt, sys.stdout, plan, csv=rows)
        result = session.watch(
            parsed,
            opts,
            on_start=live.start,
            on_round=live.round,
            on_lookup=live.lookup,
            on_tick=_enter(live) if keyboard else None,
            packet_log=packet_log,
        )
    with o.writing_report():
        render(result, fmt, sys.stdout, verbose=verbose)
    return exit_status(result)


def _enter(live: Live) -> Callable[[], None]:
    """Between rounds: a line typed at the terminal (Enter) prints the statistics so far.
    Only when stdin is a terminal, whose line discipline hands over whole lines: the check
    never blocks."""

    def tick() -> None:
        if select.select([sys.stdin], [], [], 0)[0]:
            sys.stdin.readline()
            live.so_far()

    return tick


def _rows(path: Path | None) -> AbstractContextManager[TextIO | None]:
    if path is None:
        return nullcontext()
    from probe.output.files import written

    return written(path, "CSV")
