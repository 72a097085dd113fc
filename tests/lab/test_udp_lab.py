"""UDP through probe check, audit and the connect() fallback, against the lab's real UDP
services (topology.py, "UDP services"): chronyd, snmpd, a SIP responder, dnsmasq, a service
that never answers, a closed port, srv's own firewall dropping one port and the router
rejecting one with admin prohibited — over IPv4 and IPv6, asserted from --json, and the
words of the text output. srv keeps a real host's ICMP rate limit (a burst of about six
port unreachables, then one a second to each client): the tests that count on srv's ICMP
wait for its bucket to refill first.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab

BUCKET_REFILL = 7.0  # seconds: srv's ICMP token bucket is full again (6 tokens, one a second)

SERVICES = ",".join(
    f"{p}/udp"
    for p in (
        t.NTP_PORT,
        t.SNMP_PORT,
        t.SIP_PORT,
        t.UDP_SILENT_PORT,
        t.UDP_CLOSED_PORT,
        t.UDP_DROPPED_PORT,
        t.UDP_PROHIBITED_PORT,
    )
)


def ports_of(report: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    (target,) = report["targets"]
    return {(p["port"], p["protocol"]): p for p in target["ports"]}


def findings_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (target,) = report["targets"]
    return {f["code"]: f for f in target["findings"]}


def udp_ports(f: dict[str, Any]) -> set[int]:
    return {p for p, proto in zip(f["ports"], f["protocols"], strict=True) if proto == "udp"}


@pytest.fixture(scope="module")
def srv_v4(lab: Lab) -> tuple[int, dict[str, Any]]:
    time.sleep(BUCKET_REFILL)
    return lab.probe_json("check", t.SRV_V4, "-p", f"{t.HTTP_PORT},{SERVICES}", "--no-ping")


def test_real_services_answer_and_say_what_they_are(srv_v4: tuple[int, dict[str, Any]]) -> None:
    code, report = srv_v4
    assert code == 1  # closed, dropped and rejected ports are problems
    ports = ports_of(report)
    for port in (t.NTP_PORT, t.SNMP_PORT, t.SIP_PORT):
        p = ports[port, "udp"]
        assert (p["state"], p["reason"], p["responder"], p["ttl"]) == (
            "open",
            "udp-response",
            t.SRV_V4,
            t.TTL_ONE_HOP,
        ), p
        assert p["request"] and p["rtt_ms"] is not None
    assert f"stratum {t.NTP_STRATUM}" in ports[t.NTP_PORT, "udp"]["answer"]
    assert t.SNMP_SYSDESCR in ports[t.SNMP_PORT, "udp"]["answer"]
    assert t.SIP_SERVER in ports[t.SIP_PORT, "udp"]["answer"]
    assert ports[t.HTTP_PORT, "tcp"]["state"] == "open"


def test_closed_dropped_and_rejected_udp_ports(srv_v4: tuple[int, dict[str, Any]]) -> None:
    _, report = srv_v4
    ports = ports_of(report)
    closed = ports[t.UDP_CLOSED_PORT, "udp"]
    assert (closed["state"], closed["reason"], closed["responder"]) == (
        "refused",
        "port-unreach",
        t.SRV_V4,
    )
    rejected = ports[t.UDP_PROHIBITED_PORT, "udp"]
    assert (rejected["state"], rejected["reason"], rejected["responder"]) == (
        "rejected",
        "admin-prohibited",
        t.ROUTER_CLIENT_V4,
    )
    for port in (t.UDP_SILENT_PORT, t.UDP_DROPPED_PORT):
        p = ports[port, "udp"]
        assert (p["state"], p["reason"], p["responder"], p["tries"]) == (
            "open|filtered",
            "no-response",
            None,
            3,
        )


def test_udp_findings_name_their_ports_and_protocols(srv_v4: tuple[int, dict[str, Any]]) -> None:
    _, report = srv_v4
    found = findings_of(report)
    assert udp_ports(found["port-refused"]) == {t.UDP_CLOSED_PORT}
    assert udp_ports(found["port-rejected"]) == {t.UDP_PROHIBITED_PORT}
    assert t.ROUTER_CLIENT_V4 in found["port-rejected"]["summary"]
    silent = found["udp-no-answer"]
    assert udp_ports(silent) == {t.UDP_SILENT_PORT, t.UDP_DROPPED_PORT}
    # srv answered port unreachable on 9002: its firewall does not drop all UDP
    assert f"{t.UDP_CLOSED_PORT}/udp" in silent["summary"]
    assert "icmp-rate-limited" not in found  # one closed port: no sign of the limit
    assert found["partial-reachability"]["severity"] == "warning"


def test_dns_over_udp_from_dnsmasq(lab: Lab) -> None:
    code, report = lab.probe_json("check", t.DNS_V4, "-p", "53/udp,53", "--no-ping")
    assert code == 0
    ports = ports_of(report)
    assert ports[53, "udp"]["state"] == "open"
    assert ports[53, "udp"]["answer"].startswith("DNS: ")
    assert ports[53, "tcp"]["state"] == "open"


def test_udp_over_ipv6(lab: Lab) -> None:
    time.sleep(BUCKET_REFILL)
    spec = f"{t.SIP_PORT}/udp,{t.SNMP_PORT}/udp,{t.UDP_CLOSED_PORT}/udp,{t.UDP_PROHIBITED_PORT}/udp"
    code, report = lab.probe_json("check", t.SRV_V6, "-p", spec, "--no-ping")
    assert code == 1
    ports = ports_of(report)
    assert ports[t.SIP_PORT, "udp"]["state"] == "open"
    assert ports[t.SIP_PORT, "udp"]["responder"] == t.SRV_V6
    assert t.SNMP_SYSDESCR in ports[t.SNMP_PORT, "udp"]["answer"]
    closed = ports[t.UDP_CLOSED_PORT, "udp"]
    assert (closed["state"], closed["reason"], closed["responder"]) == (
        "refused",
        "port-unreach",
        t.SRV_V6,
    )
    rejected = ports[t.UDP_PROHIBITED_PORT, "udp"]
    assert (rejected["state"], rejected["reason"]) == ("rejected", "admin-prohibited")


def test_text_output_reads_udp(lab: Lab) -> None:
    spec = f"{t.NTP_PORT}/udp,{t.UDP_DROPPED_PORT}/udp"
    proc = lab.run_probe("check", t.SRV_V4, "-p", spec, "--no-ping")
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert f"{t.NTP_PORT}/udp" in out and f"stratum {t.NTP_STRATUM}" in out
    assert "open|filtered" in out
    assert "udp-no-answer (port UDP 9003)" in out


def test_the_connect_fallback_reads_udp_too(lab: Lab) -> None:
    time.sleep(BUCKET_REFILL)
    spec = f"{t.NTP_PORT}/udp,{t.UDP_CLOSED_PORT}/udp,{t.UDP_DROPPED_PORT}/udp"
    code, report = lab.probe_json("check", t.SRV_V4, "-p", spec, "--no-ping", unprivileged=True)
    assert code == 1
    assert report["mode"] == "connect"
    ports = ports_of(report)
    ntp = ports[t.NTP_PORT, "udp"]
    assert ntp["state"] == "open" and f"stratum {t.NTP_STRATUM}" in ntp["answer"]
    assert ntp["responder"] is None  # connect() cannot see who answered
    closed = ports[t.UDP_CLOSED_PORT, "udp"]
    assert (closed["state"], closed["reason"]) == ("refused", "conn-refused")
    assert ports[t.UDP_DROPPED_PORT, "udp"]["state"] == "open|filtered"


# Twenty closed UDP ports of srv: more than its ICMP burst.
MANY_CLOSED = range(9010, 9030)


def test_the_icmp_rate_limit_is_named_and_wait_for_icmp_decides_every_port(lab: Lab) -> None:
    spec = f"{MANY_CLOSED[0]}-{MANY_CLOSED[-1]}/udp"
    time.sleep(BUCKET_REFILL)
    _, fast = lab.probe_json("check", t.SRV_V4, "-p", spec, "--no-ping", "--tries", "1")
    states = [p["state"] for p in fast["targets"][0]["ports"]]
    refused, silent = states.count("refused"), states.count("open|filtered")
    assert refused + silent == len(MANY_CLOSED)
    assert 1 <= refused < len(MANY_CLOSED)  # a burst, then the limit
    limited = findings_of(fast)["icmp-rate-limited"]
    assert len(limited["ports"]) == silent
    assert "--wait-for-icmp" in " ".join(limited["next_steps"])

    time.sleep(BUCKET_REFILL)
    code, waited = lab.probe_json(
        "check", t.SRV_V4, "-p", spec, "--no-ping", "--tries", "1", "--wait-for-icmp", timeout=120
    )
    assert code == 1
    got = {p["port"]: (p["state"], p["responder"]) for p in waited["targets"][0]["ports"]}
    assert got == dict.fromkeys(MANY_CLOSED, ("refused", t.SRV_V4))
    assert "icmp-rate-limited" not in findings_of(waited)


def test_audit_udp_expectations(lab: Lab, tmp_path: Any) -> None:
    time.sleep(BUCKET_REFILL)
    audit = tmp_path / "udp.toml"
    audit.write_text(
        "[[hosts]]\n"
        f'target = "{t.SRV_V4}"\n'
        f"udp_open = [{t.NTP_PORT}, {t.SIP_PORT}, {t.UDP_SILENT_PORT}]\n"
        f"udp_blocked = [{t.UDP_CLOSED_PORT}, {t.UDP_PROHIBITED_PORT}]\n"
        f"udp_filtered = [{t.UDP_DROPPED_PORT}]\n"
    )
    lab.exec(lab.client_ns, "true")  # the file lives on the shared filesystem
    code, report = lab.probe_json("audit", str(audit), "--no-ping")
    assert code == 1  # the silent reader is expected open and is not
    (host,) = report["audit"]["hosts"]
    verdicts = {(e["port"], e["protocol"]): e["verdict"] for e in host["expectations"]}
    assert verdicts == {
        (t.NTP_PORT, "udp"): "pass",
        (t.SIP_PORT, "udp"): "pass",
        (t.UDP_SILENT_PORT, "udp"): "fail",
        (t.UDP_CLOSED_PORT, "udp"): "pass",
        (t.UDP_PROHIBITED_PORT, "udp"): "pass",
        (t.UDP_DROPPED_PORT, "udp"): "pass",
    }
