"""`probe audit` end to end in the lab: audit files with expectations that hold and one that
does not (the NAT forwarding only port 80), the JUnit file CI reads, and every bad input —
which must stop the run with one line and exit 2 before a single packet leaves the client
(counted on the router)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab

COUNTER_TABLE = "probe_audit_count"  # in the router: what the client sends through it


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def junit_cases(path: Path) -> tuple[ET.Element, dict[tuple[str, str], ET.Element]]:
    """The JUnit document's root and its testcases by (suite, name), after checking the
    attributes every CI reporter needs and that the counts agree with the testcases."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    found: dict[tuple[str, str], ET.Element] = {}
    totals = [0, 0, 0]
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        counts = [
            len(cases),
            sum(c.find("failure") is not None for c in cases),
            sum(c.find("error") is not None for c in cases),
        ]
        assert [int(suite.attrib[k]) for k in ("tests", "failures", "errors")] == counts
        float(suite.attrib["time"])
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        for case in cases:
            assert case.attrib["classname"] == f"probe.audit.{suite.attrib['name']}"
            found[(suite.attrib["name"], case.attrib["name"])] = case
    assert [int(root.attrib[k]) for k in ("tests", "failures", "errors")] == totals
    float(root.attrib["time"])
    return root, found


# ------------------------------------------------------------------ everything holds

ALL_HOLD = f"""\
# The lab's "site": the camera behind the NAT, the web server, the host that drops ping.
[[hosts]]
target = "{t.NAME_CAM}"
open = [{t.CAM_HTTP_PORT}]
refused = [{t.CAM_UNFORWARDED_PORT}]   # the router's own RST: not forwarded
blocked = [3389]

[[hosts]]
target = "{t.NAME_WEB}"               # A and AAAA: each expectation must hold on both
open = [{t.HTTP_PORT}, "ssh"]
refused = [{t.CLOSED_PORT}]
filtered = [{t.DROPPED_PORT}]
blocked = [{t.ADMIN_PROHIBITED_PORT}, 3389]

[[hosts]]
target = "{t.NOPING_V4}"
open = [{t.HTTP_PORT}]
"""
ALL_HOLD_CASES = {
    (t.NAME_CAM, f"port {t.CAM_HTTP_PORT} open"),
    (t.NAME_CAM, f"port {t.CAM_UNFORWARDED_PORT} refused"),
    (t.NAME_CAM, "port 3389 blocked"),
    (t.NAME_WEB, f"port {t.SSH_PORT} open"),
    (t.NAME_WEB, f"port {t.HTTP_PORT} open"),
    (t.NAME_WEB, f"port {t.CLOSED_PORT} refused"),
    (t.NAME_WEB, f"port {t.DROPPED_PORT} filtered"),
    (t.NAME_WEB, f"port {t.ADMIN_PROHIBITED_PORT} blocked"),
    (t.NAME_WEB, "port 3389 blocked"),
    (t.NOPING_V4, f"port {t.HTTP_PORT} open"),
}


@pytest.fixture(scope="module")
def all_hold(lab: Lab, files: Path) -> tuple[int, dict[str, Any], Path]:
    site = write(files, "all-hold.toml", ALL_HOLD)
    junit = files / "all-hold.xml"
    rc, report = lab.probe_json("audit", str(site), "--junit", str(junit), "--timeout", "0.5")
    return rc, report, junit


def test_all_hold_exits_0(all_hold: tuple[int, dict[str, Any], Path]) -> None:
    rc, report, _ = all_hold
    audit = report["audit"]
    assert audit["ok"] is True
    assert audit["counts"] == {"expectations": 10, "passed": 10, "failed": 0, "errors": 0}
    assert rc == 0


def test_all_hold_junit_one_testcase_per_expectation(
    all_hold: tuple[int, dict[str, Any], Path],
) -> None:
    root, found = junit_cases(all_hold[2])
    assert set(found) == ALL_HOLD_CASES
    assert (root.attrib["tests"], root.attrib["failures"], root.attrib["errors"]) == (
        "10",
        "0",
        "0",
    )
    assert [s.attrib["name"] for s in root.findall("testsuite")] == [
        t.NAME_CAM,
        t.NAME_WEB,
        t.NOPING_V4,
    ]
    assert all(len(case) == 0 for case in found.values())


def test_all_hold_json_has_the_check_report_and_the_verdicts(
    all_hold: tuple[int, dict[str, Any], Path],
) -> None:
    report = all_hold[1]
    hosts = {h["target"]: h for h in report["audit"]["hosts"]}
    assert hosts[t.NAME_WEB]["addresses"] == [t.SRV_V4, t.SRV_V6]
    by_port = {(e["port"], e["expect"]): e for e in hosts[t.NAME_WEB]["expectations"]}
    filtered = by_port[(t.DROPPED_PORT, "filtered")]
    assert filtered["verdict"] == "pass"
    assert filtered["observed"] == [
        {"address": t.SRV_V4, "state": "filtered"},
        {"address": t.SRV_V6, "state": "filtered"},
    ]
    rejected = by_port[(t.ADMIN_PROHIBITED_PORT, "blocked")]
    assert {o["state"] for o in rejected["observed"]} == {"rejected"}
    assert by_port[(t.SSH_PORT, "open")]["service"] == "ssh"
    # The same report as `probe check`: every host's targets with ports and findings.
    addresses = [x["address"] for x in report["targets"]]
    assert addresses == [t.NAT_PUBLIC_V4, t.SRV_V4, t.SRV_V6, t.NOPING_V4]
    cam = report["targets"][0]
    assert {p["port"]: p["state"] for p in cam["ports"]} == {
        t.CAM_HTTP_PORT: "open",
        t.CAM_UNFORWARDED_PORT: "refused",
        3389: "refused",
    }


# ------------------------------------------------------------------ the NAT'd port expected open

NAT_AUDIT = f"""\
[[hosts]]
target = "{t.NAME_CAM}"
open = [{t.CAM_HTTP_PORT}, {t.CAM_UNFORWARDED_PORT}]
blocked = [3389]
"""


@pytest.fixture(scope="module")
def nat_run(lab: Lab, files: Path) -> tuple[Any, Path]:
    site = write(files, "camera-site.toml", NAT_AUDIT)
    junit = files / "camera-site.xml"
    proc = lab.run_probe("audit", str(site), "--junit", str(junit))
    return proc, junit


def test_nat_port_expected_open_fails(nat_run: tuple[Any, Path]) -> None:
    proc, _ = nat_run
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out
    lines = out.splitlines()
    row = next(line for line in lines if line.split()[:1] == [str(t.CAM_UNFORWARDED_PORT)])
    assert row.split()[-3:] == ["open", "refused", "FAIL"]
    row = next(line for line in lines if line.split()[:1] == [str(t.CAM_HTTP_PORT)])
    assert row.split()[-3:] == ["open", "open", "pass"]
    assert f"FAIL port {t.CAM_UNFORWARDED_PORT} open: expected open, observed refused" in out, out
    assert "port-refused-by-middlebox" in out and "NAT" in out
    assert "1 of 3 expectations not met" in out


def test_nat_failure_in_junit_names_port_and_middlebox(nat_run: tuple[Any, Path]) -> None:
    root, found = junit_cases(nat_run[1])
    assert (root.attrib["tests"], root.attrib["failures"]) == ("3", "1")
    failed = found[(t.NAME_CAM, f"port {t.CAM_UNFORWARDED_PORT} open")]
    (failure,) = failed
    assert failure.tag == "failure"
    assert failure.attrib["message"] == "expected open, observed refused"
    assert failure.attrib["type"] == "port-refused-by-middlebox"
    text = failure.text or ""
    assert str(t.CAM_UNFORWARDED_PORT) in text and "NAT" in text
    assert f"TTL {t.TTL_DIRECT}" in text and f"TTL {t.TTL_ONE_HOP}" in text  # the evidence
    assert len(found[(t.NAME_CAM, f"port {t.CAM_HTTP_PORT} open")]) == 0


def test_profile_ports_are_expected_open(lab: Lab, files: Path) -> None:
    profiles = files / "profiles"
    profiles.mkdir(exist_ok=True)
    write(
        profiles,
        "lab-cam.toml",
        'description = "the lab camera"\n'
        f"[[ports]]\nport = {t.CAM_HTTP_PORT}\n[[ports]]\nport = {t.CAM_UNFORWARDED_PORT}\n"
        'service = "lab-nvr"\n',
    )
    site = write(
        files,
        "profile-site.toml",
        f'[[hosts]]\ntarget = "{t.NAME_CAM}"\nprofile = "lab-cam"\nblocked = [3389]\n',
    )
    rc, report = lab.probe_json("audit", str(site), "--profiles-dir", str(profiles))
    assert rc == 1
    (host,) = report["audit"]["hosts"]
    assert host["profile"] == "lab-cam"
    verdicts = {(e["port"], e["expect"]): e for e in host["expectations"]}
    assert set(verdicts) == {
        (t.CAM_HTTP_PORT, "open"),
        (t.CAM_UNFORWARDED_PORT, "open"),
        (3389, "blocked"),
    }
    nvr = verdicts[(t.CAM_UNFORWARDED_PORT, "open")]
    assert (nvr["verdict"], nvr["service"], nvr["from"]) == ("fail", "lab-nvr", ["profile lab-cam"])
    assert nvr["finding"]["code"] == "port-refused-by-middlebox"
    assert verdicts[(t.CAM_HTTP_PORT, "open")]["verdict"] == "pass"


def test_unresolvable_host_is_an_error_not_a_pass(lab: Lab, files: Path) -> None:
    site = write(files, "missing.toml", f'[[hosts]]\ntarget = "{t.NAME_MISSING}"\nblocked = [22]\n')
    junit = files / "missing.xml"
    rc, report = lab.probe_json("audit", str(site), "--junit", str(junit))
    assert rc == 1
    (expectation,) = report["audit"]["hosts"][0]["expectations"]
    assert expectation["verdict"] == "error"
    assert expectation["finding"]["code"] == "dns-nxdomain"
    _, found = junit_cases(junit)
    (error,) = found[(t.NAME_MISSING, "port 22 blocked")]
    assert error.tag == "error" and error.attrib["type"] == "dns-nxdomain"


# ------------------------------------------------------------------ bad input: nothing probed


@pytest.fixture(scope="module")
def sent_counter(lab: Lab) -> Iterator[Any]:
    """A function giving the number of probes the client has sent through the router (SYNs,
    UDP — DNS included — and echo requests), counted by an nft rule in the router. What the
    client's kernel sends by itself is left out: its RST to a late SYN/ACK, its ICMP port
    unreachable to a late UDP answer (an earlier test's probe had no socket behind it)."""
    ruleset = f"""\
table inet {COUNTER_TABLE} {{
  counter sent {{ }}
  chain pre {{
    type filter hook prerouting priority -300; policy accept;
    ip saddr {t.CLIENT_V4} tcp flags & (syn | ack) == syn counter name "sent"
    ip saddr {t.CLIENT_V4} meta l4proto udp counter name "sent"
    ip saddr {t.CLIENT_V4} icmp type echo-request counter name "sent"
    ip6 saddr {t.CLIENT_V6} tcp flags & (syn | ack) == syn counter name "sent"
    ip6 saddr {t.CLIENT_V6} meta l4proto udp counter name "sent"
    ip6 saddr {t.CLIENT_V6} icmpv6 type echo-request counter name "sent"
  }}
}}
"""
    added = lab.exec(lab.router_ns, "nft", "-f", "-", input=ruleset)
    assert added.returncode == 0, added.stderr

    def sent() -> int:
        proc = lab.exec(
            lab.router_ns, "nft", "-j", "list", "counter", "inet", COUNTER_TABLE, "sent"
        )
        assert proc.returncode == 0, proc.stderr
        items = json.loads(proc.stdout)["nftables"]
        return next(int(x["counter"]["packets"]) for x in items if "counter" in x)

    try:
        yield sent
    finally:
        lab.exec(lab.router_ns, "nft", "delete", "table", "inet", COUNTER_TABLE)


def test_the_counter_sees_an_audit(lab: Lab, files: Path, sent_counter: Any) -> None:
    """The control for the tests below: a valid audit does send packets past the router."""
    site = write(files, "valid.toml", f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nopen = [80]\n')
    before = sent_counter()
    proc = lab.run_probe("audit", str(site), "--no-ping")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sent_counter() > before


BAD_FILES = [
    pytest.param(
        f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nopen = [80,, 443]\n',
        ["not valid TOML", "line 3, column"],
        id="malformed-toml",
    ),
    pytest.param(
        f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nopne = [80]\n',
        ["unknown key 'opne'", "hosts entry 1"],
        id="unknown-host-key",
    ),
    pytest.param(
        f'timeout = 3\n[[hosts]]\ntarget = "{t.NAME_WEB}"\nopen = [80]\n',
        ["unknown key 'timeout'"],
        id="unknown-top-key",
    ),
    pytest.param(
        f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nopen = [80, 22]\nblocked = [22]\n',
        ["port 22", "open", "blocked"],
        id="contradiction",
    ),
    pytest.param(
        f'[[hosts]]\ntarget = "{t.NAME_CAM}"\nprofile = "camera"\nfiltered = [6036]\n',
        ["port 6036", "profile camera", "filtered"],
        id="contradiction-with-profile",
    ),
    pytest.param(
        f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nprofile = "no-such-profile"\n',
        ["unknown profile 'no-such-profile'", "known profiles:"],
        id="unknown-profile",
    ),
    pytest.param("", ["is empty"], id="empty"),
    pytest.param("# nothing here yet\n", ["is empty"], id="comments-only"),
    pytest.param(
        f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nopen = [70000]\n', ["70000"], id="port-range"
    ),
    pytest.param('[[hosts]]\ntarget = "bad name"\nopen = [80]\n', ["bad name"], id="bad-target"),
]


@pytest.mark.parametrize(("text", "words"), BAD_FILES)
def test_bad_audit_file_is_one_line_exit_2_nothing_probed(
    lab: Lab, files: Path, sent_counter: Any, text: str, words: list[str]
) -> None:
    site = write(files, "bad.toml", text)
    junit = files / "bad.xml"
    junit.unlink(missing_ok=True)
    before = sent_counter()
    proc = lab.run_probe("audit", str(site), "--junit", str(junit))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    message = proc.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert message.startswith(f"probe: audit file {site}")
    for word in words:
        assert word in message, message
    assert not junit.exists()
    assert sent_counter() == before


def test_missing_file_and_bad_junit_path(lab: Lab, files: Path, sent_counter: Any) -> None:
    before = sent_counter()
    proc = lab.run_probe("audit", str(files / "no-such-file.toml"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "cannot read audit file" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    site = write(files, "fine.toml", f'[[hosts]]\ntarget = "{t.NAME_WEB}"\nopen = [80]\n')
    proc = lab.run_probe("audit", str(site), "--junit", str(files / "no-dir" / "out.xml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert sent_counter() == before


def test_audit_pcap_holds_the_audits_packets(lab: Lab, tmp_path: Path) -> None:
    import subprocess

    audit = tmp_path / "cap.toml"
    audit.write_text(
        f'[[hosts]]\ntarget = "{t.SRV_V4}"\nopen = [{t.HTTP_PORT}]\nrefused = [{t.CLOSED_PORT}]\n'
    )
    path = tmp_path / "audit.pcap"
    rc, _ = lab.probe_json("audit", str(audit), "--no-ping", "--pcap", str(path))
    assert rc == 0
    proc = subprocess.run(
        ["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    for port in (t.HTTP_PORT, t.CLOSED_PORT):
        assert f"> {t.SRV_V4}.{port}: Flags [S]" in proc.stdout  # our SYN
        assert f"{t.SRV_V4}.{port} > {t.CLIENT_V4}" in proc.stdout  # its answer
