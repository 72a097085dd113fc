"""The command line over fake adapters: options reach the runner, reports reach stdout, and
outcomes become the contract's exit codes. No packet is sent: the adapters are fakes and a
test fails if a fake engine is asked to scan when it must not be."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import CliRun

from probe.cli import main as cli
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
from probe.plan.targets import oversized
from probe.session import edge
from probe.session.check import exit_status
from probe.session.edge import Edge

ROUTE_OK = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine({80: AnswerKind.SYN_ACK, 81: AnswerKind.RST})
    state = {"route": ROUTE_OK}

    def adapters() -> Edge:
        return Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, ("198.18.1.10",)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: state["route"],
            ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
            open_engine=lambda method: engine,
        )

    monkeypatch.setattr(edge, "default_edge", adapters)
    engine.state = state  # type: ignore[attr-defined]
    return engine


def test_all_open_exits_0(fake: FakeEngine, probe_cli: CliRun) -> None:
    code, out, _ = probe_cli(["check", "198.18.1.10", "-p", "80", "--json"])
    assert code == 0
    assert json.loads(out)["targets"][0]["ports"][0]["state"] == "open"


def test_a_refused_port_exits_1(fake: FakeEngine, probe_cli: CliRun) -> None:
    code, out, _ = probe_cli(["check", "198.18.1.10", "-p", "80,81", "--json"])
    assert code == 1
    assert "port-refused" in {f["code"] for f in json.loads(out)["targets"][0]["findings"]}


def test_no_route_anywhere_exits_3(fake: FakeEngine, probe_cli: CliRun) -> None:
    fake.state["route"] = RouteResult(RouteStatus.NO_ROUTE, detail="Network is unreachable")  # type: ignore[attr-defined]
    code, out, _ = probe_cli(["check", "198.18.1.10", "-p", "80", "--json"])
    assert code == 3 and fake.jobs == []
    assert json.loads(out)["targets"][0]["findings"][0]["code"] == "no-route"


def test_default_ports_are_the_common_profile(fake: FakeEngine, probe_cli: CliRun) -> None:
    from probe.plan.profiles import get_profile

    probe_cli(["check", "198.18.1.10", "--json"])
    assert [j.port for j in fake.jobs] == [p.port for p in get_profile("common").requests()]


def test_profile_and_ports_combine(fake: FakeEngine, probe_cli: CliRun) -> None:
    probe_cli(["check", "198.18.1.10", "--profile", "mail", "-p", "6036", "--json"])
    ports = [j.port for j in fake.jobs]
    assert 6036 in ports and 587 in ports and ports == sorted(ports)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["check", "198.18.1.10", "-p", "70000"], "70000"),
        (["check", "198.18.1.10", "-p", "80-"], "80-"),
        (["check", "300.1.1.1", "-p", "80"], "300.1.1.1"),
        (["check", "198.18.1.10", "--profile", "nope"], "nope"),
        (["check", "-p", "80"], "TARGET"),
        (["check", "198.18.1.10", "-4", "-6"], "-4"),
        (["check", "198.18.1.10", "--tries", "0"], "--tries"),
    ],
)
def test_bad_input_is_exit_2_without_probing(
    fake: FakeEngine, args: list[str], needle: str, probe_cli: CliRun
) -> None:
    code, out, err = probe_cli(args)
    assert code == 2 and out == "" and fake.jobs == []
    assert needle in err and "Traceback" not in err


def test_large_runs_need_yes_when_not_interactive(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, out, err = probe_cli(["check", "198.18.1.0/23", "-p", "80"])
    assert out == ""
    assert code == 2 and fake.jobs == []
    assert "510 addresses" in err and "--yes" in err
    code, _, _ = probe_cli(["check", "198.18.1.0/23", "-p", "80", "--yes", "--all-hosts", "--json"])
    assert len(fake.jobs) == 510 and code == 0


def test_probe_count_guard(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, _, err = probe_cli(["check", "198.18.1.10", "198.18.1.11", "-p", "all"])
    assert code == 2 and "131070 probes" in err and fake.jobs == []


def test_oversized_rule() -> None:
    assert oversized(256, 390) is None
    assert oversized(1, 65535) is None
    assert "257 addresses" in (oversized(257, 1) or "")
    assert "100001 probes" in (oversized(1, 100_001) or "")


def test_targets_file(fake: FakeEngine, tmp_path: Path, probe_cli: CliRun) -> None:
    listing = tmp_path / "hosts.txt"
    listing.write_text("# office\n198.18.1.10  198.18.1.11 # two on a line\n\n198.18.1.12\n")
    _, out, _ = probe_cli(
        ["check", "198.18.1.9", "--targets-file", str(listing), "-p", "80", "--json"]
    )
    assert [t["address"] for t in json.loads(out)["targets"]] == [
        "198.18.1.9",
        "198.18.1.10",
        "198.18.1.11",
        "198.18.1.12",
    ]
    missing = probe_cli(["check", "--targets-file", str(tmp_path / "nope"), "-p", "80"])
    assert missing[0] == 2 and "nope" in missing[2]


def test_version(probe_cli: CliRun) -> None:
    from probe import __version__

    code, out, _ = probe_cli(["--version"])
    assert code == 0 and out.strip() == f"probe {__version__}"


def test_help_does_not_import_scapy() -> None:
    import subprocess

    code = (
        "import sys, probe.cli.main; sys.argv = ['probe', 'check', '--help']\n"
        "try: probe.cli.main.main()\nexcept SystemExit: pass\nprint('scapy' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().endswith("False")
    assert "--ports" in proc.stdout and "Example" in proc.stdout


def test_the_probe_command_flushes_its_output_and_keeps_its_exit_status() -> None:
    # entry() ends the process with os._exit: what was written must still arrive, and the
    # status must be main()'s. Bad input: nothing is sent.
    import subprocess

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "probe", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)

    helped = command("check", "--help")
    assert helped.returncode == 0 and helped.stdout.rstrip().endswith("Show this message and exit.")
    bad = command("check", "198.18.1.10", "-p", "70000")
    assert bad.returncode == 2 and bad.stderr.startswith("probe: port 70000 is out of range")
    profiles = command("profiles", "--json")
    assert profiles.returncode == 0 and json.loads(profiles.stdout)


@pytest.mark.parametrize(
    ("code", "status", "said"), [(None, 0, ""), (3, 3, ""), ("boom", 1, "boom\n")]
)
def test_exit_codes_as_the_interpreter_makes_them(
    code: object, status: int, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli._exit_code(code) == status
    assert capsys.readouterr().err == said


def test_exit_1_for_an_error_finding_with_every_port_open() -> None:
    from probe.model import Finding, PortResult, PortState, Report, Severity, TargetReport

    port = PortResult(80, PortState.OPEN, "syn-ack", 1)
    ok = TargetReport("h", "198.18.0.77", DnsResult(DnsStatus.LITERAL), ROUTE_OK, ports=(port,))
    dup = Finding("duplicate-ip", Severity.ERROR, "two MACs answer")
    info = Finding("icmp-blocked", Severity.INFO, "ping filtered")
    assert exit_status(Report((ok,))) == 0
    assert exit_status(Report((replace(ok, findings=(info,)),))) == 0
    assert exit_status(Report((replace(ok, findings=(dup,)),))) == 1
