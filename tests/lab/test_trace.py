"""`probe trace` end to end in the lab: SYNs with rising TTL through the router, real ICMP
time exceeded from it, and the end of each path (a drop, a reject, an open port, a NAT
router's own RST) read from the JSON report and the hop table."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
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


# --------------------------------------------------------------------------- UDP (--udp)
# Each datagram carries the port's request (payloads), so the real services on srv and the
# dns host answer the one that reaches them.


@pytest.mark.parametrize(
    ("address", "router"), [(t.SRV_V4, t.ROUTER_CLIENT_V4), (t.SRV_V6, t.ROUTER_CLIENT_V6)]
)
def test_udp_trace_to_a_closed_port(lab: Lab, address: str, router: str) -> None:
    rc, report = lab.probe_json("trace", address, "--udp", "-p", str(t.UDP_CLOSED_PORT))
    assert rc == 1 and report["protocol"] == "udp"
    # Hop 1 is the router (time exceeded, quoting our datagram); at TTL 2 the datagram
    # reaches srv, whose own port unreachable ends the trace.
    assert kinds(report) == [(1, router, "time-exceeded"), (2, address, "refused")]
    first, last = report["hops"]
    assert first["reply_ttl"] == t.TTL_DIRECT and last["reply_ttl"] == t.TTL_ONE_HOP
    assert last["reason"] == "port-unreach" and last["rtt_ms"] > 0
    verdict = report["verdict"]
    assert (verdict["state"], verdict["reason"], verdict["stopped_at_ttl"]) == (
        "refused",
        "port-unreach",
        2,
    )
    assert verdict["summary"] == (
        f"Port {t.UDP_CLOSED_PORT}/udp is refused: {address} answers ICMP port unreachable "
        f"at hop 2, so nothing listens there; the datagram got as far as hop 1 ({router})."
    )


@pytest.mark.parametrize(
    ("address", "port", "decoded"),
    [
        (t.DNS_V4, t.DNS_UDP_PORT, "(DNS: "),
        (t.SRV_V4, t.NTP_PORT, f"(NTP server, stratum {t.NTP_STRATUM}"),
        (t.SRV_V4, t.SIP_PORT, f"Server: {t.SIP_SERVER})"),
        (t.SRV_V4, t.SNMP_PORT, t.SNMP_SYSDESCR),
    ],
)
def test_udp_trace_to_a_real_service(lab: Lab, address: str, port: int, decoded: str) -> None:
    rc, report = lab.probe_json("trace", address, "-p", f"{port}/udp")
    assert rc == 0 and report["protocol"] == "udp" and report["port"] == port
    assert kinds(report) == [
        (1, t.ROUTER_CLIENT_V4, "time-exceeded"),
        (2, address, "udp-response"),
    ]
    assert report["hops"][1]["reply_ttl"] == t.TTL_ONE_HOP
    verdict = report["verdict"]
    assert (verdict["state"], verdict["reason"], verdict["stopped_at_ttl"]) == (
        "open",
        "udp-response",
        2,
    )
    assert verdict["summary"].startswith(
        f"Port {port}/udp is open: the datagram reached {address} at hop 2 and got a UDP answer"
    )
    assert decoded in verdict["summary"]


@pytest.mark.parametrize("port", [t.UDP_SILENT_PORT, t.UDP_DROPPED_PORT])
def test_udp_trace_silent_past_the_router_is_open_filtered(lab: Lab, port: int) -> None:
    # A socket that reads and never answers, and srv's own firewall dropping the datagram,
    # look the same from outside: UDP's silence is undecided, and the verdict says both.
    rc, report = lab.probe_json("trace", t.SRV_V4, "--udp", "-p", str(port), "--tries", "2")
    assert rc == 1
    assert kinds(report) == [
        (1, t.ROUTER_CLIENT_V4, "time-exceeded"),
        (2, None, "none"),
        (3, None, "none"),
        (4, None, "none"),
    ]
    assert all(h["tries"] == 2 for h in report["hops"][1:])
    verdict = report["verdict"]
    assert (verdict["state"], verdict["stopped_at_ttl"], verdict["last_responder"]) == (
        "open|filtered",
        1,
        t.ROUTER_CLIENT_V4,
    )
    summary = verdict["summary"]
    assert f"the datagram got as far as hop 1 ({t.ROUTER_CLIENT_V4})" in summary
    assert f"a firewall right after {t.ROUTER_CLIENT_V4}" in summary
    assert f"the service at {t.SRV_V4} gets it and ignores the request" in summary


@pytest.mark.parametrize(
    ("address", "router"), [(t.SRV_V4, t.ROUTER_CLIENT_V4), (t.SRV_V6, t.ROUTER_CLIENT_V6)]
)
def test_udp_trace_rejected_by_the_router_it_crosses(lab: Lab, address: str, router: str) -> None:
    rc, report = lab.probe_json("trace", address, "--udp", "-p", str(t.UDP_PROHIBITED_PORT))
    assert rc == 1
    # As for TCP: the forward filter rejects only what it would forward, one TTL later.
    assert kinds(report) == [(1, router, "time-exceeded"), (2, router, "rejected")]
    assert report["hops"][1]["reason"] == "admin-prohibited"
    verdict = report["verdict"]
    assert (verdict["state"], verdict["stopped_at_ttl"]) == ("rejected", 2)
    assert "the router at hop 1, refuses to forward the datagram" in verdict["summary"]


@pytest.mark.parametrize(
    ("address", "kind", "reason", "state"),
    [
        (t.PROHIBIT_HOST_V4, "rejected", "admin-prohibited", "rejected"),
        (t.UNREACHABLE_HOST_V4, "unreachable", "host-unreach", "unreachable"),
    ],
)
def test_udp_trace_into_a_refusing_route(
    lab: Lab, address: str, kind: str, reason: str, state: str
) -> None:
    # The router's route errors come before the TTL is looked at: hop 1 already ends it.
    rc, report = lab.probe_json("trace", address, "--udp", "-p", str(t.DNS_UDP_PORT))
    assert rc == 1
    assert kinds(report) == [(1, t.ROUTER_CLIENT_V4, kind)]
    assert report["hops"][0]["reason"] == reason
    assert (report["verdict"]["state"], report["verdict"]["stopped_at_ttl"]) == (state, 1)


def test_udp_trace_into_a_blackhole_is_open_filtered_from_hop_1(lab: Lab) -> None:
    rc, report = lab.probe_json(
        "trace", t.BLACKHOLE_HOST_V4, "--udp", "-p", str(t.UDP_CLOSED_PORT), "--tries", "2"
    )
    assert rc == 1
    assert kinds(report) == [(1, None, "none"), (2, None, "none"), (3, None, "none")]
    verdict = report["verdict"]
    assert (verdict["state"], verdict["stopped_at_ttl"], verdict["last_responder"]) == (
        "open|filtered",
        None,
        None,
    )
    assert "nothing answers from hop 1 on" in verdict["summary"]
    assert "UDP has no handshake, so the silence is undecided" in verdict["summary"]


def test_udp_trace_human_output(lab: Lab) -> None:
    proc = lab.run_probe("trace", t.DNS_V4, "--udp", "-p", "domain")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{t.DNS_V4}, UDP port {t.DNS_UDP_PORT}, up to 30 hops"
    assert lines[2].split()[:3] == ["1", t.ROUTER_CLIENT_V4, "time-exceeded"]
    assert lines[3].split()[:3] == ["2", t.DNS_V4, "udp-response"]
    assert lines[4].startswith(
        f"  Verdict: Port {t.DNS_UDP_PORT}/udp is open: the datagram reached"
    )


def test_udp_trace_without_raw_sockets_is_one_line_exit_3(lab: Lab) -> None:
    proc = lab.run_probe("trace", t.SRV_V4, "--udp", "-p", "53", unprivileged=True)
    assert proc.returncode == 3 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert "CAP_NET_RAW" in line and "connect() cannot trace" in line


def test_udp_trace_bad_port_exits_2(lab: Lab) -> None:
    proc = lab.run_probe("trace", t.SRV_V4, "--udp", "-p", "70000")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "probe: port 70000 is out of range 1-65535"


def test_udp_trace_pcap_holds_the_datagrams_with_their_ttls(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "trace-udp.pcap"
    args = ("trace", t.DNS_V4, "--udp", "-p", str(t.DNS_UDP_PORT), "--pcap", str(path))
    rc, _ = lab.probe_json(*args)
    assert rc == 0
    proc = subprocess.run(
        ["tcpdump", "-n", "-v", "-r", str(path)], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    # The wave's datagrams (one scan per TTL) leave with TTL 1..8, each a DNS query; the
    # router's time exceeded and dnsmasq's answer come back.
    to_dns = rf"\n\s+{re.escape(t.CLIENT_V4)}\.\d+ > {re.escape(t.DNS_V4)}\.53: "
    sent = re.findall(r"ttl (\d+),[^\n]*proto UDP[^\n]*" + to_dns, proc.stdout)
    assert {int(ttl) for ttl in sent} == set(range(1, 9))
    assert "time exceeded in-transit" in proc.stdout
    assert f"{t.DNS_V4}.53 > {t.CLIENT_V4}." in proc.stdout


def test_udp_trace_ctrl_c_keeps_the_hops_measured(lab: Lab) -> None:
    # The router answers TTL 1 at once; the mute port keeps TTL 2 and on waiting 10 s a try.
    port = str(t.UDP_SILENT_PORT)
    argv = ["ip", "netns", "exec", lab.client_ns, *lab.probe_command(), "trace", "--json"]
    argv += [t.SRV_V4, "--udp", "-p", port, "--timeout", "10"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 5  # the wave's scans stop; no 10 s try is waited out
    report = json.loads(out)
    assert report["interrupted"] is True and report["protocol"] == "udp"
    assert kinds(report) == [(1, t.ROUTER_CLIENT_V4, "time-exceeded")]
