"""Port scans summarised (issue 17, item 6): one client, many ports, half-open / refused /
unanswered; per-port findings only with -v."""

from __future__ import annotations

import io
import socket

from rich.console import Console

from probe.capture import analyze as an
from probe.capture.packets import TcpSegment
from probe.capture.reader import CaptureInfo
from probe.output.json.analyze import analysis_to_dict
from probe.output.text.analyze import render_analysis
from probe.output.views import CaptureAnalysis

SCANNER, SERVER, CLIENT, OTHER = "198.18.0.66", "198.18.1.10", "198.18.0.2", "198.18.1.20"
SYN, SYN_ACK, RST, RST_ACK, ACK = 0x02, 0x12, 0x04, 0x14, 0x10
T0 = 1_700_000_000.0
OPEN = (22, 80, 443)
SILENT = (135, 139, 445, 593, 636, 873, 993)


def p(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, addr)


def seg(t: float, src: str, dst: str, sport: int, dport: int, flags: int, seq: int) -> TcpSegment:
    return TcpSegment(T0 + t, p(src), p(dst), sport, dport, flags, seq, 0, 64, 1024, b"")


def nmap_syn_scan(ports: range) -> list[TcpSegment]:
    """What nmap -sS leaves: SYN; SYN/ACK then the scanner's RST (open), RST/ACK (closed),
    nothing (filtered)."""
    out: list[TcpSegment] = []
    for i, port in enumerate(ports):
        t = i * 0.001
        out.append(seg(t, SCANNER, SERVER, 61000, port, SYN, 7000))
        if port in OPEN:
            out.append(seg(t + 0.0002, SERVER, SCANNER, port, 61000, SYN_ACK, 1))
            out.append(seg(t + 0.0003, SCANNER, SERVER, 61000, port, RST, 7001))
        elif port not in SILENT:
            out.append(seg(t + 0.0002, SERVER, SCANNER, port, 61000, RST_ACK, 0))
    return out


def a_real_connection(t: float) -> list[TcpSegment]:
    return [
        seg(t, CLIENT, OTHER, 40000, 443, SYN, 1000),
        seg(t + 0.001, OTHER, CLIENT, 443, 40000, SYN_ACK, 5000),
        seg(t + 0.002, CLIENT, OTHER, 40000, 443, ACK, 1001),
    ]


def analysed() -> an.Analysis:
    records = [*nmap_syn_scan(range(1, 1001)), *a_real_connection(0.5)]
    records.append(seg(120, CLIENT, OTHER, 1, 9, ACK, 1))  # the capture goes on: all expired
    return an.analyze(sorted(records, key=lambda r: r.ts))


def test_a_syn_scan_is_one_summary() -> None:
    result = analysed()
    (scan,) = result.scans
    assert (scan.scanner, scan.targets, scan.ports_tried) == (SCANNER, (SERVER,), 1000)
    assert scan.open == tuple(f"{SERVER}:{port}" for port in OPEN)
    assert (scan.closed, scan.filtered) == (1000 - 3 - 7, 7)
    assert result.summary[0] == (
        f"{SCANNER} scanned 1 host ({SERVER}) with SYNs: 1000 ports tried, 3 open, 990 closed, "
        f"7 filtered (open: {SERVER}:22, {SERVER}:80, {SERVER}:443). Per-port findings: -v or "
        "--json."
    )
    # The rest of the capture is judged on its own: the real connection completed.
    assert result.summary[1] == (
        "The one connection attempt completed its handshake: no problem outside the scan."
    )


def _info() -> CaptureInfo:
    return CaptureInfo(
        path="scan.pcap", format="pcap", link_types=(1,), packets=2000, tcp=2000,
        icmp_errors=0, skipped=0, first_ts=T0, last_ts=T0 + 120,
    )  # fmt: skip


def test_text_shows_the_scan_and_per_port_findings_only_with_verbose() -> None:
    view = CaptureAnalysis(_info(), analysed())
    out = io.StringIO()
    render_analysis(view, Console(file=out, width=200))
    text = out.getvalue()
    assert f"Scan: {SCANNER} scanned 1 host" in text
    assert "syn-refused" not in text and text.count("\n") < 30
    verbose = io.StringIO()
    render_analysis(view, Console(file=verbose, width=200), verbose=True)
    assert f"syn-refused ({SERVER}:1)" in verbose.getvalue()


def test_json_has_the_scan_and_every_finding() -> None:
    doc = analysis_to_dict(CaptureAnalysis(_info(), analysed()))
    (scan,) = doc["scans"]
    assert (scan["scanner"], scan["ports_tried"], scan["closed"], scan["filtered"]) == (
        SCANNER,
        1000,
        990,
        7,
    )
    assert len(doc["findings"]) == 1001


def test_a_few_ports_or_real_connections_are_no_scan() -> None:
    few = an.analyze(sorted(nmap_syn_scan(range(1, 20)), key=lambda r: r.ts))
    assert few.scans == ()
    busy: list[TcpSegment] = []
    for i, port in enumerate(range(8000, 8030)):  # one client using 30 services for real
        busy += [
            seg(i, CLIENT, SERVER, 40000 + i, port, SYN, 1000),
            seg(i + 0.001, SERVER, CLIENT, port, 40000 + i, SYN_ACK, 5000),
            seg(i + 0.002, CLIENT, SERVER, 40000 + i, port, ACK, 1001),
        ]
    assert an.analyze(busy).scans == ()


def test_a_connect_scan_lists_its_completed_ports_as_open() -> None:
    records = nmap_syn_scan(range(1, 101))
    records += [  # one port completed (nmap -sT, or the scanner's own real connection)
        seg(1, SCANNER, SERVER, 62000, 8443, SYN, 1),
        seg(1.001, SERVER, SCANNER, 8443, 62000, SYN_ACK, 1),
        seg(1.002, SCANNER, SERVER, 62000, 8443, ACK, 2),
    ]
    (scan,) = an.analyze(sorted(records, key=lambda r: r.ts)).scans
    assert scan.open == (f"{SERVER}:22", f"{SERVER}:80", f"{SERVER}:8443")
    assert (SERVER, 8443) not in scan.members  # its ok finding stays on show
