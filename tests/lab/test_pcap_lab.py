"""`probe check --pcap FILE` in the lab: the file holds every SYN sent and every answer matched,
tcpdump (libpcap, as Wireshark reads it) opens it, `probe analyze` finds in it what check
found, and a Ctrl-C in the middle of a run still leaves a valid file."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab

SRV = t.SRV_V4
PORTS = (t.HTTP_PORT, t.CLOSED_PORT, t.DROPPED_PORT, t.ADMIN_PROHIBITED_PORT)
STATE_TO_CODE = {
    "open": "ok",
    "refused": "syn-refused",
    "filtered": "syn-unanswered",
    "rejected": "syn-rejected",
}


def tcpdump_read(path: Path, *filter_: str) -> list[str]:
    """The packets of ``path`` as tcpdump prints them; fails on a damaged file."""
    proc = subprocess.run(
        ["tcpdump", "-n", "-r", str(path), *filter_],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "truncated" not in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def analyze(lab: Lab, path: Path) -> tuple[int, dict[str, Any]]:
    proc = lab.run_probe("analyze", str(path), "--json")
    assert proc.returncode in (0, 1), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


@pytest.fixture(scope="module")
def v4_run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("pcap") / "check.pcap"
    ports = ",".join(map(str, PORTS))
    rc, report = lab.probe_json("check", SRV, "-p", ports, "--no-ping", "--pcap", str(path))
    assert rc == 1
    return path, report


def test_the_file_is_a_pcap_tcpdump_reads(v4_run: tuple[Path, dict[str, Any]]) -> None:
    path, _ = v4_run
    head = path.read_bytes()[:24]
    assert head[:4] == b"\xd4\xc3\xb2\xa1" and head[20:24] == (101).to_bytes(4, "little")
    lines = tcpdump_read(path)
    syns = tcpdump_read(path, f"tcp[tcpflags] == tcp-syn and dst host {SRV}")
    # one SYN to each answering port, --tries (3) to the dropped one
    assert len(syns) == len(PORTS) - 1 + 3
    assert len(tcpdump_read(path, f"dst port {t.DROPPED_PORT}")) == 3
    answers = [line for line in lines if f"> {t.CLIENT_V4}." in line or "ICMP" in line]
    assert any(f"{SRV}.{t.HTTP_PORT} > " in a and "[S.]" in a for a in answers)  # SYN/ACK
    assert any(f"{SRV}.{t.CLOSED_PORT} > " in a and "[R." in a for a in answers)  # RST
    assert any(t.ROUTER_CLIENT_V4 in a and "ICMP" in a for a in answers)  # the reject
    assert len(lines) == len(syns) + len(answers)


def test_analyze_finds_what_check_found(lab: Lab, v4_run: tuple[Path, dict[str, Any]]) -> None:
    path, report = v4_run
    rc, analysis = analyze(lab, path)
    assert rc == 1
    states = {p["port"]: p["state"] for p in report["targets"][0]["ports"]}
    found = {f["port"]: f["code"] for f in analysis["findings"] if f["address"] == SRV}
    assert found == {port: STATE_TO_CODE[state] for port, state in states.items()}
    dropped = next(f for f in analysis["findings"] if f["port"] == t.DROPPED_PORT)
    assert dropped["code"] == "syn-unanswered" and dropped["syns"] >= 1
    # probe's three tries leave from three consecutive source ports (as nmap's do), so in the
    # capture they are three attempts, not one connection's retransmissions.
    sports = sorted(
        int(line.split(f"{t.CLIENT_V4}.")[1].split(" ")[0])
        for line in tcpdump_read(path, f"tcp dst port {t.DROPPED_PORT}")
    )
    assert len(sports) == 3 and sports == list(range(sports[0], sports[0] + 3))
    ok = next(f for f in analysis["findings"] if f["port"] == t.HTTP_PORT)
    # probe's SYN/ACK is not acknowledged (the kernel's RST is not the engine's to log)
    assert ok["half_open"] == 1 and ok["ttl"] == t.TTL_ONE_HOP


def test_ipv6_packets_get_their_header(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "v6.pcap"
    ports = f"{t.HTTP_PORT},{t.CLOSED_PORT}"
    rc, _ = lab.probe_json("check", t.SRV_V6, "-p", ports, "--no-ping", "--pcap", str(path))
    assert rc == 1
    lines = tcpdump_read(path, "ip6")
    assert any(
        f"{t.CLIENT_V6}." in line and f"> {t.SRV_V6}.{t.HTTP_PORT}:" in line for line in lines
    )
    assert any(f"{t.SRV_V6}.{t.HTTP_PORT} > " in line and "[S.]" in line for line in lines)
    _, analysis = analyze(lab, path)
    found = {f["server"]: f["code"] for f in analysis["findings"]}
    assert found == {
        f"[{t.SRV_V6}]:{t.HTTP_PORT}": "ok",
        f"[{t.SRV_V6}]:{t.CLOSED_PORT}": "syn-refused",
    }


def test_ctrl_c_leaves_a_valid_file(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "interrupted.pcap"
    argv = [
        "ip",
        "netns",
        "exec",
        lab.client_ns,
        *lab.probe_command(),
        "check",
        "--json",
        SRV,
        t.BLACKHOLE_HOST_V4,
        "-p",
        "80",
        "--timeout",
        "10",
        "--no-ping",
        "--pcap",
        str(path),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # SRV answers at once; the blackholed host keeps the run waiting
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    lines = tcpdump_read(path)
    assert any(f"> {t.BLACKHOLE_HOST_V4}.80:" in line for line in lines)  # the unanswered SYN
    assert any(f"{SRV}.80 > " in line for line in lines)  # the SYN/ACK that came back


def test_connect_mode_says_the_file_holds_no_packets(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "connect.pcap"
    proc = lab.run_probe("check", SRV, "-p", "80", "--connect", "--no-ping", "--pcap", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "holds no packets" in proc.stderr and "connect()" in proc.stderr
    assert path.stat().st_size == 24  # the header alone: still a valid (empty) capture
    assert tcpdump_read(path) == []


def test_an_unwritable_pcap_path_is_bad_input(lab: Lab, tmp_path: Path) -> None:
    proc = lab.run_probe("check", SRV, "-p", "80", "--pcap", str(tmp_path / "no" / "x.pcap"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "cannot write the capture file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
