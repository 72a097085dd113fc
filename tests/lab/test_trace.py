"""`probe trace` end to end in the lab: SYNs with rising TTL through the router, real ICMP
time exceeded from it, and the end of each path (a drop, a reject, an open port, a NAT
router's own RST) read from the JSON report and the hop table."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab


def kinds(report: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    return [(h["ttl"], h["responder"], h["kind"]) for h in report["hops"]]


def test_trace_to_a_port_the_host_drops(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.NAME_WEB, "-4", "--port", str(t.DROPPED_PORT))
    assert rc == 1
    assert report["address"] == t.SRV_V4 and report["port"] == t.DROPPED_PORT
    # Hop 1 is the router (its TTL ran out there); from hop 2 on nothing answers: the host's
    # firewall drops the SYN. Three silent hops end the trace.
    assert kinds(report) == [
        (1, t.ROUTER_CLIENT_V4, "time-exceeded"),
        (2, None, "none"),
        (3, None, "none"),
        (4, None, "none"),
    ]
    first = report["hops"][0]
    assert first["reply_ttl"] == t.TTL_DIRECT and first["rtt_ms"] > 0
    assert all(h["tries"] == 3 for h in report["hops"][1:])
    verdict = report["verdict"]
    assert (verdict["state"], verdict["last_responder"], verdict["stopped_at_ttl"]) == (
        "filtered",
        t.ROUTER_CLIENT_V4,
        1,
    )
    assert (
        f"got as far as hop 1 ({t.ROUTER_CLIENT_V4}); after that nothing answers"
        in (verdict["summary"])
    )


def test_trace_ending_in_an_icmp_reject(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.SRV_V4, "-p", str(t.ADMIN_PROHIBITED_PORT))
    assert rc == 1
    # The router's forward filter rejects only SYNs it would forward: at TTL 1 the TTL runs
    # out first, at TTL 2 it rejects.
    assert kinds(report) == [
        (1, t.ROUTER_CLIENT_V4, "time-exceeded"),
        (2, t.ROUTER_CLIENT_V4, "rejected"),
    ]
    assert report["hops"][1]["reason"] == "admin-prohibited"
    verdict = report["verdict"]
    assert (verdict["state"], verdict["last_responder"], verdict["stopped_at_ttl"]) == (
        "rejected",
        t.ROUTER_CLIENT_V4,
        2,
    )
    assert "the router at hop 1, refuses to forward" in verdict["summary"]


def test_trace_ending_in_an_icmpv6_port_unreachable(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.SRV_V6, "-p", str(t.PORT_UNREACH_PORT))
    assert rc == 1
    assert kinds(report) == [
        (1, t.ROUTER_CLIENT_V6, "time-exceeded"),
        (2, t.ROUTER_CLIENT_V6, "rejected"),
    ]
    assert report["hops"][1]["reason"] == "port-unreach"


def test_trace_reaching_an_open_port(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.NAME_WEB, "-4", "-p", str(t.HTTP_PORT))
    assert rc == 0
    assert kinds(report) == [
        (1, t.ROUTER_CLIENT_V4, "time-exceeded"),
        (2, t.SRV_V4, "syn-ack"),
    ]
    assert report["hops"][1]["reply_ttl"] == t.TTL_ONE_HOP
    assert report["verdict"]["state"] == "open" and report["verdict"]["stopped_at_ttl"] == 2


def test_trace_shows_the_nat_router_answering_for_the_camera(lab: Lab) -> None:
    # The forwarded port is two hops away; the unforwarded one is answered at hop 1.
    _, forwarded = lab.probe_json("trace", t.NAME_CAM, "-p", str(t.CAM_HTTP_PORT))
    rc, refused = lab.probe_json("trace", t.NAME_CAM, "-p", str(t.CAM_UNFORWARDED_PORT))
    assert [h["kind"] for h in forwarded["hops"]] == ["time-exceeded", "syn-ack"]
    assert rc == 1
    assert kinds(refused) == [(1, t.NAT_PUBLIC_V4, "rst")]
    assert refused["verdict"]["state"] == "refused" and refused["verdict"]["stopped_at_ttl"] == 1


def test_trace_human_output_is_a_hop_table(lab: Lab) -> None:
    proc = lab.run_probe("trace", t.SRV_V4, "-p", str(t.ADMIN_PROHIBITED_PORT))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{t.SRV_V4}, TCP port {t.ADMIN_PROHIBITED_PORT}, up to 30 hops"
    assert lines[1].split()[:4] == ["HOP", "ANSWERED", "BY", "ANSWER"]
    assert lines[2].split()[:3] == ["1", t.ROUTER_CLIENT_V4, "time-exceeded"]
    assert lines[3].split()[:3] == ["2", t.ROUTER_CLIENT_V4, "rejected"]
    assert lines[4].startswith("  Verdict: ")
    assert "\x1b[" not in proc.stdout


def test_trace_without_a_route_exits_3(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.CLIENT_UNROUTABLE_V4, "-p", "80")
    assert rc == 3
    assert report["hops"] == [] and report["findings"][0]["code"] == "no-route"


def test_trace_unknown_name(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.NAME_MISSING, "-p", "80")
    assert rc == 1
    assert report["address"] is None and report["findings"][0]["code"] == "dns-nxdomain"


def test_trace_without_raw_sockets_is_one_line_exit_3(lab: Lab) -> None:
    proc = lab.run_probe("trace", t.SRV_V4, "-p", "80", unprivileged=True)
    assert proc.returncode == 3 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert "CAP_NET_RAW" in line and "connect() cannot trace" in line


@pytest.mark.parametrize(
    "args", [("198.18.1.0/30", "-p", "80"), (t.SRV_V4, "-p", "80,81"), (t.SRV_V4,)]
)
def test_trace_bad_input_exits_2(lab: Lab, args: tuple[str, ...]) -> None:
    proc = lab.run_probe("trace", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_trace_pcap_holds_the_syns_with_their_ttls(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "trace.pcap"
    rc, _ = lab.probe_json("trace", t.SRV_V4, "-p", str(t.HTTP_PORT), "--pcap", str(path))
    assert rc == 0
    proc = subprocess.run(
        ["tcpdump", "-n", "-v", "-r", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    # The first wave's SYNs leave with TTL 1..8; the router's time exceeded and the host's
    # SYN/ACK come back.
    sent = {int(ttl) for ttl in re.findall(r"ttl (\d+),.*\n\s+198\.18\.0\.2\.\d+ > ", proc.stdout)}
    assert sent == set(range(1, 9))
    assert "time exceeded in-transit" in proc.stdout
    assert f"{t.SRV_V4}.{t.HTTP_PORT} > {t.CLIENT_V4}" in proc.stdout
