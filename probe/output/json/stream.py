"""``probe check --json`` of a large run, written batch by batch as the run goes.

The document is ``check.write_report``'s, key for key and value for value, with one
difference in order: ``targets`` comes right after ``version`` and ``mode``, and the keys
known only at the end (``interrupted``, ``notes``, ``discovery``: the batches' merged) follow
it. Each batch's targets are
written and let go, so neither the reports nor the text of a /16 are ever held. With
``only_open`` the targets without an open port are left out (the others whole).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TextIO

from probe.diagnosis.discovery import Discovery, Probe
from probe.model import Method, PortState, Report, TargetReport
from probe.output.json.check import discovery_to_dict, report_data
from probe.output.json.writer import Stream, dumps, quote, write_at, write_fields

__all__ = ["JsonStream", "has_open"]

_HEAD = ("version", "mode")


def has_open(t: TargetReport) -> bool:
    return any(p.state is PortState.OPEN for p in t.ports)


class JsonStream:
    """Begun by the first batch (``add``), ended by ``end``."""

    def __init__(self, out: TextIO, *, only_open: bool = False) -> None:
        self.out = out
        self.only_open = only_open
        self.mode: Method | None = None
        self.written = 0

    def add(self, report: Report) -> None:
        shown = report.targets
        if self.only_open:
            shown = tuple(t for t in shown if has_open(t))
        data = report_data(Report(shown, mode=report.mode), stream=True)  # no run-wide keys
        if self.mode is None:
            self._begin(data)
            self.mode = report.mode
        out = self.out
        for target in data["targets"]:
            out.write(",\n    " if self.written else "\n    ")
            write_fields(target, "    ", out)  # only its ports may be a Stream
            self.written += 1

    def _begin(self, data: dict[str, Any]) -> None:
        self.out.write("{")
        for n, key in enumerate(_HEAD):
            self._key(key, data[key], first=n == 0)
        self.out.write(',\n  "targets": [')

    def _key(self, key: str, value: Any, *, first: bool = False) -> None:
        self.out.write(("\n  " if first else ",\n  ") + quote(key) + ": ")
        write_at(value, "  ", self.out)

    def end(
        self, notes: tuple[str, ...], interrupted: bool, found: Discovery | None = None
    ) -> None:
        """The rest of the document: the keys known only now."""
        if self.mode is None:
            self._begin(report_data(Report(()), stream=True))
        self.out.write("\n  ]" if self.written else "]")
        mode = self.mode or Method.RAW
        tail = report_data(Report((), mode=mode, notes=notes, interrupted=interrupted), stream=True)
        for key, value in tail.items():
            if key not in _HEAD and key != "targets":
                self._key(key, value)
        if found is not None:
            self._key("discovery", _discovery(found))
        self.out.write("\n}\n")


def _discovery(d: Discovery) -> dict[str, Any]:
    """``discovery_to_dict``'s object with its hosts written piece by piece: a /16's 65,536
    live addresses are never one list of dicts, nor one string."""
    out = discovery_to_dict(replace(d, alive=()))
    out["alive"] = len(d.alive)
    out["skipped"] = d.skipped
    out["hosts"] = Stream(d.alive, _host)
    return out


def _host(item: tuple[str, tuple[Probe, ...]], indent: str) -> str:
    address, answered = item
    return dumps({"address": address, "answered": [str(p) for p in answered]}, indent)
