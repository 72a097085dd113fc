"""``probe watch --json``: JSON lines. One object per attempt as it is measured, one per DNS
lookup (``--resolve-every``), then one summary object; each on a line of its own, keys stable
(the README's "JSON lines" lists them):

- ``{"type": "attempt", "time", "round", "target", "address", "port", "protocol", "state",
  "reason", "tries", "responder", "ttl", "rtt_ms", "window", "tcp_options"}``
- ``{"type": "lookup", "time", "round", "target", "addresses", "changed"}``
- ``{"type": "summary", "version", "mode", "interrupted", "notes", "started", "ended",
  "rounds", "interval_s", "targets": [...]}``: each target as in the check report (its
  ``ports`` as they usually answered, each with a ``repeat`` block: ``series_to_dict``), and
  its ``findings``, the intermittency ones among them.

Times are ISO 8601 in UTC with milliseconds (``2026-11-30T14:03:12.345Z``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TextIO

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.names import Resolution
from probe.diagnosis.watch.report import RepeatedReport, WatchResult
from probe.diagnosis.watch.stats import Run, SeriesStats
from probe.output.base import Format, FormatName
from probe.output.json.check import report_to_dict
from probe.output.json.common import ms, tcp_options_to_dict

__all__ = [
    "RepeatedJson",
    "WatchJson",
    "attempt_to_dict",
    "iso",
    "lookup_to_dict",
    "series_to_dict",
]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def attempt_to_dict(a: Attempt) -> dict[str, Any]:
    return {
        "type": "attempt",
        "time": iso(a.time),
        "round": a.round,
        "target": a.target,
        "address": a.address,
        "port": a.port,
        "protocol": str(a.protocol),
        "state": str(a.state),
        "reason": a.reason,
        "tries": a.tries,
        "responder": a.responder,
        "ttl": a.ttl,
        "rtt_ms": ms(a.rtt_ms),
        "window": a.window,
        "tcp_options": None if a.tcp_options is None else tcp_options_to_dict(a.tcp_options),
    }


def lookup_to_dict(r: Resolution, before: Resolution | None) -> dict[str, Any]:
    changed = before is not None and set(before.addresses) != set(r.addresses)
    return {
        "type": "lookup",
        "time": iso(r.time),
        "round": r.round,
        "target": r.target,
        "addresses": list(r.addresses),
        "changed": changed,
    }


def _run(r: Run | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "length": r.length,
        "start": iso(r.start),
        "end": iso(r.end),
        "first_round": r.first_round,
        "last_round": r.last_round,
    }


def series_to_dict(s: SeriesStats) -> dict[str, Any]:
    """One port's statistics: the ``repeat`` block of a port entry (watch, check --repeat)."""
    rtt = s.rtt
    return {
        "attempts": s.attempts,
        "counts": {str(state): n for state, n in s.counts},
        "success_rate": round(s.success_rate, 2),
        "retried": s.retried,
        "rtt_ms": None
        if rtt is None
        else {
            "count": rtt.count,
            "min": ms(rtt.min),
            "avg": ms(rtt.avg),
            "median": ms(rtt.median),
            "p95": ms(rtt.p95),
            "max": ms(rtt.max),
            "mdev": ms(rtt.mdev),
            "jitter": ms(rtt.jitter),
        },
        "longest_failure": _run(s.longest_failure),
        "longest_success": _run(s.longest_success),
        "downtime": [_run(r) for r in s.downtime],
        "histogram": [
            {"low_ms": ms(b.low), "high_ms": ms(b.high), "count": b.count} for b in s.histogram
        ],
        "first": iso(s.first),
        "last": iso(s.last),
    }


def with_repeat(target: dict[str, Any], stats: tuple[SeriesStats, ...]) -> dict[str, Any]:
    """A check-report target dict whose port entries get their series' ``repeat`` block."""
    address = target.get("address")
    by_port = {(s.port, str(s.protocol)): s for s in stats if s.address == address}
    for entry in target.get("ports", []):
        s = by_port.get((entry["port"], str(entry["protocol"])))
        if s is not None:
            entry["repeat"] = series_to_dict(s)
    return target


def summary_to_dict(result: WatchResult) -> dict[str, Any]:
    from probe.model import Report

    report = Report(
        tuple(t.report for t in result.targets),
        mode=result.mode,
        notes=result.notes,
        interrupted=result.interrupted,
    )
    data = report_to_dict(report)
    targets = [
        with_repeat(d, t.stats) for d, t in zip(data["targets"], result.targets, strict=True)
    ]
    return {
        "type": "summary",
        "version": data["version"],
        "mode": data["mode"],
        "interrupted": result.interrupted,
        "notes": data["notes"],
        "started": iso(result.started),
        "ended": iso(result.ended),
        "rounds": result.rounds,
        "interval_s": result.interval,
        "targets": targets,
    }


def line(data: dict[str, Any]) -> str:
    """One JSON line (no newline inside, none at the end)."""
    return json.dumps(data, separators=(", ", ": "))


class WatchJson(Format[WatchResult]):
    """The summary line (the attempts' lines are written live, as they come)."""

    name = FormatName.JSON

    def render(self, result: WatchResult, out: TextIO) -> None:
        out.write(line(summary_to_dict(result)) + "\n")


def repeated_to_dict(result: RepeatedReport) -> dict[str, Any]:
    """``check --repeat --json``: the check report, each port entry with its ``repeat``
    block, and a top-level ``repeat``: rounds asked for and done."""
    data = report_to_dict(result.report)
    for d, t in zip(data["targets"], result.report.targets, strict=True):
        with_repeat(d, tuple(s for s in result.stats if s.target == t.input))
    data["repeat"] = {"asked": result.repeat, "rounds": result.rounds}
    return data


class RepeatedJson(Format[RepeatedReport]):
    name = FormatName.JSON

    def render(self, result: RepeatedReport, out: TextIO) -> None:
        from probe.output.json.writer import write

        write(repeated_to_dict(result), out)
