"""probe analyze on UDP flows: datagrams and ICMP errors as plain records -> flows -> outcomes
and findings; then the same through the packet decoder, the report formats and the command
line on small files written here."""

from __future__ import annotations

import io
import json
import re
import struct
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CliRun
from rich.console import Console
from test_analyze import CLIENT, ROUTER, SERVER, SERVER6, T0, _info, handshake, ip4, p

from probe.capture import analyze as an
from probe.capture.analyze.flows import MAX_FLOWS
from probe.capture.packets import IcmpRecord, TcpSegment, Tick, UdpDatagram, decode_ip
from probe.capture.writer import PcapWriter
from probe.model import Protocol
from probe.output.json.analyze import analysis_to_dict
from probe.output.text.analyze import render_analysis
from probe.output.views import CaptureAnalysis

CLIENT6, ROUTER6 = "2001:2::2", "2001:2::1"


# --------------------------------------------------------------------------- record builders


def req(
    t: float, port: int, *, size: int = 48, cport: int = 40000, client: str = CLIENT,
    server: str = SERVER, ttl: int = 64,
) -> UdpDatagram:  # fmt: skip
    return UdpDatagram(T0 + t, p(client), p(server), cport, port, ttl, size)


def rep(
    t: float, port: int, *, size: int = 48, cport: int = 40000, client: str = CLIENT,
    server: str = SERVER, ttl: int = 63,
) -> UdpDatagram:  # fmt: skip
    return UdpDatagram(T0 + t, p(server), p(client), port, cport, ttl, size)


def unreach(
    t: float, port: int, code: int = 3, *, responder: str = SERVER, ttl: int = 63,
    cport: int = 40000, client: str = CLIENT, server: str = SERVER, typ: int | None = None,
) -> IcmpRecord:  # fmt: skip
    v6 = ":" in server
    kind = typ if typ is not None else (1 if v6 else 3)
    return IcmpRecord(
        T0 + t, p(responder), ttl, v6, kind, code, p(client), p(server), cport, port, 0, -1, 17
    )


def later(t: float = 30.0) -> TcpSegment:
    """Some other packet, later: the capture does not end on the flow's last datagram."""
    return TcpSegment(T0 + t, p(CLIENT), p(SERVER), 1, 9, 0x10, 0, 0, 64, 0, b"")


def run(*records: TcpSegment | UdpDatagram | IcmpRecord | Tick) -> an.Analysis:
    return an.analyze(sorted(records, key=lambda r: r.ts))


def codes(result: an.Analysis) -> dict[str, str]:
    return {f.outcome.label: f.code for f in result.findings}


def only(result: an.Analysis, code: str) -> an.AnalyzeFinding:
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, [(f.code, f.outcome.label) for f in result.findings]
    return found[0]


# --------------------------------------------------------------------------- each status


def test_a_dns_query_and_its_answer_is_udp_ok() -> None:
    result = run(req(0, 53, size=30), rep(0.002, 53, size=46), later())
    f = only(result, "udp-ok")
    o = f.outcome
    assert (o.label, o.count, o.datagrams, o.replies, o.ttl, o.service) == (
        f"{SERVER}:53/udp", 1, 1, 1, 63, "DNS"
    )  # fmt: skip
    assert f.summary == f"{SERVER} answers on UDP port 53 (DNS): requests and replies both ways."
    assert "1 datagram of 30 bytes from 198.18.0.2 to 198.18.1.10:53/udp (DNS), " in f.evidence[0]
    assert "1 reply with TTL 63 (≈ 1 hop)" in f.evidence[0]
    assert not result.problem and result.flows == 1 and result.attempts == 0
    assert an.exit_status(result) == 0
    assert result.summary == (
        "The one UDP flow was answered or is one-way by design: no problem in this capture.",
    )


def test_ntp_retried_without_answer_is_udp_unanswered() -> None:
    result = run(req(0, 123), req(1, 123), req(3, 123), later())
    f = only(result, "udp-unanswered")
    o = f.outcome
    assert (o.datagrams, o.tries, o.resent, o.replies) == (3, 3, 1, 0)
    assert f.summary.startswith(f"{SERVER} does not answer NTP requests on UDP port 123: ")
    assert "not even an ICMP error" in f.summary
    assert f.evidence[0] == (
        "3 datagrams (the first of 48 bytes) from 198.18.0.2 to 198.18.1.10:123/udp (NTP), "
        "2023-11-14 22:13:20.000 to 22:13:23.000 UTC (3.0 s): no reply, and no ICMP error; the "
        "client sent the same datagram 3 times: it waited for an answer"
    )
    assert any("an NTP server answers every client request" in e for e in f.evidence)
    assert f.next_steps[0].startswith(f"probe check {SERVER} -p 123/udp")
    assert result.problem and an.exit_status(result) == 1


def test_an_unknown_port_is_unanswered_only_when_the_client_sends_again() -> None:
    once = run(req(0, 7777), later())
    assert codes(once) == {f"{SERVER}:7777/udp": "udp-one-way"} and not once.problem
    again = run(req(0, 7777), req(1, 7777), req(3, 7777), later())
    f = only(again, "udp-unanswered")
    assert "does not answer datagrams on UDP port 7777:" in f.summary


def test_a_closed_port_answers_port_unreachable_from_the_server_itself() -> None:
    f = only(run(req(0, 9002), unreach(0.001, 9002), later()), "udp-refused")
    assert f.summary == (
        f"Nothing listens on UDP port 9002 on {SERVER}: its own IP stack answered ICMP port "
        "unreachable."
    )
    assert f.evidence[1] == f"ICMP port unreachable from {SERVER}, TTL 63 (≈ 1 hop), to 1 flow"
    assert f.outcome.responders[0][0] == SERVER


def test_port_unreachable_from_a_router_or_prohibited_is_rejected_naming_it() -> None:
    result = run(
        req(0, 161, cport=40001),
        unreach(0.001, 161, 3, responder=ROUTER, ttl=64, cport=40001),
        req(1, 5060, cport=40002),
        unreach(1.001, 5060, 13, responder=ROUTER, ttl=64, cport=40002),
        later(),
    )
    assert codes(result) == {
        f"{SERVER}:161/udp": "udp-rejected",
        f"{SERVER}:5060/udp": "udp-rejected",
    }
    sip = next(f for f in result.findings if f.outcome.port == 5060)
    assert sip.summary.startswith(
        f"A firewall at {ROUTER} rejects UDP traffic to {SERVER} port 5060"
    )
    assert "ICMP administratively prohibited" in sip.summary
    assert f"ICMP administratively prohibited from {ROUTER}, TTL 64 (≈ 0 hops)" in sip.evidence[1]


def test_host_unreachable_from_a_router_is_udp_unreachable() -> None:
    f = only(
        run(req(0, 53), unreach(0.5, 53, 1, responder=ROUTER, ttl=64), later()), "udp-unreachable"
    )
    assert f.summary.startswith(f"{ROUTER} says {SERVER} cannot be reached (ICMP host unreachable)")


def test_an_icmp_error_quoting_a_datagram_the_capture_lacks_is_a_flow() -> None:
    f = only(run(unreach(0, 9002), later()), "udp-refused")
    assert (f.outcome.count, f.outcome.datagrams, f.outcome.syn_missing) == (1, 0, 1)
    assert "seen only by the ICMP error quoting the datagram" in f.evidence[0]


def test_replies_only_are_a_flow_the_capture_joined_late() -> None:
    f = only(run(rep(0, 53), rep(1, 53), later()), "udp-ok")
    assert (f.outcome.datagrams, f.outcome.replies, f.outcome.late) == (0, 2, 1)
    assert any("the capture started after the requests" in e for e in f.evidence)


# --------------------------------------------------------------------------- UDP's nature


@pytest.mark.parametrize("port", [514, 162, 2055, 4739, 9995, 6343])
def test_one_way_protocols_are_not_unanswered(port: int) -> None:
    result = run(*(req(i * 1.0, port) for i in range(5)), later())
    f = only(result, "udp-one-way")
    assert "one-way by design, not a problem" in f.summary and not result.problem


def test_a_media_stream_in_one_direction_is_not_unanswered() -> None:
    # RTP: 160-byte frames every 20 ms between two high ports, one way
    rtp = [req(i * 0.02, 16384, size=172, cport=30000) for i in range(200)]
    result = run(*rtp, later())
    assert codes(result) == {f"{SERVER}:16384/udp": "udp-one-way"} and not result.problem


@pytest.mark.parametrize(
    "dst",
    ["224.0.0.251", "239.255.255.250", "255.255.255.255", "198.18.0.255", "ff02::fb"],
)
def test_multicast_and_broadcast_are_never_a_server(dst: str) -> None:
    client = CLIENT6 if ":" in dst else CLIENT
    result = run(*(req(i * 1.0, 53, client=client, server=dst) for i in range(3)), later())
    assert result.findings == () and result.flows == 0
    assert any("multicast or broadcast" in n for n in result.notes)


def test_a_reserved_class_e_address_is_a_server() -> None:
    # 240.0.0.0/4 is reserved, not multicast; anonymised captures use it (the corpus' QUIC)
    result = run(
        req(0, 443, server="250.58.23.113"), rep(0.1, 443, server="250.58.23.113"), later()
    )
    assert codes(result) == {"250.58.23.113:443/udp": "udp-ok"} and result.flows == 1


def test_the_server_is_the_well_known_or_lower_port() -> None:
    # the first datagram seen goes from the DNS server to the client: a reply
    result = run(rep(0, 53, cport=5353), req(0.5, 53, cport=5353), later())
    assert codes(result) == {f"{SERVER}:53/udp": "udp-ok"}
    # the same port both ways (NTP symmetric): the first sender is the client
    result = run(req(0, 123, cport=123), rep(0.01, 123, cport=123), later())
    assert codes(result) == {f"{SERVER}:123/udp": "udp-ok"}
    assert result.findings[0].outcome.clients == (CLIENT,)


def test_tftp_answers_from_a_new_port() -> None:
    data = UdpDatagram(T0 + 0.01, p(SERVER), p(CLIENT), 50123, 40000, 63, 516)
    ack = UdpDatagram(T0 + 0.02, p(CLIENT), p(SERVER), 40000, 50123, 64, 4)
    result = run(req(0, 69, size=20), data, ack, later())
    assert codes(result) == {f"{SERVER}:69/udp": "udp-ok"}
    assert (result.findings[0].outcome.replies, result.flows) == (1, 1)


def test_a_udp_traceroute_is_left_out() -> None:
    probes = [req(i * 0.1, 33434 + i, ttl=1 + i // 3, cport=40000 + i) for i in range(6)]
    errors = [
        unreach(i * 0.1 + 0.001, 33434 + i, 0, responder=ROUTER, typ=11, cport=40000 + i)
        for i in range(3)
    ] + [unreach(i * 0.1 + 0.001, 33434 + i, 3, cport=40000 + i) for i in range(3, 6)]
    result = run(*probes, *errors, later())
    assert result.findings == () and result.flows == 0
    assert any("traceroute probes" in n for n in result.notes)


def test_a_lone_datagram_at_the_very_end_is_undecided() -> None:
    result = run(req(0, 53), rep(0.001, 53), req(5, 123, cport=40001))
    assert codes(result) == {f"{SERVER}:53/udp": "udp-ok"}
    assert any("no time to be answered" in n for n in result.notes)


def test_icmpv6_from_the_server_and_from_a_router() -> None:
    six = {"client": CLIENT6, "server": SERVER6}
    result = run(
        req(0, 9002, cport=40001, **six),  # type: ignore[arg-type]
        unreach(0.001, 9002, 4, responder=SERVER6, cport=40001, **six),  # type: ignore[arg-type]
        req(1, 9004, cport=40002, **six),  # type: ignore[arg-type]
        unreach(1.001, 9004, 1, responder=ROUTER6, ttl=64, cport=40002, **six),  # type: ignore[arg-type]
        req(2, 53, cport=40003, **six),  # type: ignore[arg-type]
        rep(2.001, 53, cport=40003, **six),  # type: ignore[arg-type]
        later(),
    )  # fmt: skip
    assert codes(result) == {
        f"[{SERVER6}]:9002/udp": "udp-refused",
        f"[{SERVER6}]:9004/udp": "udp-rejected",
        f"[{SERVER6}]:53/udp": "udp-ok",
    }
    refused = only(result, "udp-refused")
    assert f"ICMPv6 port unreachable from {SERVER6}, hop limit 63" in refused.evidence[1]
    rejected = only(result, "udp-rejected")
    assert (
        f"ICMPv6 administratively prohibited from {ROUTER6}, hop limit 64" in rejected.evidence[1]
    )


def test_udp_and_tcp_side_by_side_in_the_verdict() -> None:
    result = run(*handshake(0, 80), req(1, 53), rep(1.001, 53), req(2, 9002, cport=40005),
                 unreach(2.001, 9002, cport=40005), later())  # fmt: skip
    (server,) = result.servers
    assert (server.ports_ok, server.udp_ports_ok, server.udp_ports_failing) == (
        (80,),
        (53,),
        (9002,),
    )
    words = " ".join(result.summary)
    assert f"{SERVER} is up (port 80 and UDP port 53 work)" in words
    assert "limited to UDP port 9002" in words
    unanswered_too = an.explain(result.outcomes)
    assert unanswered_too.flows == 2 and unanswered_too.attempts == 1


def test_a_udp_port_scan_is_summarised() -> None:
    """nmap -sU: one client's datagrams to 40 ports of one host, most refused by ICMP, a few
    silent, one answered: one summary, the per-port findings behind -v."""
    records: list[UdpDatagram | IcmpRecord | TcpSegment] = []
    for i, port in enumerate(range(1000, 1040)):
        t = i * 0.01
        records.append(req(t, port, size=0, cport=61000))
        if port % 10:
            records.append(unreach(t + 0.001, port, cport=61000))
    records += [req(1, 53, cport=61000), rep(1.001, 53, cport=61000), later()]
    result = run(*records)
    (scan,) = result.scans
    assert (scan.protocol, scan.ports_tried, scan.open, scan.closed, scan.filtered) == (
        Protocol.UDP, 41, (f"{SERVER}:53",), 36, 4
    )  # fmt: skip
    assert result.summary[0] == (
        f"{CLIENT} scanned 1 host ({SERVER}) with UDP datagrams: 41 ports tried, 1 open, 36 "
        f"closed, 4 open|filtered (open: {SERVER}:53). Per-port findings: -v or --json."
    )
    assert result.problem and len(result.findings) == 41
    text = io.StringIO()
    render_analysis(CaptureAnalysis(_info(), result), Console(file=text, width=200))
    assert "Scan: " in text.getvalue() and "udp-refused (" not in text.getvalue()
    data = analysis_to_dict(CaptureAnalysis(_info(), result))
    assert data["scans"][0]["protocol"] == "udp"


def test_closed_ports_then_silence_is_the_hosts_icmp_rate_limit() -> None:
    records: list[UdpDatagram | IcmpRecord | TcpSegment] = []
    for i in range(10):  # a quick sweep: the kernel answers a burst of 6, then nothing
        records.append(req(i * 0.02, 20000 + i, size=0, cport=41000 + i))
        if i < 6:
            records.append(unreach(i * 0.02 + 0.001, 20000 + i, cport=41000 + i))
    records.append(req(20, 30000, size=0, cport=42000))  # long after: not the limit's
    result = run(*records, later())
    (note,) = [n for n in result.notes if "rate limit" in n]
    assert note.startswith(
        f"{SERVER} answered 6 closed UDP ports with ICMP port unreachable and, in the same "
        "moments, left 4 other ports silent"
    )
    quiet = run(req(0, 20000), unreach(0.001, 20000), req(5, 20001, cport=40001), later())
    assert not any("rate limit" in n for n in quiet.notes)


# --------------------------------------------------------------------------- bounded memory


def test_100k_flows_stay_bounded_in_memory_and_time() -> None:
    """A capture of 100 000 DNS flows (query and answer each, every client port once) and
    100 000 one-datagram flows to as many server ports: the open flows stay under the cap,
    the aggregates under theirs, and the whole is linear."""
    a = an.Analyzer(max_flows=1000, max_endpoints=5000)
    peak = 0

    def stream() -> Iterator[UdpDatagram]:
        nonlocal peak
        for i in range(100_000):
            t = i * 0.001
            yield req(t, 53, cport=1024 + i % 60000, client=f"198.18.{i // 60000}.2")
            yield rep(t + 0.0005, 53, cport=1024 + i % 60000, client=f"198.18.{i // 60000}.2")
            yield req(t + 0.0007, 10000 + i % 50000, server=f"198.19.{i // 50000}.10")
            if i % 1000 == 0:
                peak = max(peak, len(a.udp.flows), len(a.udp.aliases))

    tracemalloc.start()
    started = time.perf_counter()
    a.feed(stream())
    outcomes = a.finish()
    took = time.perf_counter() - started
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= 1000 and MAX_FLOWS == 100_000
    assert len(a.udp.tallies.by_endpoint) == 5000 and a.udp.tallies.unkept > 0
    dns = next(o for o in outcomes if o.port == 53)
    assert (dns.code, dns.count) == ("udp-ok", 100_000)
    assert top < 40 * 1024 * 1024, top
    assert took < 60, took


# --------------------------------------------------------------------------- packets, formats, CLI


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes, ttl: int = 64) -> bytes:
    return ip4(src, dst, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, 17, ttl)


def icmp4(src: str, dst: str, typ: int, code: int, quoted: bytes, ttl: int = 64) -> bytes:
    return ip4(src, dst, struct.pack("!BBHI", typ, code, 0, 0) + quoted[:28], 1, ttl)


def test_the_decoder_reads_udp_and_icmp_quoting_udp() -> None:
    dns = udp4(CLIENT, SERVER, 40000, 53, b"q" * 30)
    assert decode_ip(1.0, dns, 0) == UdpDatagram(1.0, p(CLIENT), p(SERVER), 40000, 53, 64, 30)
    error = icmp4(SERVER, CLIENT, 3, 3, udp4(CLIENT, SERVER, 40000, 9002, b""), ttl=63)
    assert decode_ip(2.0, error, 0) == IcmpRecord(
        2.0, p(SERVER), 63, False, 3, 3, p(CLIENT), p(SERVER), 40000, 9002, 0, -1, 17
    )
    assert decode_ip(3.0, udp4(CLIENT, SERVER, 0, 53, b""), 0) is None  # port 0: no service


def _lab_like(tmp_path: Path) -> Path:
    path = tmp_path / "udp.pcap"
    packets = [
        udp4(CLIENT, "198.18.1.53", 40000, 53, b"q" * 30),
        udp4("198.18.1.53", CLIENT, 53, 40000, b"a" * 46, ttl=63),
        udp4(CLIENT, SERVER, 40001, 9002, b""),
        icmp4(SERVER, CLIENT, 3, 3, udp4(CLIENT, SERVER, 40001, 9002, b""), ttl=63),
        udp4(CLIENT, "198.18.6.10", 40002, 161, b"s" * 40),
        icmp4(ROUTER, CLIENT, 3, 13, udp4(CLIENT, "198.18.6.10", 40002, 161, b"s" * 40)),
        udp4(CLIENT, "198.18.1.255", 40003, 137, b"n" * 50),
        *(udp4(CLIENT, "198.18.5.10", 40004, 123, b"t" * 48) for _ in range(3)),
        udp4(CLIENT, SERVER, 40005, 514, b"<13>hello"),
    ]
    with PcapWriter(path) as w:
        for i, pkt in enumerate(packets):
            w.write(T0 + i * 1.0, pkt)
        w.write(T0 + 30, udp4(CLIENT, SERVER, 40006, 514, b"<13>bye"))
    return path


def test_json_and_text_of_udp_flows(tmp_path: Path, probe_cli: CliRun) -> None:
    code, out, err = probe_cli(["analyze", str(_lab_like(tmp_path)), "--json"])
    assert code == 1, err
    data = json.loads(out)
    found = {(f["server"], f["protocol"]): f for f in data["findings"]}
    assert {k: f["code"] for k, f in found.items()} == {
        ("198.18.1.53:53", "udp"): "udp-ok",
        (f"{SERVER}:9002", "udp"): "udp-refused",
        ("198.18.6.10:161", "udp"): "udp-rejected",
        ("198.18.5.10:123", "udp"): "udp-unanswered",
        (f"{SERVER}:514", "udp"): "udp-one-way",
    }
    ntp = found[("198.18.5.10:123", "udp")]
    assert (ntp["datagrams"], ntp["replies"], ntp["syns"], ntp["service"], ntp["size"]) == (
        3, 0, None, "NTP", 48
    )  # fmt: skip
    rejected = found[("198.18.6.10:161", "udp")]
    assert (rejected["responder"], rejected["ttl"]) == (ROUTER, 64)
    assert data["capture"]["udp_datagrams"] == 10 and data["udp_flows"] == 5
    servers = {s["address"]: s for s in data["servers"]}
    assert servers[SERVER]["udp_ports_failing"] == [9002]
    assert {"port": 9002, "protocol": "udp", "outcomes": {"udp-refused": 1}} in (
        servers[SERVER]["ports"]
    )
    code, out, _ = probe_cli(["analyze", str(_lab_like(tmp_path))])
    assert code == 1
    assert "(0 TCP, 10 UDP, 2 ICMP errors)" in out
    assert " SENT " in out and re.search(
        r"^  198\.18\.5\.10:123/udp +udp-unanswered +1 +3 ", out, re.M
    )
    assert "udp-refused (198.18.1.10:9002/udp): Nothing listens" in out
    assert "UDP port 9002 fails" in out


def test_text_keeps_the_syns_column_without_udp() -> None:
    view = CaptureAnalysis(_info(), run(*handshake(0, 80)))
    text = io.StringIO()
    render_analysis(view, Console(file=text, width=200))
    assert " SYNS " in text.getvalue() and "/udp" not in text.getvalue()
    assert analysis_to_dict(view)["findings"][0]["protocol"] == "tcp"
