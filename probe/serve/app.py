"""The exporter's HTTP routes, as a plain WSGI application (waitress serves it).

- ``GET /probe?target=HOST&module=NAME[&debug=true]``: one probe; the metrics in the text
  format the scraper accepts (OpenMetrics or Prometheus 0.0.4), or with ``debug=true`` the
  probe's log followed by the metrics it would return (as blackbox_exporter does).
  400: no target, a target that does not parse, an unknown module; 403: refused by the guard
  (a CIDR block, an address or port outside ``--allow-targets`` / ``--allow-ports``); 503:
  too many probes in flight.
- ``GET /metrics``: the exporter's own metrics. ``GET /``: recent probes.
  ``GET /logs?id=N``: a recent probe's debug output. ``GET /-/healthy``: "OK".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from prometheus_client.exposition import choose_encoder, generate_latest

from probe import __version__
from probe.errors import printable, quoted
from probe.output.openmetrics import registry_of
from probe.serve import prober
from probe.serve.config import ServeConfig
from probe.serve.exporter import ExporterMetrics, Outcome, Refusal
from probe.serve.guard import BadRequest, Guard, InFlight, Refused
from probe.serve.recent import Recent, status_page
from probe.session.core import Session

log = logging.getLogger("probe.serve")

StartResponse = Callable[..., Any]
_TEXT = "text/plain; charset=utf-8"
_RETRY_AFTER = "1"  # seconds, for a 503


@dataclass(frozen=True)
class Answer:
    status: HTTPStatus
    body: bytes
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def status_line(self) -> str:
        return f"{self.status.value} {self.status.phrase}"


def _plain(status: HTTPStatus, text: str, *headers: tuple[str, str]) -> Answer:
    return Answer(status, (text.rstrip("\n") + "\n").encode(), headers=headers)


class Exporter:
    """Everything the routes share: the one Session, the guard, the limits, the config
    (swapped whole on reload), the exporter's metrics and the recent probes."""

    def __init__(
        self,
        session: Session,
        config: ServeConfig,
        guard: Guard,
        limit: int,
        *,
        offset: float = prober.DEFAULT_OFFSET,
        metrics: ExporterMetrics | None = None,
        recent: Recent | None = None,
    ) -> None:
        self.session = session
        self.guard = guard
        self.in_flight = InFlight(limit)
        self.offset = offset
        self.metrics = metrics or ExporterMetrics()
        self.recent = recent or Recent()
        self._lock = threading.Lock()
        self._config = config
        self.metrics.limit.set(limit)
        self.metrics.loaded(len(config.modules), True)

    @property
    def config(self) -> ServeConfig:
        with self._lock:
            return self._config

    def replace_config(self, config: ServeConfig) -> None:
        with self._lock:
            self._config = config
        self.metrics.loaded(len(config.modules), True)

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            answer = _plain(HTTPStatus.METHOD_NOT_ALLOWED, "only GET is served")
        elif path == "/probe":
            answer = self.probe(query, environ)
        elif path == "/metrics":
            encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
            answer = Answer(HTTPStatus.OK, encoder(self.metrics.registry), content_type)
        elif path == "/":
            page = status_page(
                self.recent, self.config.source, sorted(self.config.modules), __version__
            )
            answer = Answer(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8")
        elif path == "/logs":
            answer = self.logs(query)
        elif path == "/-/healthy":
            answer = _plain(HTTPStatus.OK, "OK")
        else:
            answer = _plain(HTTPStatus.NOT_FOUND, f"no such page: {printable(path, 100)}")
        headers = [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))]
        start_response(answer.status_line, headers + list(answer.headers))
        return [answer.body]

    # ------------------------------------------------------------------ routes

    def probe(self, query: dict[str, list[str]], environ: dict[str, Any]) -> Answer:
        target_text = _one(query, "target")
        module_name = _one(query, "module") or ""
        if target_text is None:
            return self._refuse(
                Refusal.BAD_REQUEST, HTTPStatus.BAD_REQUEST, "the target parameter is missing"
            )
        module = self.config.modules.get(module_name)
        if module is None:
            known = ", ".join(sorted(self.config.modules))
            return self._refuse(
                Refusal.UNKNOWN_MODULE,
                HTTPStatus.BAD_REQUEST,
                f"unknown module {quoted(module_name)}; known modules: {known}",
            )
        try:
            target = self.guard.target(target_text, module.ports)
        except BadRequest as exc:
            return self._refuse(Refusal.BAD_REQUEST, HTTPStatus.BAD_REQUEST, str(exc))
        except Refused as exc:
            return self._refuse(Refusal.FORBIDDEN, HTTPStatus.FORBIDDEN, str(exc))
        if not self.in_flight.enter():
            return self._refuse(
                Refusal.BUSY,
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"too many probes in flight ({self.in_flight.limit}, --max-in-flight); "
                "try again later",
                ("Retry-After", _RETRY_AFTER),
            )
        self.metrics.in_flight.inc()
        try:
            seconds = prober.budget(
                module, environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS"), self.offset
            )
            run = prober.run(self.session, module, target, self.guard, seconds)
        except Refused as exc:
            return self._refuse(Refusal.FORBIDDEN, HTTPStatus.FORBIDDEN, str(exc))
        finally:
            self.in_flight.leave()
            self.metrics.in_flight.dec()
        result = Outcome.SUCCESS if run.success else Outcome.FAILURE
        self.metrics.probes.labels(module.name, result).inc()
        self.metrics.duration.labels(module.name).observe(run.duration)
        registry = registry_of(run.metrics)
        debug = "\n".join(run.log) + "\n\nMetrics that would have been returned:\n"
        debug += generate_latest(registry).decode()
        self.recent.add(run, debug)
        log.debug("probe %s module=%s %s in %.3fs", target.input, module.name, result, run.duration)
        if _one(query, "debug") == "true":
            return _plain(HTTPStatus.OK, debug)
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        return Answer(HTTPStatus.OK, encoder(registry), content_type)

    def logs(self, query: dict[str, list[str]]) -> Answer:
        text = _one(query, "id") or ""
        entry = self.recent.get(int(text)) if text.isdigit() and len(text) < 12 else None
        if entry is None:
            return _plain(HTTPStatus.NOT_FOUND, f"no recent probe with id {quoted(text)}")
        return _plain(HTTPStatus.OK, entry.debug)

    def _refuse(
        self, reason: Refusal, status: HTTPStatus, text: str, *headers: tuple[str, str]
    ) -> Answer:
        self.metrics.refused.labels(reason).inc()
        log.info("refused /probe (%d %s): %s", status.value, status.phrase, printable(text))
        return _plain(status, text, *headers)


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None
