"""arp.py: ARP and neighbour-discovery frames (checked against scapy's dissectors), how many
targets are grouped, paced and answered in one window, and the collection loop over fake
links. No packet is sent anywhere."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable
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

from probe.model import RouteResult, RouteStatus
from probe.steps import arp

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


# --------------------------------------------------------------------------- many at once

ETH0 = RouteResult(RouteStatus.OK, interface="eth0", source=V4)
ETH0_V6 = RouteResult(RouteStatus.OK, interface="eth0", source=f"{V6}%eth0")
ETH1 = RouteResult(RouteStatus.OK, interface="eth1", source="198.19.0.2")


def test_replies_say_which_address_they_answer_for() -> None:
    assert arp.arp_reply_sender(arp_reply(DUP1, "198.18.0.78")) == ("198.18.0.78", DUP1)
    assert arp.neighbour_advert_target(advert(DUP2, "2001:2:0::78")) == ("2001:2::78", DUP2)
    assert arp.neighbour_advert_target(advert(DUP1, option=False)) == (TARGET_V6, DUP1)
    for other in (advert(DUP1), bytes(Ether(src=DUP1) / ARP(op=1)), b"\x00" * 60):
        assert arp.arp_reply_sender(other) is None
    for other in (arp_reply(DUP1), advert(DUP1, hlim=64), b"\x00" * 80):
        assert arp.neighbour_advert_target(other) is None


def test_targets_grouped_by_interface_source_and_family() -> None:
    nowhere = RouteResult(RouteStatus.OK, interface=None, source=V4)
    groups = arp.group_targets(
        [
            (TARGET_V4, ETH0),
            ("198.19.0.5", ETH1),
            ("2001:2::77%eth0", ETH0_V6),
            ("198.18.0.78", ETH0),
            ("198.18.0.79", nowhere),  # nothing to ask through
            (TARGET_V4, ETH0),  # asked once
            ("2001:2:0::78", ETH0_V6),
        ]
    )
    assert groups == [
        arp.Group("eth0", V4, False, (TARGET_V4, "198.18.0.78")),
        arp.Group("eth1", "198.19.0.2", False, ("198.19.0.5",)),
        arp.Group("eth0", V6, True, (TARGET_V6, "2001:2::78")),
    ]


def test_past_the_limit_addresses_are_not_asked() -> None:
    targets = [(f"198.18.0.{i}", ETH0) for i in range(10)]
    (group,) = arp.group_targets(targets, limit=4)
    assert group.hosts == tuple(a for a, _ in targets[:4])


def test_one_address_is_asked_as_before() -> None:
    plan = arp.send_plan(1, 3, 1.0)
    assert plan == arp.Plan(3, (0.0, 1 / 6, 1 / 3), 1.0)


@pytest.mark.parametrize(
    ("addresses", "wait", "rounds"),
    [(2, 1.0, 3), (256, 1.0, 3), (256, 0.3, 3), (2000, 1.0, 2), (arp.MAX_SENT, 1.0, 1)],
)
def test_send_plan_is_paced_and_bounded(addresses: int, wait: float, rounds: int) -> None:
    plan = arp.send_plan(addresses, 3, wait)
    offsets = plan.offsets
    assert plan.rounds == rounds
    assert len(offsets) == rounds * addresses <= arp.MAX_SENT
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert min(gaps) >= 1 / arp.MAX_RATE - 1e-9  # never faster than the cap
    assert offsets[0] == 0.0
    # the last one asked still has half the wait to answer; the window opens for wait at least
    assert plan.window >= max(wait, offsets[-1] + wait / 2 - 1e-3)
    if addresses * rounds / arp.MAX_RATE < wait / 2:
        assert plan.window == wait and offsets[-1] < wait / 2  # as for a single address


def test_answers_folded_per_address_first_answer_first() -> None:
    frames = [
        arp_reply(DUP2),
        arp_reply("02:00:00:00:00:20", "198.18.0.20"),
        arp_reply("02:00:00:00:00:99", "198.18.0.99"),  # not asked
        arp_reply(DUP1),
        arp_reply(DUP2),  # once is enough
        advert(DUP1),  # another family: not an ARP reply
    ]
    answers = [arp.arp_reply_sender(f) for f in frames]
    assert arp.fold_answers(answers, [TARGET_V4, "198.18.0.20", "198.18.0.21"]) == {
        TARGET_V4: (DUP2, DUP1),
        "198.18.0.20": ("02:00:00:00:00:20",),
        "198.18.0.21": (),
    }


class FakeLink:
    """A packet socket stand-in: every request sent makes the frames ``answer(request)``
    arrive, after a copy of the request itself (the kernel shows our own frames as
    PACKET_OUTGOING)."""

    def __init__(self, answer: Callable[[bytes], list[bytes]]) -> None:
        self.answer = answer
        self.sent: list[bytes] = []
        self._rx, self._tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._kinds: list[int] = []

    def fileno(self) -> int:
        return self._rx.fileno()

    def send(self, frame: bytes) -> int:
        self.sent.append(frame)
        for data, kind in [(frame, arp.PACKET_OUTGOING), *((a, 0) for a in self.answer(frame))]:
            self._kinds.append(kind)
            self._tx.send(data)
        return len(frame)

    def recvfrom(self, size: int) -> tuple[bytes, tuple[Any, ...]]:
        return self._rx.recv(size), ("eth0", 0x0806, self._kinds.pop(0), 1, b"")

    def close(self) -> None:
        self._rx.close()
        self._tx.close()


def always(*answers: bytes) -> Callable[[bytes], list[bytes]]:
    return lambda request: list(answers)


def exchange(
    group: arp.Group,
    answer: Callable[[bytes], list[bytes]],
    wait: float,
    requests: int,
    frames: tuple[bytes, ...] = (),
) -> tuple[dict[str, tuple[str, ...]], list[bytes], list[bytes]]:
    """One group through a fake link: (MACs by address, the requests built, those sent)."""
    link = FakeLink(answer)
    build = arp.neighbour_solicitation if group.v6 else arp.arp_request
    frames = frames or tuple(build(OWN, group.source, host) for host in group.hosts)
    asking = arp._Link(group, link, frames)  # type: ignore[arg-type]
    try:
        arp._exchange([asking], arp.send_plan(len(frames), requests, wait))
    finally:
        link.close()
    return arp.fold_answers(asking.answers, group.hosts), list(frames), link.sent


def test_collect_every_mac_once_in_order_of_answer() -> None:
    noise = arp_reply("02:00:00:00:00:99", "198.18.0.20")
    group = arp.Group("eth0", V4, False, (TARGET_V4,))
    macs, frames, sent = exchange(group, always(arp_reply(DUP2), noise, arp_reply(DUP1)), 0.2, 3)
    assert macs == {TARGET_V4: (DUP2, DUP1)}
    assert sent == frames * 3


def test_collect_nobody_answers() -> None:
    group = arp.Group("eth0", V6, True, (TARGET_V6,))
    macs, _, sent = exchange(group, always(), 0.1, 2)
    assert macs == {TARGET_V6: ()} and len(sent) == 2


def test_own_request_echoed_back_is_not_an_answer() -> None:
    # A reply-shaped frame seen as outgoing (ours) must never count.
    group = arp.Group("eth0", V4, False, (TARGET_V4,))
    macs, _, _ = exchange(group, always(), 0.1, 1, (arp_reply(OWN_MAC),))
    assert macs == {TARGET_V4: ()}


def test_each_reply_counted_for_the_address_it_answers() -> None:
    owners = {"198.18.0.20": ["02:00:00:00:00:20"], TARGET_V4: [DUP1, DUP2]}

    def lan(request: bytes) -> list[bytes]:
        asked = str(ARP(request[14:]).pdst)
        return [arp_reply(mac, asked) for mac in owners.get(asked, [])]

    group = arp.Group("eth0", V4, False, ("198.18.0.20", TARGET_V4, "198.18.0.99"))
    macs, frames, sent = exchange(group, lan, 0.2, 3)
    assert macs == {
        "198.18.0.20": ("02:00:00:00:00:20",),
        TARGET_V4: (DUP1, DUP2),
        "198.18.0.99": (),
    }
    assert sent == frames * 3  # round after round, every address in each


def test_an_interface_gone_mid_window_is_not_measured() -> None:
    class Gone(FakeLink):
        def send(self, frame: bytes) -> int:
            raise OSError(100, "Network is down")

    link = Gone(always())
    asking = arp._Link(arp.Group("eth0", V4, False, (TARGET_V4,)), link, (b"v4",))  # type: ignore[arg-type]
    try:
        arp._exchange([asking], arp.send_plan(1, 3, 0.1))
    finally:
        link.close()
    assert asking.failed  # neighbours_many gives None: not "nobody answered"


def test_groups_share_one_window() -> None:
    v4, v6 = FakeLink(always(arp_reply(DUP1))), FakeLink(always(advert(DUP2)))
    links = [
        arp._Link(arp.Group("eth0", V4, False, (TARGET_V4,)), v4, (b"v4",)),  # type: ignore[arg-type]
        arp._Link(arp.Group("eth0", V6, True, (TARGET_V6,)), v6, (b"v6",)),  # type: ignore[arg-type]
    ]
    try:
        arp._exchange(links, arp.send_plan(2, 2, 0.1))
    finally:
        v4.close()
        v6.close()
    assert (v4.sent, v6.sent) == ([b"v4"] * 2, [b"v6"] * 2)
    assert [arp.fold_answers(k.answers, k.group.hosts) for k in links] == [
        {TARGET_V4: (DUP1,)},
        {TARGET_V6: (DUP2,)},
    ]


@pytest.mark.parametrize(
    "route",
    [
        RouteResult(RouteStatus.OK, interface=None, source=V4),
        RouteResult(RouteStatus.OK, interface="eth0", source=None),
    ],
)
def test_nothing_to_ask_without_interface_or_source(route: RouteResult) -> None:
    assert arp.neighbours(TARGET_V4, route) is None
    assert arp.neighbours_many([(TARGET_V4, route), (TARGET_V6, route)]) == {
        TARGET_V4: None,
        TARGET_V6: None,
    }


def test_mac_text() -> None:
    assert arp.mac_text(bytes.fromhex("0270720077ff")) == "02:70:72:00:77:ff"
