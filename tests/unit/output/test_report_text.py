"""The human output: the checklist, the ports table, findings, verdict, and plain-text safety."""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

from probe.model import (
    AppResult,
    Finding,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
)
from probe.output.text.check import render_check

SKIP = "\N{EN DASH}"  # the mark of a skipped step

# Reports and targets come from the shared ``mk`` factories (tests/conftest.py): mk.report()
# holds mk.camera(), the camera behind a NAT router with every step measured.


def plain_console() -> Console:
    return Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)


def render(rep: Report, *, verbose: bool = False, console: Console | None = None) -> str:
    console = console or plain_console()
    render_check(rep, console, verbose=verbose)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def line_with(text: str, *words: str) -> str:
    """The one line holding every word, in order (fails if none or several)."""
    pattern = re.compile(".*".join(re.escape(w) for w in words))
    found = [line for line in text.splitlines() if pattern.search(line)]
    assert len(found) == 1, f"{words!r} in {len(found)} lines of:\n{text}"
    return found[0]


def port_row(text: str, port: int) -> list[str]:
    """The cells of the ports table's row for ``port`` (fails if none or several)."""
    rows = [line.split() for line in text.splitlines() if line.startswith(f"    {port} ")]
    assert len(rows) == 1, f"port {port} in {len(rows)} rows of:\n{text}"
    return rows[0]


# --------------------------------------------------------------------------- the checklist


def test_target_line_names_input_and_address(mk: Any) -> None:
    assert render(mk.report()).splitlines()[0] == "camera.example → 198.18.2.1"


def test_literal_target_line_is_just_the_address(mk: Any) -> None:
    assert render(mk.report(mk.literal())).splitlines()[0] == "198.18.2.1"


def test_each_step_has_its_mark_and_detail(mk: Any) -> None:
    out = render(mk.report())
    assert line_with(out, "✔ DNS", "198.18.2.1 via 192.0.2.53 in 3.10 ms", "CNAME cam.example.net")
    assert line_with(out, "✔ Route", "eth0, source 192.0.2.10, gateway 192.0.2.1")
    assert line_with(out, "✔ Ping", "3/3 replies, rtt 0.10/0.20/0.30 ms, TTL 64")
    assert line_with(out, "✘ Ports", "1 open, 1 refused")


def test_all_open_ports_pass_the_ports_step(mk: Any) -> None:
    out = render(mk.report(mk.camera(ports=(mk.open_port(),), findings=())))
    assert line_with(out, "✔ Ports", "1 open")


def test_dns_failure_skips_the_rest(mk: Any) -> None:
    out = render(mk.report(mk.nxdomain()))
    assert out.splitlines()[0] == "nope.example (no address)"
    assert line_with(out, "✘ DNS", "NXDOMAIN", "192.0.2.53")
    for step in ("Route", "Ping", "Ports"):
        assert line_with(out, f"{SKIP} {step}", "skipped (DNS failed)")


def test_no_route_fails_the_route_step_and_skips_the_rest(mk: Any) -> None:
    route = RouteResult(
        status=RouteStatus.NO_ROUTE, route_type="unreachable", detail="Network is unreachable"
    )
    out = render(mk.report(mk.literal("203.0.113.9", route=route, ping=None)))
    assert line_with(out, "✘ Route", "no route to 203.0.113.9", "unreachable", "Network is")
    assert line_with(out, f"{SKIP} Ping", "skipped (no route)")
    assert line_with(out, f"{SKIP} Ports", "skipped (no route)")


def test_ping_skipped_and_literal_dns_are_skipped_steps(mk: Any) -> None:
    out = render(mk.report(mk.literal(ping=mk.ping("skipped"))))
    assert line_with(out, f"{SKIP} Ping", "skipped (--no-ping)")
    assert line_with(out, f"{SKIP} DNS", "address literal")
    assert line_with(out, f"{SKIP} Ports", "none probed")


def test_ping_without_reply_fails(mk: Any) -> None:
    out = render(mk.report(mk.camera(ping=mk.ping("no_reply"))))
    assert line_with(out, "✘ Ping", "0/3 replies")


def test_duplicate_arp_answers_fail(mk: Any) -> None:
    arp = mk.arp("02:00:00:00:00:01", "02:00:00:00:00:02")
    out = render(mk.report(mk.literal(arp=arp)))
    assert line_with(out, "✘ ARP", "2 MAC addresses", "02:00:00:00:00:01", "02:00:00:00:00:02")


# --------------------------------------------------------------------------- the ports table


def test_port_rows(mk: Any) -> None:
    out = render(mk.report())
    assert line_with(out, "PORT", "SERVICE", "STATE", "ANSWERED BY", "TTL", "RTT", "TRIES")
    assert port_row(out, 80)[:9] == [
        *("80", "http", "open", "syn-ack", "198.18.2.1", "63", "0.40", "ms", "1"),
    ]
    assert port_row(out, 6036) == [
        *("6036", "-", "refused", "reset", "198.18.2.1", "64", "0.20", "ms", "1"),
    ]


def test_tcp_options_only_on_open_rows(mk: Any) -> None:
    out = render(mk.report())
    assert " ".join(port_row(out, 80)[9:]) == "mss 1460 ws 7 sack ts win 64240"
    assert len(port_row(out, 6036)) == 9


def test_app_banner_under_its_port(mk: Any) -> None:
    app = AppResult(status="answered", protocol="ssh", banner="SSH-2.0-OpenSSH_9.6")
    out = render(
        mk.report(mk.camera(ports=(mk.open_port(22, service="ssh", app=app),), findings=()))
    )
    lines = out.splitlines()
    row = lines.index(next(line for line in lines if line.startswith("    22 ")))
    assert lines[row + 1].strip() == '└ ssh answered: "SSH-2.0-OpenSSH_9.6"'


def test_big_scan_hides_filtered_ports(mk: Any) -> None:
    ports = tuple(
        mk.open_port(p) if p in (22, 443) else mk.port(p, "filtered") for p in range(1, 65536)
    )
    out = render(mk.report(mk.literal(ports=ports)))
    assert line_with(out, "65533 filtered ports not shown (no-response)")
    assert port_row(out, 22)[2] == "open"
    assert port_row(out, 443)[2] == "open"
    assert not any(line.startswith("    1 ") for line in out.splitlines())
    assert len(out.splitlines()) < 20


def test_big_scan_verbose_lists_every_port(mk: Any) -> None:
    ports = tuple(mk.open_port(p) if p == 22 else mk.port(p, "filtered") for p in range(1, 101))
    out = render(mk.report(mk.literal(ports=ports)), verbose=True)
    assert "not shown" not in out
    assert port_row(out, 1)[2:4] == ["filtered", "no-response"]
    assert len(re.findall(r"\bfiltered\s+no-response\b", out)) == 99


def test_small_scan_lists_filtered_ports(mk: Any) -> None:
    out = render(mk.report(mk.literal(ports=(mk.open_port(22), mk.port(23, "filtered")))))
    assert "not shown" not in out
    assert port_row(out, 23)[2:4] == ["filtered", "no-response"]


def test_big_scan_also_summarises_mass_refusals(mk: Any) -> None:
    ports = tuple(mk.open_port(p) if p == 22 else mk.port(p, "refused") for p in range(1, 1025))
    out = render(mk.report(mk.literal(ports=ports)))
    assert line_with(out, "1023 refused ports not shown (reset)")


# --------------------------------------------------------------------------- findings and verdict


def test_finding_code_summary_evidence_next_steps(mk: Any) -> None:
    out = render(mk.report())
    assert line_with(out, "Findings")
    assert line_with(out, "✘ port-refused-by-middlebox (port 6036): Port 6036 is refused")
    lines = out.splitlines()
    first = lines.index(line_with(out, "evidence:", "one hop closer"))
    assert lines[first + 1].strip() == "the RST carries IP ID 0"
    assert line_with(out, "next:", "check the port forwarding for 6036")


def test_finding_without_ports_and_other_severities(mk: Any) -> None:
    info = Finding(code="icmp-blocked", severity=Severity.INFO, summary="Ping is filtered.")
    warning = Finding(code="partial-reachability", severity=Severity.WARNING, summary="Some.")
    out = render(mk.report(mk.camera(findings=(warning, info))))
    assert line_with(out, "! partial-reachability: Some.")
    assert line_with(out, "i icmp-blocked: Ping is filtered.")


def test_finding_port_list_is_compressed_to_ranges(mk: Any) -> None:
    ports = tuple(p for p in range(1, 65536) if p not in (22, 443))
    f = Finding(code="port-filtered", severity=Severity.WARNING, summary="No answer.", ports=ports)
    out = render(mk.report(mk.camera(findings=(f,))))
    assert line_with(out, "port-filtered (ports 1-21, 23-442, 444-65535): No answer.")


def test_verdict_is_the_first_error_finding(mk: Any) -> None:
    warning = Finding(code="icmp-blocked", severity=Severity.WARNING, summary="Ping filtered.")
    out = render(mk.report(mk.camera(findings=(warning, mk.middlebox_finding()))))
    assert out.splitlines()[-1] == (
        "  Verdict: Port 6036 is refused by the NAT router, not by the camera; 80 works."
    )


def test_verdict_when_everything_is_open(mk: Any) -> None:
    out = render(mk.report(mk.camera(ports=(mk.open_port(80), mk.open_port(443)), findings=())))
    assert out.splitlines()[-1] == "  Verdict: All probed ports are open"


def test_verdict_never_claims_open_when_a_port_is_not(mk: Any) -> None:
    warning = Finding(code="port-filtered", severity=Severity.WARNING, summary="23 is dropped.")
    out = render(
        mk.report(mk.camera(ports=(mk.open_port(), mk.port(23, "filtered")), findings=(warning,)))
    )
    assert out.splitlines()[-1] == "  Verdict: 23 is dropped."


# --------------------------------------------------------------------------- the report around


def test_several_targets_in_order_with_notes_once(mk: Any) -> None:
    rep = mk.report(mk.camera(), mk.nxdomain(), mk.literal(), notes=("Raw sockets unavailable.",))
    out = render(rep)
    assert out.count("Raw sockets unavailable.") == 1
    assert out.splitlines()[0] == "Note: Raw sockets unavailable."
    heads = [
        out.index("camera.example → 198.18.2.1"),
        out.index("nope.example (no address)"),
        out.index("\n198.18.2.1\n"),
    ]
    assert heads == sorted(heads)
    assert out.count("Verdict:") == 3


def test_connect_mode_is_said_on_the_ports_line(mk: Any) -> None:
    out = render(mk.report(mode="connect"))
    assert line_with(out, "✘ Ports", "(connect() fallback)")


def test_interrupted(mk: Any) -> None:
    assert render(mk.report(interrupted=True)).splitlines()[-1] == "Interrupted: partial results"
    assert "Interrupted" not in render(mk.report())


def test_interrupted_before_any_target() -> None:
    assert render(Report(targets=(), interrupted=True)) == "Interrupted: partial results\n"


# --------------------------------------------------------------------------- terminal safety


def test_no_escape_codes_when_not_a_terminal(mk: Any) -> None:
    out = render(mk.report(mk.camera(), mk.nxdomain(), interrupted=True))
    assert "\x1b[" not in out


def test_colour_on_a_terminal(mk: Any) -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=True, color_system="standard")
    out = render(mk.report(), console=console)
    assert "\x1b[32m✔\x1b[0m DNS" in out  # green mark, unstyled step name
    assert "\x1b[31mrefused\x1b[0m" in out  # red state


def test_no_escape_codes_with_no_color_even_on_a_terminal(mk: Any) -> None:
    console = Console(
        file=io.StringIO(), width=120, force_terminal=True, color_system="standard", no_color=True
    )
    assert "\x1b[" not in render(mk.report(), console=console)


def test_network_text_cannot_drive_the_terminal(mk: Any) -> None:
    app = AppResult(status="answered", protocol="http", banner="\x1b[2J\x1b]0;pwned\x07hi\r\n")
    out = render(mk.report(mk.camera(ports=(mk.open_port(app=app),), findings=())))
    assert "\x1b" not in out
    assert "\x07" not in out
    assert '"\\x1b[2J\\x1b]0;pwned\\x07hi\\r\\n"' in out


def test_network_text_cannot_reorder_the_line(mk: Any) -> None:
    # A right-to-left override in a banner would make the rest of the line read backwards.
    app = AppResult(status="answered", protocol="http", banner="ok\u202egnp.exe")
    out = render(mk.report(mk.camera(ports=(mk.open_port(app=app),), findings=())))
    assert "\u202e" not in out and '"ok\\u202egnp.exe"' in out


def test_ascii_fallback_when_the_console_is_not_utf8(mk: Any) -> None:
    class AsciiFile(io.StringIO):
        encoding = "ascii"

    console = Console(file=AsciiFile(), width=120, force_terminal=False, color_system=None)
    out = render(mk.report(mk.camera(input="k\u00f6ln.example")), console=console)
    assert out.isascii()
    assert out.splitlines()[0] == "k\\xf6ln.example -> 198.18.2.1"
    assert line_with(out, "+ DNS", "198.18.2.1")
    assert line_with(out, "x Ports", "1 open, 1 refused")


def test_long_lines_wrap_under_themselves_without_trailing_spaces(mk: Any) -> None:
    # Different lengths put the break at different words: some would leave a space behind.
    long = tuple(("the SYN/ACK came back " * 12)[n:].strip() for n in range(12))
    f = mk.middlebox_finding(evidence=long)
    out = render(mk.report(mk.camera(findings=(f,))))
    lines = out.splitlines()
    assert all(not line.endswith(" ") for line in lines)
    assert all(len(line) <= 120 for line in lines)
    first = lines.index(line_with(out, "evidence:"))
    assert re.match(r" {16}\S", lines[first + 1])  # under the evidence, not under its label


# --------------------------------------------------------------------------- issue 12, item 9


def default_profile_host(mk: Any) -> Report:
    """A healthy host offering one service, checked with the default profile."""
    others = [mk.port(p, "refused", asked=False) for p in (21, 22, 23, 25, 443)]
    others.append(mk.port(3389, "filtered", asked=False))
    return mk.report(mk.camera(ports=(mk.open_port(80), *others), findings=()))


def test_the_default_profiles_closed_ports_are_one_line(mk: Any) -> None:
    out = render(default_profile_host(mk))
    assert line_with(out, "✔ Ports", "1 open; 6 other ports of the profile not open")
    assert port_row(out, 80)[:3] == ["80", "http", "open"]
    assert not any(line.startswith("    22 ") for line in out.splitlines())
    assert "    5 other ports of the profile closed: RST from the host" in out.splitlines()
    assert "    1 other port of the profile filtered: no answer" in out.splitlines()
    assert "✘" not in out
    assert out.splitlines()[-1] == (
        "  Verdict: Port 80 is open; the profile's 6 other ports are not open"
    )


def test_verbose_lists_the_default_profiles_closed_ports(mk: Any) -> None:
    out = render(default_profile_host(mk), verbose=True)
    assert port_row(out, 22)[:3] == ["22", "-", "refused"]
    assert "other ports of the profile closed:" not in out


def test_a_hosts_file_answer_on_the_dns_line(mk: Any) -> None:
    from probe.model import DnsResult, DnsStatus, SystemAnswer, SystemSource, SystemStatus

    mine = SystemAnswer(SystemStatus.OK, (mk.host,), SystemSource.HOSTS, hosts_file="/etc/hosts")
    dns = DnsResult(DnsStatus.NXDOMAIN, nameservers=("192.0.2.53",), elapsed_ms=2.0, system=mine)
    out = render(mk.report(mk.camera(dns=dns, findings=())))
    assert line_with(
        out,
        "✔ DNS",
        "198.18.2.1 from the hosts file; DNS servers: NXDOMAIN: the name does not exist "
        "(asked 192.0.2.53, in 2.00 ms)",
    )
    assert line_with(out, "✔ Route")  # the walk went on: the client has an address


def test_dns_refused_on_the_dns_line(mk: Any) -> None:
    from probe.model import DnsResult, DnsStatus

    dns = DnsResult(DnsStatus.REFUSED, nameservers=("192.0.2.53",), answered_by="192.0.2.53")
    out = render(mk.report(mk.camera(dns=dns, address=None, ports=(), route=None, ping=None)))
    assert line_with(out, "✘ DNS", "REFUSED by 192.0.2.53 in 0.00 ms")


def test_the_compact_line_tells_a_device_in_front_from_the_host(mk: Any) -> None:
    # the camera's NAT router answers RST for the ports it does not forward, one hop closer
    others = [mk.port(p, "refused", 64, asked=False) for p in (21, 22, 23)]
    out = render(mk.report(mk.camera(ports=(mk.open_port(80), *others), findings=())))
    line = "    3 other ports of the profile closed: RST from a device in front of the host"
    assert line in out.splitlines()
    connect = [mk.connect_port(p, "refused", asked=False) for p in (21, 22)]
    out = render(mk.report(mk.camera(ports=(mk.connect_port(80), *connect), findings=())))
    assert "    2 other ports of the profile closed: connection refused" in out.splitlines()
