"""ping.py: decoding, statistics and permission words on recorded bytes; one real run.

The recordings were read with recvmsg() in a throwaway namespace pair: the client
198.19.200.1 / 2001:2:0:200::1, its neighbour (and router) 198.19.200.2 / 2001:2:0:200::2 with
``unreachable`` routes for 198.19.201.0/24 and 2001:2:0:201::/64 and ``prohibit`` routes for
198.19.207.0/24 and 2001:2:0:207::/64. The echo requests had identifier 0x4242 (raw) or the
kernel's (datagram sockets), sequence 7 and the payload "probe-hxprobe-hx".

The real run (root only) builds such a pair, ``hx-ping-a`` / ``hx-ping-b``, and pings from
``hx-ping-a``; nothing can leave the pair.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from icmplib import SocketPermissionError

from probe.errors import NoPermission, TargetError
from probe.model import PingResult, PingStatus
from probe.steps import icmp
from probe.steps import ping as pping

H = bytes.fromhex
# raw IPv4 socket: echo reply from 198.19.200.2, TTL 64
RAW_V4_REPLY = H(
    "4500002ce81a00004001768bc613c802c613c801000062c14242000770726f62652d687870726f62652d6878"
)
# raw IPv4 socket: host unreachable (3/1) from 198.19.200.2 quoting our request to 198.19.201.1
RAW_V4_UNREACH = H(
    "45c00048e81b0000400175aec613c802c613c8010301fcfe000000004500002caacf4000400172d7c613c801"
    "c613c90108005ac14242000770726f62652d687870726f62652d6878"
)
# datagram IPv4 socket: the echo reply without IP header (id 0xb09b: the kernel's), TTL as cmsg
DGRAM_V4_REPLY = H("0000f467b09b000770726f62652d687870726f62652d6878")
DGRAM_V4_ANC = [(0, 2, H("40000000"))]  # IPPROTO_IP, IP_TTL, 64
# datagram IPv4 socket, error queue: admin prohibited (3/13) from 198.19.200.2
ERRQ_V4_DATA = H("0800ec66b09c000770726f62652d687870726f62652d6878")
ERRQ_V4_ANC = [
    (0, 2, H("40000000")),
    (0, 11, H("7100000002030d00000000000000000002000000c613c8020000000000000000")),
]
# raw IPv6 socket: echo reply from 2001:2:0:200::2, hop limit 64 as cmsg
RAW_V6_REPLY = H("81009d654242000770726f62652d687870726f62652d6878")
V6_ANC = [(41, 52, H("40000000"))]  # IPPROTO_IPV6, IPV6_HOPLIMIT, 64
# raw IPv6 socket: no route to destination (1/0) quoting our request to 2001:2:0:201::1
RAW_V6_UNREACH = H(
    "0100274600000000600ff91800183a40200100020000020000000000000000012001000200000201000000"
    "000000000180009e654242000770726f62652d687870726f62652d6878"
)
# datagram IPv6 socket, error queue: admin prohibited (1/1) from 2001:2:0:200::2
ERRQ_V6_DATA = H("80003004b09d000770726f62652d687870726f62652d6878")
ERRQ_V6_EXTENDED_ERR = H(
    "0d0000000301010000000000000000000a000000000000002001000200000200000000000000000200000000"
)
ERRQ_V6_ANC = [(41, 52, H("40000000")), (41, 25, ERRQ_V6_EXTENDED_ERR)]


# --------------------------------------------------------------------------- decoding


def test_ttl_from_ip_header() -> None:
    assert icmp.ttl_from_ip_header(RAW_V4_REPLY) == 64
    patched = RAW_V4_REPLY[:8] + bytes([57]) + RAW_V4_REPLY[9:]
    assert icmp.ttl_from_ip_header(patched) == 57
    assert icmp.ttl_from_ip_header(RAW_V6_REPLY) is None  # not an IPv4 header
    assert icmp.ttl_from_ip_header(b"\x45\x00") is None


def test_ttl_from_ancillary() -> None:
    assert icmp.ttl_from_ancillary(DGRAM_V4_ANC) == 64
    assert icmp.ttl_from_ancillary(V6_ANC) == 64
    assert icmp.ttl_from_ancillary([(41, 52, (255).to_bytes(4, sys.byteorder))]) == 255
    assert icmp.ttl_from_ancillary([]) is None
    assert icmp.ttl_from_ancillary([(0, 11, b"\x00" * 16)]) is None


def test_decode_raw_v4_reply() -> None:
    assert pping.decode_ipv4(RAW_V4_REPLY) == icmp.IcmpMessage(False, 0, 0, 0x4242, 7, 64)


def test_decode_raw_v4_unreachable() -> None:
    got = pping.decode_ipv4(RAW_V4_UNREACH)
    assert got == icmp.IcmpMessage(True, 3, 1, 0x4242, 7, 64)


def test_decode_datagram_v4_reply() -> None:
    got = icmp.decode_icmp(DGRAM_V4_REPLY, v6=False, ttl=icmp.ttl_from_ancillary(DGRAM_V4_ANC))
    assert got == icmp.IcmpMessage(False, 0, 0, 0xB09B, 7, 64)


def test_decode_v6_reply_and_unreachable() -> None:
    assert icmp.decode_icmp(RAW_V6_REPLY, v6=True, ttl=64) == icmp.IcmpMessage(
        False, 129, 0, 0x4242, 7, 64
    )
    assert icmp.decode_icmp(RAW_V6_UNREACH, v6=True) == icmp.IcmpMessage(
        True, 1, 0, 0x4242, 7, None
    )


def test_decode_ignores_what_is_not_ours() -> None:
    own_request = H("0800ec66b09c000770726f62652d6878")
    assert icmp.decode_icmp(own_request, v6=False) is None  # a raw socket sees its own
    assert icmp.decode_icmp(ERRQ_V6_DATA, v6=True) is None  # an echo request
    assert icmp.decode_icmp(H("8700000000000000"), v6=True) is None  # neighbour solicitation
    # an unreachable quoting a TCP SYN (protocol 6), e.g. for the SYN engine: not a ping answer
    tcp_quoted = bytearray(RAW_V4_UNREACH)
    tcp_quoted[20 + 8 + 9] = socket.IPPROTO_TCP
    assert pping.decode_ipv4(bytes(tcp_quoted)) is None
    assert pping.decode_ipv4(RAW_V4_UNREACH[:40]) is None  # truncated quote
    assert icmp.decode_icmp(b"\x00\x00", v6=False) is None


def test_decode_queued_errors() -> None:
    v4 = icmp.decode_queued_error(ERRQ_V4_DATA, ERRQ_V4_ANC, v6=False)
    assert v4 == (icmp.IcmpMessage(True, 3, 13, 0xB09C, 7), "198.19.200.2")
    v6 = icmp.decode_queued_error(ERRQ_V6_DATA, ERRQ_V6_ANC, v6=True)
    assert v6 == (icmp.IcmpMessage(True, 1, 1, 0xB09D, 7), "2001:2:0:200::2")


def test_decode_queued_local_error_is_ignored() -> None:
    local = bytearray(ERRQ_V4_ANC[1][2])
    local[4] = 1  # SO_EE_ORIGIN_LOCAL: the kernel itself (EMSGSIZE...), not a router
    assert icmp.decode_queued_error(ERRQ_V4_DATA, [(0, 11, bytes(local))], v6=False) is None
    assert icmp.decode_queued_error(ERRQ_V4_DATA, [], v6=False) is None


@pytest.mark.parametrize(
    ("icmp_type", "code", "v6", "words"),
    [
        (3, 0, False, "network unreachable"),
        (3, 1, False, "host unreachable"),
        (3, 13, False, "communication administratively prohibited"),
        (11, 0, False, "time to live exceeded in transit"),
        (1, 0, True, "no route to destination"),
        (1, 1, True, "communication administratively prohibited"),
        (1, 3, True, "address unreachable"),
        (2, 0, True, "packet too big"),
        (3, 99, False, "unknown ICMP error"),
    ],
)
def test_icmp_words(icmp_type: int, code: int, v6: bool, words: str) -> None:
    assert icmp.icmp_words(icmp_type, code, v6=v6) == words


# --------------------------------------------------------------------------- summaries


def test_rtt_stats() -> None:
    assert icmp.rtt_stats([]) is None
    assert icmp.rtt_stats([0.5, 1.0, 3.0]) == (0.5, 1.5, 3.0)
    assert icmp.rtt_stats([0.1234567]) == (0.123, 0.123, 0.123)


def test_summarize_replies() -> None:
    got = icmp.summarize(icmp.Tally(sent=3, rtts_ms=[1.0, 2.0], ttl=63))
    assert got == PingResult(PingStatus.OK, 3, 2, 1.0, 1.5, 2.0, ttl=63)


def test_summarize_unreachable() -> None:
    error = icmp.IcmpError("198.19.200.2", 3, 1, v6=False)
    got = icmp.summarize(icmp.Tally(sent=3, errors=[error]))
    assert got.status is PingStatus.UNREACHABLE
    assert got.responder == "198.19.200.2"
    assert got.detail == "host unreachable (ICMP type 3 code 1) from 198.19.200.2"
    assert (got.sent, got.received, got.ttl) == (3, 0, None)


def test_summarize_replies_win_over_errors() -> None:
    error = icmp.IcmpError("2001:2::1", 1, 0, v6=True)
    got = icmp.summarize(icmp.Tally(sent=3, rtts_ms=[1.0], ttl=64, errors=[error]))
    assert got.status is PingStatus.OK
    assert "no route to destination" in (got.detail or "")


def test_summarize_silence_and_local_refusal() -> None:
    assert icmp.summarize(icmp.Tally(sent=3)) == PingResult(PingStatus.NO_REPLY, sent=3)
    refused = icmp.summarize(icmp.Tally(not_sent="No route to host (EHOSTUNREACH)"))
    assert refused.status is PingStatus.UNREACHABLE
    assert refused.responder is None
    assert "No route to host" in (refused.detail or "")


def test_skipped() -> None:
    assert icmp.skipped() == PingResult(PingStatus.SKIPPED)


# --------------------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    ("privileged", "needles"),
    [
        (True, ["root", "CAP_NET_RAW"]),
        (False, ["net.ipv4.ping_group_range", "'1 0'"]),
        (None, ["root", "CAP_NET_RAW", "net.ipv4.ping_group_range"]),
    ],
)
def test_permission_message(privileged: bool | None, needles: list[str]) -> None:
    words = pping.permission_message(privileged, "1 0")
    assert all(n in words for n in needles)
    assert words.count(".") <= 2  # one sentence ("net.ipv4" has the dots)


class NoSocket:
    """icmplib's socket classes when neither raw nor datagram ICMP sockets are allowed."""

    def __init__(self, privileged: bool = True, **_kw: Any) -> None:
        raise SocketPermissionError(privileged)


@pytest.mark.parametrize("privileged", [None, True, False])
def test_no_socket_at_all_is_no_permission(
    monkeypatch: pytest.MonkeyPatch, privileged: bool | None
) -> None:
    monkeypatch.setattr(pping, "ICMPv4Socket", NoSocket)
    monkeypatch.setattr(pping, "ICMPv6Socket", NoSocket)
    with pytest.raises(NoPermission, match=r"ping_group_range|CAP_NET_RAW"):
        pping.ping("198.19.200.2", privileged=privileged)
    with pytest.raises(NoPermission):
        pping.ping("2001:2::1", privileged=privileged)


@pytest.mark.parametrize("bad", ["camera.example", "198.19.200.300", "", "fe80::1%hx-nosuch"])
def test_ping_wants_an_address(bad: str) -> None:
    with pytest.raises(TargetError):
        pping.ping(bad)


# --------------------------------------------------------------------------- real packets

NS_A, NS_B = "hx-ping-a", "hx-ping-b"
LAB_SETUP = [
    ["netns", "add", NS_A],
    ["netns", "add", NS_B],
    [
        "link",
        "add",
        "hx-ping-a0",
        "netns",
        NS_A,
        "type",
        "veth",
        "peer",
        "name",
        "hx-ping-b0",
        "netns",
        NS_B,
    ],
    # Links up before the addresses: IPv6 addresses added "nodad" to a link that is still down
    # ignore neighbour solicitations for about a second after it comes up.
    ["-n", NS_A, "link", "set", "hx-ping-a0", "up"],
    ["-n", NS_B, "link", "set", "hx-ping-b0", "up"],
    ["-n", NS_A, "addr", "add", "198.19.200.1/30", "dev", "hx-ping-a0"],
    ["-n", NS_B, "addr", "add", "198.19.200.2/30", "dev", "hx-ping-b0"],
    ["-n", NS_A, "addr", "add", "2001:2:0:200::1/64", "dev", "hx-ping-a0", "nodad"],
    ["-n", NS_B, "addr", "add", "2001:2:0:200::2/64", "dev", "hx-ping-b0", "nodad"],
    # hx-ping-b routes for the client: an unreachable, a prohibit and a blackhole route
    ["-n", NS_A, "route", "add", "198.19.201.0/24", "via", "198.19.200.2"],
    ["-n", NS_A, "route", "add", "198.19.207.0/24", "via", "198.19.200.2"],
    ["-n", NS_A, "route", "add", "198.19.208.0/24", "via", "198.19.200.2"],
    ["-n", NS_A, "-6", "route", "add", "2001:2:0:201::/64", "via", "2001:2:0:200::2"],
    ["-n", NS_B, "route", "add", "unreachable", "198.19.201.0/24"],
    ["-n", NS_B, "route", "add", "prohibit", "198.19.207.0/24"],
    ["-n", NS_B, "route", "add", "blackhole", "198.19.208.0/24"],
    ["-n", NS_B, "-6", "route", "add", "unreachable", "2001:2:0:201::/64"],
]
SYSCTLS = [
    (NS_B, "net.ipv4.ip_forward=1"),
    (NS_B, "net.ipv6.conf.all.forwarding=1"),
    # Per-namespace ICMP rate limits off. IPv4 route errors are also limited by the global
    # net.ipv4.route.error_cost/error_burst (a burst of 5 per source, then 1/s): the tests
    # below ask for at most 4 of them.
    (NS_B, "net.ipv4.icmp_ratelimit=0"),
    (NS_B, "net.ipv6.icmp.ratelimit=0"),
    (NS_A, "net.ipv4.ping_group_range=0 2147483647"),  # datagram ICMP sockets for everyone
]

# (name, address, privileged, count)
JOBS = [
    ("raw-v4", "198.19.200.2", True, 3),
    ("raw-v6", "2001:2:0:200::2", True, 3),
    ("dgram-v4", "198.19.200.2", False, 3),
    ("dgram-v6", "2001:2:0:200::2", False, 2),
    ("raw-v4-unreachable", "198.19.201.1", True, 2),
    ("dgram-v4-prohibit", "198.19.207.1", False, 2),
    ("raw-v6-unreachable", "2001:2:0:201::1", True, 2),
    ("dgram-v6-unreachable", "2001:2:0:201::1", False, 2),
    ("raw-v4-blackhole", "198.19.208.1", True, 2),
    ("raw-v4-local-no-route", "198.18.9.9", True, 1),
]
INTERVAL, TIMEOUT = 0.1, 0.5

PING_IN_NS = """
import dataclasses, json, sys, time
from probe.steps.ping import ping
out = {}
for name, address, privileged, count in json.loads(sys.argv[1]):
    start = time.monotonic()
    result = ping(address, count=count, interval=float(sys.argv[2]), timeout=float(sys.argv[3]),
                  privileged=privileged)
    out[name] = dict(dataclasses.asdict(result), seconds=time.monotonic() - start)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def pinged() -> Iterator[dict[str, dict[str, Any]]]:
    """Build hx-ping-a <-> hx-ping-b, run every JOB from hx-ping-a, tear down, yield results."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "sysctl")):
        pytest.skip("needs root, ip and sysctl")
    try:
        for args in LAB_SETUP:
            subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)
        for ns, setting in SYSCTLS:
            subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", setting],
                check=True,
                capture_output=True,
                timeout=10,
            )
        env = dict(os.environ, PYTHONPATH=str(Path(pping.__file__).resolve().parents[2]))
        cmd = [sys.executable, "-c", PING_IN_NS, json.dumps(JOBS), str(INTERVAL), str(TIMEOUT)]
        done = subprocess.run(
            ["ip", "netns", "exec", NS_A, *cmd],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        )
        results: dict[str, dict[str, Any]] = json.loads(done.stdout)
    finally:
        for ns in (NS_A, NS_B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    yield results


def bound(count: int) -> float:
    return (count - 1) * INTERVAL + TIMEOUT + 0.3  # 0.3 s: interpreter and scheduling slack


@pytest.mark.parametrize("name", ["raw-v4", "raw-v6", "dgram-v4", "dgram-v6"])
def test_real_echo_across_a_veth(pinged: dict[str, dict[str, Any]], name: str) -> None:
    got = pinged[name]
    count = next(c for n, _a, _p, c in JOBS if n == name)
    assert got["status"] == "ok"
    assert got["sent"] == got["received"] == count
    assert got["ttl"] == 64  # Linux's default TTL / hop limit, no router in between
    assert 0 < got["rtt_min_ms"] <= got["rtt_avg_ms"] <= got["rtt_max_ms"] < TIMEOUT * 1000
    # every request answered: the run ends after the last send, without waiting the timeout,
    # and each request went as soon as the one before was answered, not an interval later
    assert got["seconds"] < (count - 1) * INTERVAL


@pytest.mark.parametrize(
    ("name", "responder", "words"),
    [
        ("raw-v4-unreachable", "198.19.200.2", "host unreachable (ICMP type 3 code 1)"),
        ("dgram-v4-prohibit", "198.19.200.2", "administratively prohibited (ICMP type 3 code 13)"),
        ("raw-v6-unreachable", "2001:2:0:200::2", "no route to destination (ICMPv6 type 1 code 0)"),
        ("dgram-v6-unreachable", "2001:2:0:200::2", "no route to destination"),
    ],
)
def test_real_unreachable_names_the_router(
    pinged: dict[str, dict[str, Any]], name: str, responder: str, words: str
) -> None:
    got = pinged[name]
    assert got["status"] == "unreachable"
    assert got["responder"] == responder
    assert words in got["detail"]
    assert got["received"] == 0 and got["ttl"] is None
    assert got["seconds"] < bound(2)


def test_real_blackhole_is_silence_within_the_bound(pinged: dict[str, dict[str, Any]]) -> None:
    got = pinged["raw-v4-blackhole"]
    assert got["status"] == "no_reply"
    assert (got["sent"], got["received"]) == (2, 0)
    assert (2 - 1) * INTERVAL + TIMEOUT <= got["seconds"] < bound(2)


def test_real_no_local_route_is_not_sent(pinged: dict[str, dict[str, Any]]) -> None:
    got = pinged["raw-v4-local-no-route"]
    assert got["status"] == "unreachable"
    assert got["sent"] == 0 and got["responder"] is None
    assert "Network is unreachable" in got["detail"]


def test_lab_is_gone(pinged: dict[str, dict[str, Any]]) -> None:
    del pinged  # the fixture has torn the namespaces down already
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if NS_A not in listed and NS_B not in listed:
            return
        time.sleep(0.1)
    pytest.fail("hx-ping namespaces left behind")
