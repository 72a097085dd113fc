"""A large run's output: the text summary (plain data in, lines out), ``--open``'s lines,
the JSON written batch by batch (the same document as the whole report's), and memory that
stays flat however many targets go through."""

from __future__ import annotations

import io
import json
import tracemalloc
from typing import Any

from rich.console import Console

from probe.diagnosis.discovery import Discovery, Probe
from probe.model import Finding, Method, Report, Severity, TargetReport
from probe.output.base import Options
from probe.output.json.check import report_to_dict
from probe.output.json.stream import JsonStream
from probe.output.text.pen import Pen
from probe.output.text.summary import Summary, SummaryText, open_line, render_summary

BLOCK = "198.18.64.0/18"


def farm_target(mk: Any, i: int, *, up: bool = True) -> TargetReport:
    """One address of a block: 80 open, 22 refused, 8443 filtered (or all silent)."""
    address = f"198.18.{64 + i // 256}.{i % 256}"
    ports = (
        ((22, "refused", 63), (80, "open", 63), (8443, "filtered"))
        if up
        else ((22, "filtered"), (80, "filtered"), (8443, "filtered"))
    )
    names = {22: "ssh", 80: "http", 8443: "https-alt"}
    built = [
        mk.port(*p, responder=address if len(p) > 2 else None, service=names[p[0]]) for p in ports
    ]
    findings = (
        Finding("port-refused", Severity.ERROR, f"Nothing listens on 22 on {address}.", (22,)),
        Finding("port-filtered", Severity.ERROR, f"8443 on {address} is dropped.", (8443,)),
    )
    if not up:
        findings = (Finding("host-silent", Severity.ERROR, f"{address} is silent."),)
    return mk.target(
        *built,
        input=BLOCK,
        address=address,
        dns=mk.dns("literal", addresses=(address,), nameservers=()),
        ping=mk.ping("ok" if up else "no_reply"),
        findings=findings,
    )


def text_of(s: Summary) -> str:
    console = Console(file=io.StringIO(), width=100, force_terminal=False, color_system=None)
    render_summary(s, console, Pen(console))
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_summary_counts_hosts_ports_and_findings(mk: Any) -> None:
    s = Summary()
    s.add_all(farm_target(mk, i) for i in range(5))
    s.add(farm_target(mk, 5, up=False))
    assert (s.addresses, s.up, s.silent) == (6, 5, 1)
    text = text_of(s)
    lines = text.splitlines()
    assert lines[0] == f"{BLOCK}: 6 addresses probed: 5 up (answered something), 1 silent"
    assert lines[1].split() == ["PORT", "SERVICE", "OPEN", "REFUSED", "FILTERED"]
    assert lines[2].split() == ["22", "ssh", "0", "5", "1"]
    assert lines[3].split() == ["80", "http", "5", "0", "1"]
    assert lines[4].split() == ["8443", "https-alt", "0", "0", "6"]
    assert "Findings, by code and port" in lines[5]
    groups = [line.split()[1:5] for line in lines[6:]]
    assert groups == [
        ["host-silent", "-", "1", "host"],
        ["port-filtered", "8443", "5", "hosts"],
        ["port-refused", "22", "5", "hosts"],
    ]
    assert lines[7].endswith("e.g. 198.18.64.0, 198.18.64.1, 198.18.64.2")  # 3 examples


def test_summary_numbers_are_grouped_and_udp_named(mk: Any) -> None:
    s = Summary()
    t = farm_target(mk, 1)
    for _ in range(12_345):
        s.add(t)
    udp = mk.port(53, "open", 63, protocol="udp", service="domain")
    s.add(mk.target(udp, input=BLOCK, address="198.18.64.9"))
    text = text_of(s)
    assert "12,346 addresses probed" in text
    assert any(line.split()[:2] == ["53/udp", "domain"] for line in text.splitlines())


def test_open_line_lists_the_open_ports_only(mk: Any) -> None:
    assert open_line(farm_target(mk, 3)) == "198.18.64.3  80 http"
    assert open_line(farm_target(mk, 3, up=False)) is None


def test_summary_text_lists_addresses_only_when_asked(mk: Any) -> None:
    report = Report(tuple(farm_target(mk, i, up=i != 2) for i in range(4)))

    def written(**kw: Any) -> str:
        out = io.StringIO()
        sink = SummaryText(out, Options(verbose=kw.pop("verbose", False), color=False), **kw)
        sink.add(report)
        sink.end(("a note",), interrupted=False)
        return out.getvalue()

    plain = written()
    assert "198.18.64.1 " not in plain and "Ports" not in plain
    assert "Note: a note" in plain and "3 up" in plain
    opened = written(only_open=True).splitlines()
    assert opened[:3] == ["198.18.64.0  80 http", "198.18.64.1  80 http", "198.18.64.3  80 http"]
    verbose = written(verbose=True)
    assert verbose.count("✘ Ports") == 4 and "4 addresses probed" in verbose


def test_streamed_json_is_the_whole_reports_document(mk: Any) -> None:
    targets = [farm_target(mk, i, up=i % 3 != 0) for i in range(7)]
    whole = Report(tuple(targets), mode=Method.RAW, notes=("n1", "n2"), interrupted=True)
    out = io.StringIO()
    sink = JsonStream(out)
    for at in range(0, 7, 3):
        sink.add(Report(tuple(targets[at : at + 3]), mode=Method.RAW))
    sink.end(("n1", "n2"), interrupted=True)
    text = out.getvalue()
    assert json.loads(text) == report_to_dict(whole)
    assert list(json.loads(text)) == ["version", "mode", "targets", "interrupted", "notes"]
    assert text.endswith("}\n") and text.startswith('{\n  "version": 1,\n  "mode": "syn",')


def test_streamed_json_writes_host_discovery_as_the_whole_report_does(mk: Any) -> None:
    alive = tuple((f"198.18.64.{i}", (Probe.ECHO, Probe.SYN)) for i in range(3))
    found = Discovery(8, (Probe.ECHO, Probe.SYN), alive, ("198.18.64.8/30",))
    targets = tuple(farm_target(mk, i) for i in range(3))
    out = io.StringIO()
    sink = JsonStream(out)
    sink.add(Report(targets))
    sink.end(("a note",), interrupted=False, found=found)
    whole = Report(targets, notes=("a note",), discovery=found)
    data = json.loads(out.getvalue())
    assert data == report_to_dict(whole) and data["discovery"]["skipped"] == 5
    assert list(data)[-1] == "discovery"


def test_streamed_json_open_only_and_empty(mk: Any) -> None:
    out = io.StringIO()
    sink = JsonStream(out, only_open=True)
    sink.add(Report((farm_target(mk, 0), farm_target(mk, 1, up=False))))
    sink.end((), interrupted=False)
    assert [t["address"] for t in json.loads(out.getvalue())["targets"]] == ["198.18.64.0"]
    empty = io.StringIO()
    JsonStream(empty).end((), interrupted=False)
    assert json.loads(empty.getvalue()) == report_to_dict(Report(()))


class _Null(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _peak(mk: Any, n: int, batch: int) -> int:
    """Peak traced bytes of n targets made, summarised and written as JSON in batches."""
    tracemalloc.start()
    try:
        text = SummaryText(_Null(), Options(color=False))
        sink = JsonStream(_Null())
        for at in range(0, n, batch):
            report = Report(tuple(farm_target(mk, i) for i in range(at, min(n, at + batch))))
            text.add(report)
            sink.add(report)
        text.end((), interrupted=False)
        sink.end((), interrupted=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_targets_grow(mk: Any) -> None:
    small, large = _peak(mk, 1_000, 250), _peak(mk, 4_000, 250)
    assert large < small * 1.3, (small, large)  # 4x the targets, about the same peak
    assert large < 250 * 12_000  # a batch of 250 targets, rich's and the caches' own
