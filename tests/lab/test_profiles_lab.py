"""Port profiles in the lab: `probe profiles` lists what ships with probe, and
`probe check HOST --profile NAME` probes exactly the profile's ports — built-in, from
--profiles-dir, and from the user's own directory."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "profiles"


def builtin_ports(name: str) -> list[tuple[int, str]]:
    """The profile file's ports, TCP's and UDP's, as (port, protocol), sorted."""
    data = tomllib.loads((BUILTIN_DIR / f"{name}.toml").read_text())
    tcp = [(entry["port"], "tcp") for entry in data["ports"]]
    return sorted(tcp + [(entry["port"], "udp") for entry in data.get("udp", ())])


def ports_of(target: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The TCP ports of a target, by number."""
    return {p["port"]: p for p in target["ports"] if p["protocol"] == "tcp"}


def endpoints_of(target: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    return {(p["port"], p["protocol"]): p for p in target["ports"]}


def test_profiles_lists_the_builtin_ones(lab: Lab) -> None:
    rc, listing = lab.probe_json("profiles")
    assert rc == 0
    names = [p["name"] for p in listing["profiles"]]
    assert names == sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))
    proc = lab.run_probe("profiles")
    assert proc.returncode == 0
    for name in names:
        assert name in proc.stdout


def test_profiles_shows_one(lab: Lab) -> None:
    rc, camera = lab.probe_json("profiles", "camera")
    assert rc == 0
    assert sorted((p["port"], p["protocol"]) for p in camera["ports"]) == builtin_ports("camera")
    assert camera["source"] == "built-in"


def test_check_with_a_builtin_profile_probes_its_ports(lab: Lab) -> None:
    rc, report = lab.probe_json("check", t.NAME_WEB, "-4", "--profile", "web")
    assert rc == 1  # only 80 listens on the lab's web server
    (target,) = report["targets"]
    ports = endpoints_of(target)
    assert sorted(ports) == builtin_ports("web")
    assert ports[t.HTTP_PORT, "tcp"]["state"] == "open"
    assert ports[t.ADMIN_PROHIBITED_PORT, "tcp"]["state"] == "rejected"
    refused = {p for p, r in ports.items() if r["state"] == "refused"}
    # every other port is closed: TCP by srv's RST, UDP (QUIC's 443) by its port unreachable
    assert refused == set(ports) - {(t.HTTP_PORT, "tcp"), (t.ADMIN_PROHIBITED_PORT, "tcp")}


@pytest.fixture(scope="module")
def lab_profiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("profiles")
    (directory / "lab-cam.toml").write_text(
        'description = "the lab camera: web UI and the NVR port"\n'
        f"[[ports]]\nport = {t.CAM_HTTP_PORT}\n"
        f'[[ports]]\nport = {t.CAM_UNFORWARDED_PORT}\nservice = "lab-nvr"\n'
    )
    return directory


def test_check_with_a_profiles_dir(lab: Lab, lab_profiles: Path) -> None:
    rc, report = lab.probe_json(
        "check", t.NAME_CAM, "--profile", "lab-cam", "--profiles-dir", str(lab_profiles)
    )
    assert rc == 1
    (target,) = report["targets"]
    ports = ports_of(target)
    assert sorted(ports) == [t.CAM_HTTP_PORT, t.CAM_UNFORWARDED_PORT]
    assert ports[t.CAM_UNFORWARDED_PORT]["service"] == "lab-nvr"
    assert ports[t.CAM_UNFORWARDED_PORT]["state"] == "refused"
    codes = {f["code"]: f for f in target["findings"]}
    assert codes["port-refused-by-middlebox"]["ports"] == [t.CAM_UNFORWARDED_PORT]


def test_profile_and_ports_together(lab: Lab, lab_profiles: Path) -> None:
    _, report = lab.probe_json(
        "check",
        t.NAME_CAM,
        "--profile",
        "lab-cam",
        "--profiles-dir",
        str(lab_profiles),
        "-p",
        "3389",
    )
    (target,) = report["targets"]
    assert sorted(ports_of(target)) == [t.CAM_HTTP_PORT, 3389, t.CAM_UNFORWARDED_PORT]


def test_user_profiles_directory(lab: Lab, tmp_path: Path) -> None:
    mine = tmp_path / "probe" / "profiles"
    mine.mkdir(parents=True)
    (mine / "mine.toml").write_text(
        f'description = "my lab ports"\n[[ports]]\nport = {t.SSH_PORT}\n'
        f"[[ports]]\nport = {t.CLOSED_PORT}\n"
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "NO_COLOR": "1"}
    command = lab.probe_command()
    listed = lab.exec(lab.client_ns, *command, "profiles", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    sources = {p["name"]: p["source"] for p in json.loads(listed.stdout)["profiles"]}
    assert sources["mine"] == str(mine / "mine.toml")
    proc = lab.exec(
        lab.client_ns, *command, "check", "--json", t.SRV_V4, "--profile", "mine", env=env
    )
    assert proc.returncode == 1, proc.stderr
    states = {p["port"]: p["state"] for p in json.loads(proc.stdout)["targets"][0]["ports"]}
    assert states == {t.SSH_PORT: "open", t.CLOSED_PORT: "refused"}


def test_unknown_profile_is_one_line_exit_2(lab: Lab) -> None:
    proc = lab.run_probe("check", t.SRV_V4, "--profile", "no-such-profile")
    assert proc.returncode == 2 and proc.stdout == ""
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1 and "unknown profile 'no-such-profile'" in message
    assert "camera" in message  # the known ones are listed
