"""--source in the engines: the raw scan writes the source into each IPv4 header it builds,
asks for it with IPV6_PKTINFO on each IPv6 send, and keeps one path per (address, source);
the connect() engine binds to it. No packet leaves the process but over loopback."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP

from probe.engine import inet, sender, tcp
from probe.engine.base import EngineConfig, Job
from probe.engine.connect import ConnectEngine
from probe.engine.scan import Outlet, Scan
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
    by_scapy = [IP(pkt) for pkt in send4.sent]
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
    sender._send_v6({Protocol.TCP: sock}, item._replace(src6=None))  # type: ignore[dict-item]
    assert [len(control) for _, control, _ in sock.msgs] == [2, 1]


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
