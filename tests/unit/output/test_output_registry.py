"""The output registry: every (result kind, format) pair it lists renders a small result, an
unsupported pair is one line of bad input, and per-run options reach the formats."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from probe.capture.analyze import analyze
from probe.capture.reader import CaptureInfo
from probe.diagnosis import expect
from probe.errors import BadInput
from probe.model import DnsResult, DnsStatus, PortState, Report, TraceReport, TraceVerdict
from probe.output.base import FormatName
from probe.output.registry import formats_of, formatter, render, write
from probe.output.views import CaptureAnalysis, ProfileList
from probe.plan import audit as audit_file
from probe.plan.profiles import PortProfile, ProfilePort

WEB = PortProfile("web", "Web server", (ProfilePort(80, "http"), ProfilePort(443)), "built-in")
AUDIT = '[[hosts]]\ntarget = "host.example"\nopen = [80]\nblocked = [23]\n'


def results(mk: Any) -> list[object]:
    """One small result of every kind the commands produce."""
    report = mk.report(mk.camera(), mk.nxdomain())
    plan = audit_file.parse_audit(AUDIT, "site.toml", lambda name: pytest.fail("no profiles"))
    checked = Report(targets=(mk.target((80, "open"), (23, "filtered")),))
    info = CaptureInfo("t.pcap", "pcap", (1,), 0, 0, 0, 0, None, None)
    trace = TraceReport(
        input="web.example",
        address=mk.host,
        port=80,
        dns=DnsResult(DnsStatus.OK, (mk.host,)),
        verdict=TraceVerdict(PortState.OPEN, "Port 80 is open."),
    )
    return [
        report,
        trace,
        expect.AuditResult(plan, checked, expect.evaluate(plan, checked)),
        CaptureAnalysis(info, analyze([])),
        ProfileList.of({"web": WEB}),
        WEB,
    ]


def test_every_listed_pair_renders(mk: Any) -> None:
    pairs = 0
    for result in results(mk):
        kinds = formats_of(type(result))
        assert FormatName.TEXT in kinds and FormatName.JSON in kinds, type(result)
        for fmt in kinds:
            out = io.StringIO()
            render(result, fmt, out, verbose=True)
            text = out.getvalue()
            assert text.endswith("\n") and len(text) > 1, (type(result), fmt)
            if fmt is FormatName.JSON:
                json.loads(text)
            pairs += 1
    assert pairs == 15  # six kinds in text and JSON, the audit in JUnit, check and audit in OM


def test_each_format_says_its_name(mk: Any) -> None:
    for result in results(mk):
        for fmt in formats_of(type(result)):
            assert formatter(type(result), fmt).name is fmt


@pytest.mark.parametrize(
    ("kind", "command", "has"),
    [
        (Report, "check", "text or json or openmetrics"),
        (TraceReport, "trace", "text or json"),
        (ProfileList, "profiles", "text or json"),
    ],
)
def test_a_format_the_result_does_not_have_is_bad_input(kind: type, command: str, has: str) -> None:
    with pytest.raises(BadInput) as caught:
        formatter(kind, FormatName.JUNIT)
    message = str(caught.value)
    assert message == f"probe {command} has no junit output; it writes {has}"
    assert "\n" not in message


def test_an_unknown_result_is_a_programming_error() -> None:
    assert formats_of(str) == ()
    with pytest.raises(TypeError):
        formatter(str, FormatName.TEXT)


def test_text_options_reach_the_format(
    mk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM", "xterm")  # a terminal with colours, once colour is forced
    monkeypatch.delenv("NO_COLOR", raising=False)
    audit = results(mk)[2]
    plain, coloured = io.StringIO(), io.StringIO()
    render(audit, FormatName.TEXT, plain, junit_path=tmp_path / "a.xml")
    render(audit, FormatName.TEXT, coloured, color=True)
    assert plain.getvalue().endswith(f"JUnit report: {tmp_path / 'a.xml'}\n")
    assert "\x1b[" not in plain.getvalue()  # not a terminal: no colour unless asked
    assert "\x1b[" in coloured.getvalue()


def test_write_replaces_the_file_and_a_bad_path_is_one_line(mk: Any, tmp_path: Path) -> None:
    audit = results(mk)[2]
    path = tmp_path / "audit.xml"
    path.write_text("old")
    write(audit, FormatName.JUNIT, path)
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0"')
    with pytest.raises(BadInput, match=r"^cannot write the JUnit file .*nowhere"):
        write(audit, FormatName.JUNIT, tmp_path / "nowhere" / "audit.xml")


def test_json_output_does_not_load_rich() -> None:
    import subprocess
    import sys

    code = (
        "import io, sys\n"
        "from probe.model import Report\n"
        "from probe.output.base import FormatName\n"
        "from probe.output.registry import render\n"
        "render(Report(targets=()), FormatName.JSON, io.StringIO())\n"
        "print('rich' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
