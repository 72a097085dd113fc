"""The check's UDP steps with a scripted engine: each datagram carries its port's request
(or the user's payload), answers are decoded into the report, 53/tcp and 53/udp are two
ports, and --wait-for-icmp probes the silent ports again at the ICMP rate limit's pace."""

from __future__ import annotations

from typing import Any

from conftest import run_check

from probe import payloads
from probe.engine.base import Job
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
    PortState,
    Protocol,
    RouteResult,
    RouteStatus,
    Target,
)
from probe.session.edge import Edge
from probe.session.options import CheckOptions
from probe.session.udp import ICMP_INTERVAL, PACED_TRIES

HOST = "198.18.1.10"
UDP = Protocol.UDP
# An NTP server's answer: mode 4, stratum 2 (RFC 5905's 48-byte header).
NTP_REPLY = bytes([0x24, 2, 6, 0xEC]) + bytes(44)


def edge(engine: FakeEngine) -> Edge:
    return Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (HOST,)),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1"),
        ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
        open_engine=lambda method: engine,
    )


def evidence(job: Job, answer: AnswerKind, **kw: Any) -> PortEvidence:
    return PortEvidence(
        job.address, job.port, Method.RAW, answer, 1, HOST, 63, 0.5, protocol=job.protocol, **kw
    )


def script(job: Job) -> PortEvidence:
    if job.protocol is Protocol.TCP:
        return evidence(job, AnswerKind.SYN_ACK)
    if job.port == 123:
        return evidence(job, AnswerKind.UDP, reply=NTP_REPLY)
    if job.port == 9002:
        return evidence(job, AnswerKind.ICMP, icmp_type=3, icmp_code=3)
    return PortEvidence(job.address, job.port, Method.RAW, AnswerKind.NONE, 3, protocol=UDP)


def check(*requests: PortRequest, **opts: Any) -> tuple[Any, FakeEngine]:
    engine = FakeEngine(script)
    report = run_check(
        [Target(HOST, "ipv4", HOST)], CheckOptions(ports=requests, **opts), edge(engine)
    )
    return report.targets[0], engine


def test_each_udp_port_carries_its_request_and_tcp_carries_nothing() -> None:
    _, engine = check(
        PortRequest(123, protocol=UDP), PortRequest(80), PortRequest(9003, protocol=UDP)
    )
    jobs = {(j.port, j.protocol): j for j in engine.jobs}
    assert jobs[123, UDP].payloads == payloads.payloads_for(123) != ()
    assert jobs[80, Protocol.TCP].payloads == ()
    assert jobs[9003, UDP].payloads == ()  # no request known: an empty datagram


def test_the_payload_override_goes_to_every_udp_port_only() -> None:
    _, engine = check(PortRequest(123, protocol=UDP), PortRequest(80), payload=b"\x01\x02")
    jobs = {(j.port, j.protocol): j for j in engine.jobs}
    assert jobs[123, UDP].payloads == (b"\x01\x02",)
    assert jobs[80, Protocol.TCP].payloads == ()


def test_answers_are_decoded_and_the_request_is_named() -> None:
    t, _ = check(PortRequest(123, protocol=UDP), PortRequest(9002, protocol=UDP))
    ntp, closed = t.ports
    known = payloads.request_for(123)
    assert known is not None
    assert (ntp.state, ntp.reason, ntp.protocol) == (PortState.OPEN, "udp-response", UDP)
    assert ntp.request == known.request
    assert ntp.decoded is not None and "stratum 2" in ntp.decoded
    assert (closed.state, closed.reason, closed.request) == (
        PortState.REFUSED,
        "port-unreach",
        None,
    )


def test_an_answer_with_a_custom_payload_is_counted_in_bytes_not_guessed() -> None:
    t, _ = check(PortRequest(123, protocol=UDP), payload=b"x")
    (ntp,) = t.ports
    assert (ntp.request, ntp.decoded) == ("the given payload", f"{len(NTP_REPLY)} bytes")


def test_app_gives_the_decoded_answer_as_application_evidence() -> None:
    t, _ = check(PortRequest(123, protocol=UDP), app=True)
    (ntp,) = t.ports
    assert ntp.app is not None and ntp.app.protocol == "ntp" and ntp.app.banner == ntp.decoded


def test_one_port_number_on_both_transports_is_two_ports() -> None:
    t, engine = check(PortRequest(123), PortRequest(123, protocol=UDP))
    assert [(p.port, p.protocol, p.state) for p in t.ports] == [
        (123, Protocol.TCP, PortState.OPEN),
        (123, UDP, PortState.OPEN),
    ]
    assert len(engine.jobs) == 2


def test_wait_for_icmp_probes_the_silent_udp_ports_again_paced() -> None:
    answered_late: set[int] = {9005}

    def later(job: Job) -> PortEvidence:
        first_pass = len(engine.scans) == 1
        if job.port in answered_late and not first_pass:
            return evidence(job, AnswerKind.ICMP, icmp_type=3, icmp_code=3)
        return script(job)

    engine = FakeEngine(later)
    requests = [PortRequest(p, protocol=UDP) for p in (123, 9002, 9003, 9005)]
    report = run_check(
        [Target(HOST, "ipv4", HOST)],
        CheckOptions(ports=(*requests, PortRequest(80)), wait_for_icmp=True),
        edge(engine),
    )
    _, second = engine.scans
    assert sorted(j.port for j in second) == [9003, 9005]  # only the silent UDP ports
    paced = engine.configs[1]
    assert paced.tries == PACED_TRIES and paced.rate is not None
    assert abs(paced.rate - 1 / ICMP_INTERVAL) < 1e-9  # one host: one probe per interval
    states = {p.port: p.state for p in report.targets[0].ports if p.protocol is UDP}
    assert states == {
        123: PortState.OPEN,
        9002: PortState.REFUSED,
        9003: PortState.OPEN_FILTERED,
        9005: PortState.REFUSED,
    }
    late = next(p for p in report.targets[0].ports if p.port == 9005)
    assert late.tries == 3 + 1  # the first pass's three tries and the paced one


def test_without_wait_for_icmp_there_is_one_pass() -> None:
    _, engine = check(PortRequest(9003, protocol=UDP))
    assert len(engine.scans) == 1


def test_an_addresss_jobs_are_each_ports_job_in_order() -> None:
    from probe.session import udp

    mixed = [(22, Protocol.TCP), (53, Protocol.UDP), (80, Protocol.TCP), (443, Protocol.TCP)]
    mixed += [(123, Protocol.UDP), (161, Protocol.UDP), (8443, Protocol.TCP)]
    for opts in (CheckOptions(()), CheckOptions((), source="198.18.0.9", payload=b"hi")):
        for endpoints in (
            mixed,
            mixed[:1],
            mixed[1:2],
            [],
            [(p, Protocol.TCP) for p in range(1, 3000)],
        ):
            made = udp.jobs(HOST, endpoints, opts)
            assert made == [udp.job(HOST, port, proto, opts) for port, proto in endpoints]
            assert all(type(j) is Job for j in made)
