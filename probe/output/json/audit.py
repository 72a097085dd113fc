"""``probe audit --json``: the check report of every host's targets (same keys as
``probe check --json``, ports streamed the same way), plus an ``audit`` object with each
expectation's verdict::

    "audit": {"file": "site.toml", "ok": false,
              "counts": {"expectations": 2, "passed": 1, "failed": 1, "errors": 0},
              "hosts": [{"target": "cam.example", "profile": null, "addresses": [...],
                         "expectations": [{"port": 6036, "expect": "open", "service": ...,
                                           "from": ["open"], "verdict": "fail",
                                           "observed": [{"address": ..., "state": "refused"}],
                                           "message": "expected open, observed refused",
                                           "finding": {...finding, for this port...}}]}]}
"""

from __future__ import annotations

from typing import Any, TextIO

from probe.diagnosis.expect import AuditResult, ExpectationResult, HostResult, Verdict
from probe.model import Finding, Protocol
from probe.output.base import Format, FormatName
from probe.output.json.check import report_data
from probe.output.json.common import finding_to_dict
from probe.output.json.writer import write

__all__ = ["AuditJson"]


class AuditJson(Format[AuditResult]):
    name = FormatName.JSON

    def render(self, result: AuditResult, out: TextIO) -> None:
        data = report_data(result.report, stream=True)
        data["audit"] = _audit(result)
        write(data, out)


def _audit(result: AuditResult) -> dict[str, Any]:
    return {
        "file": result.plan.source,
        "ok": result.ok,
        "counts": {
            "expectations": result.total,
            "passed": result.count(Verdict.PASS),
            "failed": result.count(Verdict.FAIL),
            "errors": result.count(Verdict.ERROR),
        },
        "hosts": [_host(h) for h in result.hosts],
    }


def _host(h: HostResult) -> dict[str, Any]:
    return {
        "target": h.host.name,
        "profile": h.host.profile,
        "addresses": [t.address for t in h.targets if t.address],
        "expectations": [_expectation(r) for r in h.results],
    }


def _expectation(r: ExpectationResult) -> dict[str, Any]:
    e = r.expectation
    return {
        "port": e.port,
        "protocol": str(e.protocol),
        "expect": str(e.expect),
        "service": e.service,
        "from": list(e.sources),
        "verdict": str(r.verdict),
        "observed": [
            {"address": o.address, "state": None if o.state is None else str(o.state)}
            for o in r.observations
        ],
        "message": r.message,
        "finding": None if r.finding is None else _finding(r.finding, e.port, e.protocol),
    }


def _finding(f: Finding, port: int, protocol: Protocol) -> dict[str, Any]:
    """The explaining finding as it concerns this expectation's port: one finding can cover
    thousands of ports (every port of a host refused), and repeating its whole port list under
    each of those expectations would make the document grow with the square of the ports.
    The target's ``findings`` carry it whole; ``ports_total`` says how many ports it covers."""
    data = finding_to_dict(f)
    if len(f.ports) > 1:
        protocols = f.protocols or (Protocol.TCP,) * len(f.ports)
        mine = (port, protocol) in zip(f.ports, protocols, strict=True)
        data["ports"] = [port] if mine else []
        data["protocols"] = [str(protocol)] if mine else []
        data["ports_total"] = len(f.ports)
    return data
