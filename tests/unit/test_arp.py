"""arp.py: ARP and neighbour-discovery frames (checked against scapy's dissectors), and the
collection loop over a fake link. No packet is sent anywhere."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether

from probe import arp
from probe.model import RouteResult, RouteStatus

OWN_MAC = "02:70:72:00:00:02"
OWN = bytes.fromhex(OWN_MAC.replace(":", ""))
DUP1 = "02:70:72:00:77:01"
DUP2 = "02:70:72:00:77:02"
V4, TARGET_V4 = "198.18.0.2", "198.18.0.77"
V6, TARGET_V6 = "2001:2::2", "2001:2::77"


def arp_reply(mac: str, ip: str = TARGET_V4) -> bytes:
    return bytes(
        Ether(src=mac, dst=OWN_MAC) / ARP(op=2, hwsrc=mac, psrc=ip, hwdst=OWN_MAC, pdst=V4)
    )


def advert(mac: str, target: str = TARGET_V6, *, option: bool = True, hlim: int = 255) -> bytes:
    na = ICMPv6ND_NA(tgt=target, S=1, O=1)
    if option:
        na = na / ICMPv6NDOptDstLLAddr(lladdr=mac)
    return bytes(Ether(src=mac, dst=OWN_MAC) / IPv6(src=target, dst=V6, hlim=hlim) / na)


# --------------------------------------------------------------------------- frames


def test_arp_request_is_a_broadcast_who_has() -> None:
    frame = Ether(arp.arp_request(OWN, V4, TARGET_V4))
    assert (frame.dst, frame.src, frame.type) == ("ff:ff:ff:ff:ff:ff", OWN_MAC, 0x0806)
    a = frame[ARP]
    assert (a.op, a.hwsrc, a.psrc, a.pdst, a.hwdst) == (
        1,
        OWN_MAC,
        V4,
        TARGET_V4,
        "00:00:00:00:00:00",
    )


def test_parse_arp_reply() -> None:
    assert arp.parse_arp_reply(arp_reply(DUP1), TARGET_V4) == DUP1
    assert arp.parse_arp_reply(arp_reply(DUP1, "198.18.0.78"), TARGET_V4) is None
    request = bytes(Ether(src=DUP1) / ARP(op=1, hwsrc=DUP1, psrc=TARGET_V4, pdst=V4))
    assert arp.parse_arp_reply(request, TARGET_V4) is None  # a request is not an answer
    assert arp.parse_arp_reply(b"\x00" * 20, TARGET_V4) is None


def test_neighbour_solicitation_is_valid() -> None:
    raw = arp.neighbour_solicitation(OWN, V6, TARGET_V6)
    frame = Ether(raw)
    assert (frame.dst, frame.src) == ("33:33:ff:00:00:77", OWN_MAC)
    ip6 = frame[IPv6]
    assert (ip6.src, ip6.dst, ip6.hlim) == (V6, "ff02::1:ff00:77", 255)
    assert frame[ICMPv6ND_NS].tgt == TARGET_V6
    assert frame[ICMPv6NDOptSrcLLAddr].lladdr == OWN_MAC
    # scapy recomputes the checksum when it is deleted: ours must be the same
    sent = frame[ICMPv6ND_NS].cksum
    del frame[ICMPv6ND_NS].cksum
    assert Ether(bytes(frame))[ICMPv6ND_NS].cksum == sent


def test_parse_neighbour_advert() -> None:
    assert arp.parse_neighbour_advert(advert(DUP2), TARGET_V6) == DUP2
    # without the target link-layer option: the Ethernet source
    assert arp.parse_neighbour_advert(advert(DUP1, option=False), TARGET_V6) == DUP1
    assert arp.parse_neighbour_advert(advert(DUP1, "2001:2::78"), TARGET_V6) is None
    assert arp.parse_neighbour_advert(advert(DUP1, hlim=64), TARGET_V6) is None  # routed: forged
    assert arp.parse_neighbour_advert(arp_reply(DUP1), TARGET_V6) is None


# --------------------------------------------------------------------------- collecting


class FakeLink:
    """A packet socket stand-in: every request sent makes each of ``answers`` arrive, after a
    copy of the request itself (the kernel shows our own frames as PACKET_OUTGOING)."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.sent: list[bytes] = []
        self._rx, self._tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._kinds: list[int] = []

    def fileno(self) -> int:
        return self._rx.fileno()

    def send(self, frame: bytes) -> int:
        self.sent.append(frame)
        for data, kind in [(frame, arp.PACKET_OUTGOING), *((a, 0) for a in self.answers)]:
            self._kinds.append(kind)
            self._tx.send(data)
        return len(frame)

    def recvfrom(self, size: int) -> tuple[bytes, tuple[Any, ...]]:
        return self._rx.recv(size), ("eth0", 0x0806, self._kinds.pop(0), 1, b"")

    def close(self) -> None:
        self._rx.close()
        self._tx.close()


def test_collect_every_mac_once_in_order_of_answer() -> None:
    noise = arp_reply("02:00:00:00:00:99", "198.18.0.20")
    link = FakeLink([arp_reply(DUP2), noise, arp_reply(DUP1)])
    try:
        frame = arp.arp_request(OWN, V4, TARGET_V4)
        macs = arp._collect(link, frame, TARGET_V4, False, 0.2, 3)  # type: ignore[arg-type]
    finally:
        link.close()
    assert macs == (DUP2, DUP1)
    assert link.sent == [frame] * 3


def test_collect_nobody_answers() -> None:
    link = FakeLink([])
    try:
        frame = arp.neighbour_solicitation(OWN, V6, TARGET_V6)
        macs = arp._collect(link, frame, TARGET_V6, True, 0.1, 2)  # type: ignore[arg-type]
    finally:
        link.close()
    assert macs == () and len(link.sent) == 2


def test_own_request_echoed_back_is_not_an_answer() -> None:
    # A reply-shaped frame seen as outgoing (ours) must never count.
    link = FakeLink([])
    try:
        macs = arp._collect(link, arp_reply(OWN_MAC), TARGET_V4, False, 0.1, 1)  # type: ignore[arg-type]
    finally:
        link.close()
    assert macs == ()


@pytest.mark.parametrize(
    "route",
    [
        RouteResult(RouteStatus.OK, interface=None, source=V4),
        RouteResult(RouteStatus.OK, interface="eth0", source=None),
    ],
)
def test_nothing_to_ask_without_interface_or_source(route: RouteResult) -> None:
    assert arp.neighbours(TARGET_V4, route) is None


def test_mac_text() -> None:
    assert arp.mac_text(bytes.fromhex("0270720077ff")) == "02:70:72:00:77:ff"
