"""Host discovery in the lab: a /23 (the client LAN and the server LAN, 510 addresses) of
which only a handful exist. Discovery finds exactly those — noping by its TCP answers, near
and the dup pair by ARP too — ports are probed only there, the rest are counted as skipped;
with --all-hosts every address is probed."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from probe.capture.reader import open_capture

from . import topology as t
from .netlab import Lab

BLOCK = "198.18.0.0/23"  # hosts() of a /23: 510 addresses
PORTS = f"{t.SSH_PORT},{t.HTTP_PORT}"
FAST = ("--tries", "1", "--timeout", "0.5")
LIVE = {
    t.ROUTER_CLIENT_V4,
    t.CLIENT_V4,
    t.NEAR_V4,
    t.DUP_V4,
    t.ROUTER_SERVER_V4,
    t.SRV_V4,
    t.NOPING_V4,
    t.DUAL_V4,
    t.DNS_V4,
}


@pytest.fixture(scope="module")
def discovered(lab: Lab) -> tuple[int, dict[str, Any]]:
    return lab.probe_json("check", BLOCK, "-p", PORTS, "--yes", *FAST, timeout=120)


def test_discovery_finds_exactly_the_hosts_that_exist(
    discovered: tuple[int, dict[str, Any]],
) -> None:
    _, report = discovered
    found = report["discovery"]
    hosts = {h["address"]: h["answered"] for h in found["hosts"]}
    assert set(hosts) == LIVE
    assert (found["asked"], found["alive"], found["skipped"]) == (510, len(LIVE), 510 - len(LIVE))
    assert found["probes"] == ["icmp-echo", "tcp-syn-443", "tcp-ack-80", "arp"]
    assert "icmp-echo" not in hosts[t.NOPING_V4]  # it drops echo: found by TCP
    assert {"tcp-syn-443", "tcp-ack-80"} <= set(hosts[t.NOPING_V4])
    assert "arp" in hosts[t.NEAR_V4] and "arp" in hosts[t.DUP_V4]
    assert "icmp-echo" in hosts[t.SRV_V4]
    nobody = ipaddress.ip_address(t.ONLINK_NOBODY_V4)  # on-link, answers no ARP: silent
    assert any(nobody in ipaddress.ip_network(n) for n in found["not_probed"])


def test_ports_are_probed_only_on_live_addresses(discovered: tuple[int, dict[str, Any]]) -> None:
    _, report = discovered
    targets = {x["address"]: x for x in report["targets"]}
    assert set(targets) == LIVE
    srv = {p["port"]: p["state"] for p in targets[t.SRV_V4]["ports"]}
    assert srv == {t.SSH_PORT: "open", t.HTTP_PORT: "open"}
    skipped = 510 - len(LIVE)
    note = f"{skipped} of 510 addresses did not answer host discovery"
    assert any(n.startswith(note) for n in report["notes"]), report["notes"]


def test_all_hosts_probes_every_address(lab: Lab) -> None:
    _, report = lab.probe_json(
        "check", BLOCK, "-p", str(t.HTTP_PORT), "--yes", "--all-hosts", "--no-ping", *FAST,
        timeout=120,
    )  # fmt: skip
    assert "discovery" not in report
    assert len(report["targets"]) == 510
    assert all(len(x["ports"]) == 1 for x in report["targets"] if x["address"])


def test_discovery_over_ipv6(lab: Lab) -> None:
    # A /119 of the server LAN: 511 addresses (IPv6 keeps every one but the anycast ::0).
    _, report = lab.probe_json(
        "check", "2001:2:0:1::/119", "-p", str(t.HTTP_PORT), "--yes", *FAST, timeout=120
    )
    found = report["discovery"]
    hosts = {h["address"]: h["answered"] for h in found["hosts"]}
    assert set(hosts) == {t.ROUTER_SERVER_V6, t.SRV_V6, t.NOPING_V6, t.DUAL_V6, t.DNS_V6}
    assert found["asked"] == 511 and found["skipped"] == 506
    assert "icmp-echo" not in hosts[t.NOPING_V6] and "tcp-ack-80" in hosts[t.NOPING_V6]
    assert "tcp-ack-80" in hosts[t.SRV_V6] and "icmp-echo" in hosts[t.SRV_V6]


def test_discovery_without_raw_sockets_connects(lab: Lab) -> None:
    _, report = lab.probe_json(
        "check", BLOCK, "-p", str(t.HTTP_PORT), "--yes", *FAST, timeout=120, unprivileged=True
    )
    found = report["discovery"]
    assert report["mode"] == "connect"
    assert found["probes"] == ["tcp-connect-443", "tcp-connect-80"]  # no echo, no ARP
    assert {h["address"] for h in found["hosts"]} == LIVE


def test_the_capture_holds_discovery_too(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "discovery.pcap"
    lab.probe_json(
        "check", BLOCK, "-p", str(t.HTTP_PORT), "--yes", *FAST, "--pcap", str(path), timeout=120
    )
    echo: Counter[tuple[int, str]] = Counter()  # (ICMP type, the far end)
    acks: set[str] = set()
    with open_capture(path) as capture:
        for _, _, pkt in capture.frames():
            src, dst = (str(ipaddress.ip_address(pkt[a : a + 4])) for a in (12, 16))
            ihl = (pkt[0] & 0x0F) * 4
            if pkt[9] == 1 and pkt[ihl] in (0, 8):
                echo[pkt[ihl], dst if pkt[ihl] == 8 else src] += 1
            elif pkt[9] == 6 and pkt[ihl + 13] == 0x10:  # a bare ACK: discovery's
                acks.add(dst)
    # An echo request to each, but the client LAN's broadcast address: the kernel refuses it.
    asked = {far for kind, far in echo if kind == 8}
    assert len(asked) == 509 and "198.18.0.255" not in asked
    answered = {far for kind, far in echo if kind == 0}
    assert answered == LIVE - {t.NOPING_V4}  # noping drops echo
    assert len(acks - {"198.18.0.255"}) == 509
