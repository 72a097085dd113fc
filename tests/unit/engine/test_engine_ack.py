"""Bare ACK probes (ack.py) against scapy: the ACK built is the ACK scapy builds, the RST a
live host answers with (seq = our ACK number, no ACK flag) decodes to the probe's tag, and
the scan loop matches it — and an ICMP error quoting the ACK — to the ACK's job only."""

from __future__ import annotations

import random
import socket
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.inet6 import IPv6

from probe.engine import ack, cookies, inet, tcp
from probe.engine.base import EngineConfig, Job
from probe.engine.icmp import IcmpDecoder
from probe.engine.paths import Outlet
from probe.engine.scan import Scan
from probe.model import AnswerKind, Protocol

SRC, DST = "198.18.0.2", "198.18.1.11"
SPORT = 45008


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(data)
        return len(data)


@pytest.fixture(autouse=True)
def _no_route_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inet, "source_for", lambda address: SRC)


@pytest.mark.parametrize("seed", range(20))
def test_built_ack_is_scapys_ack_byte_for_byte(seed: int) -> None:
    rng = random.Random(seed)
    sport, dport = rng.randrange(1, 65536), rng.randrange(1, 65536)
    tag, ttl = rng.getrandbits(32), rng.randrange(1, 256)
    built = ack.builder(socket.inet_aton(SRC), socket.inet_aton(DST)).build(sport, dport, tag, ttl)
    scapy_ack = IP(src=SRC, dst=DST, ttl=ttl, flags="DF", id=0) / TCP(
        sport=sport, dport=dport, seq=tag, ack=tag, flags="A", window=ack.WINDOW
    )
    assert built == bytes(scapy_ack)


def test_ipv6_ack_is_the_tcp_header_alone() -> None:
    built = ack.builder(bytes(16), bytes(16)).build(40001, 80, 0xDEADBEEF, 64)
    seg = TCP(built)
    assert (seg.sport, seg.dport, seg.seq, seg.ack, str(seg.flags)) == (
        40001,
        80,
        0xDEADBEEF,
        0xDEADBEEF,
        "A",
    )
    assert seg.chksum == 0  # the kernel fills it in (IPV6_CHECKSUM)


def test_rst_to_an_ack_gives_the_tag_from_its_sequence_number() -> None:
    # What Linux answers an ACK with: RST, seq = the ACK's ack number, ack = 0, no ACK flag.
    rst = IP(src=DST, dst=SRC, ttl=63) / TCP(sport=80, dport=40001, seq=0x12345678, flags="R")
    a = tcp.parse_v4(bytes(rst))
    assert a is not None
    assert (a.kind, a.responder, a.port, a.sport, a.tag) == (
        AnswerKind.RST,
        DST,
        80,
        40001,
        0x12345678,
    )


def test_rst_ack_to_a_syn_still_acknowledges_seq_plus_one() -> None:
    rst = IP(src=DST, dst=SRC) / TCP(sport=81, dport=40001, seq=0, ack=0x1000, flags="RA")
    a = tcp.parse_v4(bytes(rst))
    assert a is not None and a.tag == 0x0FFF


def test_rst_to_an_ack_over_ipv6() -> None:
    ip = IPv6(src="2001:2:0:1::11", dst="2001:2::2")
    rst = bytes(ip / TCP(sport=80, dport=40001, seq=77, flags="R"))
    a = tcp.parse_v6(rst[40:], "2001:2:0:1::11", 63)
    assert a is not None and (a.kind, a.tag) == (AnswerKind.RST, 77)


def scan_of(jobs: list[Job]) -> tuple[Scan, FakeSock]:
    send4 = FakeSock()
    out = Outlet(send4, {}, {Protocol.TCP: tcp.Tcp()})  # type: ignore[arg-type]
    s = Scan(out, jobs, EngineConfig())
    s.sport = SPORT
    return s, send4


def test_the_hosts_rst_to_the_ack_is_matched_to_the_ack_job() -> None:
    scan, sent = scan_of([Job(DST, 443), Job(DST, 80, ack=True)])
    scan._send(0.0)
    by_port = {IP(p)[TCP].dport: IP(p) for p in sent.sent}
    assert str(by_port[443][TCP].flags) == "S" and str(by_port[80][TCP].flags) == "A"
    probe = by_port[80][TCP]
    rst = IP(src=DST, dst=SRC, ttl=63) / TCP(sport=80, dport=probe.sport, seq=probe.ack, flags="R")
    a = tcp.parse_v4(bytes(rst))
    assert a is not None
    scan.match(a, 0.01, None, None)
    ev = scan.result[1]
    assert ev is not None and ev.answer is AnswerKind.RST and ev.responder == DST
    assert scan.result[0] is None  # the SYN to 443 is still waiting


def test_an_ack_and_a_syn_to_one_port_have_their_own_cookies() -> None:
    scan, sent = scan_of([Job(DST, 80), Job(DST, 80, ack=True)])
    scan._send(0.0)
    assert scan.cookies[0] != scan.cookies[1]
    syn = next(IP(p)[TCP] for p in sent.sent if str(IP(p)[TCP].flags) == "S")
    # A RST carrying the SYN's tag where an ACK's answer carries it is not the ACK's answer:
    # the cookies differ, so whatever it is, the ACK's job stays open.
    odd = IP(src=DST, dst=SRC) / TCP(sport=80, dport=syn.sport, seq=syn.seq, flags="R")
    a = tcp.parse_v4(bytes(odd))
    assert a is not None
    scan.match(a, 0.01, None, None)
    assert scan.result[1] is None


def test_an_icmp_error_quoting_the_ack_is_matched() -> None:
    scan, sent = scan_of([Job(DST, 80, ack=True)])
    scan._send(0.0)
    probe = IP(sent.sent[0])
    error = IP(src="198.18.0.1", dst=SRC) / ICMP(type=3, code=13) / bytes(probe)[:28]
    a = IcmpDecoder({socket.IPPROTO_TCP: tcp.Tcp()}).parse_v4(bytes(error))
    assert a is not None
    scan.match(a, 0.01, None, None)
    ev = scan.result[0]
    assert ev is not None and ev.answer is AnswerKind.ICMP and ev.responder == "198.18.0.1"
    assert cookies.split(scan.cookies[0] | 1)[1] == 1
