"""verdicts.py: a whole scan classified at once gives exactly ``classify`` per port, and the
results come back in (port, protocol) order."""

from __future__ import annotations

import pickle
from dataclasses import fields

import pytest

from probe.diagnosis.classify import classify, raw_result
from probe.diagnosis.verdicts import classify_each, in_endpoint_order
from probe.model import AnswerKind, Method, PortEvidence, PortResult, PortState, Protocol
from tests.conftest import Factories as mk

HOST = mk.host
UDP = Protocol.UDP


def _every_shape() -> list[PortEvidence]:
    o = mk.options()
    return [
        mk.evidence(1, "rst", responder=HOST, ttl=63, rtt_ms=0.3, window=0, ip_id=0, probe_ttl=64),
        mk.evidence(22, "syn-ack", responder=HOST, ttl=63, rtt_ms=0.4, window=65160, tcp_options=o),
        mk.evidence(23, "syn-ack", responder=HOST, ttl=52, rtt_ms=None, window=0, ip_id=7),
        mk.evidence(53, "none", tries=3, probe_ttl=64),
        mk.evidence(53, "udp", protocol=UDP, responder=HOST, ttl=63, reply=b"\x00" * 12),
        mk.evidence(54, "none", protocol=UDP, tries=2),
        mk.evidence(80, "icmp", responder=mk.router, ttl=254, icmp_type=3, icmp_code=13),
        mk.evidence(81, "icmp", protocol=UDP, responder=HOST, icmp_type=3, icmp_code=3),
        mk.evidence(82, "icmp", icmp_v6=True, icmp_type=1, icmp_code=7, responder="2001:db8::1"),
        mk.evidence(83, "rst", method=Method.CONNECT, errno_name="ECONNREFUSED", rtt_ms=1.5),
        mk.evidence(84, "syn-ack", method=Method.CONNECT, rtt_ms=2.5),
        mk.evidence(85, "none", method=Method.CONNECT, errno_name="ETIMEDOUT", tries=3),
        mk.evidence(86, "none", errno_name="EPERM"),
        mk.evidence(87, "icmp", errno_name="ENETDOWN"),
        mk.evidence(88, "rst", responder=mk.router, ttl=64, rtt_ms=0.1, window=0, tries=2),
    ]


def test_classify_each_is_classify_for_every_shape() -> None:
    evidence = _every_shape()
    services = {(22, Protocol.TCP): "ssh", (53, UDP): "domain", (80, Protocol.TCP): 'we"b\u00e9'}
    got = classify_each(evidence, services)
    want = [classify(e, services.get((e.port, e.protocol))) for e in evidence]
    assert got == want
    for g, w in zip(got, want, strict=True):
        assert type(g) is PortResult
        assert [getattr(g, f.name) for f in fields(g)] == [getattr(w, f.name) for f in fields(w)]
        assert hash(g) == hash(w)


def test_a_raw_result_is_an_ordinary_record() -> None:
    o = mk.options()
    ev = PortEvidence(HOST, 80, Method.RAW, AnswerKind.SYN_ACK, 1, HOST, 63, 0.4, window=1,
                      tcp_options=o, ip_id=0)  # fmt: skip
    made = raw_result(ev, PortState.OPEN, "syn-ack", "http")
    want = PortResult(
        80, PortState.OPEN, "syn-ack", 1, Protocol.TCP, "http", HOST, 63, 0.4, 1, o, 0
    )
    assert made == want
    assert repr(made) == repr(want)
    assert pickle.loads(pickle.dumps(made)) == want


def test_endpoint_order() -> None:
    ps = [mk.port(53, protocol="udp"), mk.port(22), mk.port(53, PortState.REFUSED)]
    ordered = in_endpoint_order(ps)
    assert [(p.port, p.protocol) for p in ordered] == [(22, "tcp"), (53, "tcp"), (53, "udp")]
    rising = (mk.port(1), mk.port(2), mk.port(3))
    assert in_endpoint_order(rising) == rising
    assert in_endpoint_order([]) == ()


def test_unknown_answer_fails_as_classify_does() -> None:
    bad = PortEvidence(HOST, 9, Method.RAW, AnswerKind.UDP, 1)  # a UDP answer to a SYN
    with pytest.raises(KeyError):
        classify(bad)
    with pytest.raises(KeyError):
        classify_each([bad], {})
