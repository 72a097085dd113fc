"""probe analyze: decoded records -> attempts -> findings, as tables of plain records; then the
report formats and the command line on small files written here."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import CliRun
from rich.console import Console

from probe.capture import analyze as an
from probe.capture.analyze.tally import MAX_CLIENTS
from probe.capture.analyze.tracker import HOLD
from probe.capture.packets import IcmpRecord, TcpSegment, Tick
from probe.capture.reader import CaptureInfo, open_capture
from probe.capture.writer import PcapWriter
from probe.output.base import FormatName
from probe.output.json.analyze import analysis_to_dict
from probe.output.registry import render
from probe.output.text.analyze import render_analysis
from probe.output.views import CaptureAnalysis

CLIENT, SERVER, OTHER, ROUTER = "198.18.0.2", "198.18.1.10", "198.18.1.20", "198.18.0.1"
SERVER6 = "2001:2:0:1::10"
SYN, SYN_ACK, RST, RST_ACK, ACK, PSH_ACK = 0x02, 0x12, 0x04, 0x14, 0x10, 0x18
OPTS = bytes.fromhex("020405b4 0402 080a0000000100000000 01 030307")
T0 = 1_700_000_000.0


def p(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


# --------------------------------------------------------------------------- record builders


def c2s(
    t: float, port: int, flags: int, *, cport: int = 40000, client: str = CLIENT,
    server: str = SERVER, ttl: int = 64, seq: int | None = None,
) -> TcpSegment:  # fmt: skip
    """From the client: its SYN and RST carry the ISN (1000), its ACKs the next byte."""
    opts = OPTS if flags & SYN else b""
    if seq is None:
        seq = 1001 if flags & ACK and not flags & (SYN | RST) else 1000
    return TcpSegment(T0 + t, p(client), p(server), cport, port, flags, seq, 0, ttl, 64240, opts)


def s2c(
    t: float, port: int, flags: int, *, cport: int = 40000, client: str = CLIENT,
    server: str = SERVER, ttl: int = 63,
) -> TcpSegment:  # fmt: skip
    opts = OPTS if flags & SYN else b""
    return TcpSegment(
        T0 + t, p(server), p(client), port, cport, flags, 5000, 1001, ttl, 65160, opts
    )


def icmp(
    t: float, port: int, typ: int = 3, code: int = 13, *, responder: str = ROUTER,
    ttl: int = 64, cport: int = 40000, server: str = SERVER,
) -> IcmpRecord:  # fmt: skip
    v6 = ":" in server
    return IcmpRecord(
        T0 + t, p(responder), ttl, v6, typ, code, p(CLIENT), p(server), cport, port, 1000
    )


def handshake(
    t: float, port: int, cport: int = 40000, server: str = SERVER, client: str = CLIENT
) -> list[TcpSegment]:
    kw = {"cport": cport, "server": server, "client": client}
    return [
        c2s(t, port, SYN, **kw),  # type: ignore[arg-type]
        s2c(t + 0.001, port, SYN_ACK, **kw),  # type: ignore[arg-type]
        c2s(t + 0.002, port, ACK, **kw),  # type: ignore[arg-type]
        c2s(t + 0.003, port, PSH_ACK, **kw),  # type: ignore[arg-type]
        s2c(t + 0.004, port, PSH_ACK, **kw),  # type: ignore[arg-type]
    ]


def triple_syn(t: float, port: int, cport: int = 40001, server: str = SERVER) -> list[TcpSegment]:
    return [c2s(t + dt, port, SYN, cport=cport, server=server) for dt in (0.0, 1.0, 3.0)]


def run(*records: TcpSegment | IcmpRecord | Tick) -> an.Analysis:
    return an.analyze(sorted(records, key=lambda r: r.ts))


def only(result: an.Analysis, code: str) -> an.AnalyzeFinding:
    found = [f for f in result.findings if f.code == code]
    assert len(found) == 1, [(f.code, f.server) for f in result.findings]
    return found[0]


def codes(result: an.Analysis) -> dict[str, str]:
    return {f.server: f.code for f in result.findings}


# --------------------------------------------------------------------------- the patterns


def test_completed_handshake_is_ok_with_the_options() -> None:
    result = run(*handshake(0, 80))
    f = only(result, "ok")
    assert (f.server, f.outcome.count, f.outcome.syns, f.outcome.ttl) == (f"{SERVER}:80", 1, 1, 63)
    o = f.outcome.tcp_options
    assert o is not None and (o.mss, o.wscale, o.sack_permitted, o.timestamps) == (
        1460,
        7,
        True,
        True,
    )
    assert any("MSS 1460" in e and "TTL 63" in e for e in f.evidence)
    assert not result.problem and an.exit_status(result) == 0
    assert result.summary == (  # issue 17: not "All 1 connection attempt ... their"
        "The one connection attempt completed its handshake: no problem in this capture.",
    )


def test_triple_syn_without_answer_is_syn_unanswered_in_checks_words() -> None:
    result = run(*handshake(0, 80), *triple_syn(0.5, 82), c2s(10, 80, ACK))
    f = only(result, "syn-unanswered")
    assert (f.server, f.outcome.count, f.outcome.syns, f.outcome.tries) == (
        f"{SERVER}:82",
        1,
        3,
        3,
    )
    assert f.outcome.clients == (CLIENT,)
    assert "the triple SYN" in f.evidence[0] and CLIENT in f.evidence[0]
    # check's port-filtered sentence, with the host shown up by its other port
    assert "gets no answer although the host is up (it answers on 80)" in f.summary
    assert "drops the SYNs silently" in f.summary
    assert any("probe trace 198.18.1.10 --port 82" in s for s in f.next_steps)
    assert result.problem and an.exit_status(result) == 1


def test_retries_with_new_sequence_numbers_are_one_attempt() -> None:
    # probe's own tries each carry a new sequence number (a cookie per try)
    syns = [c2s(t, 82, SYN, seq=1000 + i) for i, t in enumerate((0.0, 0.3, 0.6))]
    f = only(run(*syns), "syn-unanswered")
    assert (f.outcome.count, f.outcome.syns) == (1, 3)


def test_rst_from_the_host_itself_is_syn_refused() -> None:
    result = run(
        *handshake(0, 80), c2s(1, 81, SYN, cport=40002), s2c(1.001, 81, RST_ACK, cport=40002)
    )
    f = only(result, "syn-refused")
    assert f.server == f"{SERVER}:81"
    assert f.summary.startswith("Nothing is listening on port 81 on 198.18.1.10")
    assert any("the same distance as the SYN/ACK on 80 with TTL 63" in e for e in f.evidence)


def test_syns_again_after_each_rst_are_one_attempt() -> None:
    # Windows tries a refused port again, from the same port, twice
    records = [r for t in (0, 0.5, 1.0) for r in (c2s(t, 81, SYN), s2c(t + 0.001, 81, RST_ACK))]
    f = only(run(*records), "syn-refused")
    assert (f.outcome.count, f.outcome.syns) == (1, 3)


def test_syns_again_after_each_icmp_error_are_one_attempt() -> None:
    records = [r for t in (0, 1, 3) for r in (c2s(t, 80, SYN), icmp(t + 0.001, 80, 3, 1))]
    f = only(run(*records), "syn-rejected")
    assert (f.outcome.count, f.outcome.syns) == (1, 3)


def test_rst_one_hop_closer_than_the_syn_ack_is_a_middlebox() -> None:
    rst = s2c(1.001, 6036, RST_ACK, cport=40002, ttl=64)
    result = run(*handshake(0, 80), c2s(1, 6036, SYN, cport=40002), rst)
    f = only(result, "syn-refused")
    assert "answered by a device in front of 198.18.1.10" in f.summary
    assert "NAT" in f.summary
    assert any("one hop closer" in e for e in f.evidence)
    assert f.outcome.ttl == 64


def test_rst_without_anything_to_compare_says_so() -> None:
    f = only(run(c2s(0, 81, SYN), s2c(0.001, 81, RST_ACK)), "syn-refused")
    assert any("no SYN/ACK or echo reply to compare" in e for e in f.evidence)


def test_icmp_prohibited_is_syn_rejected_naming_the_sender() -> None:
    result = run(*handshake(0, 80), c2s(1, 8443, SYN, cport=40003), icmp(1.001, 8443, cport=40003))
    f = only(result, "syn-rejected")
    assert f.summary == (
        "The firewall at 198.18.0.1 rejects port 8443 (ICMP administratively prohibited)."
    )
    assert any("ICMP administratively prohibited from 198.18.0.1" in e for e in f.evidence)
    assert analysis_to_dict(CaptureAnalysis(_info(), result))["findings"][0]["responder"] == ROUTER


def test_icmp_host_unreachable_names_the_router() -> None:
    f = only(run(c2s(0, 80, SYN), icmp(0.001, 80, 3, 1)), "syn-rejected")
    assert "198.18.0.1" in f.summary and "unreachable" in f.summary


def test_icmpv6_rejects_too() -> None:
    seg = TcpSegment(T0, p("2001:2::2"), p(SERVER6), 40000, 8444, SYN, 1, 0, 64, 64240, b"")
    client, router = p("2001:2::2"), p("2001:2::1")
    err = IcmpRecord(T0 + 0.001, router, 64, True, 1, 4, client, p(SERVER6), 40000, 8444, 1)
    f = only(run(seg, err), "syn-rejected")
    assert f.server == "[2001:2:0:1::10]:8444"
    assert "ICMP port unreachable" in f.summary


def test_syn_ack_never_acknowledged_after_retries_is_handshake_incomplete() -> None:
    records = [
        c2s(0, 443, SYN),
        s2c(0.001, 443, SYN_ACK),
        c2s(1.0, 443, SYN),
        s2c(1.001, 443, SYN_ACK),
    ]
    f = only(run(*records), "handshake-incomplete")
    assert f.server == f"{SERVER}:443" and f.outcome.ttl == 63
    assert "never completes" in f.summary
    assert any("sent its SYN again" in e for e in f.evidence)


def test_server_reset_after_its_syn_ack_is_handshake_incomplete() -> None:
    records = [c2s(0, 443, SYN), s2c(0.001, 443, SYN_ACK), s2c(0.5, 443, RST)]
    f = only(run(*records), "handshake-incomplete")
    assert f.outcome.server_rst == 1


@pytest.mark.parametrize("client_rst", [True, False])
def test_half_open_probes_are_ok(client_rst: bool) -> None:
    records = [c2s(0, 80, SYN), s2c(0.001, 80, SYN_ACK)]
    if client_rst:
        records.append(c2s(0.002, 80, RST))  # nmap -sS, or the kernel under probe check
    f = only(run(*records, c2s(5, 9, ACK, cport=1)), "ok")
    assert f.outcome.half_open == 1
    assert any("half-open" in e for e in f.evidence)


def test_ack_without_the_syn_ack_in_the_capture_is_ok() -> None:
    f = only(run(c2s(0, 80, SYN), c2s(0.01, 80, ACK)), "ok")
    assert f.outcome.no_synack == 1 and f.outcome.ttl is None


def test_client_reset_before_any_answer_is_unanswered() -> None:
    f = only(run(c2s(0, 82, SYN), c2s(0.5, 82, SYN), c2s(0.9, 82, RST)), "syn-unanswered")
    assert f.outcome.syns == 2


def test_time_exceeded_on_a_low_ttl_syn_is_a_traceroute_probe() -> None:
    result = run(c2s(0, 80, SYN, ttl=3), icmp(0.001, 80, 11, 0), c2s(5, 9, ACK, cport=1))
    assert result.findings == () and result.attempts == 0
    assert any("traceroute" in n for n in result.notes)


def test_time_exceeded_on_a_normal_syn_is_rejected() -> None:
    f = only(
        run(c2s(0, 80, SYN, ttl=64), icmp(0.001, 80, 11, 0), c2s(5, 9, ACK, cport=1)),
        "syn-rejected",
    )
    assert any("time exceeded" in e and ROUTER in e for e in f.evidence)


def test_a_lone_syn_at_the_very_end_is_undecided() -> None:
    result = run(*handshake(0, 80), c2s(0.5, 82, SYN, cport=40001))
    assert set(codes(result).values()) == {"ok"}
    assert any("no time to be answered" in n for n in result.notes)


def test_an_icmp_error_quoting_a_syn_the_capture_lacks_is_a_rejected_attempt() -> None:
    # A local firewall rejects the outgoing SYN: the capture holds the ICMP error only.
    result = run(icmp(0, 8443, 3, 13), c2s(5, 9, ACK, cport=1))
    f = only(result, "syn-rejected")
    assert (f.server, f.outcome.count, f.outcome.syns, f.outcome.syn_missing) == (
        f"{SERVER}:8443",
        1,
        0,
        1,
    )
    assert f"from {CLIENT} (0 SYNs)" in f.evidence[0]
    assert "1 of them SYN not in the capture, only the ICMP error quoting it" in f.evidence[0]
    assert result.attempts == 1
    # The client's SYN sent again (same ISN) continues the attempt: its SYN is then there.
    again = only(run(icmp(0, 8443), c2s(1, 8443, SYN), icmp(1.001, 8443)), "syn-rejected")
    assert (again.outcome.syns, again.outcome.syn_missing) == (1, 0)


@pytest.mark.parametrize(
    ("typ", "code", "qflags"),
    [(3, 4, -1), (11, 0, -1), (3, 13, ACK), (3, 13, SYN_ACK)],
    ids=["fragmentation-needed", "time-exceeded", "quotes-an-ack", "quotes-a-syn-ack"],
)
def test_icmp_errors_that_answer_no_syn_are_not_attempts(typ: int, code: int, qflags: int) -> None:
    err = icmp(0, 8443, typ, code)._replace(qflags=qflags)
    result = run(err, c2s(5, 9, ACK, cport=1))
    assert result.findings == () and result.attempts == 0


def test_wording_of_issue_17() -> None:
    # IPv6 calls it hop limit
    v6 = only(run(*handshake(0, 443, server=SERVER6, client="2001:2::2")), "ok")
    assert any("SYN/ACK from 2001:2:0:1::10 with hop limit 63" in e for e in v6.evidence)
    assert not any("TTL" in e for e in v6.evidence)
    # a syn-rejected row quotes the ICMP sender's TTL, as its evidence does
    rejected = run(c2s(0, 81, SYN), icmp(0.001, 81, 3, 13, ttl=62), c2s(5, 9, ACK, cport=1))
    (doc,) = analysis_to_dict(CaptureAnalysis(_info(), rejected))["findings"]
    assert (doc["code"], doc["ttl"]) == ("syn-rejected", 62)
    # only left-out attempts: the verdict points at the notes, not "nothing to analyse"
    traced = run(c2s(0, 80, SYN, ttl=3), icmp(0.001, 80, 11, 0), c2s(5, 9, ACK, cport=1))
    assert traced.notes and traced.summary == (
        "No connection attempt in the capture could be judged: see the notes.",
    )


def test_the_capture_ends_at_its_last_packet_of_any_kind() -> None:
    # A lone SYN 10 s before the capture's last packet (a UDP one: the reader's Tick) had
    # its time: unanswered, not "in the last second of the capture".
    result = run(*handshake(0, 80), c2s(0.5, 82, SYN, cport=40001), Tick(T0 + 10.5))
    assert codes(result) == {f"{SERVER}:80": "ok", f"{SERVER}:82": "syn-unanswered"}
    assert not any("no time to be answered" in n for n in result.notes)


def test_a_syn_on_a_reused_tuple_after_a_long_silence_is_a_new_attempt() -> None:
    # 70 s and more without a packet: the old attempt is over before the new SYN is handled.
    result = run(c2s(0, 82, SYN), c2s(80, 82, SYN), s2c(80.001, 82, SYN_ACK), c2s(80.002, 82, ACK))
    assert sorted((f.code, f.outcome.syns) for f in result.findings) == [
        ("ok", 1),
        ("syn-unanswered", 1),
    ]


def test_a_clock_that_goes_back_is_a_note_and_does_not_merge_attempts() -> None:
    later = [r._replace(ts=r.ts - 3600) for r in (c2s(100, 82, SYN), s2c(100.001, 82, RST_ACK))]
    records = [c2s(0, 82, SYN), c2s(1, 82, SYN), *later, c2s(200, 9, ACK, cport=1)]
    result = an.analyze(records)  # in file order, not sorted
    assert sorted((f.code, f.outcome.syns) for f in result.findings) == [
        ("syn-refused", 1),
        ("syn-unanswered", 2),
    ]
    assert any("clock went back 1 time (by up to 3501.0 s)" in n for n in result.notes)


def test_mixed_outcomes_on_one_port_say_it_comes_and_goes() -> None:
    records = [*handshake(0, 80, 40010), *handshake(1, 80, 40011), *triple_syn(2, 80, 40012)]
    result = run(*records, c2s(9, 9, ACK, cport=1))
    f = only(result, "syn-unanswered")
    assert any("2 other attempts" in e and "comes and goes" in e for e in f.evidence)
    assert only(result, "ok").outcome.count == 2
    (server,) = result.servers
    assert server.status == "partial" and server.ports_failing == (80,)


# --------------------------------------------------------------------------- across servers


def test_the_problem_is_limited_to_one_server() -> None:
    records = [*handshake(0, 443, 40000, OTHER), *triple_syn(0.1, 443, 40001, SERVER)]
    result = run(*records, c2s(9, 9, ACK, cport=1))
    assert result.summary[0] == (
        "Connections to 198.18.1.20 complete; the problem is limited to 198.18.1.10 (port 443)."
    )
    status = {s.address: s.status for s in result.servers}
    assert status == {SERVER: "failing", OTHER: "ok"}
    assert codes(result) == {f"{SERVER}:443": "syn-unanswered", f"{OTHER}:443": "ok"}


def test_a_server_with_working_and_failing_ports() -> None:
    records = [*handshake(0, 80), *triple_syn(0.1, 82)]
    result = run(*records, c2s(9, 9, ACK, cport=1))
    assert result.summary == (
        "198.18.1.10 is up (port 80 works); the problem is limited to port 82.",
    )


def test_two_servers_each_with_a_failing_port() -> None:
    records = [*handshake(0, 80), *triple_syn(0.1, 82), *handshake(0, 80, 40005, OTHER)]
    records += [c2s(1, 81, SYN, cport=40006, server=OTHER)]
    records += [s2c(1.001, 81, RST_ACK, cport=40006, server=OTHER)]
    result = run(*records, c2s(9, 9, ACK, cport=1))
    assert result.summary == (
        "The problem is limited to 198.18.1.10 (port 82), 198.18.1.20 (port 81).",
        "198.18.1.10 is up (port 80 works); the problem there is limited to port 82.",
        "198.18.1.20 is up (port 80 works); the problem there is limited to port 81.",
    )


def test_nothing_answers_any_server() -> None:
    records = [*triple_syn(0, 443, 40001, SERVER), *triple_syn(0, 443, 40002, OTHER)]
    result = run(*records)
    assert "every server in the capture fail" in result.summary[0]
    assert "client's side first" in result.summary[1]
    # check's host-silent words, without what only a ping could have told
    f = result.findings[0]
    assert "answers nothing" in f.summary and "ping" not in f.summary
    assert not any("ping" in e for e in f.evidence)


def test_no_syn_at_all() -> None:
    result = run(c2s(0, 80, ACK), s2c(0.1, 80, PSH_ACK))
    assert result.findings == () and result.attempts == 0 and not result.problem
    assert "No TCP connection attempt" in result.summary[0]


def test_many_clients_are_listed_up_to_a_bound() -> None:
    records = [r for i in range(12) for r in handshake(i, 80, client=f"198.18.0.{10 + i}")]
    f = only(run(*records), "ok")
    assert len(f.outcome.clients) == MAX_CLIENTS and f.outcome.more_clients
    assert "more than 8 clients" in f.evidence[0]


# --------------------------------------------------------------------------- bounded memory


def test_finished_handshakes_leave_nothing_waiting() -> None:
    a = an.Analyzer()

    def stream() -> Iterator[TcpSegment]:
        for i in range(2000):
            yield from handshake(i * 0.01, 80, 1024 + i)
            assert len(a.waiting) == 0

    a.feed(stream())
    (outcome,) = a.finish()
    assert outcome.count == 2000


def test_waiting_attempts_are_capped() -> None:
    a = an.Analyzer(max_waiting=10)
    peak = 0

    def stream() -> Iterator[TcpSegment]:
        nonlocal peak
        for i in range(100):
            yield c2s(i * 0.001, 82, SYN, cport=1024 + i)
            peak = max(peak, len(a.waiting))

    a.feed(stream())
    outcomes = a.finish()
    assert peak == 10 and a.early == 90
    # the last ten are lone SYNs at the very end of the capture: too late to tell
    assert [(o.code, o.count) for o in outcomes] == [("syn-unanswered", 90)]
    assert a.undecided == 10


def test_attempts_expire_with_capture_time() -> None:
    a = an.Analyzer(expire=60)
    waiting_after: dict[int, int] = {}  # second of capture time -> attempts waiting

    def stream() -> Iterator[TcpSegment]:
        yield c2s(0, 82, SYN)
        for t in range(1, 200):
            yield c2s(t, 9, ACK, cport=1)  # other traffic, one packet a second
            waiting_after[t] = len(a.waiting)  # runs once the packet at t was fed

    a.feed(stream())
    assert waiting_after[59] == 1 and waiting_after[60] == 0
    (outcome,) = a.finish()
    assert (outcome.code, outcome.last) == ("syn-unanswered", T0)


def test_answered_attempts_wait_only_a_little_for_a_retry() -> None:
    a = an.Analyzer()
    kept: dict[int, int] = {}

    def stream() -> Iterator[TcpSegment | IcmpRecord]:
        yield c2s(0, 81, SYN)
        yield s2c(0.001, 81, RST_ACK)
        yield c2s(0.5, 81, SYN)  # tried again: the same attempt
        yield s2c(0.501, 81, RST_ACK)
        for t in range(1, 20):
            yield c2s(t, 9, ACK, cport=1)
            kept[t] = len(a.waiting) + len(a.answered)

    a.feed(stream())
    assert kept[int(HOLD)] == 1 and kept[int(HOLD) + 1] == 0
    (outcome,) = a.finish()
    assert (outcome.code, outcome.count, outcome.syns) == ("syn-refused", 1, 2)


def test_server_ports_past_the_bound_are_counted_not_kept() -> None:
    a = an.Analyzer(max_endpoints=2)
    a.feed([r for port in (80, 81, 82) for r in handshake(port, port, port)])
    assert len(a.finish()) == 2 and a.unkept == 1


# --------------------------------------------------------------------------- formats


def _info(packets: int = 10, truncated: bool = False) -> CaptureInfo:
    return CaptureInfo(
        path="t.pcap",
        format="pcap",
        link_types=(1,),
        packets=packets,
        tcp=packets,
        icmp_errors=0,
        skipped=0,
        first_ts=T0,
        last_ts=T0 + 4,
        truncated=truncated,
        problem="the file ends in the middle of a packet" if truncated else None,
    )


def _sample() -> an.Analysis:
    refused = [c2s(1, 81, SYN, cport=40002), s2c(1.001, 81, RST_ACK, cport=40002)]
    return run(*handshake(0, 80), *triple_syn(0.5, 82), *refused)


def test_json_has_the_contract_keys() -> None:
    out = io.StringIO()
    render(CaptureAnalysis(_info(truncated=True), _sample()), FormatName.JSON, out)
    data = json.loads(out.getvalue())
    assert data["version"] == 1
    assert data["capture"]["packets"] == 10 and data["capture"]["truncated"] is True
    assert any("cut short" in n for n in data["notes"])
    by_code = {f["code"]: f for f in data["findings"]}
    assert set(by_code) == {"syn-unanswered", "syn-refused", "ok"}
    f = by_code["syn-unanswered"]
    assert (f["server"], f["client"], f["count"], f["syns"]) == (f"{SERVER}:82", CLIENT, 1, 3)
    assert f["protocol"] == "tcp" and data["udp_flows"] == 0
    assert (
        f["first"] == "2023-11-14T22:13:20.500000Z" and f["last"] == "2023-11-14T22:13:23.500000Z"
    )
    assert f["severity"] == "error" and f["summary"] and f["evidence"] and f["next_steps"]
    assert by_code["ok"]["tcp_options"]["mss"] == 1460
    assert data["servers"] == [
        {
            "address": SERVER,
            "status": "partial",
            "attempts": 3,
            "ports_ok": [80],
            "ports_failing": [81, 82],
            "udp_ports_ok": [],
            "udp_ports_failing": [],
            "ports": [
                {"port": 80, "protocol": "tcp", "outcomes": {"ok": 1}},
                {"port": 81, "protocol": "tcp", "outcomes": {"syn-refused": 1}},
                {"port": 82, "protocol": "tcp", "outcomes": {"syn-unanswered": 1}},
            ],
        }
    ]


def test_text_has_a_table_the_findings_and_the_verdict() -> None:
    out = io.StringIO()
    render_analysis(
        CaptureAnalysis(_info(), _sample()), Console(file=out, width=120, highlight=False)
    )
    text = out.getvalue()
    assert "\x1b[" not in text
    for needle in (
        "SERVER",
        f"{SERVER}:82  syn-unanswered",
        f"syn-unanswered ({SERVER}:82): Port 82 on {SERVER} gets no answer",
        f"syn-refused ({SERVER}:81): Nothing is listening",
        "evidence:",
        "next:",
        f"{SERVER}  partial: port 80 works; ports 81-82 fail",
        "Verdict: 198.18.1.10 is up (port 80 works); the problem is limited to ports 81-82.",
    ):
        assert needle in text, needle
    assert "ok (198.18.1.10:80)" not in text  # ok findings only with --verbose
    verbose = io.StringIO()
    render_analysis(
        CaptureAnalysis(_info(), _sample()), Console(file=verbose, width=120), verbose=True
    )
    assert "ok (198.18.1.10:80): Connections to 198.18.1.10:80 complete" in verbose.getvalue()


def test_streamed_json_is_json_dumps_text_with_non_ascii_kept() -> None:
    records = [*handshake(0, 80)]
    for port in range(1000, 1700):  # more findings than one chunk of the writer
        records += [c2s(1, port, SYN, cport=port), s2c(1.001, port, RST_ACK, cport=port)]
    view = CaptureAnalysis(replace(_info(), path="tëst ≈.pcap"), run(*records))
    out = io.StringIO()
    render(view, FormatName.JSON, out)
    assert out.getvalue() == json.dumps(analysis_to_dict(view), indent=2, ensure_ascii=False) + "\n"
    assert '"path": "tëst ≈.pcap"' in out.getvalue() and "(≈ 1 hop)" in out.getvalue()
    assert json.loads(out.getvalue())["interrupted"] is False


def test_timestamps_out_of_range_are_null_with_a_note() -> None:
    far = 2.0**64  # pcapng: 2^64 ticks of a second each
    records = [r._replace(ts=r.ts - T0 + far) for r in [*handshake(0, 80), *triple_syn(0, 82)]]
    info = replace(_info(), first_ts=far, last_ts=far + 4096, bad_times=len(records))
    view = CaptureAnalysis(info, run(*records))
    out = io.StringIO()
    render(view, FormatName.JSON, out)
    data = json.loads(out.getvalue())
    assert data["capture"]["first"] is None and data["capture"]["last"] is None
    assert {(f["first"], f["last"]) for f in data["findings"]} == {(None, None)}
    assert any(
        n.startswith("8 packets have timestamps outside the years 1-9999") for n in (data["notes"])
    )
    text = io.StringIO()
    render_analysis(view, Console(file=text, width=200), verbose=True)
    assert "at a time out of range" in text.getvalue()
    assert "Note: 8 packets have timestamps outside" in text.getvalue()
    assert "t.pcap: pcap, Ethernet, 10 packets (10 TCP, 0 ICMP errors), 4096.0 s" in (
        text.getvalue()
    )


# --------------------------------------------------------------------------- command line


def ip4(src: str, dst: str, seg: bytes, proto: int = 6, ttl: int = 64) -> bytes:
    size = 20 + len(seg)
    return (
        struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 0, 0x4000, ttl, proto, 0, p(src), p(dst)) + seg
    )


def tcp(sport: int, dport: int, flags: int, opts: bytes = b"") -> bytes:
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, off << 4, flags, 64240, 0, 0) + opts


def pcap(tmp_path: Path, packets: list[bytes]) -> Path:
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as w:
        for i, pkt in enumerate(packets):
            w.write(T0 + i * 0.5, pkt)
    return path


def test_cli_healthy_capture_exits_0(tmp_path: Path, probe_cli: CliRun) -> None:
    path = pcap(
        tmp_path,
        [
            ip4(CLIENT, SERVER, tcp(40000, 80, SYN, OPTS)),
            ip4(SERVER, CLIENT, tcp(80, 40000, SYN_ACK, OPTS), ttl=63),
            ip4(CLIENT, SERVER, tcp(40000, 80, ACK)),
        ],
    )
    code, out, err = probe_cli(["analyze", str(path), "--json"])
    assert code == 0, err
    assert [f["code"] for f in json.loads(out)["findings"]] == ["ok"]


def test_cli_problem_exits_1_with_text(tmp_path: Path, probe_cli: CliRun) -> None:
    syn = ip4(CLIENT, SERVER, tcp(40000, 82, SYN))
    path = pcap(tmp_path, [syn, syn, syn])
    code, out, _ = probe_cli(["analyze", str(path)])
    assert code == 1
    assert "syn-unanswered (198.18.1.10:82)" in out and "Verdict:" in out


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "is empty"), (b"GET / HTTP/1.1\r\n", "not a capture file")],
)
def test_cli_bad_capture_is_one_line_exit_2(
    tmp_path: Path, content: bytes, words: str, probe_cli: CliRun
) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    code, out, err = probe_cli(["analyze", str(path), "--json"])
    assert code == 2 and out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_cli_truncated_capture_is_analysed_and_says_so(tmp_path: Path, probe_cli: CliRun) -> None:
    syn = ip4(CLIENT, SERVER, tcp(40000, 82, SYN))
    path = pcap(tmp_path, [syn, syn, syn, syn])
    path.write_bytes(path.read_bytes()[:-10])
    with open_capture(path) as cap:
        assert sum(1 for _ in cap.records()) == 3
    code, out, _ = probe_cli(["analyze", str(path)])
    assert code == 1
    assert "Note: The capture is damaged or cut short" in out


def test_cli_ctrl_c_reports_what_was_read_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe_cli: CliRun
) -> None:
    from probe.capture import reader

    syn = ip4(CLIENT, SERVER, tcp(40000, 82, SYN))
    path = pcap(tmp_path, [syn] * 3000)
    monkeypatch.setattr(reader, "CHUNK", 4096)
    real_read = reader.Capture._read

    def ctrl_c_then_read(self: reader.Capture) -> bytes | None:
        signal.raise_signal(signal.SIGINT)  # the user's Ctrl-C, after the first chunk
        return real_read(self)

    monkeypatch.setattr(reader.Capture, "_read", ctrl_c_then_read)
    code, out, err = probe_cli(["analyze", str(path), "--json"])
    data = json.loads(out)
    assert (code, err, data["interrupted"]) == (130, "", True)
    assert 0 < data["capture"]["packets"] < 100 and not data["capture"]["truncated"]
    assert any(n.startswith("Interrupted (Ctrl-C): only the") for n in data["notes"])
    assert data["findings"][0]["code"] == "syn-unanswered"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    code, out, _ = probe_cli(["analyze", str(path)])
    words = " ".join(out.split())
    assert (
        code == 130
        and "ICMP errors), from" in words
        and "s, interrupted Note: Interrupted" in words
    )


def test_probe_command_on_sigint_prints_the_report_without_traceback(tmp_path: Path) -> None:
    # The real command and a real SIGINT: the capture comes through a FIFO, so the signal
    # lands while probe is reading it (its handler is set before it opens the file, and
    # opening a FIFO waits for the writer, so the handler is there once our open returns).
    syn = ip4(CLIENT, SERVER, tcp(40000, 82, SYN))
    data = pcap(tmp_path, [syn, syn, syn]).read_bytes()
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)
    probe = Path(sys.executable).with_name("probe")
    proc = subprocess.Popen(
        [str(probe), "analyze", str(fifo), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with open(fifo, "wb") as w:
        proc.send_signal(signal.SIGINT)
        w.write(data)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (130, "")
    report = json.loads(out)
    assert report["interrupted"] is True and report["capture"]["packets"] == 3


class _LoggingEngine:
    """A fake engine that logs a SYN and its SYN/ACK, as the raw engine does."""

    method = "syn"

    def scan(self, jobs: object, config: object, **kw: object) -> object:
        from probe.engine.base import EngineRun
        from probe.model import AnswerKind, PortEvidence

        log = kw.get("packet_log")
        assert callable(log)
        log(T0, ip4(CLIENT, SERVER, tcp(40000, 80, SYN, OPTS)), True)
        log(T0 + 0.001, ip4(SERVER, CLIENT, tcp(80, 40000, SYN_ACK, OPTS), ttl=63), False)
        ev = PortEvidence(SERVER, 80, "syn", AnswerKind.SYN_ACK, 1, responder=SERVER, ttl=63)
        return EngineRun((ev,))

    def close(self) -> None:
        pass


def test_check_pcap_writes_what_the_engine_logs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    probe_cli: CliRun,
) -> None:
    from probe.model import DnsResult, DnsStatus, PingResult, PingStatus, RouteResult, RouteStatus
    from probe.session import edge
    from probe.session.edge import Edge

    def adapters() -> Edge:
        return Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (SERVER,)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: RouteResult(RouteStatus.OK, "eth0", CLIENT, ROUTER),
            ping=lambda a, t: PingResult(PingStatus.SKIPPED),
            open_engine=lambda method: _LoggingEngine(),  # type: ignore[arg-type]
        )

    monkeypatch.setattr(edge, "default_edge", adapters)
    path = tmp_path / "check.pcap"
    code, _, err = probe_cli(
        ["check", SERVER, "-p", "80", "--no-ping", "--json", "--pcap", str(path)]
    )
    assert code == 0, err
    assert err == ""  # packets were written: no note
    code, out, _ = probe_cli(["analyze", str(path), "--json"])
    (f,) = json.loads(out)["findings"]
    assert (code, f["code"], f["server"], f["half_open"], f["ttl"]) == (
        0,
        "ok",
        f"{SERVER}:80",
        1,
        63,
    )


def test_many_failing_ports_stay_readable_in_text() -> None:
    # Many clients (one scanning client is summarised as a scan instead: test_scans.py)
    # RSTs with 40 different TTLs, at most 18 ports each: no pattern to group
    # (test_groups.py), a finding per port
    records = [*handshake(0, 80)]
    for port in range(1000, 1700):
        kw = {"cport": port, "client": f"198.18.0.{port % 200 + 2}"}
        reset = s2c(1.001, port, RST_ACK, ttl=30 + port % 40, **kw)  # type: ignore[arg-type]
        records += [c2s(1, port, SYN, **kw), reset]  # type: ignore[arg-type]
    result = run(*records, c2s(9, 9, ACK, cport=1))
    assert result.groups == ()
    assert len(result.findings) == 701  # every port in the analysis (and in JSON) ...
    out = io.StringIO()
    render_analysis(CaptureAnalysis(_info(), result), Console(file=out, width=120))
    text = out.getvalue()
    assert "200 more rows with problems" in text  # ... but not every row on the terminal
    assert "600 more findings" in text
    assert "198.18.1.10 is up (port 80 works); the problem is limited to ports 1000-1699" in text
    verbose = io.StringIO()
    render_analysis(
        CaptureAnalysis(_info(), result), Console(file=verbose, width=120), verbose=True
    )
    assert "more rows" not in verbose.getvalue() and "syn-refused (198.18.1.10:1699)" in (
        verbose.getvalue()
    )


def test_checks_sentences_say_hop_limit_for_an_ipv6_server() -> None:
    # check's own evidence, quoted in the findings, names the IPv6 field by its name
    six, client = SERVER6, "2001:2::2"
    result = run(
        *handshake(0, 80, server=six, client=client),
        c2s(1, 81, SYN, server=six, client=client, cport=40001),
        s2c(1.001, 81, RST | ACK, server=six, client=client, cport=40001, ttl=64),
        c2s(2, 82, SYN, server=six, client=client, cport=40002),
        icmp(2.01, 82, typ=1, code=1, responder="2001:2::1", server=six, cport=40002),
        Tick(T0 + 30),
    )
    words = " ".join(s for f in result.findings for s in (f.summary, *f.evidence, *f.next_steps))
    assert "RST on 81 with hop limit 64 (≈ 0 hops): one hop closer" in words
    assert "for the SYN to 82, hop limit 64" in words
    assert "TTL" not in words
    v4 = run(c2s(0, 81, SYN), s2c(0.001, 81, RST | ACK, ttl=64), *handshake(1, 80), Tick(T0 + 30))
    assert "with TTL 64" in " ".join(e for f in v4.findings for e in f.evidence)
