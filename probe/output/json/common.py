"""JSON pieces more than one result kind uses: a finding, TCP options, milliseconds."""

from __future__ import annotations

from typing import Any

from probe.model import Finding, TcpOptions

__all__ = ["finding_to_dict", "ms", "tcp_options_to_dict"]


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One finding, as in the check report; trace and audit quote it the same way."""
    return {
        "code": finding.code,
        "severity": str(finding.severity),
        "ports": list(finding.ports),
        # The transport of each port above (same order): "53/udp" is ports 53, protocols udp.
        "protocols": [str(p) for p in finding.protocols] or ["tcp"] * len(finding.ports),
        "summary": finding.summary,
        "evidence": list(finding.evidence),
        "next_steps": list(finding.next_steps),
    }


def tcp_options_to_dict(o: TcpOptions) -> dict[str, Any]:
    return {
        "mss": o.mss,
        "wscale": o.wscale,
        "sack_permitted": o.sack_permitted,
        "timestamps": o.timestamps,
    }


def ms(value: float | None) -> float | None:
    """Milliseconds rounded to 3 decimals (a microsecond), null when not measured."""
    return None if value is None else round(value, 3)
