"""The JSON writer's fast paths write exactly what the general one writes: port_texts (the
prepared frames of a full-range scan's ports), ms_text (RTTs without a rounded float) and
the lists of one type (a finding's 65535 ports and protocols)."""

from __future__ import annotations

import io
import json
import math
import random

import pytest

from probe.model import AppResult, PortResult, Protocol, Report
from probe.output.base import FormatName
from probe.output.json.check import port_text, port_texts, port_to_dict, report_to_dict
from probe.output.json.common import ms, ms_text
from probe.output.json.writer import dumps, number
from probe.output.registry import render
from tests.conftest import Factories as mk

TLS = AppResult(
    "answered", "tls", "hello", tls_version="TLSv1.3", cert_names=("a", "b"), cert_problems=()
)


def _shapes() -> list[PortResult]:
    udp = Protocol.UDP
    return [
        mk.port(1, "refused", rtt_ms=0.3125),
        mk.port(2, "refused", rtt_ms=0.4, service="tcpmux"),
        mk.port(3, "refused", rtt_ms=0.0004, asked=False),
        mk.port(4, "refused", rtt_ms=-0.0004, ttl=None, responder=None),
        mk.port(5, "filtered"),
        mk.port(6, "filtered", service='we"ird\u00e9\\ \x01 \u2028'),
        mk.port(7, "rejected", reason="admin-prohibited", rtt_ms=12.5, ttl=254),
        mk.port(8, "unreachable", reason="host-unreach", rtt_ms=1e20),
        mk.port(9, "refused", rtt_ms=float("nan")),
        mk.port(10, "refused", rtt_ms=float("inf")),
        mk.port(11, "refused", rtt_ms=3),  # type: ignore[arg-type]  # an int, as JSON input gives
        mk.port(12, "refused", rtt_ms=999_999_999_999.9996),
        mk.port(13, "refused", rtt_ms=1e12),
        mk.open_port(80, rtt_ms=0.392),
        mk.open_port(443, app=TLS, window=None, tcp_options=None),
        mk.port(22, "refused", app=TLS),  # an app result, whatever the state
        mk.port(53, "open", protocol=udp, request="DNS query", decoded="DNS answer", app=TLS),
        mk.port(54, "open|filtered", protocol=udp, request="DNS query"),
        mk.port(55, "refused", protocol=udp, reason="port-unreach", decoded="5 bytes"),
        mk.port(123, "refused", protocol=udp, reason="port-unreach", asked=False),
    ]


@pytest.mark.parametrize("indent", ["", "      "])
def test_port_texts_are_the_general_writers(indent: str) -> None:
    shapes = _shapes()
    want = [dumps(port_to_dict(p), indent) for p in shapes]
    assert port_texts(shapes, indent) == want
    assert port_texts(shapes + shapes, indent) == want + want  # frames reused
    assert [port_text(p, indent) for p in shapes] == want


def test_a_report_streamed_is_json_dumps() -> None:
    t = mk.camera(ports=tuple(_shapes()))
    rep = Report((t,))
    out = io.StringIO()
    render(rep, FormatName.JSON, out)
    assert out.getvalue() == json.dumps(report_to_dict(rep), indent=2) + "\n"


def test_ms_text_is_the_rounded_floats_json() -> None:
    rnd = random.Random(1)
    values = [0.0, -0.0, 0.0005, 0.0015, 0.0025, 1.0005, 2.675, 0.1 + 0.2, 1e-9, 5e-324]
    values += [rnd.uniform(0, 2) for _ in range(20_000)]
    values += [rnd.uniform(-1e12, 1e12) for _ in range(20_000)]
    values += [rnd.random() * 10 ** rnd.randint(-6, 15) for _ in range(20_000)]
    values += [math.nextafter(1e12, 0), 1e12, -1e12, 1e16, 1e300, float("inf"), -math.inf]
    for v in values:
        assert ms_text(v) == json.dumps(ms(v)), v
    assert ms_text(float("nan")) == json.dumps(float("nan"))
    assert ms_text(None) == "null"
    assert ms_text(7) == "7"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        list(range(1, 70_000)),
        ["tcp"] * 1000,
        ["tcp"] * 999 + ["udp"],
        ["tcp", "udp\u00e9", 'q"'],
        [1, True, 2],
        [True, False],
        [1, 2.5],
        [1.5, 2.5],
        ["a", None],
        [[1, 2], [3]],
    ],
)
def test_lists_of_one_type_are_json_dumps(data: list[object]) -> None:
    assert dumps(data, "") == json.dumps(data, indent=2)
    assert dumps({"k": data}, "  ") == json.dumps({"k": data}, indent=2).replace("\n", "\n  ")
    assert dumps(data, "", ensure_ascii=False) == json.dumps(data, indent=2, ensure_ascii=False)


def test_number_unchanged() -> None:
    assert number(0.1) == "0.1"
    assert number(float("nan")) == "NaN"
