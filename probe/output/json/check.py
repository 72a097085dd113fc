"""``probe check --json``: a Report as the contract's JSON, key for key.

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
- ``discovery`` (top level, only when host discovery ran: more than 256 addresses, no
  ``--all-hosts``): ``asked``, ``alive``, ``skipped`` (counts), ``probes`` (``icmp-echo``,
  ``tcp-syn-443``, ``tcp-ack-80``, ``arp``: those sent), ``interrupted``, ``hosts`` (each
  live address with the probes it answered) and ``not_probed`` (the silent addresses as
  CIDR blocks). Only live addresses appear in ``targets``.
- ``dns`` ``system``: what this computer's own resolver (getaddrinfo) gave — ``status``,
  ``addresses``, ``source`` (hosts, dns, other; null unless ok), ``elapsed_ms``, and
  ``hosts_file`` / ``hosts_lines`` / ``detail`` when known. Absent when it was not asked
  (``--nameserver``, an address literal).
- A port's ``asked``, only as ``false``: one of the default profile's ports, probed to see
  what the host offers (closed, it is no problem when another port is open).
- Enums are their contract words, tuples are lists, milliseconds are rounded to 3 decimals.

Ports are written as they are rendered (``writer.Stream``), and dicts are built by hand
(``dataclasses.asdict`` deep-copies every field); the ports most of a big scan has (not
open, no app) are written from a cached text frame without a dict at all.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any, TextIO

from probe.diagnosis.discovery import Discovery
from probe.model import (
    AppResult,
    ArpResult,
    DnsResult,
    PingResult,
    PortResult,
    PortState,
    Protocol,
    Report,
    RouteResult,
    SystemAnswer,
    TargetReport,
)
from probe.output.base import Format, FormatName
from probe.output.json.common import finding_to_dict, ms, ms_text, tcp_options_to_dict
from probe.output.json.writer import Stream, dumps, quote, write

__all__ = [
    "CheckJson",
    "port_text",
    "port_texts",
    "port_to_dict",
    "report_data",
    "report_to_dict",
    "write_report",
]


class CheckJson(Format[Report]):
    name = FormatName.JSON

    def render(self, result: Report, out: TextIO) -> None:
        write_report(result, out)


def write_report(report: Report, out: TextIO) -> None:
    """Write the report, one chunk of port objects at a time."""
    write(report_data(report, stream=True), out)


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data (dicts, lists, str, int, float, bool, None)."""
    return report_data(report, stream=False)


def report_data(report: Report, *, stream: bool) -> dict[str, Any]:
    """The report's data; with ``stream`` its port lists are ``Stream``s for ``writer``."""
    out: dict[str, Any] = {
        "version": report.version,
        "mode": report.mode,
        "interrupted": report.interrupted,
        "notes": list(report.notes),
    }
    if report.discovery is not None:
        out["discovery"] = discovery_to_dict(report.discovery)
    out["targets"] = [_target(t, stream) for t in report.targets]
    return out


def discovery_to_dict(d: Discovery) -> dict[str, Any]:
    """Host discovery's record: counts, the probes sent, each live address with the probes
    it answered, the silent ones as CIDR blocks."""
    return {
        "asked": d.asked,
        "alive": len(d.alive),
        "skipped": d.skipped,
        "probes": [str(p) for p in d.probes],
        "interrupted": d.interrupted,
        "hosts": [{"address": a, "answered": [str(p) for p in by]} for a, by in d.alive],
        "not_probed": list(d.silent),
    }


def _target(t: TargetReport, stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input": t.input,
        "address": t.address,
        "dns": _dns(t.dns),
        "route": None if t.route is None else _route(t.route),
        "ping": None if t.ping is None else _ping(t.ping),
    }
    if t.arp is not None:
        out["arp"] = _arp(t.arp)
    if stream:
        out["ports"] = Stream(t.ports, port_text, port_texts)
    else:
        out["ports"] = [port_to_dict(p) for p in t.ports]
    out["findings"] = [finding_to_dict(f) for f in t.findings]
    return out


def _dns(d: DnsResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(d.status),
        "addresses": list(d.addresses),
        "cname_chain": list(d.cname_chain),
        "nameservers": list(d.nameservers),
        "elapsed_ms": ms(d.elapsed_ms),
    }
    if d.answered_by is not None:
        out["answered_by"] = d.answered_by
    if d.detail is not None:
        out["detail"] = d.detail
    if d.system is not None:
        out["system"] = _system(d.system)
    return out


def _system(a: SystemAnswer) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": str(a.status),
        "addresses": list(a.addresses),
        "source": None if a.source is None else str(a.source),
        "elapsed_ms": ms(a.elapsed_ms),
    }
    if a.hosts_file is not None:
        out["hosts_file"] = a.hosts_file
        out["hosts_lines"] = list(a.hosts_lines)
    if a.detail is not None:
        out["detail"] = a.detail
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
        "rtt_ms": {"min": ms(p.rtt_min_ms), "avg": ms(p.rtt_avg_ms), "max": ms(p.rtt_max_ms)},
        "ttl": p.ttl,
    }
    if p.responder is not None:
        out["responder"] = p.responder
    if p.detail is not None:
        out["detail"] = p.detail
    return out


def _arp(a: ArpResult) -> dict[str, Any]:
    return {"macs": list(a.macs)}


def port_to_dict(p: PortResult) -> dict[str, Any]:
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
            out["tcp_options"] = tcp_options_to_dict(p.tcp_options)
    if p.request is not None:
        out["request"] = p.request
    if p.decoded is not None:
        out["answer"] = p.decoded
    if p.app is not None:
        out["app"] = _app(p.app)
    if not p.asked:
        out["asked"] = False
    return out


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


def port_text(p: PortResult, indent: str) -> str:
    """``dumps(port_to_dict(p), indent)``: see ``port_texts``."""
    return port_texts((p,), indent)[0]


# The fields that make a port's text apart from its number and RTT; with the last three
# (and an open port) not None it takes the general path instead.
_frame_key = operator.attrgetter(
    "protocol",
    "state",
    "reason",
    "tries",
    "responder",
    "ttl",
    "service",
    "asked",
    "app",
    "request",
    "decoded",
)
_GENERAL = ("", "", "")  # the frame of a port written through port_to_dict


def port_texts(ports: Sequence[PortResult], indent: str) -> list[str]:
    """``dumps(port_to_dict(p), indent)`` for each port, written directly for the shape most
    ports of a big scan have (not open, no app, no UDP request or answer): a frame of text
    around the port's number and RTT, made once per distinct frame. Other shapes take the
    general path."""
    out: list[str] = []
    append = out.append
    frames: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    for p in ports:
        key = _frame_key(p)
        frame = frames.get(key)
        if frame is None:
            general = key[1] is PortState.OPEN or key[8:] != (None, None, None)
            frame = frames[key] = _GENERAL if general else _port_frame(indent, *key[:8])
        if frame is _GENERAL:
            append(dumps(port_to_dict(p), indent))
        else:
            append(f"{frame[0]}{p.port}{frame[1]}{ms_text(p.rtt_ms)}{frame[2]}")
    return out


@functools.lru_cache(maxsize=1024)
def _port_frame(
    indent: str,
    protocol: Protocol,
    state: PortState,
    reason: str,
    tries: int,
    responder: str | None,
    ttl: int | None,
    service: str | None,
    asked: bool,
) -> tuple[str, str, str]:
    """The text of a port object around its two per-port values (port number and RTT):
    a full-range scan's 65535 ports come in a handful of such frames."""
    i = indent + "  "
    head = f'{{\n{i}"port": '
    middle = (
        f',\n{i}"protocol": {quote(protocol)},\n{i}"state": {quote(state)},'
        f'\n{i}"reason": {quote(reason)},\n{i}"tries": {tries},'
        f'\n{i}"responder": {quote(responder)},'
        f'\n{i}"ttl": {"null" if ttl is None else ttl},\n{i}"rtt_ms": '
    )
    unasked = "" if asked else f',\n{i}"asked": false'
    tail = f',\n{i}"service": {quote(service)}{unasked}\n{indent}}}'
    return head, middle, tail
