"""JSON pieces more than one result kind uses: a finding, TCP options, milliseconds."""

from __future__ import annotations

from typing import Any, Final

from probe.model import Finding, TcpOptions
from probe.output.json.writer import dumps

__all__ = ["finding_to_dict", "ms", "ms_text", "tcp_options_to_dict"]


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


# Below this, '%.3f' has at most 15 significant digits: the decimal it writes is the one
# float, the one round(value, 3) is and the one its repr writes, trailing zeros aside.
_FIXED: Final = 1e12


def ms_text(value: float | None) -> str:
    """``ms(value)`` as JSON text, without making the rounded float and its repr (a full-range
    scan writes 65535 RTTs): '%.3f' rounds the same way round() does (correctly, on the
    exact binary value)."""
    if value is None:
        return "null"
    if type(value) is float and -_FIXED < value < _FIXED:  # also False for NaN
        text = format(value, ".3f")
        text = text.rstrip("0")
        return text + "0" if text[-1] == "." else text
    return dumps(round(value, 3), "")
