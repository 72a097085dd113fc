"""classify.py: every answer -> (state, reason) mapping, per transport, what is carried over,
TTL arithmetic and address comparison."""

from __future__ import annotations

from typing import Any

import pytest

from probe.diagnosis.classify import (
    classify,
    connect_errnos,
    hops_from_ttl,
    initial_ttl,
    reason_text,
    same_address,
)
from probe.model import AnswerKind, Method, PortState, Protocol

OPEN, REFUSED, FILTERED = PortState.OPEN, PortState.REFUSED, PortState.FILTERED
REJECTED, UNREACHABLE = PortState.REJECTED, PortState.UNREACHABLE
SYN_ACK, RST, ICMP, NONE = AnswerKind.SYN_ACK, AnswerKind.RST, AnswerKind.ICMP, AnswerKind.NONE

# (answer, evidence fields, expected state, expected reason)
SYN_CASES: list[tuple[AnswerKind, dict[str, Any], PortState, str]] = [
    (SYN_ACK, {}, OPEN, "syn-ack"),
    (RST, {}, REFUSED, "reset"),
    (NONE, {}, FILTERED, "no-response"),
    # ICMP destination unreachable (type 3)
    (ICMP, {"icmp_type": 3, "icmp_code": 0}, UNREACHABLE, "net-unreach"),
    (ICMP, {"icmp_type": 3, "icmp_code": 1}, UNREACHABLE, "host-unreach"),
    (ICMP, {"icmp_type": 3, "icmp_code": 2}, REJECTED, "proto-unreach"),
    (ICMP, {"icmp_type": 3, "icmp_code": 3}, REJECTED, "port-unreach"),
    (ICMP, {"icmp_type": 3, "icmp_code": 4}, UNREACHABLE, "icmp-3-4"),
    (ICMP, {"icmp_type": 3, "icmp_code": 5}, UNREACHABLE, "icmp-3-5"),
    (ICMP, {"icmp_type": 3, "icmp_code": 6}, UNREACHABLE, "net-unreach"),
    (ICMP, {"icmp_type": 3, "icmp_code": 7}, UNREACHABLE, "host-unreach"),
    (ICMP, {"icmp_type": 3, "icmp_code": 8}, UNREACHABLE, "icmp-3-8"),
    (ICMP, {"icmp_type": 3, "icmp_code": 9}, REJECTED, "admin-prohibited"),
    (ICMP, {"icmp_type": 3, "icmp_code": 10}, REJECTED, "admin-prohibited"),
    (ICMP, {"icmp_type": 3, "icmp_code": 11}, UNREACHABLE, "icmp-3-11"),
    (ICMP, {"icmp_type": 3, "icmp_code": 12}, UNREACHABLE, "icmp-3-12"),
    (ICMP, {"icmp_type": 3, "icmp_code": 13}, REJECTED, "admin-prohibited"),
    (ICMP, {"icmp_type": 3, "icmp_code": 14}, UNREACHABLE, "icmp-3-14"),
    (ICMP, {"icmp_type": 3, "icmp_code": 15}, UNREACHABLE, "icmp-3-15"),
    (ICMP, {"icmp_type": 11, "icmp_code": 0}, UNREACHABLE, "time-exceeded"),
    (ICMP, {"icmp_type": 5, "icmp_code": 1}, UNREACHABLE, "icmp-5-1"),
    (ICMP, {}, UNREACHABLE, "icmp"),
    # ICMPv6 destination unreachable (type 1)
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 0}, UNREACHABLE, "net-unreach"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 1}, REJECTED, "admin-prohibited"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 2}, UNREACHABLE, "beyond-scope"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 3}, UNREACHABLE, "host-unreach"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 4}, REJECTED, "port-unreach"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 5}, REJECTED, "policy"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 6}, REJECTED, "reject-route"),
    (ICMP, {"icmp_v6": True, "icmp_type": 1, "icmp_code": 7}, UNREACHABLE, "icmp6-1-7"),
    (ICMP, {"icmp_v6": True, "icmp_type": 3, "icmp_code": 0}, UNREACHABLE, "time-exceeded"),
    # v4 numbers must not be read from the v6 table and vice versa
    (ICMP, {"icmp_v6": True, "icmp_type": 3, "icmp_code": 3}, UNREACHABLE, "time-exceeded"),
    (ICMP, {"icmp_type": 1, "icmp_code": 4}, UNREACHABLE, "icmp-1-4"),
    # the raw engine's local verdicts: sendto() refused by this machine's kernel
    (ICMP, {"errno_name": "EHOSTUNREACH"}, UNREACHABLE, "host-unreach"),
    (ICMP, {"errno_name": "EHOSTDOWN"}, UNREACHABLE, "host-unreach"),
    (ICMP, {"errno_name": "ENETUNREACH"}, UNREACHABLE, "net-unreach"),
    (ICMP, {"errno_name": "EPERM"}, REJECTED, "local-reject"),
    (ICMP, {"errno_name": "EACCES"}, REJECTED, "local-reject"),
]

CONNECT_CASES: list[tuple[AnswerKind, str | None, PortState, str]] = [
    (SYN_ACK, None, OPEN, "syn-ack"),
    (RST, "ECONNREFUSED", REFUSED, "conn-refused"),
    (RST, None, REFUSED, "conn-refused"),
    (ICMP, "EHOSTUNREACH", UNREACHABLE, "host-unreach"),
    (ICMP, "EHOSTDOWN", UNREACHABLE, "host-unreach"),
    (ICMP, "ENETUNREACH", UNREACHABLE, "net-unreach"),
    (ICMP, "EACCES", REJECTED, "local-reject"),
    (ICMP, "EPERM", REJECTED, "local-reject"),
    (ICMP, "ENETDOWN", UNREACHABLE, "ENETDOWN"),  # unknown kernel word: kept as the reason
    (NONE, None, FILTERED, "no-response"),
    (NONE, "ETIMEDOUT", FILTERED, "no-response"),
]


@pytest.mark.parametrize(("answer", "fields", "state", "reason"), SYN_CASES)
def test_syn_answers(
    mk: Any, answer: AnswerKind, fields: dict[str, Any], state: PortState, reason: str
) -> None:
    r = classify(mk.evidence(443, answer, **fields))
    assert (r.port, r.state, r.reason) == (443, state, reason)


@pytest.mark.parametrize(("answer", "errno_name", "state", "reason"), CONNECT_CASES)
def test_connect_answers(
    mk: Any, answer: AnswerKind, errno_name: str | None, state: PortState, reason: str
) -> None:
    r = classify(mk.evidence(22, answer, method=Method.CONNECT, errno_name=errno_name))
    assert (r.port, r.state, r.reason) == (22, state, reason)


def test_open_carries_the_handshake_facts(mk: Any) -> None:
    ev = mk.evidence(
        80,
        SYN_ACK,
        tries=2,
        responder=mk.host,
        ttl=63,
        rtt_ms=12.5,
        window=64240,
        tcp_options=mk.options(),
        ip_id=4711,
    )
    r = classify(ev, "http")
    assert (r.tries, r.service, r.protocol, r.app) == (2, "http", "tcp", None)
    assert (r.responder, r.ttl, r.rtt_ms, r.window, r.ip_id) == (mk.host, 63, 12.5, 64240, 4711)
    assert r.tcp_options == mk.options()


@pytest.mark.parametrize(
    ("answer", "fields"),
    [(RST, {}), (ICMP, {"icmp_type": 3, "icmp_code": 13})],
)
def test_answers_keep_who_and_ttl_but_window_only_for_open(
    mk: Any, answer: AnswerKind, fields: dict[str, Any]
) -> None:
    ev = mk.evidence(
        6036,
        answer,
        responder=mk.router,
        ttl=64,
        rtt_ms=3.0,
        window=0,
        tcp_options=mk.options(),
        ip_id=7,
        **fields,
    )
    r = classify(ev)
    assert (r.responder, r.ttl, r.rtt_ms, r.ip_id) == (mk.router, 64, 3.0, 7)
    assert (r.window, r.tcp_options) == (None, None)


def test_connect_claims_no_ttl_or_responder(mk: Any) -> None:
    # Even if an engine filled them in, the connect() fallback cannot know them.
    ev = mk.evidence(
        80,
        SYN_ACK,
        method=Method.CONNECT,
        tries=3,
        responder=mk.host,
        ttl=63,
        rtt_ms=4.0,
        window=64240,
        tcp_options=mk.options(),
        ip_id=1,
    )
    r = classify(ev, "http")
    assert (r.state, r.tries, r.rtt_ms, r.service) == (OPEN, 3, 4.0, "http")
    assert (r.responder, r.ttl, r.window, r.tcp_options, r.ip_id) == (None,) * 5


def test_filtered_keeps_the_try_count(mk: Any) -> None:
    assert classify(mk.evidence(82, NONE, tries=3)).tries == 3


@pytest.mark.parametrize(
    ("ttl", "start", "hops"),
    [
        (64, 64, 0),
        (63, 64, 1),
        (33, 64, 31),
        (65, 128, 63),
        (128, 128, 0),
        (116, 128, 12),
        (255, 255, 0),
        (254, 255, 1),
        (129, 255, 126),
        (32, 32, 0),
        (1, 32, 31),
        (0, 32, 32),
    ],
)
def test_ttl_arithmetic(ttl: int, start: int, hops: int) -> None:
    assert initial_ttl(ttl) == start
    assert hops_from_ttl(ttl) == hops


@pytest.mark.parametrize("ttl", [-1, 256])
def test_impossible_ttl(ttl: int) -> None:
    with pytest.raises(ValueError, match="TTL"):
        hops_from_ttl(ttl)


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("admin-prohibited", "ICMP administratively prohibited"),
        ("port-unreach", "ICMP port unreachable"),
        ("host-unreach", "ICMP host unreachable"),
        ("icmp-3-4", "ICMP destination unreachable, code 4"),
        ("icmp6-1-7", "ICMPv6 destination unreachable, code 7"),
        ("icmp-5-1", "ICMP type 5, code 1"),
        ("ENETDOWN", "error ENETDOWN"),
        ("something-new", "something-new"),
    ],
)
def test_reason_text(reason: str, text: str) -> None:
    assert reason_text(reason) == text


@pytest.mark.parametrize(
    ("reason", "errnos"),
    [
        ("host-unreach", ("EHOSTUNREACH", "EHOSTDOWN")),
        ("local-reject", ("EACCES", "EPERM")),
        ("conn-refused", ("ECONNREFUSED",)),
        ("ENETDOWN", ("ENETDOWN",)),
        ("syn-ack", ()),
    ],
)
def test_connect_errnos(reason: str, errnos: tuple[str, ...]) -> None:
    assert connect_errnos(reason) == errnos


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("198.18.1.10", "198.18.1.10", True),
        ("2001:2::1", "2001:0002:0::1", True),
        ("fe80::1", "fe80::1%eth0", True),  # the zone index is the client's, not the address
        ("198.18.0.1", "198.18.1.10", False),
        ("camera.example", "camera.example", True),
        ("camera.example", "198.18.1.10", False),
    ],
)
def test_same_address(a: str, b: str, same: bool) -> None:
    assert same_address(a, b) is same


# --------------------------------------------------------------------------- per transport


UDP_CASES = [
    # (answer, evidence fields, state, reason): the contract's UDP table
    ("udp", {"responder": "H", "reply": b"x"}, "open", "udp-response"),
    ("none", {}, "open|filtered", "no-response"),
    ("icmp", {"responder": "H", "icmp_type": 3, "icmp_code": 3}, "refused", "port-unreach"),
    ("icmp", {"responder": "R", "icmp_type": 3, "icmp_code": 3}, "rejected", "port-unreach"),
    ("icmp", {"responder": "R", "icmp_type": 3, "icmp_code": 13}, "rejected", "admin-prohibited"),
    ("icmp", {"responder": "H", "icmp_type": 3, "icmp_code": 13}, "rejected", "admin-prohibited"),
    ("icmp", {"responder": "R", "icmp_type": 3, "icmp_code": 1}, "unreachable", "host-unreach"),
    ("icmp", {"responder": "R", "icmp_type": 3, "icmp_code": 0}, "unreachable", "net-unreach"),
    ("icmp", {"responder": "R", "icmp_type": 11, "icmp_code": 0}, "unreachable", "time-exceeded"),
    (
        "icmp",
        {"responder": "H6", "icmp_type": 1, "icmp_code": 4, "icmp_v6": True},
        "refused",
        "port-unreach",
    ),
    (
        "icmp",
        {"responder": "R", "icmp_type": 1, "icmp_code": 1, "icmp_v6": True},
        "rejected",
        "admin-prohibited",
    ),
]


@pytest.mark.parametrize(("answer", "fields", "state", "reason"), UDP_CASES)
def test_udp_answers_read_as_the_contract_says(
    mk: Any, answer: str, fields: dict[str, Any], state: str, reason: str
) -> None:
    who = {"H": mk.host, "R": mk.router, "H6": "2001:2:0:1::10"}
    fields = {**fields}
    address = mk.host
    if "responder" in fields:
        fields["responder"] = who[fields["responder"]]
        if fields["responder"].startswith("2001"):
            address = fields["responder"]
    ev = mk.evidence(53, answer, address=address, protocol=Protocol.UDP, **fields)
    got = classify(ev)
    assert (got.state, got.reason, got.protocol) == (state, reason, "udp")
    if state != "open":
        assert got.window is None and got.tcp_options is None


@pytest.mark.parametrize(
    ("errno_name", "state", "reason"),
    [
        ("ECONNREFUSED", "refused", "conn-refused"),
        ("EHOSTUNREACH", "unreachable", "host-unreach"),
        ("ETIMEDOUT", "open|filtered", "no-response"),
    ],
)
def test_udp_connect_errors(mk: Any, errno_name: str, state: str, reason: str) -> None:
    ev = mk.evidence(53, "icmp", method="connect", errno_name=errno_name, protocol=Protocol.UDP)
    got = classify(ev)
    assert (got.state, got.reason) == (state, reason)
    silent = classify(mk.evidence(53, "none", method="connect", protocol=Protocol.UDP))
    assert silent.state == "open|filtered"


def test_an_icmp_port_unreachable_means_refused_for_udp_only(mk: Any) -> None:
    # TCP's stack answers a closed port with a RST, so an ICMP port unreachable is a
    # firewall's, whoever sends it; UDP's own refusal is that ICMP from the host itself.
    unreach = {"icmp_type": 3, "icmp_code": 3}
    tcp = classify(mk.evidence(53, ICMP, responder=mk.host, **unreach))
    assert (tcp.state, tcp.protocol) == (REJECTED, "tcp")
    udp = classify(mk.evidence(53, ICMP, responder=mk.host, protocol=Protocol.UDP, **unreach))
    assert (udp.state, udp.protocol) == (REFUSED, "udp")
