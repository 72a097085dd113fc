"""``probe audit --junit FILE``: the audit as JUnit XML, for CI test reporters.

The shape is the common one that Jenkins (junit and xUnit plugins), GitLab
(``artifacts:reports:junit``) and the GitHub Actions JUnit reporters read, the Jenkins xUnit
plugin's ``junit-10.xsd``::

    <testsuites name="probe audit site.toml" tests="3" failures="1" errors="0" time="1.234">
      <testsuite name="cam.example" tests="3" failures="1" errors="0" skipped="0"
                 time="1.200" timestamp="2024-05-01T10:00:00+00:00">
        <properties><property name="address" value="203.0.113.7"/></properties>
        <testcase name="port 80 open" classname="probe.audit.cam.example" time="0.000"/>
        <testcase name="port 6036 open" classname="probe.audit.cam.example" time="0.000">
          <failure message="expected open, observed refused" type="port-refused-by-middlebox">
            port-refused-by-middlebox: Port 6036 is answered by a device in front of ...
            evidence: ...
            next: ...
          </failure>
        </testcase>
        <testcase name="port 5060/udp open" classname="probe.audit.cam.example" time="0.000">
          <failure message="expected open, observed open|filtered: the service did not ..."
                   type="udp-no-answer">...</failure>
        </testcase>
      </testsuite>
    </testsuites>

One ``<testsuite>`` per ``[[hosts]]`` entry (named after its target), one ``<testcase>`` per
host and port expectation, named after the expectation: ``port 80 open`` for TCP (as before
UDP existed), ``port 5060/udp open`` for UDP (the audit file's ``udp_open``). A failed
expectation is a ``<failure>``; one that could not be checked (the name did not resolve, no
route, interrupted) is an ``<error>``. The ports of a run are probed all at once, so a
testcase has no time of its own: time is on the suites.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TextIO

from probe.diagnosis.expect import AuditResult, ExpectationResult, HostResult, Verdict
from probe.model import Finding
from probe.output.base import Format, FormatName

__all__ = ["AuditJunit"]

# XML 1.0 cannot carry most C0 control characters, even escaped: they are replaced.
_XML_INVALID = {c: "\N{REPLACEMENT CHARACTER}" for c in range(0x20) if c not in (0x9, 0xA, 0xD)}


class AuditJunit(Format[AuditResult]):
    """The audit as a JUnit XML document (UTF-8 declaration, trailing newline)."""

    name = FormatName.JUNIT

    def render(self, result: AuditResult, out: TextIO) -> None:
        root = ET.Element(
            "testsuites",
            {
                "name": f"probe audit {result.plan.source}",
                "tests": str(result.total),
                "failures": str(result.count(Verdict.FAIL)),
                "errors": str(result.count(Verdict.ERROR)),
                "time": _seconds(result.seconds),
            },
        )
        for host in result.hosts:
            root.append(_suite(host, result.started))
        ET.indent(root)
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(ET.tostring(root, encoding="unicode") + "\n")


def _suite(host: HostResult, started: str) -> ET.Element:
    attrs = {
        "name": _clean(host.host.name),
        "tests": str(len(host.results)),
        "failures": str(host.count(Verdict.FAIL)),
        "errors": str(host.count(Verdict.ERROR)),
        "skipped": "0",
        "time": _seconds(host.seconds),
    }
    if started:
        attrs["timestamp"] = started
    suite = ET.Element("testsuite", attrs)
    props = [("address", t.address) for t in host.targets if t.address]
    if host.host.profile:
        props.append(("profile", host.host.profile))
    if props:
        properties = ET.SubElement(suite, "properties")
        for name, value in props:
            ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
    classname = _clean(f"probe.audit.{host.host.name}")
    for r in host.results:
        suite.append(_case(r, classname))
    return suite


def _case(r: ExpectationResult, classname: str) -> ET.Element:
    case = ET.Element(
        "testcase", {"name": r.expectation.name, "classname": classname, "time": "0.000"}
    )
    if r.verdict is Verdict.PASS:
        return case
    tag = "failure" if r.verdict is Verdict.FAIL else "error"
    kind = r.finding.code if r.finding is not None else f"not-{r.expectation.key}"
    element = ET.SubElement(case, tag, {"message": _clean(r.message), "type": kind})
    element.text = _clean(_explanation(r.message, r.finding))
    return case


def _explanation(message: str, finding: Finding | None) -> str:
    lines = [message]
    if finding is not None:
        lines.append(f"{finding.code}: {finding.summary}")
        lines.extend(f"evidence: {e}" for e in finding.evidence)
        lines.extend(f"next: {s}" for s in finding.next_steps)
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _clean(text: str) -> str:
    return text.translate(_XML_INVALID)
