"""The exporter's routes over a Session on fake adapters (no packet): /probe answers the
module's metrics, debug output, 400/403/503 with clear bodies, the in-flight limit, the
scrape timeout bounding a probe, /metrics and the status page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    RouteResult,
    RouteStatus,
)
from probe.plan.profiles import get_profile
from probe.serve.app import Exporter
from probe.serve.configfile import parse_config
from probe.serve.guard import Guard, parse_networks
from probe.session.core import Session
from probe.session.edge import Edge

CAM = "198.18.2.1"
CONFIG = """\
[modules.nat]
ports = [80]
refused = [6036]
ping = false

[modules.slow]
ports = [82]
ping = false
tries = 3
answer_timeout = 1
"""


def edge(engine: FakeEngine, names: dict[str, str]) -> Edge:
    def resolve(name: str, ns: Any, t: float, fams: tuple[int, ...]) -> DnsResult:
        if name in names and 4 in fams:
            return DnsResult(DnsStatus.OK, (names[name],), elapsed_ms=1.5)
        return DnsResult(DnsStatus.NO_ANSWER)

    return Edge(
        resolve=resolve,
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1"),
        ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
        open_engine=lambda method: engine,
    )


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine({80: AnswerKind.SYN_ACK, 6036: AnswerKind.RST}, delay=0.02)


@pytest.fixture
def exporter(engine: FakeEngine) -> Iterator[Exporter]:
    names = {"cam.probe.test": CAM, "outside.probe.test": "192.0.2.7"}
    config = parse_config(CONFIG, "probe.toml", get_profile)
    guard = Guard(networks=parse_networks("198.18.0.0/15"))
    with Session(edge(engine, names)) as session:
        yield Exporter(session, config, guard, limit=2)


def get(app: Exporter, path: str, query: str = "", **headers: str) -> tuple[str, str, str]:
    seen: dict[str, Any] = {}

    def start(status: str, header_list: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(header_list)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query}
    environ |= {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    body = b"".join(app(environ, start)).decode()
    return seen["status"], seen["headers"]["Content-Type"], body


def values(text: str) -> dict[str, float]:
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_probe_answers_the_modules_metrics(exporter: Exporter, engine: FakeEngine) -> None:
    status, ctype, body = get(exporter, "/probe", "target=cam.probe.test&module=nat")
    assert status == "200 OK" and ctype.startswith("text/plain; version=0.0.4")
    got = values(body)
    assert got["probe_success[]"] == 1
    assert got["probe_ip_protocol[]"] == 4  # no IPv6 address: blackbox's fallback to IPv4
    assert got["probe_dns_lookup_time_seconds[]"] == 0.0015
    assert got["probe_port_state[('port', '6036'), ('protocol', 'tcp'), ('state', 'refused')]"]
    assert {(j.address, j.port) for j in engine.jobs} == {(CAM, 80), (CAM, 6036)}


def test_openmetrics_when_the_scraper_asks(exporter: Exporter) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
    _, ctype, body = get(exporter, "/probe", f"target={CAM}&module=nat", accept=accept)
    assert ctype.startswith("application/openmetrics-text") and body.endswith("# EOF\n")


def test_debug_gives_the_log_and_the_metrics(exporter: Exporter) -> None:
    _, ctype, body = get(exporter, "/probe", f"target={CAM}&module=nat&debug=true")
    assert ctype.startswith("text/plain")
    assert "Port 6036/tcp refused (reset)" in body
    assert "Metrics that would have been returned:" in body and "probe_success 1.0" in body
    status, _, page = get(exporter, "/")
    assert status == "200 OK" and 'href="logs?id=1"' in page and "nat" in page
    assert get(exporter, "/logs", "id=1")[2] == body
    assert get(exporter, "/logs", "id=99")[0] == "404 Not Found"


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("module=nat", "400 Bad Request", "the target parameter is missing"),
        (f"target={CAM}&module=nope", "400 Bad Request", "unknown module 'nope'; known modules"),
        ("target=300.1.1.1&module=nat", "400 Bad Request", "not a valid IPv4 address"),
        ("target=198.18.2.0/24&module=nat", "403 Forbidden", "is a CIDR block"),
        ("target=192.0.2.7&module=nat", "403 Forbidden", "192.0.2.7 is not allowed"),
        ("target=outside.probe.test&module=nat", "403 Forbidden", "192.0.2.7 is not allowed"),
    ],
)
def test_refusals(
    exporter: Exporter, engine: FakeEngine, query: str, status: str, words: str
) -> None:
    got, _, body = get(exporter, "/probe", query)
    assert got == status and words in body
    assert engine.jobs == []  # nothing probed, not even for the name that resolved outside


def test_in_flight_limit_gives_503(exporter: Exporter) -> None:
    started = threading.Barrier(3)
    results: list[str] = []

    def slow() -> None:
        started.wait()
        results.append(get(exporter, "/probe", f"target={CAM}&module=slow")[0])

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    deadline = time.monotonic() + 5
    while exporter.in_flight.count < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    status, _, body = get(exporter, "/probe", f"target={CAM}&module=nat")
    assert status == "503 Service Unavailable" and "too many probes in flight (2" in body
    for t in threads:
        t.join(10)
    assert results == ["200 OK", "200 OK"]
    assert get(exporter, "/probe", f"target={CAM}&module=nat")[0] == "200 OK"
    own = values(get(exporter, "/metrics")[2])
    assert own["probe_exporter_requests_refused_total[('reason', 'busy')]"] == 1
    assert own["probe_exporter_probes_in_flight[]"] == 0


def test_the_scrape_timeout_bounds_the_probe(exporter: Exporter) -> None:
    begin = time.monotonic()
    _, _, body = get(
        exporter,
        "/probe",
        f"target={CAM}&module=slow",
        x_prometheus_scrape_timeout_seconds="0.8",
    )
    took = time.monotonic() - begin
    got = values(body)
    assert took < 1.0  # 3 silent tries of 1 s each would take 3 s
    assert got["probe_success[]"] == 0 and got["probe_interrupted[]"] == 1
    assert got["probe_duration_seconds[]"] < 0.5  # 0.8 s minus the 0.5 s offset


def test_exporter_metrics_and_unknown_pages(exporter: Exporter) -> None:
    get(exporter, "/probe", f"target={CAM}&module=nat")
    own = values(get(exporter, "/metrics")[2])
    assert own["probe_exporter_probes_total[('module', 'nat'), ('result', 'success')]"] == 1
    assert "process_open_fds[]" in own
    assert get(exporter, "/nothing")[0] == "404 Not Found"
    assert get(exporter, "/-/healthy")[2] == "OK\n"


def test_an_ipv6_address_without_a_route_falls_back_to_ipv4(engine: FakeEngine) -> None:
    def resolve(name: str, ns: Any, t: float, fams: tuple[int, ...]) -> DnsResult:
        return DnsResult(DnsStatus.OK, ("2001:2:0:1::10",) if 6 in fams else (CAM,))

    def route(address: str) -> RouteResult:
        if ":" in address:
            return RouteResult(RouteStatus.NO_ROUTE, route_type="unreachable")
        return RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")

    config = parse_config(CONFIG, "probe.toml", get_profile)
    fake = replace(edge(engine, {}), resolve=resolve, route=route)
    with Session(fake) as session:
        app = Exporter(session, config, Guard(), limit=2)
        _, _, body = get(app, "/probe", "target=cam.probe.test&module=nat&debug=true")
    assert "No route to 2001:2:0:1::10 from this exporter" in body
    assert "probe_ip_protocol 4.0" in body and "probe_success 1.0" in body
    assert {j.address for j in engine.jobs} == {CAM}
