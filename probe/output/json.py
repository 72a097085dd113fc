"""The ``--json`` format: a Report as the contract's JSON, key for key.

The key names are the interface (see the contract's "JSON report"); this module only adds.
How the shape is kept predictable for scripts:

- Every key the contract shows is always present; its value is ``null`` when not known.
  ``route`` and ``ping`` are ``null`` when the step did not run (after a DNS failure, or
  no route); a ping left out on purpose is ``{"status": "skipped", ...}``.
- ``ports`` is always a list: ``[]`` when nothing was probed (the contract allows "absent
  or empty"; always-a-list saves scripts a ``.get``).
- Keys that only exist sometimes, by the contract: ``arp`` (on-link targets), ``app``
  (``--app``), ``window`` / ``tcp_options`` (open ports, when the SYN/ACK was seen).
- Added keys: top level ``mode``, ``interrupted``, ``notes`` (always present); ``dns``
  ``answered_by`` / ``detail``, ``route`` ``status`` (always) and ``route_type`` /
  ``detail``, ``ping`` ``responder`` / ``detail``, ``app`` ``detail`` and ``tls`` (version,
  certificate subject, issuer, expiry, names, problems; after a TLS handshake) — these last
  ones only when they carry a value.
- Enums are their contract words, tuples are lists, milliseconds are rounded to 3 decimals.

The module is named after its format like its siblings (text.py, junit.py); inside a
package, ``import json`` is absolute in Python 3, so the standard library is what it gets.
Speed matters because ``-p all`` makes 65535 port objects per target: dicts are built by
hand (``dataclasses.asdict`` deep-copies every field), and the text is written by ``_dumps``,
which gives exactly ``json.dumps(data, indent=2)`` in about half the time (the standard
library drops its C encoder as soon as ``indent`` is set).
"""

from __future__ import annotations

import functools
import io
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

from probe.model import (
    AppResult,
    ArpResult,
    DnsResult,
    Finding,
    PingResult,
    PortResult,
    PortState,
    Report,
    RouteResult,
    TargetReport,
    TcpOptions,
)

__all__ = ["finding_to_dict", "render_json", "report_to_dict", "write_json"]


def render_json(report: Report) -> str:
    """The whole report as indented JSON text, with a trailing newline."""
    buf = io.StringIO()
    write_json(report, buf)
    return buf.getvalue()


def write_json(report: Report, out: TextIO) -> None:
    """Write the report as it is rendered: one port object at a time, so a full-range scan
    never holds 65535 port dicts and the whole text in memory at once."""
    _write(_report(report, stream=True), "", out)
    out.write("\n")


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data (dicts, lists, str, int, float, bool, None)."""
    return _report(report, stream=False)


def _report(report: Report, *, stream: bool) -> dict[str, Any]:
    return {
        "version": report.version,
        "mode": report.mode,
        "interrupted": report.interrupted,
        "notes": list(report.notes),
        "targets": [_target(t, stream) for t in report.targets],
    }


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One finding, as in the report; also the shape other formats can reuse."""
    return {
        "code": finding.code,
        "severity": str(finding.severity),
        "ports": list(finding.ports),
        "summary": finding.summary,
        "evidence": list(finding.evidence),
        "next_steps": list(finding.next_steps),
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _target(t: TargetReport, stream: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input": t.input,
        "address": t.address,
        "dns": _dns(t.dns),
        "route": None if t.route is None else _route(t.route),
        "ping": None if t.ping is None else _ping(t.ping),
    }
    if t.arp is not None:
        out["arp"] = _arp(t.arp)
    out["ports"] = _Stream(t.ports) if stream else [_port(p) for p in t.ports]
    out["findings"] = [finding_to_dict(f) for f in t.findings]
    return out


def _dns(d: DnsResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(d.status),
        "addresses": list(d.addresses),
        "cname_chain": list(d.cname_chain),
        "nameservers": list(d.nameservers),
        "elapsed_ms": _ms(d.elapsed_ms),
    }
    if d.answered_by is not None:
        out["answered_by"] = d.answered_by
    if d.detail is not None:
        out["detail"] = d.detail
    return out


def _route(r: RouteResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(r.status),
        "interface": r.interface,
        "source": r.source,
        "gateway": r.gateway,
    }
    if r.route_type is not None:
        out["route_type"] = r.route_type
    if r.detail is not None:
        out["detail"] = r.detail
    return out


def _ping(p: PingResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(p.status),
        "sent": p.sent,
        "received": p.received,
        "rtt_ms": {"min": _ms(p.rtt_min_ms), "avg": _ms(p.rtt_avg_ms), "max": _ms(p.rtt_max_ms)},
        "ttl": p.ttl,
    }
    if p.responder is not None:
        out["responder"] = p.responder
    if p.detail is not None:
        out["detail"] = p.detail
    return out


def _arp(a: ArpResult) -> dict[str, Any]:
    return {"macs": list(a.macs)}


def _port(p: PortResult) -> dict[str, Any]:
    # Hot path for `-p all`: one flat dict literal per port, nothing else unless needed.
    rtt = p.rtt_ms
    out: dict[str, Any] = {
        "port": p.port,
        "protocol": p.protocol,
        "state": p.state.value,
        "reason": p.reason,
        "tries": p.tries,
        "responder": p.responder,
        "ttl": p.ttl,
        "rtt_ms": None if rtt is None else round(rtt, 3),
        "service": p.service,
    }
    if p.state is PortState.OPEN:
        if p.window is not None:
            out["window"] = p.window
        if p.tcp_options is not None:
            out["tcp_options"] = _tcp_options(p.tcp_options)
    if p.app is not None:
        out["app"] = _app(p.app)
    return out


def _tcp_options(o: TcpOptions) -> dict[str, Any]:
    return {
        "mss": o.mss,
        "wscale": o.wscale,
        "sack_permitted": o.sack_permitted,
        "timestamps": o.timestamps,
    }


def _app(a: AppResult) -> dict[str, Any]:
    out: dict[str, Any] = {"status": a.status, "protocol": a.protocol, "banner": a.banner}
    if a.detail is not None:
        out["detail"] = a.detail
    if a.tls_version is not None:
        out["tls"] = {
            "version": a.tls_version,
            "cert_subject": a.cert_subject,
            "cert_issuer": a.cert_issuer,
            "cert_not_after": a.cert_not_after,
            "cert_names": list(a.cert_names),
            "cert_problems": list(a.cert_problems),
        }
    return out


# --------------------------------------------------------------------------- the writer


class _Stream:
    """Ports to be converted and written one by one (see write_json)."""

    __slots__ = ("ports",)

    def __init__(self, ports: tuple[PortResult, ...]) -> None:
        self.ports = ports


def _write(obj: Any, indent: str, out: TextIO) -> None:
    """``_dumps`` as a writer: containers that hold a _Stream are written piece by piece;
    everything else goes through ``_dumps`` whole. The text is the same either way."""
    inner = indent + "  "
    if isinstance(obj, _Stream):
        if not obj.ports:
            out.write("[]")
            return
        # Written in chunks: one write per port costs more than rendering it.
        sep = ",\n" + inner
        for at in range(0, len(obj.ports), _CHUNK):
            chunk = obj.ports[at : at + _CHUNK]
            out.write("[\n" + inner if at == 0 else sep)
            out.write(sep.join([_port_text(port, inner) for port in chunk]))
        out.write("\n" + indent + "]")
    elif isinstance(obj, dict) and obj and any(_streams(v) for v in obj.values()):
        out.write("{")
        for n, (key, value) in enumerate(obj.items()):
            out.write(("\n" if n == 0 else ",\n") + inner + encode_basestring_ascii(key) + ": ")
            _write(value, inner, out)
        out.write("\n" + indent + "}")
    elif isinstance(obj, list) and obj and any(_streams(v) for v in obj):
        out.write("[")
        for n, value in enumerate(obj):
            out.write(("\n" if n == 0 else ",\n") + inner)
            _write(value, inner, out)
        out.write("\n" + indent + "]")
    else:
        out.write(_dumps(obj, indent))


def _port_text(p: PortResult, indent: str) -> str:
    """``_dumps(_port(p), indent)``, written directly for the shape most ports of a big scan
    have (not open, no app): no dict, no recursion. Other shapes take the general path."""
    if p.state is PortState.OPEN or p.app is not None:
        return _dumps(_port(p), indent)
    head, middle, tail = _port_frame(
        indent, p.protocol, p.state, p.reason, p.tries, p.responder, p.ttl, p.service
    )
    rtt = "null" if p.rtt_ms is None else _float(round(p.rtt_ms, 3))
    return f"{head}{p.port}{middle}{rtt}{tail}"


@functools.lru_cache(maxsize=1024)
def _port_frame(
    indent: str,
    protocol: str,
    state: PortState,
    reason: str,
    tries: int,
    responder: str | None,
    ttl: int | None,
    service: str | None,
) -> tuple[str, str, str]:
    """The text of a port object around its two per-port values (port number and RTT):
    a full-range scan's 65535 ports come in a handful of such frames."""
    i = indent + "  "
    head = f'{{\n{i}"port": '
    middle = (
        f',\n{i}"protocol": {_quote(protocol)},\n{i}"state": {_quote(state)},'
        f'\n{i}"reason": {_quote(reason)},\n{i}"tries": {tries},'
        f'\n{i}"responder": {_quote(responder)},'
        f'\n{i}"ttl": {"null" if ttl is None else ttl},\n{i}"rtt_ms": '
    )
    tail = f',\n{i}"service": {_quote(service)}\n{indent}}}'
    return head, middle, tail


_CHUNK = 512  # ports per write


def _quote(value: str | None) -> str:
    """A string field as JSON, or null."""
    return "null" if value is None else encode_basestring_ascii(str(value))


def _streams(obj: Any) -> bool:
    if isinstance(obj, _Stream):
        return True
    if isinstance(obj, dict):
        return any(_streams(v) for v in obj.values())
    if isinstance(obj, list):
        return any(isinstance(v, dict | _Stream) and _streams(v) for v in obj)
    return False


def _float(value: float) -> str:
    # json writes finite floats with repr(); NaN/Infinity (never measured, but) its own way.
    return float.__repr__(value) if math.isfinite(value) else json.dumps(value)


_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    float: _float,
    bool: lambda b: "true" if b else "false",
    type(None): lambda _: "null",
}


def _dumps(obj: Any, indent: str) -> str:
    """``json.dumps(obj, indent=2)`` for JSON-ready data, nested at ``indent``.

    Scalars of exact built-in types are written inline, without recursing; anything
    else (str/int subclasses such as enums) is left to the standard library.
    """
    scalar = _SCALARS.get(type(obj))
    if scalar is not None:
        return scalar(obj)
    inner = indent + "  "
    sep = ",\n" + inner
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            encode_basestring_ascii(key)
            + ": "
            + (_SCALARS[type(value)](value) if type(value) in _SCALARS else _dumps(value, inner))
            for key, value in obj.items()
        ]
        return "{\n" + inner + sep.join(items) + "\n" + indent + "}"
    if isinstance(obj, list | tuple):
        if not obj:
            return "[]"
        if all(type(value) is int for value in obj):  # a finding's ports: 65535 of them, maybe
            items = list(map(int.__repr__, obj))
        else:
            items = [_dumps(value, inner) for value in obj]
        return "[\n" + inner + sep.join(items) + "\n" + indent + "]"
    return json.dumps(obj)
