"""OpenMetrics: a report's facts as Prometheus metric families, for check, audit and serve.

Pure: ``families()`` turns target reports, each with its expectations and verdict
(``Probed``), into prometheus_client metric families; nothing is registered globally and
nothing is measured here. ``probe serve`` exposes them per scrape; ``probe check`` and
``probe audit`` write them with ``--format openmetrics`` (node_exporter's textfile collector,
cron jobs). Same names everywhere:

- blackbox_exporter's, with its meanings: ``probe_success`` (1 when every expectation holds),
  ``probe_duration_seconds``, ``probe_dns_lookup_time_seconds``, ``probe_ip_protocol`` (4 or
  6), ``probe_ip_addr_hash`` (FNV-1a 32 of the address's 4 or 16 bytes, as blackbox hashes).
- probe's own, as bounded label sets: ``probe_port_state{port,protocol,state}`` (one series per
  state of the contract's set, 1 for the observed one), ``probe_port_rtt_seconds``,
  ``probe_port_tries``, ``probe_port_responder_ttl``, ``probe_port_expected{port,protocol,
  expected}`` (1 pass, 0 fail), ``probe_finding{code,severity}`` (each finding present),
  ``probe_ping_*``, ``probe_interrupted``.

With several targets in one exposition (check, audit) every series also carries ``target``
(as typed) and ``address`` labels; serve's exposition is about one address and has neither
(Prometheus adds the target through relabelling, as for blackbox).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.registry import Collector, CollectorRegistry

from probe.diagnosis.expect import AuditResult
from probe.diagnosis.outcome import target_problem
from probe.model import PingStatus, PortState, Report, RouteStatus, TargetReport
from probe.output.base import Format, FormatName
from probe.plan.expectations import Expect, Expectation

__all__ = [
    "AuditOpenMetrics",
    "CheckOpenMetrics",
    "Probed",
    "exposition",
    "families",
    "for_audit",
    "for_check",
    "holds",
    "ip_hash",
    "registry_of",
    "succeeded",
]

STATES: tuple[PortState, ...] = tuple(PortState)  # every state word gets a series per port
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Probed:
    """One target address as measured, what its ports were expected to do, and whether the
    probe counts as a success; ``labels`` are added to each of its series."""

    target: TargetReport
    success: bool
    expectations: tuple[Expectation, ...] = ()
    labels: Labels = ()


# --------------------------------------------------------------------------- verdicts


def holds(e: Expectation, t: TargetReport) -> bool:
    """The expectation holds on this address: its port was probed and the state fits."""
    port = next((p for p in t.ports if p.port == e.port), None)
    return port is not None and e.expect.holds(port.state)


def succeeded(t: TargetReport, expectations: Sequence[Expectation], interrupted: bool) -> bool:
    """A probe with expectations succeeds when the address was probed to the end and every
    expectation holds (an expected-closed port that is closed is a success)."""
    if interrupted or t.address is None:
        return False
    if t.route is not None and t.route.status is not RouteStatus.OK:
        return False
    return bool(expectations) and all(holds(e, t) for e in expectations)


def _target_labels(t: TargetReport) -> Labels:
    return (("target", t.input), ("address", t.address or ""))


def for_check(report: Report) -> list[Probed]:
    """``probe check``: each asked port expected open; success is the check's own verdict
    for the target (exit status 0 for it alone)."""
    out = []
    for t in report.targets:
        wanted = tuple(Expectation(p.port, Expect.OPEN, p.service) for p in t.ports if p.asked)
        ok = not report.interrupted and not target_problem(t)
        out.append(Probed(t, ok, wanted, _target_labels(t)))
    return out


def for_audit(result: AuditResult) -> list[Probed]:
    """``probe audit``: each host's expectations, judged per address it was probed on."""
    interrupted = result.report.interrupted
    out = []
    for h in result.hosts:
        wanted = h.host.expectations
        for t in h.targets:
            out.append(Probed(t, succeeded(t, wanted, interrupted), wanted, _target_labels(t)))
    return out


# --------------------------------------------------------------------------- families


def ip_hash(address: str) -> float:
    """blackbox_exporter's ``probe_ip_addr_hash``: FNV-1a (32 bits) of the packed address."""
    h = 0x811C9DC5
    for byte in ipaddress.ip_address(address.split("%")[0]).packed:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return float(h)


class _Families:
    """The families of one exposition, filled target by target."""

    def __init__(self, extra: Sequence[str]) -> None:
        self.extra = tuple(extra)
        self.by_name: dict[str, GaugeMetricFamily] = {}

    def add(
        self, name: str, doc: str, value: float, labels: Labels, own: Labels = (), unit: str = ""
    ) -> None:
        family = self.by_name.get(name)
        if family is None:
            names = [*self.extra, *(k for k, _ in own)]
            family = self.by_name[name] = GaugeMetricFamily(name, doc, labels=names, unit=unit)
        family.add_metric([v for _, v in labels] + [v for _, v in own], value)


def families(
    probed: Sequence[Probed], *, duration: float | None = None, interrupted: bool = False
) -> list[Metric]:
    """The metric families for these targets, in a stable order. ``duration``: the probe's
    wall time (serve, audit); ``interrupted``: the run was stopped before it finished."""
    extra = [k for k, _ in probed[0].labels] if probed else []
    out = _Families(extra)
    for p in probed:
        _one(out, p, duration, interrupted)
    return list(out.by_name.values())


def _one(out: _Families, p: Probed, duration: float | None, interrupted: bool) -> None:
    t, lab = p.target, p.labels
    out.add("probe_success", "Displays whether or not the probe was a success", p.success, lab)
    if duration is not None:
        out.add(
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
            duration,
            lab,
        )
    out.add(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        t.dns.elapsed_ms / 1000.0,
        lab,
    )
    out.add(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        float(t.family or 0),
        lab,
    )
    if t.address is not None:
        out.add(
            "probe_ip_addr_hash",
            "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
            ip_hash(t.address),
            lab,
        )
    out.add(
        "probe_interrupted",
        "1 when the probe was stopped before it finished (deadline or shutdown)",
        float(interrupted),
        lab,
    )
    _ports(out, p)
    _expected(out, p)
    _findings(out, t, lab)
    _ping(out, t, lab)


def _ports(out: _Families, p: Probed) -> None:
    lab = p.labels
    for port in p.target.ports:
        where = (("port", str(port.port)), ("protocol", str(port.protocol)))
        for state in STATES:
            out.add(
                "probe_port_state",
                "1 for the port's observed state (open, refused, filtered, rejected, "
                "unreachable, open|filtered), 0 for the others",
                float(port.state is state),
                lab,
                (*where, ("state", str(state))),
            )
        out.add(
            "probe_port_tries",
            "Probes sent to the port before its answer (or before giving up)",
            float(port.tries),
            lab,
            where,
        )
        if port.rtt_ms is not None:
            out.add(
                "probe_port_rtt_seconds",
                "Round-trip time of the answer that decided the port's state",
                port.rtt_ms / 1000.0,
                lab,
                where,
            )
        if port.ttl is not None:
            out.add(
                "probe_port_responder_ttl",
                "IP TTL (IPv6 hop limit) of the answer that decided the port's state",
                float(port.ttl),
                lab,
                where,
            )


def _expected(out: _Families, p: Probed) -> None:
    protocols = {port.port: str(port.protocol) for port in p.target.ports}
    for e in p.expectations:
        where = (
            ("port", str(e.port)),
            ("protocol", protocols.get(e.port, "tcp")),
            ("expected", str(e.expect)),
        )
        out.add(
            "probe_port_expected",
            "1 when the port's state meets its expectation (open, blocked, filtered, "
            "refused), 0 when not",
            float(holds(e, p.target)),
            p.labels,
            where,
        )


def _findings(out: _Families, t: TargetReport, lab: Labels) -> None:
    seen: set[tuple[str, str]] = set()
    for f in t.findings:
        key = (f.code, str(f.severity))
        if key in seen:
            continue
        seen.add(key)
        out.add(
            "probe_finding",
            "1 for each finding of the diagnosis (code and severity as in probe check)",
            1.0,
            lab,
            (("code", f.code), ("severity", str(f.severity))),
        )


def _ping(out: _Families, t: TargetReport, lab: Labels) -> None:
    ping = t.ping
    if ping is None or ping.status is PingStatus.SKIPPED:
        return
    out.add("probe_ping_success", "1 when ICMP echo replies came back", ping.received > 0, lab)
    out.add("probe_ping_packets_sent", "ICMP echo requests sent", float(ping.sent), lab)
    out.add("probe_ping_packets_received", "ICMP echo replies received", ping.received, lab)
    if ping.rtt_avg_ms is not None:
        out.add(
            "probe_ping_rtt_seconds", "Average echo round-trip time", ping.rtt_avg_ms / 1000, lab
        )
    if ping.ttl is not None:
        out.add("probe_ping_reply_ttl", "IP TTL of the echo replies", float(ping.ttl), lab)


# --------------------------------------------------------------------------- exposition


class _Fixed(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        return iter(self.metrics)


def registry_of(metrics: Iterable[Metric]) -> CollectorRegistry:
    """A registry of its own holding exactly these families (one per request in serve)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return registry


def exposition(metrics: Iterable[Metric]) -> str:
    """The OpenMetrics text of these families, ending with ``# EOF``."""
    text: bytes = openmetrics_latest(registry_of(metrics))  # type: ignore[no-untyped-call]
    return text.decode()


if TYPE_CHECKING:
    from probe.diagnosis.watch.report import RepeatedReport


@dataclass(frozen=True)
class CheckOpenMetrics(Format[Report]):
    name = FormatName.OPENMETRICS

    def render(self, result: Report, out: TextIO) -> None:
        out.write(exposition(families(for_check(result), interrupted=result.interrupted)))


@dataclass(frozen=True)
class AuditOpenMetrics(Format[AuditResult]):
    name = FormatName.OPENMETRICS

    def render(self, result: AuditResult, out: TextIO) -> None:
        found = families(
            for_audit(result), duration=result.seconds, interrupted=result.report.interrupted
        )
        out.write(exposition(found))


@dataclass(frozen=True)
class RepeatedOpenMetrics(Format["RepeatedReport"]):
    """``check --repeat N --format openmetrics``: the check's metrics; the intermittency
    findings are among its findings (``probe_finding``)."""

    name = FormatName.OPENMETRICS

    def render(self, result: RepeatedReport, out: TextIO) -> None:
        report = result.report
        out.write(exposition(families(for_check(report), interrupted=report.interrupted)))
