"""Who sent the RST, proven in the lab: the camera's unforwarded port is reset by the NAT
router itself, and a SYN with TTL 1 — which dies at the router unless the router answers it —
still draws that RST. The host's own RST (srv, port 81) needs no such proof."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from . import topology as t
from .netlab import Lab


def finding(target: dict[str, Any], code: str) -> dict[str, Any] | None:
    return next((f for f in target["findings"] if f["code"] == code), None)


def test_nat_port_is_proven_reset_by_the_router(lab: Lab) -> None:
    ports = f"{t.CAM_HTTP_PORT},{t.CAM_UNFORWARDED_PORT}"
    rc, report = lab.probe_json("check", t.NAME_CAM, "-p", ports)
    assert rc == 1
    (target,) = report["targets"]
    found = finding(target, "port-refused-by-middlebox")
    assert found is not None and found["ports"] == [t.CAM_UNFORWARDED_PORT]
    # The cam's SYN/ACK crosses one router (TTL 63): a SYN with TTL 1 stops at the router.
    proof = [e for e in found["evidence"] if "with TTL 1" in e]
    assert proof == [
        f"a SYN to {t.CAM_UNFORWARDED_PORT} with TTL 1 — enough for hop 1, too short to reach "
        f"the host — still drew the RST from {t.NAT_PUBLIC_V4}: the device at hop 1 answers "
        "for the host"
    ]
    assert finding(target, "port-refused") is None


def test_the_proof_leaves_with_ttl_1_on_the_wire(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "proof.pcap"
    ports = f"{t.CAM_HTTP_PORT},{t.CAM_UNFORWARDED_PORT}"
    lab.probe_json("check", t.NAME_CAM, "-p", ports, "--no-ping", "--pcap", str(path))
    syns = subprocess.run(
        ["tcpdump", "-n", "-v", "-r", str(path), f"tcp dst port {t.CAM_UNFORWARDED_PORT}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert syns.returncode == 0, syns.stderr
    headers = [line for line in syns.stdout.splitlines() if "proto TCP" in line]
    # the scan's SYN (TTL 64), then the proof (TTL 1)
    assert [h.split("ttl ")[1].split(",")[0] for h in headers] == ["64", "1"]


def test_nat_proof_in_the_human_output(lab: Lab) -> None:
    ports = f"{t.CAM_HTTP_PORT},{t.CAM_UNFORWARDED_PORT}"
    proc = lab.run_probe("check", t.NAME_CAM, "-p", ports)
    assert proc.returncode == 1, proc.stderr
    assert "still drew the RST from" in proc.stdout
    assert "the device at hop 1 answers for the host" in proc.stdout


def test_the_hosts_own_rst_gets_no_proof(lab: Lab) -> None:
    rc, report = lab.probe_json(
        "check", t.SRV_V4, "-p", f"{t.HTTP_PORT},{t.CLOSED_PORT}", "--no-ping"
    )
    assert rc == 1
    (target,) = report["targets"]
    refused = finding(target, "port-refused")
    assert refused is not None and refused["ports"] == [t.CLOSED_PORT]
    assert not any("with TTL 1" in e for f in target["findings"] for e in f["evidence"])


def test_connect_fallback_cannot_prove_anything(lab: Lab) -> None:
    ports = f"{t.CAM_HTTP_PORT},{t.CAM_UNFORWARDED_PORT}"
    _, report = lab.probe_json("check", t.NAME_CAM, "-p", ports, unprivileged=True)
    assert report["mode"] == "connect"
    (target,) = report["targets"]
    assert not any("with TTL" in e for f in target["findings"] for e in f["evidence"])
