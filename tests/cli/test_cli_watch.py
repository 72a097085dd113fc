"""probe watch and check --repeat over fake adapters: JSON lines, CSV rows, the summary's
figures, exit codes and bad input. No packet is sent."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from conftest import CliRun

from probe.engine.base import Job
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
from probe.session import edge
from probe.session.edge import Edge

ROUTE_OK = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")
ADDR = "198.18.1.10"


def install(monkeypatch: pytest.MonkeyPatch, engine: FakeEngine) -> None:
    def adapters() -> Edge:
        return Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (ADDR,)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: ROUTE_OK,
            ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
            open_engine=lambda method: engine,
        )

    monkeypatch.setattr(edge, "default_edge", adapters)


def round_robin() -> FakeEngine:
    """Port 80 behind a load balancer whose third backend refuses; 81 always closed."""
    turn = itertools.count()

    def script(job: Job) -> AnswerKind:
        if job.port == 81:
            return AnswerKind.RST
        return AnswerKind.RST if next(turn) % 3 == 2 else AnswerKind.SYN_ACK

    return FakeEngine(script)


def lines_of(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_lines_then_a_summary(monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun) -> None:
    engine = round_robin()
    install(monkeypatch, engine)
    args = ["watch", ADDR, "-p", "80", "--count", "9", "--interval", "0.05", "--json"]
    code, out, err = probe_cli(args)
    assert code == 1, err
    lines = lines_of(out)
    attempts = [x for x in lines if x["type"] == "attempt"]
    assert len(attempts) == 9 and lines[-1]["type"] == "summary"
    assert [a["state"] for a in attempts] == ["open", "open", "refused"] * 3
    assert set(attempts[0]) == {
        "type", "time", "round", "target", "address", "port", "protocol", "state", "reason",
        "tries", "responder", "ttl", "rtt_ms", "window", "tcp_options",
    }  # fmt: skip
    summary = lines[-1]
    (target,) = summary["targets"]  # type: ignore[misc]
    repeat = target["ports"][0]["repeat"]
    assert repeat["attempts"] == 9 and repeat["counts"] == {"open": 6, "refused": 3}
    assert repeat["success_rate"] == pytest.approx(66.67)
    assert "intermittent-refusal" in {f["code"] for f in target["findings"]}
    assert summary["rounds"] == 9 and summary["interrupted"] is False
    assert len(engine.scans) == 9  # one scan per round
    assert all(c.tries == 3 for c in engine.configs)


def test_healthy_watch_exits_0_and_writes_csv(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun, tmp_path: Path
) -> None:
    install(monkeypatch, FakeEngine({80: AnswerKind.SYN_ACK}))
    table = tmp_path / "w.csv"
    code, out, _ = probe_cli(
        ["watch", ADDR, "-p", "80", "-c", "4", "-i", "50ms", "--csv", str(table), "--no-ping"]
    )
    assert code == 0
    assert "statistics: 4 rounds" in out and "4 open (100.0 %)" in out
    rows = list(csv.DictReader(table.open()))
    assert [r["round"] for r in rows] == ["0", "1", "2", "3"]
    assert {r["state"] for r in rows} == {"open"} and rows[0]["port"] == "80"


def test_quiet_prints_only_changes(monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun) -> None:
    install(monkeypatch, round_robin())
    code, out, _ = probe_cli(["watch", ADDR, "-p", "80", "-c", "6", "-i", "0.05", "-q"])
    assert code == 1
    live = out.split("--- statistics")[0]
    rows = [line for line in live.splitlines() if f"{ADDR}  80" in line]
    assert len(rows) == 4  # o o r o o r: the first, then every change (rounds 2, 3, 5)
    assert "80: open -> refused at" in live or "80: open → refused at" in live


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["--interval", "0"], "--interval"),
        (["--interval", "fast"], "--interval"),
        (["--count", "0"], "--count"),
        (["--duration", "-5"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--resolve-every", "0"], "--resolve-every"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun, args: list[str], word: str
) -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    install(monkeypatch, engine)
    code, out, err = probe_cli(["watch", ADDR, "-p", "80", *args])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and word in err
    assert engine.jobs == []


def test_duration_bounds_the_watch(monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun) -> None:
    install(monkeypatch, FakeEngine({80: AnswerKind.SYN_ACK}))
    code, out, _ = probe_cli(
        ["watch", ADDR, "-p", "80", "--duration", "0.3", "-i", "0.1", "--json", "--no-ping"]
    )
    summary = lines_of(out)[-1]
    assert code == 0 and 2 <= summary["rounds"] <= 4  # type: ignore[operator]


def test_check_repeat_adds_statistics_and_findings(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    engine = round_robin()
    install(monkeypatch, engine)
    code, out, _ = probe_cli(["check", ADDR, "-p", "80,81", "--repeat", "6", "--json"])
    assert code == 1
    data = json.loads(out)
    assert data["repeat"] == {"asked": 6, "rounds": 6}
    ports = {p["port"]: p for p in data["targets"][0]["ports"]}
    assert ports[80]["repeat"]["attempts"] == 6
    assert ports[80]["repeat"]["counts"] == {"open": 4, "refused": 2}
    assert ports[81]["repeat"]["counts"] == {"refused": 6}
    codes = [f["code"] for f in data["targets"][0]["findings"]]
    assert "intermittent-refusal" in codes and "port-refused" in codes
    assert len(engine.scans) == 6


def test_check_repeat_in_openmetrics_carries_the_intermittency_finding(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    install(monkeypatch, round_robin())
    code, out, _ = probe_cli(
        ["check", ADDR, "-p", "80", "--repeat", "6", "--format", "openmetrics"]
    )
    assert code == 1
    found = [line for line in out.splitlines() if line.startswith("probe_finding{")]
    assert any('code="intermittent-refusal"' in line and line.endswith(" 1.0") for line in found)
    assert out.rstrip().endswith("# EOF")


def test_check_without_repeat_is_unchanged(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    install(monkeypatch, FakeEngine({80: AnswerKind.SYN_ACK}))
    code, out, _ = probe_cli(["check", ADDR, "-p", "80", "--json"])
    assert code == 0 and "repeat" not in json.loads(out)


def test_ctrl_c_ends_the_watch_with_its_summary_and_130(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    import os
    import signal
    import threading

    install(monkeypatch, FakeEngine({80: AnswerKind.SYN_ACK}))
    press = threading.Timer(0.4, lambda: os.kill(os.getpid(), signal.SIGINT))
    press.start()
    try:
        code, out, _ = probe_cli(["watch", ADDR, "-p", "80", "-i", "0.05", "--json", "--no-ping"])
    finally:
        press.cancel()
    lines = lines_of(out)
    summary = lines[-1]
    assert code == 130
    assert summary["type"] == "summary" and summary["interrupted"] is True
    rounds = summary["rounds"]
    assert isinstance(rounds, int) and rounds >= 2
    assert sum(x["type"] == "attempt" for x in lines) == rounds


def test_a_name_on_two_families_keeps_each_address_to_itself(
    monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    v6 = "2001:2:0:1::10"
    engine = round_robin()

    def adapters() -> Edge:
        return Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (ADDR, v6)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: ROUTE_OK,
            ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
            open_engine=lambda method: engine,
        )

    monkeypatch.setattr(edge, "default_edge", adapters)
    code, out, _ = probe_cli(
        ["watch", "web.probe.test", "-p", "80", "-c", "6", "-i", "0.05", "--json", "--no-ping"]
    )
    summary = lines_of(out)[-1]
    targets = summary["targets"]
    assert isinstance(targets, list) and [t["address"] for t in targets] == [ADDR, v6]
    for t in targets:
        (port,) = t["ports"]
        assert port["repeat"]["attempts"] == 6  # its own series only
        assert [f["code"] for f in t["findings"]].count("intermittent-refusal") <= 1
    assert code == 1
