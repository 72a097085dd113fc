"""ARP and neighbour discovery in the lab: every MAC that answers for an on-link target.

dup1 and dup2 hold the same addresses on the client's LAN with distinct MACs (duplicate-ip);
near answers alone; nobody holds 198.18.0.99 / 2001:2::99 (host-down-on-link). All of them in
one run are asked in one window, each answer counted for its own address. Targets behind the
router get no ``arp`` at all, and neither does a run without raw sockets.
"""

from __future__ import annotations

from typing import Any

import pytest

from . import topology as t
from .netlab import Lab


def only_target(report: dict[str, Any]) -> dict[str, Any]:
    assert len(report["targets"]) == 1, report["targets"]
    return report["targets"][0]


def codes(target: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in target["findings"]}


@pytest.mark.parametrize("address", [t.DUP_V4, t.DUP_V6], ids=["arp", "ndp"])
def test_duplicate_ip_names_both_macs(lab: Lab, address: str) -> None:
    lab.flush_client_neighbours()
    _, report = lab.probe_json("check", address, "-p", str(t.HTTP_PORT))
    target = only_target(report)
    assert sorted(target["arp"]["macs"]) == sorted([t.DUP1_MAC, t.DUP2_MAC])
    found = codes(target)["duplicate-ip"]
    assert found["severity"] == "error"
    evidence = " ".join(found["evidence"])
    assert t.DUP1_MAC in evidence and t.DUP2_MAC in evidence
    assert target["ports"][0]["state"] == "open"  # one of the two answers the SYN


def test_duplicate_ip_human_output(lab: Lab) -> None:
    proc = lab.run_probe("check", t.NAME_DUP, "-p", str(t.HTTP_PORT))
    out = proc.stdout
    assert "ARP" in out and "2 MAC addresses answer" in out, out
    assert "duplicate-ip" in out and t.DUP1_MAC in out and t.DUP2_MAC in out


@pytest.mark.parametrize(
    ("address", "mac"), [(t.NEAR_V4, t.NEAR_MAC), (t.NEAR_V6, t.NEAR_MAC)], ids=["arp", "ndp"]
)
def test_one_host_one_mac(lab: Lab, address: str, mac: str) -> None:
    rc, report = lab.probe_json("check", address, "-p", str(t.HTTP_PORT))
    target = only_target(report)
    assert target["arp"]["macs"] == [mac]
    assert "duplicate-ip" not in codes(target) and "host-down-on-link" not in codes(target)
    assert rc == 0


@pytest.mark.parametrize("address", [t.ONLINK_NOBODY_V4, t.ONLINK_NOBODY_V6], ids=["arp", "ndp"])
def test_on_link_and_nobody_answers(lab: Lab, address: str) -> None:
    rc, report = lab.probe_json("check", address, "-p", "80,443", "--timeout", "0.5")
    assert rc == 1
    target = only_target(report)
    assert target["route"]["gateway"] is None
    assert target["arp"]["macs"] == []
    found = codes(target)
    down = found["host-down-on-link"]
    assert down["ports"] == [80, 443] and down["severity"] == "error"
    assert address in down["evidence"][0]
    # nothing else claims a firewall or a silent host: the device is simply not there
    assert not {"host-silent", "port-filtered", "host-unreachable"} & set(found)


def test_many_on_link_targets_in_one_run(lab: Lab) -> None:
    lab.flush_client_neighbours()
    dup = sorted([t.DUP1_MAC, t.DUP2_MAC])
    expected = {
        t.DUP_V4: dup,
        t.NEAR_V4: [t.NEAR_MAC],
        t.ONLINK_NOBODY_V4: [],
        t.DUP_V6: dup,
        t.NEAR_V6: [t.NEAR_MAC],
        t.ONLINK_NOBODY_V6: [],
    }
    _, report = lab.probe_json(
        "check", *expected, t.SRV_V4, "-p", str(t.HTTP_PORT), "--timeout", "0.5"
    )
    by_address = {target["address"]: target for target in report["targets"]}
    assert {a: sorted(by_address[a]["arp"]["macs"]) for a in expected} == expected
    assert "arp" not in by_address[t.SRV_V4]  # behind the router, in the same run
    for address in (t.DUP_V4, t.DUP_V6):
        assert "duplicate-ip" in codes(by_address[address])
    for address in (t.NEAR_V4, t.NEAR_V6):
        assert "duplicate-ip" not in codes(by_address[address])
    for address in (t.ONLINK_NOBODY_V4, t.ONLINK_NOBODY_V6):
        assert "host-down-on-link" in codes(by_address[address])


def test_targets_behind_the_router_get_no_arp(lab: Lab) -> None:
    _, report = lab.probe_json("check", t.SRV_V4, "-p", str(t.HTTP_PORT))
    assert "arp" not in only_target(report)


@pytest.mark.parametrize("how", ["--connect", "unprivileged"])
def test_no_arp_without_raw_sockets(lab: Lab, how: str) -> None:
    args = ["check", t.DUP_V4, "-p", str(t.HTTP_PORT)]
    if how == "--connect":
        _, report = lab.probe_json(*args, "--connect")
    else:
        _, report = lab.probe_json(*args, unprivileged=True)
    target = only_target(report)
    assert report["mode"] == "connect"
    assert "arp" not in target and "duplicate-ip" not in codes(target)
