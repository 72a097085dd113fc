"""UDP on the command line over a fake edge: specs and --udp reach the engine's jobs, the
payload flags reach them too, every bad spec or flag is one line and exit 2 before anything
is probed, and `probe profiles` shows both protocols. No packet is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CLI_HOST as HOST
from conftest import CliRun

from probe.engine.fake import FakeEngine
from probe.model import Protocol


@pytest.fixture
def fake(cli_fake: FakeEngine) -> FakeEngine:
    return cli_fake  # tests/conftest.py: the commands' edge, faked; every name is HOST


def probed(fake: FakeEngine) -> list[tuple[int, str]]:
    """The last scan's (port, protocol) pairs."""
    return [(j.port, str(j.protocol)) for j in fake.scans[-1]]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-p", "70000/udp"], "port 70000 is out of range"),
        (["-p", "53/sctp"], "not 'sctp'"),
        (["-p", "udp"], "'udp' is a protocol, not a port"),
        (["-p", "/udp"], "'/udp' has no port"),
        (["-p", "U:"], "'U:' needs one port"),
        (["-p", "53/udp/tcp"], "names more than one protocol"),
        (["-p", "U:53/tcp"], "says tcp inside a U: list"),
        (["-p", "80/tcp", "--udp"], "'80/tcp' is TCP, but --udp makes every port of the spec UDP"),
        (["--profile", "mail", "--udp"], "profile mail has no udp ports"),
        (["-p", "80", "--payload-hex", "00"], "--payload-hex applies to UDP ports"),
        (["-p", "53/udp", "--payload-hex", "xyz"], "--payload-hex must be hex digits"),
        (["-p", "53/udp", "--payload-hex", "abc"], "odd number of hex digits"),
        (["-p", "53/udp", "--payload-file", "/nonexistent/p.bin"], "cannot read --payload-file"),
        (["-p", "53/udp", "--payload-hex", "00", "--payload-file", "x"], "exclude each other"),
    ],
)
def test_bad_udp_input_is_one_line_and_exit_2(
    fake: FakeEngine, probe_cli: CliRun, args: list[str], needle: str
) -> None:
    code, out, err = probe_cli(["check", HOST, *args])
    assert code == 2 and out == "" and fake.jobs == []
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_udp_ports_reach_the_engine_as_udp(fake: FakeEngine, probe_cli: CliRun) -> None:
    probe_cli(["check", HOST, "-p", "80,443,443/udp,5060/udp", "--json"])
    assert probed(fake) == [(80, "tcp"), (443, "tcp"), (443, "udp"), (5060, "udp")]
    probe_cli(["check", HOST, "-p", "T:80,U:53,161", "--json"])
    assert probed(fake) == [(53, "udp"), (80, "tcp"), (161, "udp")]
    probe_cli(["check", HOST, "-p", "53,ntp", "--udp", "--json"])
    assert probed(fake) == [(53, "udp"), (123, "udp")]
    probe_cli(["check", HOST, "--udp", "--json"])  # the default profile's UDP ports
    assert probed(fake) == [(53, "udp"), (123, "udp"), (161, "udp")]


def test_the_payload_override_reaches_every_udp_job(
    fake: FakeEngine, probe_cli: CliRun, tmp_path: Path
) -> None:
    probe_cli(["check", HOST, "-p", "80,53/udp,9999/udp", "--payload-hex", "de:ad be", "--json"])
    jobs = fake.scans[-1]
    assert {j.payloads for j in jobs if j.protocol is Protocol.UDP} == {(b"\xde\xad\xbe",)}
    assert [j.payloads for j in jobs if j.protocol is Protocol.TCP] == [()]
    request = tmp_path / "request.bin"
    request.write_bytes(b"\x00\x01hello")
    probe_cli(["check", HOST, "-p", "53/udp", "--payload-file", str(request), "--json"])
    assert [j.payloads for j in fake.scans[-1]] == [(b"\x00\x01hello",)]


def test_audit_payload_flags_need_a_udp_expectation(
    fake: FakeEngine, probe_cli: CliRun, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[[hosts]]\ntarget = "{HOST}"\nopen = [80]\n')
    code, out, err = probe_cli(["audit", str(site), "--payload-hex", "00"])
    assert code == 2 and out == "" and "--payload-hex applies to UDP ports" in err
    assert fake.jobs == []
    site.write_text(f'[[hosts]]\ntarget = "{HOST}"\nopen = [80]\nudp_open = [53]\n')
    code, out, _ = probe_cli(["audit", str(site), "--payload-hex", "00", "--json"])
    assert code in (0, 1) and json.loads(out)
    assert sorted((j.port, j.protocol, j.payloads) for j in fake.jobs) == [
        (53, Protocol.UDP, (b"\x00",)),
        (80, Protocol.TCP, ()),
    ]


def test_bad_udp_audit_keys_are_exit_2(fake: FakeEngine, probe_cli: CliRun, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[[hosts]]\ntarget = "{HOST}"\nopen = ["53/udp"]\n')
    code, out, err = probe_cli(["audit", str(site)])
    assert code == 2 and out == "" and fake.jobs == []
    assert "'53/udp' is UDP, but 'open' lists TCP ports" in err and "Traceback" not in err


def test_profiles_show_both_protocols(probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["profiles"])
    common = out.split("\ncommon", 1)[1].split("\ndatabase", 1)[0]
    assert "udp: 53, 123, 161" in " ".join(common.split())
    _, out, _ = probe_cli(["profiles", "voip"])
    lines = out.splitlines()
    assert any(line.startswith("5060      sip") for line in lines)  # TCP as before
    assert any(line.startswith("5060/udp  sip") for line in lines)
    assert all(line == line.rstrip() for line in lines)
    _, out, _ = probe_cli(["profiles", "web", "--json"])
    ports = json.loads(out)["ports"]
    assert {"port": 443, "protocol": "udp", "service": "quic"}.items() <= ports[-1].items()
    assert all(p["protocol"] in ("tcp", "udp") for p in ports)
    _, out, _ = probe_cli(["profiles", "--json"])
    every = [p for profile in json.loads(out)["profiles"] for p in profile["ports"]]
    assert {p["protocol"] for p in every} == {"tcp", "udp"}
