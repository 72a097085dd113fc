"""Host discovery's pure part: which addresses are alive from recorded evidence, the
blocks the silent ones make, merging batches, and the words of the summary."""

from __future__ import annotations

import pytest

from probe.diagnosis import discovery as d
from probe.diagnosis.discovery import Probe
from probe.model import AnswerKind, ArpResult, Method, PortEvidence

A, B, C, E = "198.18.1.10", "198.18.1.11", "198.18.1.12", "198.18.1.13"
ROUTER = "198.18.0.1"


def ev(
    address: str, port: int, answer: AnswerKind, responder: str | None = None, **kw: object
) -> PortEvidence:
    return PortEvidence(address, port, Method.RAW, answer, 1, responder, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("evidence", "alive"),
    [
        (ev(A, 443, AnswerKind.SYN_ACK, A), True),
        (ev(A, 443, AnswerKind.RST, A), True),
        (ev(A, 80, AnswerKind.RST, A), True),  # the ACK's RST
        (ev(A, 443, AnswerKind.ICMP, A, icmp_type=3, icmp_code=3), True),  # its own error
        (ev(A, 443, AnswerKind.ICMP, ROUTER, icmp_type=3, icmp_code=1), False),  # host unreach
        (ev(A, 443, AnswerKind.ICMP, None, errno_name="EHOSTUNREACH"), False),  # failed ARP
        (ev(A, 443, AnswerKind.NONE), False),
        (PortEvidence(A, 443, Method.CONNECT, AnswerKind.RST, 1), True),  # connect: refused
        (PortEvidence(A, 443, Method.CONNECT, AnswerKind.SYN_ACK, 1), True),
    ],
)
def test_what_proves_an_address_alive(evidence: PortEvidence, alive: bool) -> None:
    assert d.answered(evidence) is alive


def test_jobs_are_a_syn_to_443_and_an_ack_to_80_per_address() -> None:
    jobs = d.jobs([A, B])
    assert [(j.address, j.port, j.ack) for j in jobs] == [
        (A, 443, False),
        (A, 80, True),
        (B, 443, False),
        (B, 80, True),
    ]


def test_decide_from_every_kind_of_evidence() -> None:
    addresses = [f"198.18.1.{n}" for n in range(1, 21)]
    found = d.decide(
        addresses,
        [Probe.ECHO, Probe.SYN, Probe.ACK, Probe.ARP],
        [
            ev(A, 443, AnswerKind.SYN_ACK, A),
            ev(A, 80, AnswerKind.RST, A),
            ev(B, 80, AnswerKind.RST, B),
            ev(E, 443, AnswerKind.ICMP, ROUTER, icmp_type=3, icmp_code=1),
            ev("203.0.113.9", 443, AnswerKind.SYN_ACK, "203.0.113.9"),  # not asked: ignored
        ],
        echoed={A, C, "203.0.113.9"},
        neighbours={"198.18.1.2": ArpResult(macs=("02:00:00:00:00:02",)), E: ArpResult(), B: None},
    )
    assert found.alive == (
        ("198.18.1.2", (Probe.ARP,)),
        (A, (Probe.ECHO, Probe.SYN, Probe.ACK)),
        (B, (Probe.ACK,)),
        (C, (Probe.ECHO,)),
    )
    assert (found.asked, found.skipped) == (20, 16)
    assert found.silent == (
        "198.18.1.1/32",
        "198.18.1.3/32",
        "198.18.1.4/30",
        "198.18.1.8/31",
        "198.18.1.13/32",
        "198.18.1.14/31",
        "198.18.1.16/30",
        "198.18.1.20/32",
    )


def test_blocks_keep_families_apart_v4_first() -> None:
    assert d.blocks(["2001:2::1", "198.18.0.1", "2001:2::", "198.18.0.0"]) == (
        "198.18.0.0/31",
        "2001:2::/127",
    )


def test_merge_adds_batches_up() -> None:
    one = d.decide([A, B], [Probe.SYN, Probe.ACK], [ev(A, 443, AnswerKind.SYN_ACK, A)])
    two = d.decide([C, E], [Probe.ECHO, Probe.SYN, Probe.ACK], [], echoed={E})
    both = d.merge(one, two)
    assert both is not None
    assert (both.asked, len(both.alive), both.skipped) == (4, 2, 2)
    assert both.probes == (Probe.ECHO, Probe.SYN, Probe.ACK)
    assert both.silent == ("198.18.1.11/32", "198.18.1.12/32")
    assert d.merge(None, one) is one and d.merge(one, None) is one


def test_discovery_runs_above_256_addresses_when_enabled() -> None:
    assert not d.wanted(256, True) and d.wanted(257, True) and not d.wanted(65536, False)


@pytest.mark.parametrize(
    ("alive", "asked", "interrupted", "words"),
    [
        (
            3,
            65536,
            False,
            "65,533 of 65,536 addresses did not answer host discovery (ICMP echo, SYN to 443, "
            "ACK to 80, ARP): not probed; --all-hosts probes them all",
        ),
        (
            0,
            512,
            False,
            "No address of the 512 answered host discovery (ICMP echo, SYN to 443, ACK to 80, "
            "ARP): no port probed; --all-hosts probes them all",
        ),
        (
            512,
            512,
            False,
            "All 512 addresses answered host discovery (ICMP echo, SYN to 443, ACK to 80, ARP)",
        ),
        (2, 512, True, "Host discovery was interrupted: 2 of 512 addresses answered"),
    ],
)
def test_summary_words(alive: int, asked: int, interrupted: bool, words: str) -> None:
    found = d.Discovery(
        asked=asked,
        probes=(Probe.ECHO, Probe.SYN, Probe.ACK, Probe.ARP),
        alive=tuple((f"10.0.{n // 256}.{n % 256}", (Probe.SYN,)) for n in range(alive)),
        silent=(),
        interrupted=interrupted,
    )
    assert d.summary(found) == words


def test_connect_evidence_is_named_as_connect() -> None:
    found = d.decide(
        [A, B],
        d.tcp_probes(Method.CONNECT),
        [
            PortEvidence(A, 80, Method.CONNECT, AnswerKind.RST, 1),
            PortEvidence(B, 443, Method.CONNECT, AnswerKind.SYN_ACK, 1),
        ],
    )
    assert found.alive == ((A, (Probe.CONNECT_80,)), (B, (Probe.CONNECT_443,)))
    assert d.words(found.probes) == "connect() to 443, connect() to 80"
