"""diagnosis/trace.py for UDP: a datagram's evidence as a hop, the jobs that carry the port's
request, and the verdict's words (the datagram, 53/udp, open|filtered named as undecided)."""

from __future__ import annotations

from typing import Any

import pytest

from probe.diagnosis import trace
from probe.engine.base import Job
from probe.model import AnswerKind, Hop, Method, PortEvidence, PortState, Protocol, TraceVerdict

HOST = "198.18.1.10"
DNS = "198.18.1.53"
R1, R2 = "198.18.0.1", "198.18.9.1"


def ev(
    sent: int, answer: AnswerKind, responder: str | None = None, port: int = 9002, **kw: Any
) -> PortEvidence:
    """A datagram's evidence: what came back to the probe sent with TTL ``sent``."""
    tries = kw.pop("tries", 3 if answer is AnswerKind.NONE else 1)
    return PortEvidence(
        kw.pop("address", HOST),
        port,
        Method.RAW,
        answer,
        tries,
        responder=responder,
        probe_ttl=sent,
        protocol=Protocol.UDP,
        **kw,
    )


def te(sent: int, router: str) -> PortEvidence:
    return ev(sent, AnswerKind.ICMP, router, icmp_type=11, icmp_code=0, ttl=65 - sent)


def unreach(sent: int, sender: str, code: int, **kw: Any) -> PortEvidence:
    return ev(sent, AnswerKind.ICMP, sender, icmp_type=3, icmp_code=code, ttl=63, **kw)


# --------------------------------------------------------------------------- hop_of


@pytest.mark.parametrize(
    ("evidence", "kind", "reason", "final"),
    [
        (te(1, R1), "time-exceeded", "time-exceeded", False),
        (ev(2, AnswerKind.UDP, HOST, reply=b"x", ttl=63), "udp-response", "udp-response", True),
        (unreach(2, HOST, 3), "refused", "port-unreach", True),  # the target's own
        (unreach(2, R1, 3), "rejected", "port-unreach", True),  # in the target's name
        (unreach(2, R1, 13), "rejected", "admin-prohibited", True),
        (unreach(2, HOST, 13), "rejected", "admin-prohibited", True),  # its own firewall
        (unreach(2, R1, 1), "unreachable", "host-unreach", True),
        (
            ev(2, AnswerKind.ICMP, "2001:2::1", icmp_type=1, icmp_code=4, icmp_v6=True),
            "rejected",
            "port-unreach",
            True,
        ),
        (
            ev(
                2,
                AnswerKind.ICMP,
                "2001:2:0:1::10",
                address="2001:2:0:1::10",
                icmp_type=1,
                icmp_code=4,
                icmp_v6=True,
            ),
            "refused",
            "port-unreach",
            True,
        ),
        (ev(3, AnswerKind.NONE), "none", "no-response", False),
    ],
)
def test_hop_of_a_datagram(evidence: PortEvidence, kind: str, reason: str, final: bool) -> None:
    hop = trace.hop_of(evidence)
    assert (hop.ttl, hop.kind, hop.reason) == (evidence.probe_ttl, kind, reason)
    assert (hop.responder, hop.tries, hop.reply_ttl) == (
        evidence.responder,
        evidence.tries,
        evidence.ttl,
    )
    assert trace.is_final(hop) is final


def test_udp_jobs_carry_the_request_at_every_ttl() -> None:
    datagrams = (b"q1", b"q2")
    got = trace.jobs(HOST, 161, range(1, 3), Protocol.UDP, datagrams)
    assert got == [Job(HOST, 161, t, Protocol.UDP, datagrams) for t in (1, 2)]


def test_a_udp_answer_ends_the_waves() -> None:
    seen = [trace.hop_of(te(1, R1)), trace.hop_of(ev(2, AnswerKind.UDP, HOST))]
    assert trace.wave(seen, 30, 3) == range(0)
    assert [h.ttl for h in trace.cut([*seen, trace.hop_of(ev(3, AnswerKind.UDP, HOST))], 3)] == [
        1,
        2,
    ]


# --------------------------------------------------------------------------- verdicts


def udp_verdict(
    *evidence: PortEvidence, port: int = 9002, address: str = HOST, **kw: Any
) -> TraceVerdict:
    hops = [trace.hop_of(e) for e in evidence]
    return trace.verdict(hops, address, port, kw.pop("max_hops", 30), Protocol.UDP, **kw)


def test_open_names_the_answer_in_words() -> None:
    from probe import payloads

    request = payloads.payloads_for(53)[0]
    reply = request[:2] + b"\x81\x80" + request[4:]  # the query back as a NOERROR answer
    v = udp_verdict(
        te(1, R1),
        ev(2, AnswerKind.UDP, DNS, port=53, address=DNS),
        port=53,
        address=DNS,
        reply=reply,
    )
    assert (v.state, v.reason, v.stopped_at_ttl, v.last_responder) == (
        PortState.OPEN,
        "udp-response",
        2,
        DNS,
    )
    assert v.summary.startswith(
        "Port 53/udp is open: the datagram reached 198.18.1.53 at hop 2 and got a UDP answer (DNS"
    )


def test_open_with_an_unknown_protocol_says_how_many_bytes() -> None:
    v = udp_verdict(te(1, R1), ev(2, AnswerKind.UDP, HOST, port=9999), port=9999, reply=b"hi")
    assert "got a UDP answer (2 bytes)." in v.summary


def test_refused_by_the_hosts_own_port_unreachable() -> None:
    v = udp_verdict(te(1, R1), unreach(2, HOST, 3))
    assert (v.state, v.reason, v.stopped_at_ttl) == (PortState.REFUSED, "port-unreach", 2)
    assert v.summary == (
        "Port 9002/udp is refused: 198.18.1.10 answers ICMP port unreachable at hop 2, so "
        "nothing listens there; the datagram got as far as hop 1 (198.18.0.1)."
    )


def test_rejected_by_the_router_it_crosses_says_datagram() -> None:
    v = udp_verdict(te(1, R1), unreach(2, R1, 13), port=9004)
    assert (v.state, v.reason) == (PortState.REJECTED, "admin-prohibited")
    assert v.summary == (
        "Port 9004/udp is rejected: 198.18.0.1, the router at hop 1, refuses to forward the "
        "datagram (ICMP administratively prohibited)."
    )
    assert "SYN" not in v.summary


def test_unreachable_says_datagram() -> None:
    v = udp_verdict(te(1, R1), unreach(2, R1, 1))
    assert v.state is PortState.UNREACHABLE
    assert v.summary.endswith("the datagram got as far as hop 1 (198.18.0.1).")


def test_silence_after_a_router_is_open_filtered_and_undecided() -> None:
    v = udp_verdict(te(1, R1), te(2, R2), *(ev(t, AnswerKind.NONE) for t in (3, 4, 5)), port=9001)
    assert (v.state, v.reason, v.stopped_at_ttl, v.last_responder) == (
        PortState.OPEN_FILTERED,
        "no-response",
        2,
        R2,
    )
    assert v.summary == (
        "Port 9001/udp is open|filtered: the datagram got as far as hop 2 (198.18.9.1) and "
        "nothing answers after that. UDP has no handshake, so the silence is undecided: either "
        "a firewall right after 198.18.9.1 (or the target's own) drops the datagram, or the "
        "service at 198.18.1.10 gets it and ignores the request."
    )


def test_silence_names_the_request_and_what_its_protocol_does() -> None:
    v = udp_verdict(te(1, R1), *(ev(t, AnswerKind.NONE, port=123) for t in (2, 3, 4)), port=123)
    assert v.state is PortState.OPEN_FILTERED
    assert "Port 123/udp is open|filtered" in v.summary
    assert "ignores an NTP client request (mode 3). An NTP server" in v.summary


def test_silence_from_the_first_hop() -> None:
    v = udp_verdict(*(ev(t, AnswerKind.NONE) for t in (1, 2, 3)))
    assert (v.state, v.stopped_at_ttl, v.last_responder) == (PortState.OPEN_FILTERED, None, None)
    assert "nothing answers from hop 1 on" in v.summary and "ignores the request" in v.summary


def test_still_travelling_at_max_hops_says_datagram() -> None:
    v = udp_verdict(te(1, R1), te(2, R2), max_hops=2)
    assert v.state is PortState.UNREACHABLE and v.reason == "time-exceeded"
    assert v.summary.startswith("The datagram to port 9002/udp was still on its way at hop 2")


def test_tcp_words_are_unchanged_by_default() -> None:
    hops = [Hop(1, "time-exceeded", R1, reason="time-exceeded"), Hop(2, "none", tries=3)]
    v = trace.verdict(hops, HOST, 82, 30)
    assert v.state is PortState.FILTERED and v.summary.startswith(
        "Port 82 is filtered: the SYN got as far as hop 1"
    )
