"""The --json format: the contract's keys, the optional parts only when they apply, exact JSON."""

from __future__ import annotations

import json
from typing import Any

from probe.model import (
    AppResult,
    ArpResult,
    DnsResult,
    DnsStatus,
    Finding,
    PingResult,
    PingStatus,
    PortResult,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    TargetReport,
    TcpOptions,
)
from probe.report.json import render_json, report_to_dict

# --------------------------------------------------------------------------- factories


def open_port(port: int = 80, **kw: Any) -> PortResult:
    fields: dict[str, Any] = {
        "reason": "syn-ack",
        "tries": 1,
        "service": "http",
        "responder": "203.0.113.7",
        "ttl": 60,
        "rtt_ms": 12.1,
        "window": 64240,
        "tcp_options": TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=True),
    }
    return PortResult(port=port, state=PortState.OPEN, **(fields | kw))


def refused_port(port: int = 6036, **kw: Any) -> PortResult:
    fields: dict[str, Any] = {
        "reason": "reset",
        "tries": 1,
        "responder": "203.0.113.7",
        "ttl": 61,
        "rtt_ms": 11.0,
    }
    return PortResult(port=port, state=PortState.REFUSED, **(fields | kw))


def filtered_port(port: int) -> PortResult:
    return PortResult(port=port, state=PortState.FILTERED, reason="no-response", tries=3)


def finding(code: str = "port-refused-by-middlebox", **kw: Any) -> Finding:
    fields: dict[str, Any] = {
        "severity": Severity.ERROR,
        "summary": "Port 6036 is refused by the NAT router, not by the camera.",
        "ports": (6036,),
        "evidence": ("SYN/ACK on 80 with TTL 60; RST on 6036 with TTL 61: one hop closer",),
        "next_steps": ("check the port forwarding for 6036 on the NAT device",),
    }
    return Finding(code=code, **(fields | kw))


def target(**kw: Any) -> TargetReport:
    fields: dict[str, Any] = {
        "input": "camera.example",
        "address": "203.0.113.7",
        "dns": DnsResult(
            status=DnsStatus.OK,
            addresses=("203.0.113.7",),
            cname_chain=("cam.example.net",),
            nameservers=("192.0.2.53",),
            answered_by="192.0.2.53",
            elapsed_ms=3.14159,
        ),
        "route": RouteResult(
            status=RouteStatus.OK, interface="eth0", source="192.0.2.10", gateway="192.0.2.1"
        ),
        "ping": PingResult(
            status=PingStatus.OK,
            sent=3,
            received=3,
            rtt_min_ms=11.5,
            rtt_avg_ms=12.0004,
            rtt_max_ms=12.9,
            ttl=60,
        ),
        "ports": (open_port(), refused_port()),
        "findings": (finding(),),
    }
    return TargetReport(**(fields | kw))


def nxdomain_target() -> TargetReport:
    return TargetReport(
        input="nope.example",
        address=None,
        dns=DnsResult(status=DnsStatus.NXDOMAIN, nameservers=("192.0.2.53",), elapsed_ms=8.0),
        findings=(finding("dns-nxdomain", ports=(), summary="The name does not exist."),),
    )


def report(*targets: TargetReport, **kw: Any) -> Report:
    return Report(targets=targets or (target(),), **kw)


def first_target(rep: Report) -> dict[str, Any]:
    data: dict[str, Any] = report_to_dict(rep)["targets"][0]
    return data


# --------------------------------------------------------------------------- structure


def test_top_level_keys_and_values() -> None:
    data = report_to_dict(report(mode="connect", notes=("connect() fallback",), interrupted=True))
    assert data["version"] == 1
    assert isinstance(data["targets"], list)
    assert len(data["targets"]) == 1
    assert data["mode"] == "connect"
    assert data["notes"] == ["connect() fallback"]
    assert data["interrupted"] is True
    assert set(data) == {"version", "targets", "mode", "notes", "interrupted"}


def test_target_keys_follow_the_contract() -> None:
    data = first_target(report())
    assert list(data) == ["input", "address", "dns", "route", "ping", "ports", "findings"]
    assert data["input"] == "camera.example"
    assert data["address"] == "203.0.113.7"


def test_dns_section() -> None:
    dns = first_target(report())["dns"]
    assert dns == {
        "status": "ok",
        "addresses": ["203.0.113.7"],
        "cname_chain": ["cam.example.net"],
        "nameservers": ["192.0.2.53"],
        "elapsed_ms": 3.142,
        "answered_by": "192.0.2.53",
    }


def test_route_section_ok_and_no_route() -> None:
    assert first_target(report())["route"] == {
        "status": "ok",
        "interface": "eth0",
        "source": "192.0.2.10",
        "gateway": "192.0.2.1",
    }
    no_route = RouteResult(
        status=RouteStatus.NO_ROUTE, route_type="unreachable", detail="Network is unreachable"
    )
    route = first_target(report(target(route=no_route, ping=None, ports=())))["route"]
    assert route == {
        "status": "no_route",
        "interface": None,
        "source": None,
        "gateway": None,
        "route_type": "unreachable",
        "detail": "Network is unreachable",
    }


def test_ping_section_with_replies() -> None:
    assert first_target(report())["ping"] == {
        "status": "ok",
        "sent": 3,
        "received": 3,
        "rtt_ms": {"min": 11.5, "avg": 12.0, "max": 12.9},
        "ttl": 60,
    }


def test_ping_without_reply_has_null_rtts() -> None:
    ping = PingResult(status=PingStatus.NO_REPLY, sent=3, received=0)
    data = first_target(report(target(ping=ping)))["ping"]
    assert data["status"] == "no_reply"
    assert data["rtt_ms"] == {"min": None, "avg": None, "max": None}
    assert data["ttl"] is None


def test_ping_skipped_is_a_status_not_a_missing_step() -> None:
    data = first_target(report(target(ping=PingResult(status=PingStatus.SKIPPED))))
    assert data["ping"]["status"] == "skipped"


def test_arp_only_when_measured() -> None:
    assert "arp" not in first_target(report())
    macs = ("02:00:00:00:00:01", "02:00:00:00:00:02")
    data = first_target(report(target(arp=ArpResult(macs=macs))))
    assert data["arp"] == {"macs": list(macs)}
    assert list(data).index("arp") == list(data).index("ping") + 1


def test_open_port_has_window_and_tcp_options() -> None:
    port = first_target(report())["ports"][0]
    assert port == {
        "port": 80,
        "protocol": "tcp",
        "state": "open",
        "reason": "syn-ack",
        "tries": 1,
        "responder": "203.0.113.7",
        "ttl": 60,
        "rtt_ms": 12.1,
        "service": "http",
        "window": 64240,
        "tcp_options": {"mss": 1460, "wscale": 7, "sack_permitted": True, "timestamps": True},
    }


def test_window_and_tcp_options_only_for_open_ports() -> None:
    # Even if an adapter recorded a window on the RST, the contract keeps it to open ports.
    refused = refused_port(window=0, tcp_options=TcpOptions())
    ports = first_target(report(target(ports=(refused, filtered_port(23)))))["ports"]
    for port in ports:
        assert "window" not in port
        assert "tcp_options" not in port
    assert [p["state"] for p in ports] == ["refused", "filtered"]


def test_open_port_without_options_seen_has_neither() -> None:
    port = first_target(report(target(ports=(open_port(window=None, tcp_options=None),))))
    assert "window" not in port["ports"][0]
    assert "tcp_options" not in port["ports"][0]


def test_app_only_when_present() -> None:
    assert all("app" not in p for p in first_target(report())["ports"])
    app = AppResult(status="answered", protocol="ssh", banner="SSH-2.0-OpenSSH_9.6")
    port = first_target(report(target(ports=(open_port(22, app=app),))))["ports"][0]
    assert port["app"] == {"status": "answered", "protocol": "ssh", "banner": "SSH-2.0-OpenSSH_9.6"}


def test_filtered_port_has_nulls_for_what_never_came_back() -> None:
    port = first_target(report(target(ports=(filtered_port(23),))))["ports"][0]
    assert port["responder"] is None
    assert port["ttl"] is None
    assert port["rtt_ms"] is None
    assert port["service"] is None
    assert port["tries"] == 3


def test_rtt_rounded_to_three_decimals() -> None:
    port = first_target(report(target(ports=(open_port(rtt_ms=0.123456789),))))["ports"][0]
    assert port["rtt_ms"] == 0.123


def test_findings_section() -> None:
    assert first_target(report())["findings"] == [
        {
            "code": "port-refused-by-middlebox",
            "severity": "error",
            "ports": [6036],
            "summary": "Port 6036 is refused by the NAT router, not by the camera.",
            "evidence": ["SYN/ACK on 80 with TTL 60; RST on 6036 with TTL 61: one hop closer"],
            "next_steps": ["check the port forwarding for 6036 on the NAT device"],
        }
    ]


def test_nothing_probed_after_nxdomain() -> None:
    data = first_target(report(nxdomain_target()))
    assert data["address"] is None
    assert data["dns"]["status"] == "nxdomain"
    assert data["route"] is None
    assert data["ping"] is None
    assert data["ports"] == []
    assert data["findings"][0]["ports"] == []


def test_enums_are_plain_strings() -> None:
    data = first_target(report())
    words = [
        data["dns"]["status"],
        data["route"]["status"],
        data["ping"]["status"],
        data["ports"][0]["state"],
        data["findings"][0]["severity"],
    ]
    assert all(type(word) is str for word in words)


def test_several_targets_keep_their_order() -> None:
    data = report_to_dict(report(target(), nxdomain_target()))
    assert [t["input"] for t in data["targets"]] == ["camera.example", "nope.example"]


# --------------------------------------------------------------------------- the text


def test_render_json_roundtrips_and_ends_with_newline() -> None:
    rep = report(target(), nxdomain_target())
    text = render_json(rep)
    assert text.endswith("}\n")
    assert json.loads(text) == report_to_dict(rep)


def test_render_json_is_indented_by_two() -> None:
    lines = render_json(report()).splitlines()
    assert lines[0] == "{"
    assert lines[1] == '  "version": 1,'


def test_render_json_matches_the_standard_library_exactly() -> None:
    # The fast writer must be byte-for-byte json.dumps(indent=2): escapes, floats, nesting.
    app = AppResult(
        status="error",
        protocol="http",
        banner='caf\u00e9 \u2713 "quoted" \\ \x1b[2J\r\n\x00',
        detail="reset after 0.5 s",
    )
    rep = report(
        target(
            input="k\u00f6ln.example",
            ports=(open_port(8080, app=app, rtt_ms=1e20), refused_port(rtt_ms=1234.5678)),
            arp=ArpResult(macs=()),
        ),
        nxdomain_target(),
        notes=("tab\there",),
    )
    expected = json.dumps(report_to_dict(rep), indent=2) + "\n"
    assert render_json(rep) == expected


def test_a_big_scan_is_written_exactly_as_the_standard_library_writes_it() -> None:
    # More ports than one write chunk, a finding listing them all, mixed shapes in between.
    ports = tuple(
        open_port(n) if n % 500 == 0 else refused_port(n, rtt_ms=n / 7, ttl=None if n % 3 else 63)
        for n in range(1, 1300)
    )
    finding = Finding("port-refused", Severity.ERROR, tuple(p.port for p in ports), "s", ("e",))
    rep = report(target(ports=ports, findings=(finding,)))
    assert render_json(rep) == json.dumps(report_to_dict(rep), indent=2) + "\n"


def test_output_is_ascii_safe() -> None:
    rep = report(target(ports=(open_port(app=AppResult("answered", "http", "\u2713 ok")),)))
    text = render_json(rep)
    assert text.isascii()
    assert json.loads(text)["targets"][0]["ports"][0]["app"]["banner"] == "\u2713 ok"


def test_every_port_of_a_full_scan_is_written() -> None:
    ports = tuple(open_port(p) if p in (22, 443) else filtered_port(p) for p in range(1, 65536))
    data = json.loads(render_json(report(target(ports=ports))))
    written = data["targets"][0]["ports"]
    assert len(written) == 65535
    assert written[0]["port"] == 1
    assert written[-1]["port"] == 65535
    assert sum(p["state"] == "open" for p in written) == 2
    assert sum("tcp_options" in p for p in written) == 2


def test_streamed_output_is_the_standard_librarys_for_edge_shapes() -> None:
    import io

    from probe.report.json import write_json

    for rep in (report(), report(nxdomain_target()), report(target(ports=()), target())):
        buf = io.StringIO()
        write_json(rep, buf)
        assert buf.getvalue() == json.dumps(report_to_dict(rep), indent=2) + "\n"


def test_fast_port_text_is_the_general_writers() -> None:
    from probe.model import PortResult, PortState
    from probe.report.json import _dumps, _port, _port_text

    shapes = [
        PortResult(
            81, PortState.REFUSED, "reset", 1, responder="198.18.1.10", ttl=63, rtt_ms=0.1234
        ),
        PortResult(82, PortState.FILTERED, "no-response", 3),
        PortResult(
            8443,
            PortState.REJECTED,
            "admin-prohibited",
            2,
            service='we"ird\u00e9',
            responder="2001:2::1",
            ttl=64,
            rtt_ms=1e20,
        ),
        PortResult(80, PortState.OPEN, "syn-ack", 1, ttl=63, window=100),
    ]
    for p in shapes:
        assert _port_text(p, "      ") == _dumps(_port(p), "      ")


def test_app_tls_details_only_after_a_handshake() -> None:
    app = AppResult(
        status="answered",
        protocol="tls",
        detail="TLSv1.3, certificate web.example",
        tls_version="TLSv1.3",
        cert_subject="CN=web.example",
        cert_issuer="CN=Lab CA",
        cert_not_after="2030-01-01T00:00:00Z",
        cert_names=("web.example", "198.18.1.10"),
        cert_problems=("name mismatch",),
    )
    port = first_target(report(target(ports=(open_port(443, app=app),))))["ports"][0]
    assert port["app"]["tls"] == {
        "version": "TLSv1.3",
        "cert_subject": "CN=web.example",
        "cert_issuer": "CN=Lab CA",
        "cert_not_after": "2030-01-01T00:00:00Z",
        "cert_names": ["web.example", "198.18.1.10"],
        "cert_problems": ["name mismatch"],
    }
    failed = AppResult(status="error", protocol="tls", detail="TLS handshake failed: x")
    port = first_target(report(target(ports=(open_port(443, app=failed),))))["ports"][0]
    assert "tls" not in port["app"]
