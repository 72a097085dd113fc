"""udp.py: datagrams built byte-exact (checked by scapy's own dissection and checksum),
replies and ICMP quotes decoded to the probe they answer, the reply's payload kept."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, IPv6

from probe.engine import udp
from probe.engine.cookies import TRY_MASK
from probe.engine.icmp import IcmpDecoder
from probe.model import REPLY_KEEP, AnswerKind, Protocol

SRC, DST = "198.18.0.2", "198.18.1.10"
SPORT = 45008 + 2  # a block's first port + try 2


def packed(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


@pytest.mark.parametrize("payload", [b"", b"x", b"\x17\x00\x03\x2a" + bytes(44), b"odd!!"])
def test_ipv4_datagrams_are_what_scapy_would_build(payload: bytes) -> None:
    b = udp.Udp().builder(packed(SRC), packed(DST))
    pkt = IP(b.build(SPORT, 123, 0, 61, payload))
    assert (pkt.src, pkt.dst, pkt.ttl, pkt.proto, pkt.flags) == (SRC, DST, 61, 17, "DF")
    assert (pkt[UDP].sport, pkt[UDP].dport, bytes(pkt[UDP].payload)) == (SPORT, 123, payload)
    ours = (pkt.chksum, pkt[UDP].chksum)
    del pkt.chksum, pkt[UDP].chksum  # scapy computes both anew: ours must match
    again = IP(bytes(pkt))
    assert ours == (again.chksum, again[UDP].chksum)
    assert pkt.len == 28 + len(payload)


def test_ipv6_datagrams_leave_the_checksum_to_the_kernel() -> None:
    b = udp.Udp().builder(packed("2001:2::2"), packed("2001:2:0:1::10"))
    raw = b.build(SPORT, 5060, 0, 64, b"OPTIONS")
    d = UDP(raw)
    assert (d.sport, d.dport, d.len, bytes(d.payload)) == (SPORT, 5060, 15, b"OPTIONS")
    assert udp.Udp.checksum_at == 6  # where IPV6_CHECKSUM tells the kernel to write it


def test_a_reply_is_an_answer_with_its_payload_and_the_try_in_our_port() -> None:
    reply = IP(src=DST, dst=SRC, ttl=63, id=9) / UDP(sport=123, dport=SPORT) / (b"\x24" + bytes(47))
    a = udp.parse_v4(bytes(reply))
    assert a is not None
    assert (a.kind, a.responder, a.ttl, a.ip_id) == (AnswerKind.UDP, DST, 63, 9)
    assert (a.target, a.port, a.sport, a.tag) == (packed(DST), 123, SPORT, SPORT & TRY_MASK)
    assert a.payload == b"\x24" + bytes(47)


def test_a_long_reply_is_kept_only_to_the_evidence_limit() -> None:
    reply = IP(src=DST, dst=SRC) / UDP(sport=53, dport=SPORT) / bytes(3000)
    a = udp.parse_v4(bytes(reply))
    assert a is not None and a.payload is not None and len(a.payload) == REPLY_KEEP


def test_ipv6_reply() -> None:
    seg = bytes(UDP(sport=5060, dport=SPORT, chksum=0) / b"SIP/2.0 200 OK\r\n")
    a = udp.parse_v6(seg, "2001:2:0:1::10", 63)
    assert a is not None and a.kind is AnswerKind.UDP
    assert (a.responder, a.ttl, a.port, a.sport) == ("2001:2:0:1::10", 63, 5060, SPORT)
    assert a.payload == b"SIP/2.0 200 OK\r\n"


def test_truncated_or_foreign_packets_are_not_answers() -> None:
    assert udp.parse_v4(bytes(IP(src=DST) / UDP(sport=1, dport=2))[:27]) is None
    from scapy.layers.inet import TCP

    assert udp.parse_v4(bytes(IP(src=DST) / TCP(sport=1, dport=2))) is None
    assert udp.parse_v6(b"\x00" * 7, "2001:2::1", 64) is None


def test_icmp_errors_quoting_a_datagram_decode_to_it() -> None:
    decoder = IcmpDecoder({socket.IPPROTO_UDP: udp.Udp()})
    sent = IP(src=SRC, dst=DST) / UDP(sport=SPORT, dport=9002) / b"hello"
    err = IP(src=DST, dst=SRC, ttl=63) / ICMP(type=3, code=3) / bytes(sent)
    a = decoder.parse_v4(bytes(err))
    assert a is not None and (a.kind, a.icmp_type, a.icmp_code) == (AnswerKind.ICMP, 3, 3)
    assert (a.target, a.port, a.sport, a.tag) == (packed(DST), 9002, SPORT, SPORT & TRY_MASK)
    six = IPv6(src="2001:2::2", dst="2001:2:0:1::10") / UDP(sport=SPORT, dport=9004)
    a6 = decoder.parse_v6(bytes(ICMPv6DestUnreach(code=1) / bytes(six)), "2001:2::1", 64)
    assert a6 is not None and (a6.port, a6.sport, a6.icmp_code) == (9004, SPORT, 1)


def test_the_transport_says_it_is_untagged_udp() -> None:
    t = udp.Udp()
    assert (t.protocol, t.number, t.tagged) == (Protocol.UDP, 17, False)


# --------------------------------------------------------------------------- in a scan


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: object) -> int:
        self.sent.append(data)
        return len(data)


def test_tcp_and_udp_probes_share_a_scan_and_each_try_carries_its_variant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from probe.engine import inet, tcp
    from probe.engine.base import EngineConfig, Job
    from probe.engine.paths import Outlet
    from probe.engine.scan import Scan

    monkeypatch.setattr(inet, "source_for", lambda address: SRC)
    send4 = FakeSock()
    transports = {
        Protocol.TCP: tcp.Tcp(tcp.SynTemplate(ip=bytes(20), tcp=bytes(20))),
        Protocol.UDP: udp.Udp(),
    }
    out = Outlet(send4, {}, transports)  # type: ignore[arg-type]
    jobs = [
        Job(DST, 53),
        Job(DST, 53, protocol=Protocol.UDP, payloads=(b"v2c", b"v3")),
        Job(DST, 9002, protocol=Protocol.UDP),
    ]
    scan = Scan(out, jobs, EngineConfig(tries=3, timeout=1.0))
    scan.sport = SPORT - 2  # the block's first port: try N leaves from it + N
    scan._send(0.0)
    scan._expire(1.5)
    scan._send(1.5)
    datagrams = [IP(p) for p in send4.sent if IP(p).proto == 17]
    by_try = {(d[UDP].dport, d[UDP].sport - scan.sport): bytes(d[UDP].payload) for d in datagrams}
    assert by_try == {(53, 1): b"v2c", (53, 2): b"v3", (9002, 1): b"", (9002, 2): b""}
    # A reply to 53/udp's second try, and the host's port unreachable for 9002's first.
    reply = udp.parse_v4(
        bytes(IP(src=DST, dst=SRC, ttl=63) / UDP(sport=53, dport=scan.sport + 2) / b"ok")
    )
    assert reply is not None
    scan.match(reply, 1.6, None, None)
    quoted = next(d for d in datagrams if d[UDP].dport == 9002)
    err = IP(src=DST, dst=SRC, ttl=63) / ICMP(type=3, code=3) / bytes(quoted)
    unreach = IcmpDecoder({17: udp.Udp()}).parse_v4(bytes(err))
    assert unreach is not None
    scan.match(unreach, 1.6, None, None)
    tcp_ev, udp_ev, closed = scan.result
    assert tcp_ev is None  # the TCP probe to 53 is not answered by the UDP reply
    assert udp_ev is not None and (udp_ev.answer, udp_ev.tries, udp_ev.reply) == (
        AnswerKind.UDP,
        2,
        b"ok",
    )
    assert udp_ev.protocol is Protocol.UDP
    assert closed is not None and (closed.answer, closed.icmp_code) == (AnswerKind.ICMP, 3)


@pytest.mark.parametrize(
    ("protocol", "sender", "code", "spaced"),
    [
        (Protocol.UDP, DST, 3, True),  # the host's own port unreachable: it rate-limits them
        (Protocol.UDP, "198.18.0.1", 13, False),  # a firewall's prohibited: left alone
        (Protocol.TCP, "198.18.0.1", 1, True),  # a router's host unreachable
        (Protocol.TCP, DST, 3, False),  # a port unreachable for TCP: a firewall's reject
    ],
)
def test_retries_are_spaced_once_a_rate_limited_icmp_sender_is_seen(
    monkeypatch: pytest.MonkeyPatch, protocol: Protocol, sender: str, code: int, spaced: bool
) -> None:
    from probe.engine import icmp, inet, tcp
    from probe.engine.base import EngineConfig, Job
    from probe.engine.paths import Outlet
    from probe.engine.scan import Scan
    from probe.engine.transport import Answer

    monkeypatch.setattr(inet, "source_for", lambda address: SRC)
    transports = {
        Protocol.TCP: tcp.Tcp(tcp.SynTemplate(ip=bytes(20), tcp=bytes(20))),
        Protocol.UDP: udp.Udp(),
    }
    s = Scan(
        Outlet(FakeSock(), {}, transports), [Job(DST, 9002, protocol=protocol)], EngineConfig()
    )  # type: ignore[arg-type]
    s.sport = SPORT - 1
    s._send(0.0)
    ck = s.cookies[0]
    err = Answer(
        AnswerKind.ICMP, sender, 64, packed(DST), 9002, SPORT, ck | 1, icmp_type=3, icmp_code=code
    )
    s.match(err, 0.01, None, None)
    assert s.result[0] is not None  # the error is the port's answer either way
    assert (s.paths[0].est.floor >= icmp.SPACING) is spaced


def test_an_address_with_many_probes_keeps_its_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    # One ICMP token a second is shared by all of them: spacing would only slow the scan.
    from probe.engine import icmp, inet
    from probe.engine.base import EngineConfig, Job
    from probe.engine.paths import Outlet
    from probe.engine.scan import Scan
    from probe.engine.transport import Answer

    monkeypatch.setattr(inet, "source_for", lambda address: SRC)
    jobs = [Job(DST, p, protocol=Protocol.UDP) for p in range(9000, 9001 + icmp.SPACED_MAX)]
    s = Scan(Outlet(FakeSock(), {}, {Protocol.UDP: udp.Udp()}), jobs, EngineConfig())  # type: ignore[arg-type]
    s.sport = SPORT - 1
    s._send(0.0)
    err = Answer(AnswerKind.ICMP, DST, 64, packed(DST), 9000, SPORT, 1, icmp_type=3, icmp_code=3)
    s.match(err, 0.01, None, None)
    assert s.result[0] is not None
    assert s.paths[0].est.floor < icmp.SPACING
