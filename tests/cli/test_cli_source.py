"""``--source ADDR`` on the command line: a foreign or malformed address is one line and
exit 2 before anything is sent; a good one reaches every probe of check, audit and watch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CLI_HOST, CliRun

from probe.engine import inet
from probe.engine.fake import FakeEngine

OURS = "198.18.0.3"


@pytest.fixture
def ours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inet, "is_local", lambda address: address == OURS)


def test_an_address_of_another_computer_exits_2(cli_fake: FakeEngine, probe_cli: CliRun) -> None:
    # Not patched: the real check binds a socket, and TEST-NET-2 is never this machine's.
    code, out, err = probe_cli(["check", CLI_HOST, "-p", "80", "--source", "198.51.100.9"])
    assert code == 2 and out == ""
    assert err == "probe: --source 198.51.100.9 is not an address of this computer\n"
    assert cli_fake.scans == []


def test_not_an_address_exits_2(cli_fake: FakeEngine, probe_cli: CliRun) -> None:
    code, _, err = probe_cli(["check", CLI_HOST, "-p", "80", "--source", "eth0\x1b[31m"])
    assert code == 2 and err.startswith("probe: --source must be an IP address, not ")
    assert "\x1b" not in err and cli_fake.scans == []


def test_check_probes_from_the_source(cli_fake: FakeEngine, probe_cli: CliRun, ours: None) -> None:
    code, out, _ = probe_cli(["check", CLI_HOST, "-p", "80,81", "-S", OURS, "--json"])
    assert code == 1  # 81 refused
    target = json.loads(out)["targets"][0]
    assert target["route"]["source"] == OURS
    assert {j.source for j in cli_fake.jobs} == {OURS}


def test_an_ipv6_target_from_an_ipv4_source_has_no_route(
    cli_fake: FakeEngine, probe_cli: CliRun, ours: None
) -> None:
    code, out, _ = probe_cli(["check", "2001:2:0:1::10", "-p", "80", "--source", OURS, "--json"])
    assert code == 3  # nothing could be probed for lack of a route
    target = json.loads(out)["targets"][0]
    assert target["route"]["status"] == "no_route"
    assert "is IPv4: it has no route to an IPv6 address" in target["route"]["detail"]
    assert [f["code"] for f in target["findings"]] == ["no-route"]
    assert cli_fake.scans == []


def test_audit_and_watch_take_it_too(
    cli_fake: FakeEngine, probe_cli: CliRun, ours: None, tmp_path: Path
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(f'[[hosts]]\ntarget = "{CLI_HOST}"\nopen = [80]\n')
    code, _, _ = probe_cli(["audit", str(site), "--source", OURS, "--no-ping"])
    assert code == 0
    code, _, _ = probe_cli(
        ["watch", CLI_HOST, "-p", "80", "--count", "2", "--interval", "0.1", "--source", OURS]
    )
    assert code == 0
    assert cli_fake.scans and all(j.source == OURS for jobs in cli_fake.scans for j in jobs)
