"""IPv6 end to end in the lab (2001:2::/48 only): SYN probes with the hop limit as TTL
evidence, ICMPv6 unreachable mapped like ICMP with its sender, dual-stack names probed on both
families with family-mismatch, literals with brackets, and the connect() fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab


def ports_of(target: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["port"]: p for p in target["ports"]}


def codes(target: dict[str, Any]) -> set[str]:
    return {f["code"] for f in target["findings"]}


@pytest.fixture(scope="module")
def srv6(lab: Lab) -> tuple[int, dict[str, Any]]:
    ports = [
        t.HTTP_PORT,
        t.CLOSED_PORT,
        t.DROPPED_PORT,
        t.ADMIN_PROHIBITED_PORT,
        t.PORT_UNREACH_PORT,
    ]
    return lab.probe_json("check", f"[{t.SRV_V6}]", "-p", ",".join(map(str, ports)))


def test_ipv6_port_states_and_responders(srv6: tuple[int, dict[str, Any]]) -> None:
    rc, report = srv6
    assert rc == 1
    (target,) = report["targets"]
    assert target["address"] == t.SRV_V6 and target["dns"]["status"] == "literal"
    assert (
        target["route"]["source"] == t.CLIENT_V6
        and target["route"]["gateway"] == t.ROUTER_CLIENT_V6
    )
    assert (target["ping"]["status"], target["ping"]["ttl"]) == ("ok", t.TTL_ONE_HOP)
    ports = ports_of(target)
    assert (ports[t.HTTP_PORT]["state"], ports[t.HTTP_PORT]["ttl"]) == ("open", t.TTL_ONE_HOP)
    assert ports[t.HTTP_PORT]["tcp_options"]["mss"]
    assert (ports[t.CLOSED_PORT]["state"], ports[t.CLOSED_PORT]["responder"]) == (
        "refused",
        t.SRV_V6,
    )
    assert ports[t.DROPPED_PORT]["state"] == "filtered"
    for port, reason in (
        (t.ADMIN_PROHIBITED_PORT, "admin-prohibited"),
        (t.PORT_UNREACH_PORT, "port-unreach"),
    ):
        p = ports[port]
        assert (p["state"], p["reason"], p["responder"], p["ttl"]) == (
            "rejected",
            reason,
            t.ROUTER_CLIENT_V6,
            t.TTL_DIRECT,
        )
    assert {"port-refused", "port-rejected", "port-filtered"} <= codes(target)
    assert "port-refused-by-middlebox" not in codes(target)


def test_ipv6_unreachable_and_blackhole(lab: Lab) -> None:
    _, report = lab.probe_json(
        "check", t.UNREACHABLE_HOST_V6, t.BLACKHOLE_HOST_V6, "-p", "80", "--timeout", "0.3"
    )
    by_addr = {x["address"]: x for x in report["targets"]}
    unreach = by_addr[t.UNREACHABLE_HOST_V6]
    assert ports_of(unreach)[80]["state"] == "unreachable"
    assert ports_of(unreach)[80]["responder"] == t.ROUTER_CLIENT_V6
    assert "host-unreachable" in codes(unreach)
    assert "host-silent" in codes(by_addr[t.BLACKHOLE_HOST_V6])


def test_dual_stack_name_is_probed_on_both_families(lab: Lab) -> None:
    rc, report = lab.probe_json("check", t.NAME_DUAL, "-p", "80")
    assert rc == 1
    by_addr = {x["address"]: x for x in report["targets"]}
    assert set(by_addr) == {t.DUAL_V4, t.DUAL_V6}
    assert ports_of(by_addr[t.DUAL_V4])[80]["state"] == "open"
    assert ports_of(by_addr[t.DUAL_V6])[80]["state"] == "filtered"
    mismatch = [f for f in by_addr[t.DUAL_V6]["findings"] if f["code"] == "family-mismatch"]
    assert mismatch and "IPv6" in mismatch[0]["summary"] and mismatch[0]["ports"] == [80]
    assert "family-mismatch" not in codes(by_addr[t.DUAL_V4])


@pytest.mark.parametrize(("flag", "address"), [("-4", t.DUAL_V4), ("-6", t.DUAL_V6)])
def test_one_family_on_request(lab: Lab, flag: str, address: str) -> None:
    _, report = lab.probe_json("check", t.NAME_DUAL, flag, "-p", "80", "--no-ping")
    assert [x["address"] for x in report["targets"]] == [address]


def test_addresses_are_reported_compressed(lab: Lab) -> None:
    _, report = lab.probe_json(
        "check", "2001:0002:0000:0001:0000:0000:0000:0010", "-p", "80", "--no-ping"
    )
    assert report["targets"][0]["address"] == t.SRV_V6


def test_ipv6_connect_fallback(lab: Lab) -> None:
    _, report = lab.probe_json(
        "check",
        t.SRV_V6,
        "-p",
        f"{t.HTTP_PORT},{t.CLOSED_PORT},{t.DROPPED_PORT}",
        unprivileged=True,
    )
    assert report["mode"] == "connect"
    states = {p["port"]: p["state"] for p in report["targets"][0]["ports"]}
    assert states == {t.HTTP_PORT: "open", t.CLOSED_PORT: "refused", t.DROPPED_PORT: "filtered"}


def test_ipv6_client_without_route(lab: Lab) -> None:
    rc, report = lab.probe_json("check", t.CLIENT_UNROUTABLE_V6, "-p", "80")
    assert rc == 3 and "no-route" in codes(report["targets"][0])


def test_ipv6_cidr_guard(lab: Lab) -> None:
    proc = lab.run_probe("check", "2001:2:0:1::/119", "-p", "80")  # 511 addresses
    assert proc.returncode == 2 and "--yes" in proc.stderr and proc.stdout == ""


def test_ipv6_trace_reaches_an_open_port(lab: Lab) -> None:
    rc, report = lab.probe_json("trace", t.SRV_V6, "-p", str(t.HTTP_PORT))
    assert rc == 0
    hops = [(h["ttl"], h["responder"], h["kind"]) for h in report["hops"]]
    assert hops == [(1, t.ROUTER_CLIENT_V6, "time-exceeded"), (2, t.SRV_V6, "syn-ack")]
    assert report["verdict"]["state"] == "open"


def test_ipv6_trace_finds_where_the_syn_dies(lab: Lab) -> None:
    # dual drops tcp/80 over IPv6 only: hop 1 answers, then silence.
    rc, report = lab.probe_json("trace", t.DUAL_V6, "-p", "80", "--timeout", "0.3")
    assert rc == 1
    assert report["hops"][0]["responder"] == t.ROUTER_CLIENT_V6
    verdict = report["verdict"]
    assert (verdict["state"], verdict["last_responder"], verdict["stopped_at_ttl"]) == (
        "filtered",
        t.ROUTER_CLIENT_V6,
        1,
    )


def test_ipv6_audit(lab: Lab, tmp_path: Path) -> None:
    audit = tmp_path / "v6.toml"
    audit.write_text(
        f'[[hosts]]\ntarget = "{t.SRV_V6}"\nopen = [{t.HTTP_PORT}]\nrefused = [{t.CLOSED_PORT}]\n'
        f"filtered = [{t.DROPPED_PORT}]\n\n"
        f'[[hosts]]\ntarget = "{t.NAME_DUAL}"\nopen = [80]\n'
    )
    junit = tmp_path / "v6.xml"
    rc, report = lab.probe_json("audit", str(audit), "--junit", str(junit), "-6", "--no-ping")
    assert rc == 1
    verdicts = {
        (h["target"], e["port"], e["expect"]): e["verdict"]
        for h in report["audit"]["hosts"]
        for e in h["expectations"]
    }
    assert verdicts[(t.SRV_V6, t.HTTP_PORT, "open")] == "pass"
    assert verdicts[(t.SRV_V6, t.CLOSED_PORT, "refused")] == "pass"
    assert verdicts[(t.SRV_V6, t.DROPPED_PORT, "filtered")] == "pass"
    assert verdicts[(t.NAME_DUAL, 80, "open")] == "fail"
    assert 'failures="1"' in junit.read_text()
