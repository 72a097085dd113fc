"""Host discovery in ``probe check`` over fake adapters: it runs for more than 256
addresses, not with --all-hosts nor for a /24; ports are probed on the live addresses only;
the JSON's ``discovery`` and the text's note count the others; nothing alive exits 1."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import CliRun

from probe.engine.base import Job
from probe.engine.fake import FakeEngine, Scripted
from probe.model import (
    AnswerKind,
    ArpResult,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    RouteResult,
    RouteStatus,
)
from probe.session import edge
from probe.session.edge import Edge

ROUTE = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")
ON_LINK = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", None)
WEB, FIREWALLED, PINGABLE, ROUTER_SAYS_NO, NEAR = (
    "198.18.1.10",  # SYN/ACK on 443
    "198.18.1.11",  # only a RST to the ACK on 80
    "198.18.1.12",  # only ICMP echo
    "198.18.1.13",  # a router's host unreachable: not alive
    "198.18.0.20",  # only ARP (on-link)
)


def script(job: Job) -> Scripted:
    if job.address == WEB and job.port in (443, 80) and not job.ack:
        return AnswerKind.SYN_ACK
    if job.address == FIREWALLED and job.ack:
        return AnswerKind.RST
    if job.address == ROUTER_SAYS_NO:
        from probe.model import Method, PortEvidence

        return PortEvidence(
            job.address, job.port, Method.RAW, AnswerKind.ICMP, 1, "198.18.0.1", 64, 1.0, 3, 1
        )
    return AnswerKind.NONE


class World:
    def __init__(self) -> None:
        self.engine = FakeEngine(script)
        self.swept: list[list[str]] = []
        self.pinged: list[str] = []
        self.echo = {PINGABLE}

    def sweep(
        self,
        addresses: Sequence[str],
        wait: float,
        rate: float | None,
        cancel: object,
        packet_log: object,
    ) -> frozenset[str]:
        self.swept.append(list(addresses))
        return frozenset(self.echo & set(addresses))

    def arp(
        self, asked: Sequence[tuple[str, RouteResult]], wait: float
    ) -> dict[str, ArpResult | None]:
        return {a: ArpResult(macs=("02:00:00:00:00:20",) if a == NEAR else ()) for a, _ in asked}

    def ping(self, address: str, timeout: float) -> PingResult:
        self.pinged.append(address)
        return PingResult(PingStatus.OK, 3, 3, ttl=63)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    w = World()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monkeypatch.setattr(
        edge,
        "default_edge",
        lambda: Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (WEB,)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: ON_LINK if a.startswith("198.18.0.") else ROUTE,
            ping=w.ping,
            open_engine=lambda method: w.engine,
            arp=w.arp,
            sweep=w.sweep,
        ),
    )
    return w


def test_a_large_run_probes_ports_only_on_live_addresses(world: World, probe_cli: CliRun) -> None:
    code, out, _ = probe_cli(["check", "198.18.0.0/23", "-p", "22,443", "--yes", "--json"])
    report = json.loads(out)
    first, ports = world.engine.scans
    assert len(first) == 2 * 510  # a SYN to 443 and an ACK to 80 per address
    assert {(j.port, j.ack) for j in first} == {(443, False), (80, True)}
    alive = [WEB, FIREWALLED, PINGABLE, NEAR]
    assert sorted({j.address for j in ports}) == sorted(alive)
    assert sorted(world.pinged) == sorted(alive)
    found = report["discovery"]
    assert (found["asked"], found["alive"], found["skipped"]) == (510, 4, 506)
    assert found["probes"] == ["icmp-echo", "tcp-syn-443", "tcp-ack-80", "arp"]
    assert {h["address"]: h["answered"] for h in found["hosts"]} == {
        NEAR: ["arp"],
        WEB: ["tcp-syn-443"],
        FIREWALLED: ["tcp-ack-80"],
        PINGABLE: ["icmp-echo"],
    }
    assert "198.18.1.13/32" in found["not_probed"] and "198.18.0.8/29" in found["not_probed"]
    assert sorted(t["address"] for t in report["targets"]) == sorted(alive)
    assert any("506 of 510 addresses did not answer host discovery" in n for n in report["notes"])
    assert code == 1  # 22 is closed on the live ones: their problem, not the silent addresses'


def test_all_hosts_probes_every_address(world: World, probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["check", "198.18.0.0/23", "-p", "443", "--yes", "--all-hosts", "--json"])
    assert [len(s) for s in world.engine.scans] == [510] and world.swept == []
    report = json.loads(out)
    assert "discovery" not in report and len(report["targets"]) == 510


def test_a_slash_24_is_probed_as_before(world: World, probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["check", "198.18.1.0/24", "-p", "443", "--json"])
    assert [len(s) for s in world.engine.scans] == [254] and world.swept == []
    assert "discovery" not in json.loads(out)


def test_no_ping_sends_no_echo(world: World, probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["check", "198.18.0.0/23", "-p", "443", "--yes", "--no-ping", "--json"])
    found = json.loads(out)["discovery"]
    assert world.swept == [] and found["probes"] == ["tcp-syn-443", "tcp-ack-80", "arp"]
    assert found["alive"] == 3  # the one that answers echo only is not found


def test_nothing_alive_is_no_problem_and_no_target(world: World, probe_cli: CliRun) -> None:
    world.echo = set()
    code, out, _ = probe_cli(["check", "198.18.2.0/23", "-p", "443", "--yes", "--json"])
    report = json.loads(out)
    assert code == 0 and report["targets"] == [] and report["discovery"]["alive"] == 0
    assert len(world.engine.scans) == 1  # discovery only
    assert report["discovery"]["not_probed"][:2] == ["198.18.2.1/32", "198.18.2.2/31"]
    assert any(n.startswith("No address of the 510 answered") for n in report["notes"])


def test_text_says_how_many_were_skipped_and_lists_them_with_v(
    world: World, probe_cli: CliRun, tmp_path: Path
) -> None:
    listed = tmp_path / "targets"
    listed.write_text("".join(f"198.18.1.{n}\n198.18.4.{n}\n" for n in range(1, 151)))
    _, out, _ = probe_cli(["check", "--targets-file", str(listed), "-p", "443", "--yes"])
    said = " ".join(out.split())
    assert (
        "297 of 300 addresses did not answer host discovery (ICMP echo, SYN to 443, ACK to 80)"
        in said
    )
    assert "not probed; --all-hosts probes them all" in said and "Not probed" not in out
    assert "198.18.1.10" in out and "198.18.1.20" not in out
    _, verbose, _ = probe_cli(["check", "--targets-file", str(listed), "-p", "443", "--yes", "-v"])
    assert "Not probed: 198.18.1.1/32, 198.18.1.2/31" in " ".join(verbose.split())


def test_discovery_stops_with_the_run(world: World, probe_cli: CliRun) -> None:
    world.engine.script = lambda job: None  # the scan never finishes: as if interrupted
    code, out, _ = probe_cli(["check", "198.18.0.0/23", "-p", "443", "--yes", "--json"])
    report = json.loads(out)
    assert code == 130 and report["interrupted"] and report["discovery"]["interrupted"]
    assert len(world.engine.scans) == 1
