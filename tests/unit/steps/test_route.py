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

import shutil
import subprocess
from typing import Any

import pytest

from probe.errors import TargetError
from probe.model import RouteResult, RouteStatus
from probe.steps import route

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
    assert route.lookup("198.19.201.1").gateway == "198.19.200.2"
    assert fake.cmds == [["/sbin/ip", "-j", "route", "get", "198.19.201.1"]]


def test_lookup_passes_the_zone_as_oif(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(0, LINK_LOCAL_V6)
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup("fe80::1%hx-a0").interface == "hx-a0"
    assert fake.cmds[0][-3:] == ["fe80::1", "oif", "hx-a0"]


def test_lookup_maps_rtnetlink_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(2, stderr="RTNETLINK answers: Permission denied\n")
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup("198.19.204.1").route_type == "prohibit"


def test_lookup_without_ip_uses_a_udp_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    # connect() on UDP only runs the route lookup: nothing is sent, and 127.0.0.1 is local.
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    got = route.lookup("127.0.0.1")
    assert got.status is RouteStatus.OK
    assert got.source == "127.0.0.1"
    assert got.interface is None and got.gateway is None
    assert "not available" in (got.detail or "")


def test_lookup_falls_back_when_ip_fails_oddly(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(1, stderr='Cannot find device "nosuch"\n')
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    assert route.lookup("127.0.0.1").source == "127.0.0.1"


def test_lookup_unknown_zone_is_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(1, stderr='Cannot find device "hx-nosuch"\n')
    monkeypatch.setattr(shutil, "which", lambda _name: "/sbin/ip")
    monkeypatch.setattr(subprocess, "run", fake)
    with pytest.raises(TargetError, match="hx-nosuch"):
        route.lookup("fe80::1%hx-nosuch")


@pytest.mark.parametrize("bad", ["example.com", "198.19.200.300", "198.19.200.1%eth0", "fe80::1%"])
def test_lookup_rejects_non_addresses(bad: str) -> None:
    with pytest.raises(TargetError):
        route.lookup(bad)
