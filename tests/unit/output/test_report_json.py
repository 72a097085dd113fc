"""The --json format: the contract's keys, the optional parts only when they apply, exact JSON."""

from __future__ import annotations

import io
import json
from typing import Any

from probe.model import (
    AppResult,
    ArpResult,
    Finding,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    TcpOptions,
)
from probe.output.base import FormatName
from probe.output.json.check import port_text, port_to_dict, report_to_dict, write_report
from probe.output.json.writer import dumps
from probe.output.registry import render

# Reports and targets come from the shared ``mk`` factories (tests/conftest.py): mk.report()
# holds mk.camera(), the camera behind a NAT router with every step measured.


def render_json(rep: Report) -> str:
    out = io.StringIO()
    render(rep, FormatName.JSON, out)
    return out.getvalue()


def first_target(rep: Report) -> dict[str, Any]:
    data: dict[str, Any] = report_to_dict(rep)["targets"][0]
    return data


# --------------------------------------------------------------------------- structure


def test_top_level_keys_and_values(mk: Any) -> None:
    data = report_to_dict(
        mk.report(mode="connect", notes=("connect() fallback",), interrupted=True)
    )
    assert data["version"] == 1
    assert isinstance(data["targets"], list)
    assert len(data["targets"]) == 1
    assert data["mode"] == "connect"
    assert data["notes"] == ["connect() fallback"]
    assert data["interrupted"] is True
    assert set(data) == {"version", "targets", "mode", "notes", "interrupted"}


def test_target_keys_follow_the_contract(mk: Any) -> None:
    data = first_target(mk.report())
    assert list(data) == ["input", "address", "dns", "route", "ping", "ports", "findings"]
    assert data["input"] == "camera.example"
    assert data["address"] == "198.18.2.1"


def test_dns_section(mk: Any) -> None:
    expected = {
        "status": "ok",
        "addresses": ["198.18.2.1"],
        "cname_chain": ["cam.example.net"],
        "nameservers": ["192.0.2.53"],
        "elapsed_ms": 3.1,
        "answered_by": "192.0.2.53",
    }
    assert first_target(mk.report())["dns"] == expected
    # The time is rounded to three decimals.
    dns = mk.dns(cname_chain=("cam.example.net",), answered_by="192.0.2.53", elapsed_ms=3.14159)
    assert first_target(mk.report(mk.camera(dns=dns)))["dns"] == expected | {"elapsed_ms": 3.142}


def test_route_section_ok_and_no_route(mk: Any) -> None:
    assert first_target(mk.report())["route"] == {
        "status": "ok",
        "interface": "eth0",
        "source": "192.0.2.10",
        "gateway": "192.0.2.1",
    }
    no_route = RouteResult(
        status=RouteStatus.NO_ROUTE, route_type="unreachable", detail="Network is unreachable"
    )
    route = first_target(mk.report(mk.camera(route=no_route, ping=None, ports=())))["route"]
    assert route == {
        "status": "no_route",
        "interface": None,
        "source": None,
        "gateway": None,
        "route_type": "unreachable",
        "detail": "Network is unreachable",
    }


def test_ping_section_with_replies(mk: Any) -> None:
    assert first_target(mk.report())["ping"] == {
        "status": "ok",
        "sent": 3,
        "received": 3,
        "rtt_ms": {"min": 0.1, "avg": 0.2, "max": 0.3},
        "ttl": 64,
    }
    # The times are rounded to three decimals.
    ping = mk.ping("ok", 60, rtt_min_ms=11.5, rtt_avg_ms=12.0004, rtt_max_ms=12.9)
    assert first_target(mk.report(mk.camera(ping=ping)))["ping"] == {
        "status": "ok",
        "sent": 3,
        "received": 3,
        "rtt_ms": {"min": 11.5, "avg": 12.0, "max": 12.9},
        "ttl": 60,
    }


def test_ping_without_reply_has_null_rtts(mk: Any) -> None:
    ping = mk.ping("no_reply")
    data = first_target(mk.report(mk.camera(ping=ping)))["ping"]
    assert data["status"] == "no_reply"
    assert data["rtt_ms"] == {"min": None, "avg": None, "max": None}
    assert data["ttl"] is None


def test_ping_skipped_is_a_status_not_a_missing_step(mk: Any) -> None:
    data = first_target(mk.report(mk.camera(ping=mk.ping("skipped"))))
    assert data["ping"]["status"] == "skipped"


def test_arp_only_when_measured(mk: Any) -> None:
    assert "arp" not in first_target(mk.report())
    macs = ("02:00:00:00:00:01", "02:00:00:00:00:02")
    data = first_target(mk.report(mk.camera(arp=mk.arp(*macs))))
    assert data["arp"] == {"macs": list(macs)}
    assert list(data).index("arp") == list(data).index("ping") + 1


def test_open_port_has_window_and_tcp_options(mk: Any) -> None:
    port = first_target(mk.report())["ports"][0]
    assert port == {
        "port": 80,
        "protocol": "tcp",
        "state": "open",
        "reason": "syn-ack",
        "tries": 1,
        "responder": "198.18.2.1",
        "ttl": 63,
        "rtt_ms": 0.4,
        "service": "http",
        "window": 64240,
        "tcp_options": {"mss": 1460, "wscale": 7, "sack_permitted": True, "timestamps": True},
    }


def test_window_and_tcp_options_only_for_open_ports(mk: Any) -> None:
    # Even if an adapter recorded a window on the RST, the contract keeps it to open ports.
    refused = mk.port(6036, "refused", 64, window=0, tcp_options=TcpOptions())
    ports = first_target(mk.report(mk.camera(ports=(mk.port(23, "filtered"), refused))))["ports"]
    for port in ports:
        assert "window" not in port
        assert "tcp_options" not in port
    assert [p["state"] for p in ports] == ["filtered", "refused"]


def test_open_port_without_options_seen_has_neither(mk: Any) -> None:
    bare = mk.open_port(window=None, tcp_options=None)
    port = first_target(mk.report(mk.camera(ports=(bare,))))
    assert "window" not in port["ports"][0]
    assert "tcp_options" not in port["ports"][0]


def test_app_only_when_present(mk: Any) -> None:
    assert all("app" not in p for p in first_target(mk.report())["ports"])
    app = AppResult(status="answered", protocol="ssh", banner="SSH-2.0-OpenSSH_9.6")
    port = first_target(mk.report(mk.camera(ports=(mk.open_port(22, app=app),))))["ports"][0]
    assert port["app"] == {"status": "answered", "protocol": "ssh", "banner": "SSH-2.0-OpenSSH_9.6"}


def test_filtered_port_has_nulls_for_what_never_came_back(mk: Any) -> None:
    port = first_target(mk.report(mk.camera(ports=(mk.port(23, "filtered"),))))["ports"][0]
    assert port["responder"] is None
    assert port["ttl"] is None
    assert port["rtt_ms"] is None
    assert port["service"] is None
    assert port["tries"] == 3


def test_rtt_rounded_to_three_decimals(mk: Any) -> None:
    ports = (mk.open_port(rtt_ms=0.123456789),)
    port = first_target(mk.report(mk.camera(ports=ports)))["ports"][0]
    assert port["rtt_ms"] == 0.123


def test_findings_section(mk: Any) -> None:
    assert first_target(mk.report())["findings"] == [
        {
            "code": "port-refused-by-middlebox",
            "severity": "error",
            "ports": [6036],
            "protocols": ["tcp"],
            "summary": "Port 6036 is refused by the NAT router, not by the camera; 80 works.",
            "evidence": [
                "SYN/ACK on 80 with TTL 63; RST on 6036 with TTL 64: one hop closer",
                "the RST carries IP ID 0",
            ],
            "next_steps": ["check the port forwarding for 6036 on the NAT device"],
        }
    ]


def test_nothing_probed_after_nxdomain(mk: Any) -> None:
    data = first_target(mk.report(mk.nxdomain()))
    assert data["address"] is None
    assert data["dns"]["status"] == "nxdomain"
    assert data["route"] is None
    assert data["ping"] is None
    assert data["ports"] == []
    assert data["findings"][0]["ports"] == []


def test_enums_are_plain_strings(mk: Any) -> None:
    data = first_target(mk.report())
    words = [
        data["dns"]["status"],
        data["route"]["status"],
        data["ping"]["status"],
        data["ports"][0]["state"],
        data["findings"][0]["severity"],
    ]
    assert all(type(word) is str for word in words)


def test_several_targets_keep_their_order(mk: Any) -> None:
    data = report_to_dict(mk.report(mk.camera(), mk.nxdomain()))
    assert [t["input"] for t in data["targets"]] == ["camera.example", "nope.example"]


# --------------------------------------------------------------------------- the text


def test_render_json_roundtrips_and_ends_with_newline(mk: Any) -> None:
    rep = mk.report(mk.camera(), mk.nxdomain())
    text = render_json(rep)
    assert text.endswith("}\n")
    assert json.loads(text) == report_to_dict(rep)


def test_render_json_is_indented_by_two(mk: Any) -> None:
    lines = render_json(mk.report()).splitlines()
    assert lines[0] == "{"
    assert lines[1] == '  "version": 1,'


def test_render_json_matches_the_standard_library_exactly(mk: Any) -> None:
    # The fast writer must be byte-for-byte json.dumps(indent=2): escapes, floats, nesting.
    app = AppResult(
        status="error",
        protocol="http",
        banner='caf\u00e9 \u2713 "quoted" \\ \x1b[2J\r\n\x00',
        detail="reset after 0.5 s",
    )
    rep = mk.report(
        mk.camera(
            input="k\u00f6ln.example",
            ports=(
                mk.open_port(8080, app=app, rtt_ms=1e20),
                mk.port(6036, "refused", 64, rtt_ms=1234.5678),
            ),
            arp=ArpResult(macs=()),
        ),
        mk.nxdomain(),
        notes=("tab\there",),
    )
    expected = json.dumps(report_to_dict(rep), indent=2) + "\n"
    assert render_json(rep) == expected


def test_a_big_scan_is_written_exactly_as_the_standard_library_writes_it(mk: Any) -> None:
    # More ports than one write chunk, a finding listing them all, mixed shapes in between.
    ports = tuple(
        mk.open_port(n)
        if n % 500 == 0
        else mk.port(n, "refused", None if n % 3 else 63, rtt_ms=n / 7)
        for n in range(1, 1300)
    )
    finding = Finding("port-refused", Severity.ERROR, tuple(p.port for p in ports), "s", ("e",))
    rep = mk.report(mk.camera(ports=ports, findings=(finding,)))
    assert render_json(rep) == json.dumps(report_to_dict(rep), indent=2) + "\n"


def test_output_is_ascii_safe(mk: Any) -> None:
    ports = (mk.open_port(app=AppResult("answered", "http", "\u2713 ok")),)
    rep = mk.report(mk.camera(ports=ports))
    text = render_json(rep)
    assert text.isascii()
    assert json.loads(text)["targets"][0]["ports"][0]["app"]["banner"] == "\u2713 ok"


def test_every_port_of_a_full_scan_is_written(mk: Any) -> None:
    ports = tuple(
        mk.open_port(p) if p in (22, 443) else mk.port(p, "filtered") for p in range(1, 65536)
    )
    data = json.loads(render_json(mk.report(mk.camera(ports=ports))))
    written = data["targets"][0]["ports"]
    assert len(written) == 65535
    assert written[0]["port"] == 1
    assert written[-1]["port"] == 65535
    assert sum(p["state"] == "open" for p in written) == 2
    assert sum("tcp_options" in p for p in written) == 2


def test_streamed_output_is_the_standard_librarys_for_edge_shapes(mk: Any) -> None:
    for rep in (
        mk.report(),
        mk.report(mk.nxdomain()),
        mk.report(mk.camera(ports=()), mk.camera()),
    ):
        buf = io.StringIO()
        write_report(rep, buf)
        assert buf.getvalue() == json.dumps(report_to_dict(rep), indent=2) + "\n"


def test_fast_port_text_is_the_general_writers() -> None:
    from probe.model import PortResult, PortState

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
        assert port_text(p, "      ") == dumps(port_to_dict(p), "      ")


def test_app_tls_details_only_after_a_handshake(mk: Any) -> None:
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
    port = first_target(mk.report(mk.camera(ports=(mk.open_port(443, app=app),))))["ports"][0]
    assert port["app"]["tls"] == {
        "version": "TLSv1.3",
        "cert_subject": "CN=web.example",
        "cert_issuer": "CN=Lab CA",
        "cert_not_after": "2030-01-01T00:00:00Z",
        "cert_names": ["web.example", "198.18.1.10"],
        "cert_problems": ["name mismatch"],
    }
    failed = AppResult(status="error", protocol="tls", detail="TLS handshake failed: x")
    ports = (mk.open_port(443, app=failed),)
    port = first_target(mk.report(mk.camera(ports=ports)))["ports"][0]
    assert "tls" not in port["app"]


def test_system_answer_and_ports_not_asked_for(mk: Any) -> None:
    from probe.model import SystemAnswer, SystemSource, SystemStatus

    mine = SystemAnswer(
        SystemStatus.OK,
        ("198.18.1.12",),
        SystemSource.HOSTS,
        hosts_file="/etc/hosts",
        hosts_lines=(4,),
        elapsed_ms=0.25,
    )
    closed = mk.port(22, "refused", asked=False)
    t = mk.camera(
        dns=mk.dns(addresses=("198.18.1.10",), system=mine),
        ports=(mk.open_port(80), closed, mk.port(23, "filtered")),
    )
    target = first_target(mk.report(t))
    assert target["dns"]["addresses"] == ["198.18.1.10"]  # what DNS said stays DNS's
    assert target["dns"]["system"] == {
        "status": "ok",
        "addresses": ["198.18.1.12"],
        "source": "hosts",
        "elapsed_ms": 0.25,
        "hosts_file": "/etc/hosts",
        "hosts_lines": [4],
    }
    asked = {p["port"]: p.get("asked") for p in target["ports"]}
    assert asked == {80: None, 22: False, 23: None}  # only ever written as false
    assert port_text(closed, "  ") == dumps(port_to_dict(closed), "  ")
    buf = io.StringIO()
    write_report(mk.report(t), buf)
    assert buf.getvalue() == json.dumps(report_to_dict(mk.report(t)), indent=2) + "\n"


def test_no_system_key_when_it_was_not_asked(mk: Any) -> None:
    assert "system" not in first_target(mk.report())["dns"]
