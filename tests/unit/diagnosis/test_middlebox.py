"""middlebox.py: which TTL-limited SYNs prove who sent a RST, how their outcome and the scan's
oddities (SYN-proxy SYN/ACKs, IP ID patterns) are worded, and the runner's hook that sends
them (over a fake engine: no packet is sent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from conftest import run_check

from probe.diagnosis import middlebox
from probe.diagnosis.classify import classify
from probe.diagnosis.registry import attach_confirmations, diagnose
from probe.engine.base import EngineConfig, EngineRun, Job
from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortRequest,
    PortResult,
    RouteResult,
    RouteStatus,
    Target,
    TcpOptions,
)
from probe.session.edge import Edge
from probe.session.options import CheckOptions

HOST = "198.18.2.1"
ROUTER = "198.18.0.1"
OPTIONS = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=True)


def scan_ev(port: int, answer: str, ttl: int | None = None, **kw: Any) -> PortEvidence:
    """Main-scan evidence (TTL 64 SYNs) from the host's address."""
    kw.setdefault("responder", HOST if answer != "none" else None)
    return PortEvidence(HOST, port, Method.RAW, AnswerKind(answer), 1, ttl=ttl, probe_ttl=64, **kw)


def proof(port: int, answer: str, responder: str | None = HOST, **kw: Any) -> PortEvidence:
    """A confirmation probe's evidence: sent with TTL 1."""
    tries = kw.pop("tries", 1)
    sent = kw.pop("probe_ttl", 1)
    return PortEvidence(
        HOST, port, Method.RAW, AnswerKind(answer), tries, responder=responder, probe_ttl=sent, **kw
    )


PING_ROUTER = PingResult(PingStatus.OK, 3, 3, ttl=64)  # the NAT router answers ping itself
CAMERA = [scan_ev(80, "syn-ack", 63, window=64240, tcp_options=OPTIONS), scan_ev(6036, "rst", 64)]


# --------------------------------------------------------------------------- plan


def verdicts(evidence: Sequence[PortEvidence]) -> list[PortResult]:
    return [classify(e) for e in evidence]


def test_plan_nat_router_resetting_a_port_is_probed_one_hop_short() -> None:
    # SYN/ACK with TTL 63: one router before the host; the RST with 64 is closer. A SYN with
    # TTL 1 reaches that router and not the host.
    assert middlebox.plan(HOST, verdicts(CAMERA), PING_ROUTER) == [Job(HOST, 6036, ttl=1)]


def test_plan_reference_from_the_echo_reply_two_hops_away() -> None:
    evidence = [scan_ev(6036, "rst", 64), scan_ev(6037, "rst", 63)]
    ping = PingResult(PingStatus.OK, 3, 3, ttl=62)
    assert middlebox.plan(HOST, verdicts(evidence), ping) == [
        Job(HOST, 6036, ttl=2),
        Job(HOST, 6037, ttl=2),
    ]


@pytest.mark.parametrize(
    ("evidence", "ping"),
    [
        ([scan_ev(80, "syn-ack", 63), scan_ev(81, "rst", 63)], None),  # the host's own RST
        ([scan_ev(6036, "rst", 64)], PingResult(PingStatus.NO_REPLY, 3, 0)),  # nothing to compare
        ([scan_ev(80, "syn-ack", 64), scan_ev(81, "rst", 64)], None),  # on-link: no hop before
        ([scan_ev(80, "syn-ack", 63), scan_ev(81, "rst", 63, responder=ROUTER)], None),
        ([scan_ev(80, "syn-ack", 63), scan_ev(81, "none")], None),  # no RST at all
        ([scan_ev(80, "syn-ack", 63), scan_ev(81, "rst")], None),  # RST without a TTL
    ],
    ids=["host RST", "no reference", "on-link", "other address only", "no RST", "no TTL"],
)
def test_plan_nothing_to_prove(evidence: list[PortEvidence], ping: PingResult | None) -> None:
    assert middlebox.plan(HOST, verdicts(evidence), ping) == []


def test_plan_has_nothing_to_prove_from_connect_evidence() -> None:
    connect = [
        PortEvidence(HOST, 80, Method.CONNECT, AnswerKind.SYN_ACK, 1),
        PortEvidence(HOST, 6036, Method.CONNECT, AnswerKind.RST, 1),
    ]
    assert middlebox.plan(HOST, verdicts(connect), PING_ROUTER) == []


def test_plan_proves_a_few_ports_only() -> None:
    resets = [scan_ev(p, "rst", 64) for p in range(1000, 1100)]
    jobs = middlebox.plan(HOST, verdicts([CAMERA[0], *resets]), PING_ROUTER)
    assert [j.port for j in jobs] == list(range(1000, 1000 + middlebox.MAX_PROOFS))
    assert {j.ttl for j in jobs} == {1}


# --------------------------------------------------------------------------- evidence lines


def lines(mk: Any, confirmations: Sequence[PortEvidence] = ()) -> list[str]:
    t = mk.target((80, "open", 63), (6036, "refused", 64), ping=mk.ping("ok", 64))
    t = replace(t, confirmations=tuple(confirmations))
    refused = [p for p in t.ports if p.port == 6036]
    own = [p for p in t.ports if p.port != 6036]
    return middlebox.evidence_lines(t, refused, own)


def test_proof_rst_names_the_device_and_its_hop(mk: Any) -> None:
    got = lines(mk, [proof(6036, "rst", ttl=64, window=0)])
    assert got == [
        "a SYN to 6036 with TTL 1 — enough for hop 1, too short to reach the host — still "
        "drew the RST from 198.18.2.1: the device at hop 1 answers for the host"
    ]


def test_proof_rst_from_a_closer_device_than_the_ttl_reached(mk: Any) -> None:
    got = lines(mk, [proof(6036, "rst", probe_ttl=3, ttl=63)])
    assert "with TTL 3" in got[0] and "the device at hop 2 answers" in got[0]


def test_proof_rst_with_a_window_says_so(mk: Any) -> None:
    got = lines(mk, [proof(6036, "rst", ttl=64, window=4096)])
    assert got[0].endswith("(with window 4096 in the RST, where TCP stacks put 0)")


@pytest.mark.parametrize(
    ("confirmation", "words"),
    [
        (
            proof(6036, "icmp", ROUTER, icmp_type=11, icmp_code=0),
            "died at hop 1 (ICMP time exceeded from 198.18.0.1) without drawing a RST",
        ),
        (proof(6036, "none", None, tries=3), "got no answer after 3 tries"),
        (proof(6036, "syn-ack", ttl=63), "drew a SYN/ACK from 198.18.2.1"),
        (
            proof(6036, "icmp", ROUTER, icmp_type=3, icmp_code=13),
            "drew ICMP administratively prohibited from 198.18.0.1",
        ),
    ],
    ids=["time exceeded", "silence", "syn-ack", "reject"],
)
def test_proof_not_confirmed(mk: Any, confirmation: PortEvidence, words: str) -> None:
    (got,) = lines(mk, [confirmation])
    assert words in got and "not confirmed" in got


def test_proofs_alike_share_one_line_and_others_are_ignored(mk: Any) -> None:
    t = mk.target((80, "open", 63), (6036, "refused", 64), (6037, "refused", 64))
    t = replace(
        t,
        confirmations=(
            proof(6037, "rst", ttl=64),
            proof(6036, "rst", ttl=64),
            proof(9999, "rst", ttl=64),  # not one of the suspected ports
            PortEvidence("198.18.9.9", 6036, Method.RAW, AnswerKind.RST, 1, probe_ttl=1),
        ),
    )
    refused = [p for p in t.ports if p.port != 80]
    got = middlebox.evidence_lines(t, refused, [])
    assert len(got) == 1
    assert got[0].startswith("SYNs to 6036, 6037 with TTL 1") and "drew RSTs from" in got[0]


def test_syn_proxy_syn_ack_is_flagged(mk: Any) -> None:
    t = mk.target(
        mk.port(80, "open", 64, window=0, tcp_options=TcpOptions()),
        mk.port(443, "open", 64, window=0, tcp_options=TcpOptions()),
        mk.port(22, "open", 64, window=0, tcp_options=OPTIONS),  # a real stack: options
        (6036, "refused", 64),
    )
    got = middlebox.evidence_lines(t, [p for p in t.ports if p.port == 6036], [])
    assert got == [
        "SYN/ACK on 80, 443 with window 0 and no TCP options: forged by a SYN proxy (a "
        "firewall completing the handshake in the host's name), not the host's own TCP stack"
    ]


def test_looks_forged_needs_window_0_and_no_options(mk: Any) -> None:
    assert middlebox.looks_forged(mk.port(80, "open", window=0, tcp_options=TcpOptions()))
    assert not middlebox.looks_forged(mk.port(80, "open", window=0, tcp_options=OPTIONS))
    assert not middlebox.looks_forged(mk.port(80, "open", window=1024, tcp_options=TcpOptions()))
    assert not middlebox.looks_forged(mk.port(80, "open", window=0, tcp_options=None))


@pytest.mark.parametrize(
    ("own_ids", "rst_id", "flagged"),
    [
        ((4711, 4712), 0, True),  # a counting host (Windows), a Linux-like device
        ((0, 0), 31337, True),  # a Linux host, a counting device
        ((0,), 0, False),
        ((4711,), 4800, False),  # both count: no difference in pattern
        ((0, 4711), 31337, False),  # the host mixes both: nothing to compare
        ((None,), 0, False),  # IPv6 has no IP ID
        ((0,), None, False),
    ],
)
def test_ip_id_pattern(
    mk: Any, own_ids: tuple[int | None, ...], rst_id: int | None, flagged: bool
) -> None:
    own = [mk.port(80 + i, "open", 63, ip_id=i_d) for i, i_d in enumerate(own_ids)]
    rst = mk.port(6036, "refused", 64, ip_id=rst_id)
    t = mk.target(*own, rst)
    got = middlebox.evidence_lines(t, [rst], own)
    assert bool(got) is flagged
    if flagged:
        assert got[0].startswith(f"RST on 6036 with IP ID {rst_id}, the host's own answers")
        assert got[0].endswith("another IP stack sent the RST")


def test_ip_id_ignores_a_forged_syn_ack_as_the_host(mk: Any) -> None:
    forged = mk.port(80, "open", 64, window=0, tcp_options=TcpOptions(), ip_id=0)
    rst = mk.port(6036, "refused", 64, ip_id=4711)
    got = middlebox.evidence_lines(mk.target(forged, rst), [rst], [forged])
    assert not any("IP ID" in line for line in got)


# --------------------------------------------------------------------------- attach


def test_attach_adds_the_proof_to_the_finding(mk: Any) -> None:
    t = mk.target((80, "open", 63), (6036, "refused", 64), ping=mk.ping("ok", 64))
    t = replace(t, findings=diagnose(t))
    proofs = {HOST: (proof(6036, "rst", ttl=64),)}
    out = attach_confirmations(t, proofs, mode=Method.RAW, timeout=1.0)
    assert out.confirmations == proofs[HOST]
    (f,) = [f for f in out.findings if f.code == "port-refused-by-middlebox"]
    assert any("still drew the RST from 198.18.2.1" in e for e in f.evidence)
    elsewhere = {"198.18.9.9": proofs[HOST]}
    assert attach_confirmations(t, elsewhere, mode=Method.RAW, timeout=1.0) is t


# --------------------------------------------------------------------------- the runner's hook


def camera(j: Job) -> PortEvidence:
    """The camera behind a NAT router: SYN/ACK from 1 hop away on 80, the router's own RST on
    6036 whatever the TTL."""
    if j.port == 80:
        return scan_ev(80, "syn-ack", 63, window=64240, tcp_options=OPTIONS)
    rst = PortEvidence(HOST, j.port, Method.RAW, AnswerKind.RST, 1, responder=HOST, ttl=64)
    return replace(rst, window=0, probe_ttl=j.ttl)


def check_report(engine: FakeEngine, ports: Sequence[int]) -> Any:
    io = Edge(
        resolve=lambda *a: DnsResult(DnsStatus.NXDOMAIN),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", ROUTER),
        ping=lambda a, t: PING_ROUTER,
        open_engine=lambda method: engine,  # type: ignore[arg-type]
    )
    opts = CheckOptions(ports=tuple(PortRequest(p) for p in ports))
    return run_check([Target(HOST, "ipv4", HOST)], opts, io)


def check(engine: FakeEngine, ports: Sequence[int]) -> Any:
    return check_report(engine, ports).targets[0]


def test_runner_sends_the_proof_after_the_scan() -> None:
    engine = FakeEngine(camera)
    t = check(engine, [80, 6036])
    assert engine.scans[1:] == [[Job(HOST, 6036, ttl=1)]]
    assert [e.port for e in t.confirmations] == [6036]
    (f,) = [f for f in t.findings if f.code == "port-refused-by-middlebox"]
    assert any("the device at hop 1 answers for the host" in e for e in f.evidence)


def test_runner_sends_nothing_more_without_a_suspect() -> None:
    engine = FakeEngine(camera)
    t = check(engine, [80])
    assert len(engine.scans) == 1 and t.confirmations == ()


def test_runner_sends_no_proof_in_connect_mode() -> None:
    engine = FakeEngine(camera, method=Method.CONNECT)
    check(engine, [80, 6036])
    assert len(engine.scans) == 1


def test_ctrl_c_during_the_proof_marks_the_report_interrupted() -> None:
    class Interrupted(FakeEngine):
        def scan(self, jobs: Sequence[Job], config: EngineConfig, **kw: Any) -> EngineRun:
            run = super().scan(jobs, config, **kw)
            return replace(run, interrupted=len(self.scans) > 1)

    engine = Interrupted(camera)
    report = check_report(engine, [80, 6036])
    assert report.interrupted and len(engine.scans) == 2
    assert [p.port for p in report.targets[0].ports] == [80, 6036]  # the scan is kept
    assert report.targets[0].confirmations == ()
