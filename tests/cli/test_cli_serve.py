"""``--format openmetrics`` for check and audit, and ``probe serve``'s start-up errors, over
fake adapters: bad flags and bad config files are one line and exit 2, a listening port
already taken is one line and exit 3 — nothing is served, nothing is probed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import test_cli
from conftest import CliRun
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from probe.engine.fake import FakeEngine

fake = test_cli.fake  # the same fake adapters: 80 open, 81 refused


def values(text: str) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def key(name: str, **labels: str) -> str:
    who = {"address": "198.18.1.10", "target": "198.18.1.10", **labels}
    return f"{name}{{{','.join(f'{k}={v}' for k, v in sorted(who.items()))}}}"


def test_check_format_openmetrics(fake: FakeEngine, probe_cli: CliRun) -> None:
    code, out, err = probe_cli(["check", "198.18.1.10", "-p", "80,81", "--format", "openmetrics"])
    assert code == 1 and err == ""
    got = values(out)
    assert got[key("probe_success")] == 0
    assert got[key("probe_port_state", port="81", protocol="tcp", state="refused")] == 1
    assert got[key("probe_port_expected", expected="open", port="80", protocol="tcp")] == 1


def test_audit_format_openmetrics(fake: FakeEngine, probe_cli: CliRun, tmp_path: Path) -> None:
    audit = tmp_path / "site.toml"
    audit.write_text('[[hosts]]\ntarget = "198.18.1.10"\nopen = [80]\nrefused = [81]\n')
    code, out, _ = probe_cli(["audit", str(audit), "--format", "openmetrics"])
    assert code == 0
    got = values(out)
    assert got[key("probe_success")] == 1
    assert got[key("probe_port_expected", expected="refused", port="81", protocol="tcp")] == 1
    assert key("probe_duration_seconds") in got


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--format", "xml"], "--format must be one of text, json, openmetrics, not 'xml'"),
        (["--json", "--format", "openmetrics"], "--json and --format openmetrics exclude"),
    ],
)
def test_bad_format_is_exit_2(
    fake: FakeEngine, probe_cli: CliRun, args: list[str], words: str
) -> None:
    code, out, err = probe_cli(["check", "198.18.1.10", "-p", "80", *args])
    assert code == 2 and out == "" and words in err and err.count("\n") == 1
    assert fake.jobs == []


def test_serve_bad_config_names_file_line_and_key(
    fake: FakeEngine, probe_cli: CliRun, tmp_path: Path
) -> None:
    config = tmp_path / "probe.toml"
    config.write_text("[modules.web]\nports = [80]\n\n[modules.cam]\nports = [80]\ntries = 99\n")
    code, out, err = probe_cli(["serve", "--config", str(config), "--listen", "127.0.0.1:1"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"config file {config}, line 6, module 'cam': 'tries' must be" in err
    assert fake.jobs == []


def test_serve_bad_yaml_config(fake: FakeEngine, probe_cli: CliRun, tmp_path: Path) -> None:
    config = tmp_path / "probe.yml"
    config.write_text("modules:\n  cam:\n    ports: [80]\n    pingg: true\n")
    code, _, err = probe_cli(["serve", "--config", str(config)])
    assert code == 2 and "line 4, module 'cam': unknown key 'pingg'" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--listen", "nowhere"], "--listen must be ADDR:PORT"),
        (["--allow-targets", "10.0.0.0/33"], "--allow-targets must be CIDR blocks"),
        (["--allow-ports", "70000"], "--allow-ports: port 70000 is out of range"),
        (["--allow-ports", "1-1000"], "probes port 1935, which --allow-ports does not allow"),
        (["--max-in-flight", "0"], "--max-in-flight must be a whole number from 1 to 1000"),
        (["--user", "no-such-user-here"], "no such user"),
    ],
)
def test_serve_bad_flags_are_exit_2(
    fake: FakeEngine, probe_cli: CliRun, args: list[str], words: str
) -> None:
    code, out, err = probe_cli(["serve", "--listen", "127.0.0.1:1", *args])
    assert code == 2 and out == "" and words in err and err.count("\n") == 1, err


def test_serve_port_in_use_is_exit_3(fake: FakeEngine, probe_cli: CliRun) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        code, _, err = probe_cli(["serve", "--listen", f"127.0.0.1:{port}"])
    finally:
        taken.close()
    assert code == 3 and err.count("\n") == 1  # nothing else said before it
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert fake.jobs == []


def test_serve_user_without_root_is_exit_3(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probe.serve import privileges

    monkeypatch.setattr(privileges.os, "geteuid", lambda: 1000)
    code, _, err = probe_cli(["serve", "--listen", "127.0.0.1:1", "--user", "nobody"])
    assert code == 3 and err.count("\n") == 1
    assert "--user 'nobody' needs probe serve to start as root" in err
