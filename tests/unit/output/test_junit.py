"""JUnit XML of an audit: the shape CI reporters read (the Jenkins xUnit plugin's
junit-10.xsd, checked element by element below), counts that agree with the testcases, and
failures that carry the observed state and the explaining finding."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from probe.diagnosis import expect
from probe.diagnosis.registry import diagnose
from probe.errors import BadInput
from probe.model import DnsResult, DnsStatus, Report, TargetReport
from probe.output.base import FormatName
from probe.output.files import check_writable
from probe.output.registry import render, write
from probe.plan import audit as audit_file

# junit-10.xsd, as data: per element, the attributes it may carry, those it must carry, and
# the child elements it may contain.
_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")  # SUREFIRE_TIME
SCHEMA: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set(), {"testsuite"}),
    "testsuite": (
        {
            "name",
            "tests",
            "failures",
            "errors",
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
        },
        {"name", "tests", "failures", "errors"},
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": (
        {"name", "time", "classname", "group"},
        {"name"},
        {"skipped", "error", "failure", "system-out", "system-err"},
    ),
    "failure": ({"type", "message"}, set(), set()),
    "error": ({"type", "message"}, set(), set()),
    "skipped": ({"type", "message"}, set(), set()),
}


def validate(element: ET.Element) -> None:
    """Raise AssertionError where ``element`` (and its subtree) breaks junit-10.xsd."""
    assert element.tag in SCHEMA, f"unknown element <{element.tag}>"
    allowed, required, children = SCHEMA[element.tag]
    assert set(element.attrib) <= allowed, (element.tag, set(element.attrib) - allowed)
    assert required <= set(element.attrib), (element.tag, required - set(element.attrib))
    if "time" in element.attrib and element.tag in ("testsuites", "testsuite"):
        assert _TIME.fullmatch(element.attrib["time"]), element.attrib["time"]
    for child in element:
        assert child.tag in children, f"<{child.tag}> inside <{element.tag}>"
        validate(child)


def counts_agree(root: ET.Element) -> None:
    """tests / failures / errors of every suite and of the root are the testcases' counts."""
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        mine = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
        }
        assert {k: int(suite.attrib[k]) for k in mine} == mine, suite.attrib["name"]
        for k in totals:
            totals[k] += mine[k]
    assert {k: int(root.attrib[k]) for k in totals} == totals


def nat(mk: Any, name: str = "cam.example") -> TargetReport:
    t = mk.target(
        (80, "open", 63),
        (3389, "refused", 64),
        (6036, "refused", 64),
        input=name,
        ping=mk.ping("ok", 64),
    )
    return replace(t, findings=diagnose(t))


def result_of(text: str, *targets: TargetReport, **kw: Any) -> expect.AuditResult:
    plan = audit_file.parse_audit(text, "site.toml", lambda name: pytest.fail("no profiles here"))
    report = Report(targets=targets)
    return expect.AuditResult(plan, report, expect.evaluate(plan, report), **kw)


def render_junit(result: expect.AuditResult) -> str:
    out = io.StringIO()
    render(result, FormatName.JUNIT, out)
    return out.getvalue()


def parsed(result: expect.AuditResult) -> ET.Element:
    text = render_junit(result)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n') and text.endswith("\n")
    root = ET.fromstring(text.encode("utf-8"))
    validate(root)
    counts_agree(root)
    return root


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {c.attrib["name"]: c for c in root.iter("testcase")}


CAM = '[[hosts]]\ntarget = "cam.example"\nopen = [80, 6036]\nblocked = [3389]\n'


def test_failure_names_the_observed_state_and_the_finding(mk: Any) -> None:
    root = parsed(result_of(CAM, nat(mk), seconds=1.5, started="2024-05-01T10:00:00+00:00"))
    assert root.tag == "testsuites"
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["errors"]) == ("3", "1", "0")
    assert root.attrib["time"] == "1.500"
    (suite,) = root.findall("testsuite")
    assert suite.attrib["name"] == "cam.example"
    assert suite.attrib["timestamp"] == "2024-05-01T10:00:00+00:00"
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert props == {"address": mk.host}
    by_name = cases(root)
    assert list(by_name) == ["port 80 open", "port 3389 blocked", "port 6036 open"]
    assert {c.attrib["classname"] for c in by_name.values()} == {"probe.audit.cam.example"}
    assert len(by_name["port 80 open"]) == 0 and len(by_name["port 3389 blocked"]) == 0
    (failure,) = by_name["port 6036 open"]
    assert failure.tag == "failure"
    assert failure.attrib["message"] == "expected open, observed refused"
    assert failure.attrib["type"] == "port-refused-by-middlebox"
    text = failure.text or ""
    assert "port-refused-by-middlebox: Ports 3389, 6036 are answered by a device in front" in text
    assert "NAT" in text and "evidence: " in text and "TTL 64" in text


def test_everything_holds_no_failures(mk: Any) -> None:
    text = '[[hosts]]\ntarget = "cam.example"\nopen = [80]\nrefused = [6036]\nblocked = [3389]\n'
    root = parsed(result_of(text, nat(mk)))
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["errors"]) == ("3", "0", "0")
    assert all(len(c) == 0 for c in root.iter("testcase"))


def test_one_suite_per_host_and_errors_for_what_was_not_checked(mk: Any) -> None:
    missing = TargetReport(
        input="missing.example", address=None, dns=DnsResult(status=DnsStatus.NXDOMAIN)
    )
    missing = replace(missing, findings=diagnose(missing))
    text = CAM + '[[hosts]]\ntarget = "missing.example"\nopen = [443]\nblocked = [22]\n'
    root = parsed(result_of(text, nat(mk), missing))
    suites = root.findall("testsuite")
    assert [s.attrib["name"] for s in suites] == ["cam.example", "missing.example"]
    assert (suites[1].attrib["errors"], suites[1].attrib["failures"]) == ("2", "0")
    assert suites[1].find("properties") is None  # no address to name
    errors = [c.find("error") for c in suites[1].iter("testcase")]
    assert all(e is not None and e.attrib["type"] == "dns-nxdomain" for e in errors)
    assert root.attrib["errors"] == "2" and root.attrib["failures"] == "1"


def test_special_and_control_characters_stay_well_formed(mk: Any) -> None:
    t = nat(mk)
    odd = replace(t.findings[0], summary='RST <from> "the" NAT & co\x07\x1b[31m')
    t = replace(t, findings=(odd, *t.findings[1:]))
    root = parsed(result_of(CAM, t))
    failure = cases(root)["port 6036 open"][0]
    assert 'RST <from> "the" NAT & co' in (failure.text or "")
    assert "\x07" not in (failure.text or "") and "\x1b" not in (failure.text or "")


def test_validator_rejects_what_ci_reporters_would(mk: Any) -> None:
    """The checks above can fail: a document breaking the schema or the counts is caught."""
    root = parsed(result_of(CAM, nat(mk)))
    root[0].attrib.pop("errors")
    with pytest.raises(AssertionError):
        validate(root)
    root = parsed(result_of(CAM, nat(mk)))
    root[0].attrib["failures"] = "0"
    with pytest.raises(AssertionError):
        counts_agree(root)
    root = parsed(result_of(CAM, nat(mk)))
    ET.SubElement(root, "testcase", {"name": "stray"})
    with pytest.raises(AssertionError):
        validate(root)


def test_write_and_check_the_file(mk: Any, tmp_path: Path) -> None:
    out = tmp_path / "audit.xml"
    check_writable(out, "--junit")
    write(result_of(CAM, nat(mk)), FormatName.JUNIT, out)
    root = ET.parse(out).getroot()
    validate(root)
    assert root.attrib["failures"] == "1"
    with pytest.raises(BadInput, match="is a directory"):
        check_writable(tmp_path, "--junit")
    with pytest.raises(BadInput, match="does not exist"):
        check_writable(tmp_path / "nowhere" / "audit.xml", "--junit")


def test_udp_cases_name_the_protocol_and_tcp_names_stay(mk: Any) -> None:
    t = mk.target(
        (80, "open", 63),
        {"port": 5060, "state": "open|filtered", "protocol": "udp"},
        {"port": 123, "state": "open", "protocol": "udp"},
        input="pbx.example",
    )
    text = '[[hosts]]\ntarget = "pbx.example"\nopen = [80]\nudp_open = [5060, 123]\n'
    root = parsed(result_of(text, t))
    by_name = cases(root)
    assert list(by_name) == ["port 80 open", "port 123/udp open", "port 5060/udp open"]
    (failure,) = by_name["port 5060/udp open"]
    assert failure.attrib["message"].startswith(
        "expected open, observed open|filtered: the service did not answer the request"
    )
    assert failure.attrib["type"] == "not-udp_open"  # no finding in this report to name
