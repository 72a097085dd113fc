"""RSTs that are not what they seem (issue 17): rst-injected, a RST the server did not send
before its real SYN/ACK; stray client RSTs, which end an attempt only when they match it.

Records built here as a capture would hold them; one test goes through the reader from plain
bytes (the IP ID comes from the IPv4 header)."""

from __future__ import annotations

import io
import socket
import struct
from pathlib import Path

import pytest
from rich.console import Console

from probe.capture import analyze as an
from probe.capture.packets import TcpSegment, Tick
from probe.capture.reader import CaptureInfo, open_capture
from probe.output.json.analyze import analysis_to_dict
from probe.output.text.analyze import render_analysis
from probe.output.views import CaptureAnalysis
from probe.status import ExitStatus

CLIENT, SERVER, SERVER6, CLIENT6 = "198.18.0.2", "198.18.1.10", "2001:2:0:1::10", "2001:2::2"
SYN, SYN_ACK, RST, RST_ACK, ACK, PSH_ACK = 0x02, 0x12, 0x04, 0x14, 0x10, 0x18
T0 = 1_700_000_000.0
ISN = 1000


def p(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in addr else socket.AF_INET, addr)


def seg(
    t: float, flags: int, *, up: bool, ttl: int = 64, seq: int = ISN, ack: int = 0,
    ipid: int = 0, port: int = 443, cport: int = 40000, server: str = SERVER,
) -> TcpSegment:  # fmt: skip
    """A segment from the client (``up``) or from the server's address."""
    client = CLIENT6 if ":" in server else CLIENT
    ends = (p(client), p(server), cport, port) if up else (p(server), p(client), port, cport)
    return TcpSegment(T0 + t, *ends, flags, seq, ack, ttl, 64240, b"", ipid)


def syn(t: float = 0.0, **kw: object) -> TcpSegment:
    return seg(t, SYN, up=True, ipid=4242, **kw)  # type: ignore[arg-type]


def synack(t: float = 0.012, **kw: object) -> TcpSegment:
    return seg(t, SYN_ACK, up=False, ttl=49, seq=9000, ack=ISN + 1, ipid=7, **kw)  # type: ignore[arg-type]


def client_ack(t: float = 0.013, **kw: object) -> list[TcpSegment]:
    return [
        seg(t, ACK, up=True, seq=ISN + 1, ack=9001, **kw),  # type: ignore[arg-type]
        seg(t + 0.001, PSH_ACK, up=True, seq=ISN + 1, ack=9001, **kw),  # type: ignore[arg-type]
        seg(t + 0.02, PSH_ACK, up=False, ttl=49, seq=9001, ack=ISN + 80, **kw),  # type: ignore[arg-type]
    ]


def forged(t: float = 0.0004, **kw: object) -> TcpSegment:
    """What an on-path injector sends: no ACK flag, the SYN's IP ID, from nearer."""
    fields: dict[str, object] = {"ttl": 46, "seq": 0, "ipid": 4242, **kw}
    return seg(t, RST, up=False, **fields)  # type: ignore[arg-type]


def run(*records: TcpSegment) -> an.Analysis:
    return an.analyze(sorted(records, key=lambda r: r.ts))


def only(result: an.Analysis) -> an.AnalyzeFinding:
    assert [f.code for f in result.findings] == ["rst-injected"], [
        (f.code, f.server) for f in result.findings
    ]
    return result.findings[0]


def test_a_forged_rst_before_a_completed_handshake_is_injected_not_refused() -> None:
    result = run(syn(), forged(), synack(), *client_ack())
    f = only(result)
    o = f.outcome
    assert (o.server, o.port, o.count, o.completed, o.ttl, o.synack_ttl) == (
        SERVER,
        443,
        1,
        1,
        46,
        49,
    )
    assert (o.bad_ack, o.ack_example, o.copied_ipid) == (1, (-1, ISN + 1), 1)
    assert "the connection worked anyway" in f.summary
    evidence = "\n".join(f.evidence)
    for needle in (
        "the client completed the handshake",
        "the RST came with TTL 46 (≈ 18 hops), the SYN/ACK with TTL 49 (≈ 15 hops)",
        f"acknowledges nothing (no ACK flag), where the server's own RST to a SYN "
        f"acknowledges the SYN's ISN + 1 ({ISN + 1})",
        "1 RST carries the IP ID of the SYN answered",
        "the RST arrived 0.4 ms after the SYN, the SYN/ACK 12.0 ms after the SYN it answers",
    ):
        assert needle in evidence, needle
    assert "syn-refused" not in {x.code for x in result.findings}
    assert an.exit_status(result) is ExitStatus.PROBLEM
    # The verdict names the resets and does not say the port fails: the handshake completed.
    assert result.summary == (
        f"Something on the path sends RSTs in {SERVER}'s name (port 443; rst-injected): the "
        "server answers, a device between resets.",
    )


def test_a_client_that_believed_the_rst_is_injected_and_gave_up() -> None:
    # A careful forger: RST/ACK acknowledging ISN + 1, the server's TTL, its own IP ID. The
    # client's kernel believed it; the real SYN/ACK then finds no socket and gets a RST.
    rst = seg(0.0004, RST_ACK, up=False, ttl=49, seq=0, ack=ISN + 1, ipid=99)
    kernel_rst = seg(0.0125, RST, up=True, seq=ISN + 1)
    f = only(run(syn(), rst, synack(), kernel_rst))
    assert (f.outcome.completed, f.outcome.bad_ack, f.outcome.copied_ipid) == (0, 0, 0)
    assert "the client gave up" in f.summary
    evidence = "\n".join(f.evidence)
    assert "the same TTL 49" in evidence
    assert "acknowledges" not in evidence and "IP ID" not in evidence
    assert "the RST arrived 0.4 ms after the SYN" in evidence  # earlier than any SYN/ACK


def test_a_rst_then_the_clients_ack_without_the_synack_in_the_capture() -> None:
    f = only(run(syn(), forged(), *client_ack()))
    assert f.outcome.completed == 1 and f.outcome.synack_ttl is None
    assert "the client's ACK to a SYN/ACK the capture does not hold" in f.evidence[0]


def test_a_real_refusal_stays_refused_and_a_retry_after_it_is_no_injection() -> None:
    refused = run(syn(), seg(0.0004, RST_ACK, up=False, ttl=49, seq=0, ack=ISN + 1))
    assert [f.code for f in refused.findings] == ["syn-refused"]
    # Windows sends the SYN again after a RST; the SYN/ACK then answers the retry.
    retry = run(
        syn(),
        seg(0.0004, RST_ACK, up=False, ttl=49, seq=0, ack=ISN + 1),
        syn(0.5),
        synack(0.512),
        *client_ack(0.513),
    )
    assert "rst-injected" not in {f.code for f in retry.findings}
    assert {f.code for f in retry.findings} == {"ok"}


def test_a_forged_rst_without_ack_then_the_clients_own_retransmission_is_injected() -> None:
    # The client's stack drops a RST that does not acknowledge its SYN (RFC 793): its SYN
    # timer sends the SYN again, and the SYN/ACK that follows still shows the RST was forged.
    f = only(run(syn(), forged(), syn(1.0), synack(1.012), *client_ack(1.013)))
    assert (f.outcome.completed, f.outcome.syns, f.outcome.bad_ack) == (1, 2, 1)
    assert f.outcome.rst_delays == pytest.approx((0.0004, 0.012), abs=1e-6)  # to the 2nd SYN


def test_healthy_and_refused_traffic_never_reads_as_injected() -> None:
    records: list[TcpSegment] = []
    for i in range(50):
        cport = 41000 + i
        records += [syn(i, cport=cport), synack(i + 0.012, cport=cport)]
        records += client_ack(i + 0.013, cport=cport)
        records += [seg(i + 0.5, RST_ACK, up=True, seq=ISN + 80, ack=9001, cport=cport)]
        records += [
            syn(i + 0.1, cport=cport, port=81),
            seg(i + 0.1004, RST_ACK, up=False, ttl=49, seq=0, ack=ISN + 1, cport=cport, port=81),
        ]
    result = run(*records)
    assert {(f.code, f.outcome.port) for f in result.findings} == {("ok", 443), ("syn-refused", 81)}


def test_ipv6_says_hop_limit() -> None:
    f = only(run(syn(server=SERVER6), forged(server=SERVER6), synack(server=SERVER6)))
    assert "the RST came with hop limit 46" in "\n".join(f.evidence)
    assert "TTL" not in "\n".join(f.evidence)


def test_json_and_text_name_the_injected_rst() -> None:
    result = run(syn(), forged(), synack(), *client_ack())
    info = CaptureInfo(
        path="t.pcap", format="pcap", link_types=(1,), packets=6, tcp=6, icmp_errors=0,
        skipped=0, first_ts=T0, last_ts=T0 + 1, truncated=False, problem=None,
    )  # fmt: skip
    doc = analysis_to_dict(CaptureAnalysis(info, result))["findings"][0]
    assert (doc["code"], doc["ttl"], doc["synack_ttl"], doc["completed"]) == (
        "rst-injected",
        46,
        49,
        1,
    )
    assert (doc["rst_bad_ack"], doc["rst_copied_ip_id"]) == (1, 1)
    out = io.StringIO()
    render_analysis(CaptureAnalysis(info, result), Console(file=out, width=160))
    assert f"rst-injected ({SERVER}:443): A RST that {SERVER} did not send" in out.getvalue()


def _frame(src: str, dst: str, sport: int, dport: int, flags: int, seq: int, ack: int,
           ttl: int, ipid: int) -> bytes:  # fmt: skip
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), ipid, 0x4000, ttl, 6, 0, p(src), p(dst)
    )
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def test_from_the_bytes_of_a_capture(tmp_path: Path) -> None:
    """The IP ID read from the IPv4 header: the forged RST copies the SYN's (0x1234)."""
    frames = [
        (0.0, _frame(CLIENT, SERVER, 40000, 443, SYN, ISN, 0, 64, 0x1234)),
        (0.0004, _frame(SERVER, CLIENT, 443, 40000, RST, 0, 0, 46, 0x1234)),
        (0.012, _frame(SERVER, CLIENT, 443, 40000, SYN_ACK, 9000, ISN + 1, 49, 0)),
        (0.013, _frame(CLIENT, SERVER, 40000, 443, ACK, ISN + 1, 9001, 64, 0x1235)),
    ]
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    body = b"".join(
        struct.pack("<IIII", int(T0 + t), round((t % 1) * 1e6), len(f), len(f)) + f
        for t, f in frames
    )
    path = tmp_path / "injected.pcap"
    path.write_bytes(head + body)
    with open_capture(path) as cap:
        result = an.analyze(cap.records())
    o = only(result).outcome
    assert (o.copied_ipid, o.bad_ack, o.completed, o.ttl, o.synack_ttl) == (1, 1, 1, 46, 49)


# --------------------------------------------------------------------------- client RSTs


def test_a_stray_client_rst_does_not_end_the_attempt() -> None:
    # A RST with another sequence number shortly after the SYN, then the same SYN (same ISN)
    # again and a completed handshake: one attempt, retried, ok; no syn-unanswered.
    stray = seg(0.1, RST, up=True, seq=555_555)
    result = run(syn(), stray, syn(1.0), synack(1.012), *client_ack(1.013))
    assert [(f.code, f.outcome.count, f.outcome.retried) for f in result.findings] == [("ok", 1, 1)]


def test_a_client_rst_with_isn_plus_one_answers_a_missed_synack() -> None:
    kernel = seg(0.012, RST, up=True, seq=ISN + 1)
    result = run(syn(), kernel)
    (f,) = result.findings
    assert (f.code, f.outcome.kernel_rst, f.outcome.no_synack) == ("ok", 1, 1)
    evidence = "\n".join(f.evidence)
    assert "its kernel answering a SYN/ACK the capture missed" in evidence
    assert "took another path" not in evidence


def test_a_client_rst_with_its_isn_is_the_client_giving_up() -> None:
    result = run(syn(), syn(1.0), seg(1.5, RST, up=True, seq=ISN))
    assert [(f.code, f.outcome.syns) for f in result.findings] == [("syn-unanswered", 2)]


def test_a_refusal_then_a_new_isn_that_works_keeps_the_refusal() -> None:
    refused = seg(0.0004, RST_ACK, up=False, ttl=49, seq=0, ack=ISN + 1)
    again = seg(0.5, SYN, up=True, seq=77_000)
    answer = seg(0.512, SYN_ACK, up=False, ttl=49, seq=9000, ack=77_001)
    done = seg(0.513, ACK, up=True, seq=77_001, ack=9001)
    result = run(syn(), refused, again, answer, done)
    assert sorted((f.code, f.outcome.count) for f in result.findings) == [
        ("ok", 1),
        ("syn-refused", 1),
    ]
    f = next(f for f in result.findings if f.code == "syn-refused")
    assert any("1 other attempt to" in e and "completed" in e for e in f.evidence)


def _old_connection(port: int = 443) -> list[TcpSegment]:
    """A connection from client port 40000 that completes and closes (ISNs 1000 and 9000)."""
    return [
        syn(0.0, port=port),
        synack(0.012, port=port),
        *client_ack(0.013, port=port),
        seg(0.2, 0x11, up=True, seq=ISN + 80, ack=9101, port=port),  # FIN/ACK
        seg(0.21, 0x11, up=False, ttl=49, seq=9101, ack=ISN + 81, port=port),
    ]


def _new_connection(rst: TcpSegment, isn: int = 77_000) -> list[TcpSegment]:
    """A new SYN from the same client port, a RST, then the server's SYN/ACK and the ACK."""
    return [
        syn(1.0, seq=isn),
        rst,
        seg(1.012, SYN_ACK, up=False, ttl=49, seq=55_000, ack=isn + 1),
        seg(1.013, ACK, up=True, seq=isn + 1, ack=55_001),
    ]


def test_a_late_rst_of_the_earlier_connection_on_a_reused_port_is_not_injected() -> None:
    # the server resets the old connection (seq and ack inside it) just after the new SYN
    late = seg(1.001, RST_ACK, up=False, ttl=49, seq=9102, ack=ISN + 81)
    result = an.analyze([*_old_connection(), *_new_connection(late)])
    assert {f.code for f in result.findings} == {"ok"} and result.outcomes[0].count == 2
    assert any("completed just before" in n and "late" in n for n in result.notes)
    # the same without the ACK flag: its sequence number alone continues the old connection
    bare = seg(1.001, RST, up=False, ttl=49, seq=9102)
    assert {f.code for f in an.analyze([*_old_connection(), *_new_connection(bare)]).findings} == {
        "ok"
    }


@pytest.mark.parametrize(
    ("seq", "ack", "flags"),
    [
        (0, 77_001, RST_ACK),  # acknowledges the new SYN: an answer to it, forged
        (3_000_000_000, 0, RST),  # a number of no connection
        (9102, 2_500_000_000, RST_ACK),  # acknowledges past anything the old one could send
    ],
)
def test_a_rst_that_does_not_continue_the_old_connection_stays_injected(
    seq: int, ack: int, flags: int
) -> None:
    forged = seg(1.001, flags, up=False, ttl=60, seq=seq, ack=ack)
    result = an.analyze([*_old_connection(), *_new_connection(forged)])
    assert "rst-injected" in {f.code for f in result.findings}
    assert not any("completed just before" in n for n in result.notes)


def test_without_an_earlier_connection_the_same_rst_is_injected() -> None:
    late = seg(1.001, RST_ACK, up=False, ttl=49, seq=9102, ack=ISN + 81)
    assert "rst-injected" in {f.code for f in an.analyze(_new_connection(late)).findings}


def test_a_segment_not_past_the_syn_does_not_complete_it() -> None:
    # after a new SYN (ISN 77 000) on the reused port: the old connection's late FIN/ACK, and a
    # crafted ACK carrying the SYN's own ISN; neither follows the SYN: the attempt is unanswered
    late_fin = seg(1.001, 0x11, up=True, seq=ISN + 81, ack=9102)
    crafted = seg(1.002, ACK, up=True, seq=77_000)
    result = an.analyze(
        [*_old_connection(), syn(1.0, seq=77_000), late_fin, crafted, Tick(T0 + 90)]
    )
    assert sorted((o.code, o.count) for o in result.outcomes) == [("ok", 1), ("syn-unanswered", 1)]
    # the client's ACK one past the ISN does complete it, the SYN/ACK missing from the capture
    done = an.analyze([syn(1.0, seq=77_000), seg(1.01, ACK, up=True, seq=77_001), Tick(T0 + 90)])
    assert [(o.code, o.no_synack) for o in done.outcomes] == [("ok", 1)]
