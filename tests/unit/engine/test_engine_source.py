"""--source in the engines: the raw scan writes the source into each IPv4 header it builds
(and gives it to the route lookup with IP_PKTINFO), asks for it with IPV6_PKTINFO on each
IPv6 send, and keeps one path per (address, source); the connect() engine binds to it. No
packet leaves the process but over loopback."""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP

from probe.engine import inet, mmsg, sender, tcp
from probe.engine.base import EngineConfig, Job
from probe.engine.connect import ConnectEngine
from probe.engine.paths import Outlet
from probe.engine.scan import Scan
from probe.model import AnswerKind, Protocol

HOST = "198.18.1.10"
HOST6 = "2001:2:0:1::10"
ROUTE_SOURCE = "198.18.0.2"  # what the route would pick
SOURCE = "198.18.0.3"
SOURCE6 = "2001:2::3"


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.msgs: list[tuple[list[bytes], list[tuple[int, int, bytes]], Any]] = []

    def sendto(self, data: bytes, addr: Any) -> int:
        self.sent.append(data)
        return len(data)

    def sendmsg(self, buffers: list[bytes], control: Any, flags: int, addr: Any) -> int:
        self.msgs.append((buffers, list(control), addr))
        return sum(len(b) for b in buffers)


@pytest.fixture(autouse=True)
def _no_route_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        inet, "source_for", lambda address: "2001:2::2" if ":" in address else ROUTE_SOURCE
    )


def scan_of(jobs: list[Job]) -> tuple[Scan, FakeSock, FakeSock]:
    send4, send6 = FakeSock(), FakeSock()
    out = Outlet(send4, {Protocol.TCP: send6}, {Protocol.TCP: tcp.Tcp()})  # type: ignore[dict-item,arg-type]
    s = Scan(out, jobs, EngineConfig(tries=1))
    s.sport = 45008
    return s, send4, send6


def test_an_ipv4_probe_carries_the_source() -> None:
    s, send4, _ = scan_of([Job(HOST, 80, source=SOURCE), Job(HOST, 80)])
    s._send(0.0)
    sent = send4.sent + [bufs[0] for bufs, _, _ in send4.msgs]  # sendmsg: with IP_PKTINFO
    by_scapy = [IP(pkt) for pkt in sent]
    assert sorted(p.src for p in by_scapy) == sorted([SOURCE, ROUTE_SOURCE])
    for p in by_scapy:
        assert p.dst == HOST and p[TCP].dport == 80 and p[TCP].flags == "S"
        # The checksums cover the source written: scapy recomputes the same ones.
        again = p.copy()
        del again.chksum, again[TCP].chksum
        rebuilt = IP(bytes(again))
        assert (rebuilt.chksum, rebuilt[TCP].chksum) == (p.chksum, p[TCP].chksum)
    # One path per (address, source): the same port from two sources is two probes.
    assert len({id(path) for path in s.paths}) == 2


def test_an_ipv6_probe_asks_for_the_source_with_pktinfo() -> None:
    s, _, send6 = scan_of([Job(HOST6, 80, ttl=7, source=SOURCE6), Job(HOST6, 81)])
    s._send(0.0)
    assert len(send6.msgs) == 2
    by_port = {struct.unpack("!H", bufs[0][2:4])[0]: control for bufs, control, _ in send6.msgs}
    pinned = dict(((level, kind), data) for level, kind, data in by_port[80])
    assert pinned[socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT] == struct.pack("i", 7)
    info = pinned[socket.IPPROTO_IPV6, socket.IPV6_PKTINFO]  # struct in6_pktinfo
    assert info == socket.inet_pton(socket.AF_INET6, SOURCE6) + bytes(4)
    # Without a source the kernel picks it, as before: no pktinfo.
    assert [kind for _, kind, _ in by_port[81]] == [socket.IPV6_HOPLIMIT]


def test_the_sender_passes_pktinfo_only_when_asked() -> None:
    sock = FakeSock()
    dst = socket.inet_pton(socket.AF_INET6, HOST6)
    src = socket.inet_pton(socket.AF_INET6, SOURCE6)
    item = sender.Outgoing(0, 1, b"x" * 20, HOST6, dst, 64, True, Protocol.TCP, src)
    sender._send_v6({Protocol.TCP: sock}, item)  # type: ignore[dict-item]
    sender._send_v6({Protocol.TCP: sock}, item._replace(src=None))  # type: ignore[dict-item]
    assert [len(control) for _, control, _ in sock.msgs] == [2, 1]


def test_an_ipv4_send_from_a_source_gives_the_route_lookup_its_source() -> None:
    # The header carries the source already; IP_PKTINFO's spec_dst is for the route lookup
    # (policy routing by source), which the kernel does before it reads our header.
    send4 = FakeSock()
    dst, src = socket.inet_aton(HOST), socket.inet_aton(SOURCE)
    item = sender.Outgoing(0, 1, b"x" * 40, HOST, dst, 64, False, Protocol.TCP, src)
    sender._send_one(send4, {}, item, lambda: False)  # type: ignore[arg-type]
    sender._send_one(send4, {}, item._replace(src=None), lambda: False)  # type: ignore[arg-type]
    ((_, control, _),) = send4.msgs
    assert control == [
        (socket.IPPROTO_IP, mmsg.IP_PKTINFO, struct.pack("=i4s4s", 0, src, bytes(4)))
    ]
    assert len(send4.sent) == 1  # no source: a plain sendto, as before


def test_a_batch_carries_pktinfo_for_the_messages_with_a_source() -> None:
    b = mmsg.SendBatch(3)
    dst, src = socket.inet_aton(HOST), socket.inet_aton(SOURCE)
    b.fill(0, b"a" * 40, dst, src)
    b.fill(1, b"b" * 40, dst)
    space = socket.CMSG_SPACE(12)
    hdr0, hdr1 = b.msgs[0].hdr, b.msgs[1].hdr
    assert (hdr0.controllen, hdr1.controllen, hdr1.control) == (space, 0, None)
    cmsg = ctypes.string_at(hdr0.control, space)
    length, level, kind = struct.unpack_from("@Nii", cmsg)
    assert (length, level, kind) == (socket.CMSG_LEN(12), socket.IPPROTO_IP, mmsg.IP_PKTINFO)
    assert cmsg[socket.CMSG_LEN(0) : socket.CMSG_LEN(12)] == struct.pack("=i4s4s", 0, src, bytes(4))
    b.fill(0, b"c" * 40, dst)  # the slot reused without a source: no control message left
    assert (hdr0.controllen, hdr0.control) == (0, None)


def test_connect_binds_to_the_source() -> None:
    # Over loopback only: 127.0.0.2 is this machine's too (all of 127/8 is on lo).
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        peers: list[str] = []

        def accept() -> None:
            conn, peer = server.accept()
            peers.append(peer[0])
            conn.close()

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        run = ConnectEngine().scan(
            [Job("127.0.0.1", port, source="127.0.0.2")], EngineConfig(tries=1, timeout=2.0)
        )
        t.join(timeout=5)
    assert run.evidence[0].answer is AnswerKind.SYN_ACK
    assert peers == ["127.0.0.2"]


def test_is_local() -> None:
    assert inet.is_local("127.0.0.1")
    assert not inet.is_local("192.0.2.201")  # TEST-NET-1: never an address of a test machine
