"""`probe trace` over fake adapters: options reach the trace, the report reaches stdout, and
outcomes become the contract's exit codes. No packet is sent."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from conftest import CliRun

from probe.engine.base import Job
from probe.engine.fake import FakeEngine
from probe.errors import NoPermission
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    Protocol,
    RouteResult,
    RouteStatus,
)
from probe.session import edge, trace
from probe.session.edge import Edge

HOST = "198.18.1.10"
ROUTER = "198.18.0.1"


def one_router(j: Job) -> PortEvidence | AnswerKind:
    """One router, then the host: SYN/ACK on 80, silence elsewhere; over UDP an answer on
    53, silence elsewhere."""
    if j.ttl == 1:
        e = PortEvidence(j.address, j.port, Method.RAW, AnswerKind.ICMP, 1, ROUTER, 64)
        return replace(e, icmp_type=11, icmp_code=0, probe_ttl=j.ttl, protocol=j.protocol)
    if j.protocol is Protocol.UDP:
        return AnswerKind.UDP if j.port == 53 else AnswerKind.NONE
    return AnswerKind.SYN_ACK if j.port == 80 else AnswerKind.NONE


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    engine = FakeEngine(one_router)
    state: dict[str, Any] = {"engine": engine, "route": RouteResult(RouteStatus.OK, "eth0")}

    def open_engine(method: Method) -> FakeEngine:
        if state.get("no_raw"):
            raise NoPermission("raw sockets need root or CAP_NET_RAW")
        return engine

    def adapters() -> Edge:
        return Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (HOST,), nameservers=ns),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: state["route"],
            ping=lambda a, t: PingResult(PingStatus.SKIPPED),
            open_engine=open_engine,  # type: ignore[arg-type]
        )

    monkeypatch.setattr(edge, "default_edge", adapters)
    return state


def test_open_port_exits_0_with_json_only_on_stdout(
    fake: dict[str, Any], probe_cli: CliRun
) -> None:
    code, out, err = probe_cli(["trace", "web.example", "--port", "80", "--json"])
    assert code == 0 and err == ""
    data = json.loads(out)
    assert [h["kind"] for h in data["hops"]] == ["time-exceeded", "syn-ack"]
    assert data["verdict"]["state"] == "open" and data["address"] == HOST


def test_filtered_port_exits_1_and_prints_the_table(
    fake: dict[str, Any], probe_cli: CliRun
) -> None:
    code, out, _ = probe_cli(["trace", HOST, "-p", "82", "--silent-hops", "2"])
    assert code == 1
    assert "HOP" in out and "Verdict: Port 82 is filtered" in out
    assert out.count(" none ") == 2  # two silent hops shown, then the trace ends


def test_options_reach_the_engine(fake: dict[str, Any], probe_cli: CliRun) -> None:
    args = ["trace", HOST, "-p", "http", "--max-hops", "5", "--tries", "2", "--timeout", "0.5"]
    probe_cli(args)
    engine = fake["engine"]
    assert [j.ttl for j in engine.jobs] == [1, 2, 3, 4, 5]
    assert {j.port for j in engine.jobs} == {80}
    assert (engine.configs[0].tries, engine.configs[0].timeout) == (2, 0.5)


def test_no_route_exits_3(fake: dict[str, Any], probe_cli: CliRun) -> None:
    fake["route"] = RouteResult(RouteStatus.NO_ROUTE)
    code, out, _ = probe_cli(["trace", HOST, "-p", "80", "--json"])
    assert code == 3 and json.loads(out)["findings"][0]["code"] == "no-route"
    assert fake["engine"].jobs == []


def test_no_raw_sockets_is_one_line_exit_3(fake: dict[str, Any], probe_cli: CliRun) -> None:
    fake["no_raw"] = True
    code, out, err = probe_cli(["trace", HOST, "-p", "80"])
    assert code == 3 and out == ""
    assert err.strip() == f"probe: {trace.NO_RAW}"


@pytest.mark.parametrize(
    "args",
    [
        [HOST],  # --port is required
        [HOST, "-p", "80,443"],
        [HOST, "-p", "0"],
        [HOST, "-p", "nosuchservice"],
        ["198.18.1.0/30", "-p", "80"],
        ["bad name", "-p", "80"],
        [HOST, "-p", "80", "--max-hops", "0"],
        [HOST, "-p", "80", "-4", "-6"],
    ],
)
def test_bad_input_exits_2(fake: dict[str, Any], args: list[str], probe_cli: CliRun) -> None:
    code, out, err = probe_cli(["trace", *args])
    assert code == 2 and out == "" and "Traceback" not in err
    assert fake["engine"].jobs == []


# --------------------------------------------------------------------------- --udp


@pytest.mark.parametrize(
    "args", [["--udp", "-p", "53"], ["-p", "53/udp"], ["--udp", "-p", "domain"], ["-p", "U:53"]]
)
def test_udp_trace_exits_0_when_the_port_answers(
    fake: dict[str, Any], probe_cli: CliRun, args: list[str]
) -> None:
    code, out, err = probe_cli(["trace", HOST, *args, "--json"])
    assert code == 0 and err == ""
    data = json.loads(out)
    assert (data["protocol"], data["port"]) == ("udp", 53)
    assert [h["kind"] for h in data["hops"]] == ["time-exceeded", "udp-response"]
    assert data["verdict"]["state"] == "open"
    jobs = fake["engine"].jobs
    assert {(j.protocol, j.port) for j in jobs} == {(Protocol.UDP, 53)}
    assert all(len(scan) == 1 for scan in fake["engine"].scans)  # one scan per TTL


def test_udp_silence_is_open_filtered_exit_1(fake: dict[str, Any], probe_cli: CliRun) -> None:
    code, out, _ = probe_cli(["trace", HOST, "--udp", "-p", "9001", "--tries", "2"])
    assert code == 1
    assert out.splitlines()[0] == f"{HOST}, UDP port 9001, up to 30 hops"
    assert "Verdict: Port 9001/udp is open|filtered" in out
    assert {c.tries for c in fake["engine"].configs} == {2}


def test_tcp_trace_says_tcp_in_json(fake: dict[str, Any], probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["trace", HOST, "-p", "80", "--json"])
    assert json.loads(out)["protocol"] == "tcp"


def test_udp_without_raw_sockets_is_the_same_one_line_exit_3(
    fake: dict[str, Any], probe_cli: CliRun
) -> None:
    fake["no_raw"] = True
    code, out, err = probe_cli(["trace", HOST, "--udp", "-p", "53"])
    assert (code, out, err.strip()) == (3, "", f"probe: {trace.NO_RAW}")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--udp", "-p", "70000"], "70000"),
        (["--udp", "-p", "80/tcp"], "--udp traces a UDP port"),
        (["--udp", "-p", "53,123"], "one port"),
        (["-p", "53/sctp"], "sctp"),
        (["--udp"], "--port"),
    ],
)
def test_udp_bad_input_is_one_line_exit_2(
    fake: dict[str, Any], probe_cli: CliRun, args: list[str], said: str
) -> None:
    code, out, err = probe_cli(["trace", HOST, *args])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and said in err and "Traceback" not in err
    assert fake["engine"].jobs == []
