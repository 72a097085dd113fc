"""route.py: the `ip -j route get` parser on recorded kernel answers, and the lookup seams.

The recordings come from iproute2 6.1 on Linux 6.18, in a throwaway namespace ``hx-a`` with
198.19.200.1/30 and 2001:2:0:200::1/64 on ``hx-a0`` and these routes::

    198.19.201.0/24 via 198.19.200.2          2001:2:0:201::/64 via 2001:2:0:200::2
    unreachable 198.19.202.0/24               unreachable 2001:2:0:202::/64
    blackhole 198.19.203.0/24                 blackhole 2001:2:0:203::/64
    prohibit 198.19.204.0/24                  prohibit 2001:2:0:204::/64
    198.19.206.0/24 via inet6 2001:2:0:200::2 (no default route in either family)
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from probe.errors import TargetError
from probe.model import RouteResult, RouteStatus
from probe.steps import netlink, route
from probe.steps.netlink import RouteAnswer
from probe.steps.route_cache import RouteCache

ON_LINK_V4 = (
    '[{"dst":"198.19.200.2","dev":"hx-a0","prefsrc":"198.19.200.1","flags":[],"uid":0,"cache":[]}]'
)
VIA_GATEWAY_V4 = (
    '[{"dst":"198.19.201.1","gateway":"198.19.200.2","dev":"hx-a0","prefsrc":"198.19.200.1",'
    '"flags":[],"uid":0,"cache":[]}]'
)
VIA_INET6_V4 = (
    '[{"dst":"198.19.206.1","via":{"family":"inet6","host":"2001:2:0:200::2"},"dev":"hx-a0",'
    '"prefsrc":"198.19.200.1","flags":[],"uid":0,"cache":[]}]'
)
LOCAL_V4 = (
    '[{"type":"local","dst":"198.19.200.1","dev":"lo","prefsrc":"198.19.200.1","flags":[],'
    '"uid":0,"cache":["local"]}]'
)
ON_LINK_V6 = (
    '[{"dst":"2001:2:0:200::2","from":"::","dev":"hx-a0","protocol":"kernel",'
    '"prefsrc":"2001:2:0:200::1","metric":256,"flags":[],"pref":"medium"}]'
)
VIA_GATEWAY_V6 = (
    '[{"dst":"2001:2:0:201::1","from":"::","gateway":"2001:2:0:200::2","dev":"hx-a0",'
    '"prefsrc":"2001:2:0:200::1","metric":1024,"flags":[],"pref":"medium"}]'
)
LINK_LOCAL_V6 = (
    '[{"dst":"fe80::1","from":"::","dev":"hx-a0","protocol":"kernel",'
    '"prefsrc":"fe80::640a:7fff:fe05:6714","metric":256,"flags":[],"pref":"medium"}]'
)
WITH_FROM_V4 = (  # `ip route get ... from 198.19.200.1`: no prefsrc, "from" is the source
    '[{"dst":"198.18.50.1","from":"198.19.200.1","gateway":"198.19.200.2","dev":"hx-a0",'
    '"flags":[],"uid":0,"cache":[]}]'
)
# Not recorded here: older kernels answered IPv6 reject routes instead of failing, in this shape.
LEGACY_UNREACHABLE_V6 = (
    '[{"type":"unreachable","dst":"2001:2:0:202::1","from":"::","dev":"lo",'
    '"metric":1024,"flags":[],"error":-113,"pref":"medium"}]'
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ON_LINK_V4, RouteResult(RouteStatus.OK, "hx-a0", "198.19.200.1", None)),
        (VIA_GATEWAY_V4, RouteResult(RouteStatus.OK, "hx-a0", "198.19.200.1", "198.19.200.2")),
        (VIA_INET6_V4, RouteResult(RouteStatus.OK, "hx-a0", "198.19.200.1", "2001:2:0:200::2")),
        (
            LOCAL_V4,
            RouteResult(RouteStatus.OK, "lo", "198.19.200.1", None, route_type="local"),
        ),
        (ON_LINK_V6, RouteResult(RouteStatus.OK, "hx-a0", "2001:2:0:200::1", None)),
        (
            VIA_GATEWAY_V6,
            RouteResult(RouteStatus.OK, "hx-a0", "2001:2:0:200::1", "2001:2:0:200::2"),
        ),
        (LINK_LOCAL_V6, RouteResult(RouteStatus.OK, "hx-a0", "fe80::640a:7fff:fe05:6714", None)),
        (WITH_FROM_V4, RouteResult(RouteStatus.OK, "hx-a0", "198.19.200.1", "198.19.200.2")),
    ],
)
def test_parse_route_get_ok(text: str, expected: RouteResult) -> None:
    assert route.parse_route_get(text) == expected


def test_on_link_follows_the_gateway() -> None:
    assert route.parse_route_get(ON_LINK_V4).on_link
    assert not route.parse_route_get(VIA_GATEWAY_V6).on_link


def test_parse_route_get_legacy_reject_route() -> None:
    got = route.parse_route_get(LEGACY_UNREACHABLE_V6)
    assert got.status is RouteStatus.NO_ROUTE
    assert got.route_type == "unreachable"
    assert not got.on_link


@pytest.mark.parametrize("text", ["", "[]", "not json", '{"dst": "x"}'])
def test_parse_route_get_garbage_is_no_route(text: str) -> None:
    got = route.parse_route_get(text)
    assert got.status is RouteStatus.NO_ROUTE
    assert got.detail


@pytest.mark.parametrize(
    ("stderr", "route_type"),
    [
        # unreachable 198.19.202.0/24 and 2001:2:0:202::/64
        ("RTNETLINK answers: No route to host\n", "unreachable"),
        # blackhole 198.19.203.0/24 and 2001:2:0:203::/64
        ("RTNETLINK answers: Invalid argument\n", "blackhole"),
        # prohibit 198.19.204.0/24 and 2001:2:0:204::/64
        ("RTNETLINK answers: Permission denied\n", "prohibit"),
        # no route at all (198.18.9.9, 2001:2:0:999::1), or a throw route
        ("RTNETLINK answers: Network is unreachable\n", None),
    ],
)
def test_parse_route_error(stderr: str, route_type: str | None) -> None:
    got = route.parse_route_error(stderr)
    assert got.status is RouteStatus.NO_ROUTE
    assert got.route_type == route_type
    assert stderr.strip() in (got.detail or "")
    assert got.interface is None and got.source is None


def test_parse_route_error_unknown_words_kept() -> None:
    got = route.parse_route_error("RTNETLINK answers: Something new\n")
    assert got == RouteResult(RouteStatus.NO_ROUTE, detail="RTNETLINK answers: Something new")


# --------------------------------------------------------------------------- lookup seams


class FakeRun:
    """Stands in for subprocess.run: records the command, answers like `ip` did."""

    def __init__(self, returncode: int, stdout: str = "", stderr: str = "") -> None:
        self.result = subprocess.CompletedProcess([], returncode, stdout, stderr)
        self.cmds: list[list[str]] = []

    def __call__(self, cmd: list[str], **_kw: Any) -> subprocess.CompletedProcess[str]:
        self.cmds.append(cmd)
        return self.result


def test_lookup_runs_ip_route_get(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(0, VIA_GATEWAY_V4)
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup_by_ip("198.19.201.1").gateway == "198.19.200.2"
    assert fake.cmds == [["/sbin/ip", "-j", "route", "get", "198.19.201.1"]]


def test_lookup_passes_the_zone_as_oif(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(0, LINK_LOCAL_V6)
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup_by_ip("fe80::1%hx-a0").interface == "hx-a0"
    assert fake.cmds[0][-3:] == ["fe80::1", "oif", "hx-a0"]


def test_lookup_maps_rtnetlink_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(2, stderr="RTNETLINK answers: Permission denied\n")
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup_by_ip("198.19.204.1").route_type == "prohibit"


def test_lookup_without_ip_uses_a_udp_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    # connect() on UDP only runs the route lookup: nothing is sent, and 127.0.0.1 is local.
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    got = route.lookup_by_ip("127.0.0.1")
    assert got.status is RouteStatus.OK
    assert got.source == "127.0.0.1"
    assert got.interface is None and got.gateway is None
    assert "not available" in (got.detail or "")


def test_lookup_falls_back_when_ip_fails_oddly(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(1, stderr='Cannot find device "nosuch"\n')
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup_by_ip("127.0.0.1").source == "127.0.0.1"


def test_lookup_unknown_zone_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(1, stderr='Cannot find device "hx-nosuch"\n')
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    with pytest.raises(TargetError, match="hx-nosuch"):
        route.lookup_by_ip("fe80::1%hx-nosuch")


@pytest.mark.parametrize("bad", ["example.com", "198.19.200.300", "198.19.200.1%eth0", "fe80::1%"])
def test_lookup_rejects_non_addresses(bad: str) -> None:
    with pytest.raises(TargetError):
        route.lookup_by_ip(bad)


# --------------------------------------------------------------------------- netlink answers


@pytest.mark.parametrize(
    ("number", "route_type"),
    [
        (errno.EHOSTUNREACH, "unreachable"),
        (errno.EINVAL, "blackhole"),
        (errno.EACCES, "prohibit"),
        (errno.ENETUNREACH, None),
    ],
)
def test_result_of_a_refused_lookup_matches_ip(number: int, route_type: str | None) -> None:
    got = route.result_of(RouteAnswer(error=number))
    assert got == route.parse_route_error(f"RTNETLINK answers: {os.strerror(number)}\n")
    assert got.status is RouteStatus.NO_ROUTE and got.route_type == route_type


def test_result_of_an_answer() -> None:
    answer = RouteAnswer(
        route_type="unicast", interface="hx-a0", gateway="198.19.200.2", prefsrc="198.19.200.1"
    )
    assert route.result_of(answer) == route.parse_route_get(VIA_GATEWAY_V4)
    legacy = RouteAnswer(route_type="unreachable", interface="lo")
    assert route.result_of(legacy) == route.parse_route_get(LEGACY_UNREACHABLE_V6)


def test_lookup_without_netlink_runs_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(0, VIA_GATEWAY_V4)
    monkeypatch.setattr(route, "_shared", [None])  # as where AF_NETLINK cannot be opened
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup("198.19.201.1").gateway == "198.19.200.2"
    assert len(fake.cmds) == 1


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.9", "::1"])
def test_lookup_agrees_with_ip_on_loopback(address: str) -> None:
    if shutil.which("ip") is None:
        pytest.skip("no `ip` to compare with")
    assert route.lookup(address) == route.lookup_by_ip(address)


# --------------------------------------------------------------------------- the route cache

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class FakeRoute:
    prefix: str
    route_type: str = "unicast"
    interface: str = "hx-a0"
    gateway: str | None = None
    prefsrc: str | None = "198.19.200.1"
    multipath: bool = False


@dataclass
class FakeKernel:
    """A routing table with longest-prefix match, answering like netlink.Netlink."""

    routes: list[FakeRoute]
    rule_dsts: list[str] = field(default_factory=list)
    news: bool = False
    gets: list[tuple[str, bool]] = field(default_factory=list)

    def get(
        self, address: str, oif: int | None = None, fib_match: bool = False, src: str | None = None
    ) -> RouteAnswer:
        self.gets.append((address, fib_match) if src is None else (address, src))
        ip = ipaddress.ip_address(address)
        found = [r for r in self.routes if ip in ipaddress.ip_network(r.prefix)]
        if not found:
            return RouteAnswer(error=errno.ENETUNREACH)
        best = max(found, key=lambda r: ipaddress.ip_network(r.prefix).prefixlen)
        if best.route_type == "unreachable":
            return RouteAnswer(error=errno.EHOSTUNREACH)
        return RouteAnswer(
            route_type=best.route_type,
            interface=best.interface,
            gateway=best.gateway,
            prefsrc=None if fib_match else best.prefsrc,
            prefix=best.prefix if fib_match else f"{ip}/{ip.max_prefixlen}",
            multipath=best.multipath and fib_match,  # one address: the nexthop it got
        )

    def prefixes(self, version: int) -> list[Net]:
        nets = [ipaddress.ip_network(p) for p in [r.prefix for r in self.routes] + self.rule_dsts]
        return [n for n in nets if n.version == version]

    def changed(self) -> bool:
        news, self.news = self.news, False
        return news


def _cache(kernel: FakeKernel, source: str | None = "2001:2:0:200::1") -> RouteCache:
    return RouteCache(kernel, lambda _host: source)


def _addresses(block: str) -> list[str]:
    return [str(a) for a in ipaddress.ip_network(block)]


def _uncached(kernel: FakeKernel, address: str) -> RouteAnswer:
    return replace(kernel.get(address), prefix=None)


def test_cache_asks_once_per_route() -> None:
    kernel = FakeKernel([FakeRoute("0.0.0.0/0", gateway="198.19.200.2")])
    cache = _cache(kernel)
    answers = [cache.answer(a) for a in _addresses("198.51.96.0/20")]
    assert cache.asked == 2  # the first address: its answer and the matching table entry
    assert kernel.gets == [("198.51.96.0", False), ("198.51.96.0", True)]
    assert {route.result_of(a) for a in answers} == {
        RouteResult(RouteStatus.OK, "hx-a0", "198.19.200.1", "198.19.200.2")
    }
    assert answers[5].prefix == "198.51.96.5/32"


def test_cache_does_not_cover_a_more_specific_route() -> None:
    kernel = FakeKernel(
        [
            FakeRoute("0.0.0.0/0", gateway="198.19.200.2"),
            FakeRoute("198.51.100.128/25", gateway="198.19.200.3"),
        ]
    )
    cache = _cache(kernel)
    assert cache.answer("198.51.100.1").gateway == "198.19.200.2"  # caches 0.0.0.0/0
    assert cache.answer("198.51.100.200").gateway == "198.19.200.3"  # in the hole: asked
    assert cache.answer("198.51.100.201").gateway == "198.19.200.3"  # now cached too
    assert cache.answer("198.51.100.2").gateway == "198.19.200.2"
    assert cache.asked == 4
    for address in _addresses("198.51.100.0/24"):
        assert cache.answer(address) == replace(_uncached(kernel, address), prefix=f"{address}/32")
    assert cache.asked == 4


def test_a_rule_destination_inside_the_prefix_is_asked_again() -> None:
    kernel = FakeKernel([FakeRoute("0.0.0.0/0", gateway="198.19.200.2")], ["203.0.113.0/24"])
    cache = _cache(kernel)
    cache.answer("198.51.100.1")
    cache.answer("198.51.100.2")
    assert cache.asked == 2
    cache.answer("203.0.113.7")  # a rule may send it to another table: the kernel decides
    assert kernel.gets[-2:] == [("203.0.113.7", False), ("203.0.113.7", True)]


@pytest.mark.parametrize(
    "kind",
    [FakeRoute("198.51.100.0/24", multipath=True), FakeRoute("198.51.100.0/24", "local")],
)
def test_multipath_and_local_routes_are_asked_per_address(kind: FakeRoute) -> None:
    # Multipath: the nexthop is picked per flow; local: the source may be the address itself.
    kernel = FakeKernel([kind])
    cache = _cache(kernel)
    for address in _addresses("198.51.100.0/30"):
        assert cache.answer(address) == kernel.get(address)
    # Each address is asked; a unicast answer also for its table entry, which says "do not".
    assert cache.asked == (8 if kind.multipath else 4)


def test_refused_lookups_are_not_cached() -> None:
    kernel = FakeKernel([FakeRoute("198.51.100.0/24", "unreachable")])
    cache = _cache(kernel)
    got = [cache.answer(a) for a in _addresses("198.51.100.0/30")]
    assert {a.error for a in got} == {errno.EHOSTUNREACH}
    assert cache.asked == 4


def test_a_route_change_empties_the_cache() -> None:
    kernel = FakeKernel([FakeRoute("0.0.0.0/0", gateway="198.19.200.2")])
    cache = _cache(kernel)
    cache.answer("198.51.100.1")
    kernel.routes.append(FakeRoute("198.51.100.0/24", gateway="198.19.200.9"))
    kernel.news = True  # the kernel's RTM_NEWROUTE notification
    assert cache.answer("198.51.100.2").gateway == "198.19.200.9"


def test_ipv6_takes_the_source_per_address() -> None:
    kernel = FakeKernel([FakeRoute("::/0", gateway="2001:2:0:200::2", prefsrc="2001:2::1")])
    cache = _cache(kernel, source="2001:2:0:200::7")
    cache.answer("2001:db8::1")
    got = cache.answer("2001:db8::2")
    assert (got.gateway, got.prefsrc) == ("2001:2:0:200::2", "2001:2:0:200::7")
    assert cache.asked == 2


def test_ipv6_without_a_socket_source_asks_the_kernel() -> None:
    kernel = FakeKernel([FakeRoute("::/0", gateway="2001:2:0:200::2", prefsrc="2001:2::1")])
    cache = _cache(kernel, source=None)
    cache.answer("2001:db8::1")
    assert cache.answer("2001:db8::2").prefsrc == "2001:2::1"
    assert cache.asked == 3


def test_a_lookup_from_a_source_is_asked_each_time_and_not_kept() -> None:
    # The cache keeps answers by destination; a source rule (ip rule from ...) may route a
    # source's packets another way, so a lookup from a source always asks the kernel.
    kernel = FakeKernel([FakeRoute("0.0.0.0/0", gateway="198.19.200.2")])
    cache = _cache(kernel)
    for _ in range(2):
        cache.answer("198.51.100.7", src="198.19.200.3")
    assert kernel.gets == [("198.51.100.7", "198.19.200.3")] * 2 and cache.asked == 2
    cache.answer("198.51.100.8")  # a plain lookup is not answered by those
    assert kernel.gets[2:] == [("198.51.100.8", False), ("198.51.100.8", True)]


def test_a_zone_is_never_cached() -> None:
    kernel = FakeKernel([FakeRoute("fe80::/64", prefsrc="fe80::1")])
    cache = _cache(kernel)
    cache.answer("fe80::2", oif=3)
    cache.answer("fe80::3", oif=3)
    assert kernel.gets == [("fe80::2", False), ("fe80::3", False)]


# --------------------------------------------------------------------------- netlink bytes

# RTM_NEWROUTE bodies (rtmsg + attributes) recorded from Linux 6.18: 198.51.100.7 via the
# default route (192.0.2.1 on eth0, interface index 4), the same with RTM_F_FIB_MATCH, and
# 2001:db8::5 via fd00::1.
NL_VIA_GATEWAY_V4 = bytes.fromhex(
    "02200000fe0000010002000008000f00fe00000008000100c6336407080004000400000008000700c0000202"
    "08000500c0000201080019000000000024000c000200000070d104000000000000000000000000000000000000"
    "00000000000000"
)
NL_FIB_MATCH_V4 = bytes.fromhex(
    "02000000fe0300010000000008000f00fe00000008000500c00002010800040004000000"
)
NL_VIA_GATEWAY_V6 = bytes.fromhex(
    "0a808000fe0300010000000008000f00fe0000001400010020010db8000000000000000000000005140002"
    "000000000000000000000000000000000014000700fd00000000000000000000000000000208000600000400"
    "0014000500fd000000000000000000000000000001080004000400000024000c00020000003c820800000000"
    "0000000000000000000000000000000000000000000500140000000000"
)


@pytest.fixture
def eth0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netlink, "_interface", lambda index: "eth0" if index == 4 else None)


@pytest.mark.usefixtures("eth0")
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            NL_VIA_GATEWAY_V4,
            RouteAnswer(0, "unicast", "eth0", "192.0.2.1", "192.0.2.2", "198.51.100.7/32"),
        ),
        (NL_FIB_MATCH_V4, RouteAnswer(0, "unicast", "eth0", "192.0.2.1", None, "0.0.0.0/0")),
        (
            NL_VIA_GATEWAY_V6,
            RouteAnswer(0, "unicast", "eth0", "fd00::1", "fd00::2", "2001:db8::5/128"),
        ),
    ],
)
def test_netlink_route_answer(body: bytes, expected: RouteAnswer) -> None:
    assert netlink._route_answer(body) == expected


@pytest.mark.usefixtures("eth0")
def test_netlink_answer_survives_mangled_attributes() -> None:
    # The header is checked by the caller; whatever follows it is read without raising.
    rng = random.Random(13)
    for body in (NL_VIA_GATEWAY_V4, NL_FIB_MATCH_V4, NL_VIA_GATEWAY_V6):
        for cut in range(12, len(body)):
            assert netlink._route_answer(body[:cut]).error == 0
        for _ in range(300):
            raw = bytearray(body)
            for _ in range(3):
                raw[rng.randrange(12, len(raw))] = rng.randrange(256)
            assert isinstance(netlink._route_answer(bytes(raw)), RouteAnswer)
