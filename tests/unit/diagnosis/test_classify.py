"""classify.py: every answer -> (state, reason) mapping, per transport, what is carried over,
TTL arithmetic and address comparison."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from probe.diagnosis import classify as cl
from probe.diagnosis.classify import (
    Reading,
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


def test_a_transport_without_a_table_is_not_guessed(mk: Any) -> None:
    with pytest.raises(LookupError, match="udp"):
        classify(mk.evidence(53, NONE, protocol=Protocol.UDP))


def test_an_icmp_error_from_the_target_itself_is_a_table_entry(
    mk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contract's UDP rule (port unreachable from the target itself: refused; from
    # another address: rejected) is one entry of a transport's table, not new code.
    own = {(False, 3, 3): Reading(REFUSED, "port-unreach")}
    monkeypatch.setitem(cl.TABLES, Protocol.UDP, replace(cl.TCP, icmp_from_target=own))
    unreach = {"icmp_type": 3, "icmp_code": 3, "protocol": Protocol.UDP}
    by_host = classify(mk.evidence(53, ICMP, responder=mk.host, **unreach))
    by_router = classify(mk.evidence(53, ICMP, responder=mk.router, **unreach))
    assert (by_host.state, by_host.reason, by_host.protocol) == (REFUSED, "port-unreach", "udp")
    assert (by_router.state, by_router.reason) == (REJECTED, "port-unreach")
    # TCP has no such entry: its stack answers a closed port with a RST, so an ICMP port
    # unreachable is a firewall's, whoever sends it.
    tcp = classify(mk.evidence(53, ICMP, responder=mk.host, icmp_type=3, icmp_code=3))
    assert (tcp.state, tcp.protocol) == (REJECTED, "tcp")
