"""The exporter's own metrics (``GET /metrics``): probes run and their results, durations,
probes in flight, requests refused, config reloads, and prometheus_client's process and
platform collectors. One registry per running exporter (never the library's global one), so
tests and several exporters in one process do not share counters."""

from __future__ import annotations

import time
from enum import StrEnum

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector

__all__ = ["ExporterMetrics", "Outcome", "Refusal"]


class Outcome(StrEnum):
    """The ``result`` label of probes run."""

    SUCCESS = "success"
    FAILURE = "failure"


class Refusal(StrEnum):
    """The ``reason`` label of /probe requests not run."""

    BAD_REQUEST = "bad_request"  # 400: no target, a target that does not parse
    UNKNOWN_MODULE = "unknown_module"  # 400
    FORBIDDEN = "forbidden"  # 403: the guard (--allow-targets, --allow-ports, CIDR)
    BUSY = "busy"  # 503: --max-in-flight reached


_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60)


class ExporterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.probes = Counter(
            "probe_exporter_probes",
            "Probes run, by module and result (success, failure)",
            ["module", "result"],
            registry=r,
        )
        self.refused = Counter(
            "probe_exporter_requests_refused",
            "/probe requests not run, by reason (bad_request, unknown_module, forbidden, busy)",
            ["reason"],
            registry=r,
        )
        self.duration = Histogram(
            "probe_exporter_probe_duration_seconds",
            "Wall time of the probes run, by module",
            ["module"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("probe_exporter_probes_in_flight", "Probes running now", registry=r)
        self.limit = Gauge(
            "probe_exporter_probes_in_flight_limit", "Most probes allowed at once", registry=r
        )
        self.reload_ok = Gauge(
            "probe_exporter_config_last_reload_successful",
            "1 when the last config (re)load succeeded",
            registry=r,
        )
        self.reload_time = Gauge(
            "probe_exporter_config_last_reload_success_timestamp_seconds",
            "Time of the last successful config (re)load",
            registry=r,
        )
        self.modules = Gauge("probe_exporter_modules", "Modules configured", registry=r)

    def loaded(self, modules: int, ok: bool) -> None:
        self.reload_ok.set(1 if ok else 0)
        if ok:
            self.reload_time.set(time.time())
            self.modules.set(modules)
