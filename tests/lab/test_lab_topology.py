"""The lab itself, checked with plain tools (sockets, dnspython, scapy), never with probe.

If these fail, the lab is wrong and every probe lab test after them would mislead. Each
network check runs once per session as one script inside the client namespace (fixtures
below); the parametrised tests then read its results, so the whole file takes a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from . import topology as t
from .netlab import SERVERS_PY, Lab, lab_namespaces

pytestmark = pytest.mark.lab

CONNECT_TIMEOUT = 1.5  # seconds: silence is "timeout" after this
SCAPY_TIMEOUT = 1.0


def run_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------- the build


def test_every_namespace_exists(lab: Lab) -> None:
    assert set(t.ALL_NS) <= set(lab_namespaces())


def test_setup_is_fast(lab: Lab) -> None:
    assert lab.setup_seconds is not None
    assert lab.setup_seconds < 10, f"setup took {lab.setup_seconds:.1f}s (aim: < 5 s)"


def test_root_namespace_guard_routes(lab: Lab) -> None:
    v4 = subprocess.run(["ip", "-4", "route", "show", t.LAB_NET_V4], capture_output=True, text=True)
    v6 = subprocess.run(["ip", "-6", "route", "show", t.LAB_NET_V6], capture_output=True, text=True)
    assert v4.stdout.startswith(f"unreachable {t.LAB_NET_V4}")
    assert v6.stdout.startswith(f"unreachable {t.LAB_NET_V6}")


def test_client_routes_reach_the_lab_only(lab: Lab) -> None:
    v4 = lab.exec(lab.client_ns, "ip", "-4", "route", "show").stdout
    v6 = lab.exec(lab.client_ns, "ip", "-6", "route", "show").stdout
    assert "default" not in v4 and "default" not in v6
    assert f"{t.LAB_NET_V4} via {t.ROUTER_CLIENT_V4} dev {t.HOST_IFACE}" in v4
    assert f"{t.LAB_NET_V6} via {t.ROUTER_CLIENT_V6} dev {t.HOST_IFACE}" in v6
    unroutable = lab.exec(lab.client_ns, "ip", "route", "get", t.CLIENT_UNROUTABLE_V4)
    assert unroutable.returncode != 0  # "No route to host": nothing can be sent there


def test_client_resolver_is_the_lab_dns(lab: Lab) -> None:
    resolv = lab.exec(lab.client_ns, "cat", "/etc/resolv.conf").stdout
    assert resolv.splitlines()[0] == f"nameserver {t.DNS_V4}"
    code = "import dns.resolver; print(dns.resolver.Resolver().nameservers)"
    assert lab.python(lab.client_ns, code).stdout.strip() == repr([t.DNS_V4])


def test_client_unroutable_fails_locally(lab: Lab) -> None:
    code = (
        "import socket, errno\n"
        "s = socket.socket(); s.settimeout(2)\n"
        "try:\n    s.connect((__import__('sys').argv[1], 80))\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno])\n"
    )
    out = lab.python(lab.client_ns, code, t.CLIENT_UNROUTABLE_V4).stdout.strip()
    assert out == "EHOSTUNREACH"


# --------------------------------------------------------------------------- DNS

DNS_SCRIPT = r"""
import json, sys
import dns.message, dns.query, dns.rcode, dns.exception
server, timeout, queries = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
out = {}
for key, (name, rdtype, nameserver) in queries.items():
    try:
        reply = dns.query.udp(dns.message.make_query(name, rdtype), nameserver or server,
                              timeout=timeout)
    except dns.exception.Timeout:
        out[key] = ["TIMEOUT", []]
        continue
    answers = sorted(rr.to_text() for rrset in reply.answer for rr in rrset)
    out[key] = [dns.rcode.to_text(reply.rcode()), answers]
print(json.dumps(out))
"""

# key: (name, rdtype, nameserver or None for the lab DNS), expected rcode, expected answers
DNS_CASES: dict[str, tuple[tuple[str, str, str | None], str, list[str]]] = {
    "web-a": ((t.NAME_WEB, "A", None), "NOERROR", [t.SRV_V4]),
    "web-aaaa": ((t.NAME_WEB, "AAAA", None), "NOERROR", [t.SRV_V6]),
    "web-a-over-v6": ((t.NAME_WEB, "A", t.DNS_V6), "NOERROR", [t.SRV_V4]),
    "www-cname": ((t.NAME_WWW, "A", None), "NOERROR", [f"{t.NAME_WEB}.", t.SRV_V4]),
    "noping": ((t.NAME_NOPING, "A", None), "NOERROR", [t.NOPING_V4]),
    "cam": ((t.NAME_CAM, "A", None), "NOERROR", [t.NAT_PUBLIC_V4]),
    "down": ((t.NAME_DOWN, "A", None), "NOERROR", [t.BLACKHOLE_HOST_V4]),
    "unreach": ((t.NAME_UNREACH, "A", None), "NOERROR", [t.UNREACHABLE_HOST_V4]),
    "v4only-a": ((t.NAME_V4ONLY, "A", None), "NOERROR", [t.SRV_V4]),
    "v4only-aaaa": ((t.NAME_V4ONLY, "AAAA", None), "NOERROR", []),
    "dual-a": ((t.NAME_DUAL, "A", None), "NOERROR", [t.DUAL_V4]),
    "dual-aaaa": ((t.NAME_DUAL, "AAAA", None), "NOERROR", [t.DUAL_V6]),
    "near": ((t.NAME_NEAR, "A", None), "NOERROR", [t.NEAR_V4]),
    "dup": ((t.NAME_DUP, "A", None), "NOERROR", [t.DUP_V4]),
    "noaddr-a": ((t.NAME_NOADDR, "A", None), "NOERROR", []),
    "noaddr-aaaa": ((t.NAME_NOADDR, "AAAA", None), "NOERROR", []),
    "noaddr-txt": ((t.NAME_NOADDR, "TXT", None), "NOERROR", [f'"{t.NOADDR_TXT}"']),
    "missing": ((t.NAME_MISSING, "A", None), "NXDOMAIN", []),
    "servfail": ((t.NAME_SERVFAIL, "A", None), "SERVFAIL", []),
    "servfail-aaaa": ((t.NAME_SERVFAIL, "AAAA", None), "SERVFAIL", []),
    "timeout-via-lab-dns": ((t.NAME_TIMEOUT, "A", None), "TIMEOUT", []),
    "silent-nameserver": ((t.NAME_WEB, "A", t.SILENT_DNS_V4), "TIMEOUT", []),
}


@pytest.fixture(scope="module")
def dns_answers(lab: Lab) -> dict[str, list[Any]]:
    queries = {key: list(query) for key, (query, _, _) in DNS_CASES.items()}
    proc = lab.python(lab.client_ns, DNS_SCRIPT, t.DNS_V4, "1.0", json.dumps(queries))
    answers: dict[str, list[Any]] = run_json(proc)
    return answers


@pytest.mark.parametrize("key", DNS_CASES)
def test_dns_record(dns_answers: dict[str, list[Any]], key: str) -> None:
    _, rcode, answers = DNS_CASES[key]
    assert dns_answers[key] == [rcode, sorted(answers)]


def test_system_resolver_in_client_uses_lab_dns(lab: Lab) -> None:
    code = (
        "import socket, sys\n"
        "infos = socket.getaddrinfo(sys.argv[1], 80, proto=socket.IPPROTO_TCP)\n"
        "print(' '.join(sorted({i[4][0] for i in infos})))\n"
    )
    out = lab.python(lab.client_ns, code, t.NAME_WWW).stdout.split()
    assert out == sorted([t.SRV_V4, t.SRV_V6])


# --------------------------------------------------------------------------- TCP with sockets

CONNECT_SCRIPT = r"""
import errno, json, socket, sys, threading
timeout, cases = float(sys.argv[1]), json.loads(sys.argv[2])
IP_RECVERR, IPV6_RECVERR = 11, 25  # ICMP errors fail connect() at once, even "soft" ones
out = {}

def read_all(s, limit=65536):
    data = b""
    while len(data) < limit:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data

def one(key, host, port, then):
    v6 = ":" in host
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6 if v6 else socket.IPPROTO_IP,
                 IPV6_RECVERR if v6 else IP_RECVERR, 1)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except TimeoutError:
        out[key] = ["timeout", None]; return
    except OSError as e:
        out[key] = [errno.errorcode.get(e.errno, str(e.errno)), None]; return
    data = None
    try:
        if then == "http":
            s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
            data = read_all(s).decode(errors="replace")
        elif then == "read":
            data = read_all(s).decode(errors="replace")
        elif then == "first":
            data = s.recv(4096).decode(errors="replace")
    except TimeoutError:
        data = "<timeout>"
    finally:
        s.close()
    out[key] = ["open", data]

threads = [threading.Thread(target=one, args=(k, *v)) for k, v in cases.items()]
for th in threads: th.start()
for th in threads: th.join(30)
print(json.dumps(out))
"""

# key: (host, port, what to do once connected), expected outcome, text the data must contain
CONNECT_CASES: dict[str, tuple[tuple[str, int, str], str, str | None]] = {
    "srv-http": ((t.SRV_V4, t.HTTP_PORT, "http"), "open", t.HTTP_SERVER_HEADER),
    "srv-http-host": ((t.SRV_V4, t.HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: srv"),
    "srv-ssh-banner": ((t.SRV_V4, t.SSH_PORT, "first"), "open", t.SSH_BANNER),
    "srv-silent": ((t.SRV_V4, t.SILENT_PORT, "read"), "open", "<timeout>"),
    "srv-closed": ((t.SRV_V4, t.CLOSED_PORT, ""), "ECONNREFUSED", None),
    "srv-dropped": ((t.SRV_V4, t.DROPPED_PORT, ""), "timeout", None),
    "srv-admin-prohibited": ((t.SRV_V4, t.ADMIN_PROHIBITED_PORT, ""), "EHOSTUNREACH", None),
    "srv-port-unreach": ((t.SRV_V4, t.PORT_UNREACH_PORT, ""), "ECONNREFUSED", None),
    "srv6-http": ((t.SRV_V6, t.HTTP_PORT, "http"), "open", t.HTTP_SERVER_HEADER),
    "srv6-ssh-banner": ((t.SRV_V6, t.SSH_PORT, "first"), "open", t.SSH_BANNER),
    "srv6-silent": ((t.SRV_V6, t.SILENT_PORT, "read"), "open", "<timeout>"),
    "srv6-closed": ((t.SRV_V6, t.CLOSED_PORT, ""), "ECONNREFUSED", None),
    "srv6-dropped": ((t.SRV_V6, t.DROPPED_PORT, ""), "timeout", None),
    "srv6-admin-prohibited": ((t.SRV_V6, t.ADMIN_PROHIBITED_PORT, ""), "EACCES", None),
    "srv6-port-unreach": ((t.SRV_V6, t.PORT_UNREACH_PORT, ""), "ECONNREFUSED", None),
    "noping-http": ((t.NOPING_V4, t.HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: noping"),
    "noping6-http": ((t.NOPING_V6, t.HTTP_PORT, "http"), "open", t.HTTP_SERVER_HEADER),
    "dual-v4-open": ((t.DUAL_V4, t.HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: dual"),
    "dual-v6-dropped": ((t.DUAL_V6, t.HTTP_PORT, ""), "timeout", None),
    "nat-forwarded": ((t.NAT_PUBLIC_V4, t.CAM_HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: cam"),
    "nat-unforwarded": ((t.NAT_PUBLIC_V4, t.CAM_UNFORWARDED_PORT, ""), "ECONNREFUSED", None),
    "cam-private": ((t.CAM_V4, t.CAM_HTTP_PORT, ""), "timeout", None),
    "near-http": ((t.NEAR_V4, t.HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: near"),
    "near6-http": ((t.NEAR_V6, t.HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: near"),
    "dup-http": ((t.DUP_V4, t.HTTP_PORT, "http"), "open", f"{t.HOST_HEADER}: dup"),
    "unreachable-net": ((t.UNREACHABLE_HOST_V4, t.HTTP_PORT, ""), "EHOSTUNREACH", None),
    "prohibit-net": ((t.PROHIBIT_HOST_V4, t.HTTP_PORT, ""), "EHOSTUNREACH", None),
    "no-route-at-router": ((t.NO_ROUTE_AT_ROUTER_V4, t.HTTP_PORT, ""), "ENETUNREACH", None),
    "blackhole-net": ((t.BLACKHOLE_HOST_V4, t.HTTP_PORT, ""), "timeout", None),
    "unreachable-net6": ((t.UNREACHABLE_HOST_V6, t.HTTP_PORT, ""), "ENETUNREACH", None),
    "prohibit-net6": ((t.PROHIBIT_HOST_V6, t.HTTP_PORT, ""), "EACCES", None),
    "blackhole-net6": ((t.BLACKHOLE_HOST_V6, t.HTTP_PORT, ""), "timeout", None),
    "onlink-nobody": ((t.ONLINK_NOBODY_V4, t.HTTP_PORT, ""), "timeout", None),
}


@pytest.fixture(scope="module")
def connect_results(lab: Lab) -> dict[str, list[Any]]:
    cases = {key: list(target) for key, (target, _, _) in CONNECT_CASES.items()}
    proc = lab.python(
        lab.client_ns, CONNECT_SCRIPT, str(CONNECT_TIMEOUT), json.dumps(cases), timeout=60
    )
    results: dict[str, list[Any]] = run_json(proc)
    return results


@pytest.mark.parametrize("key", CONNECT_CASES)
def test_connect_from_client(connect_results: dict[str, list[Any]], key: str) -> None:
    _, outcome, contains = CONNECT_CASES[key]
    got, data = connect_results[key]
    assert got == outcome, f"{key}: {got} ({data!r})"
    if contains is not None:
        assert data is not None and contains in data, f"{key}: {data!r}"


def test_plain_mode_closes_at_once(lab: Lab) -> None:
    # cam:6036 is not forwarded, so ask from the router, which reaches the cam's LAN directly
    code = (
        "import socket, sys\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\n"
        "print(repr(s.recv(100)))\n"
    )
    out = lab.python(lab.router_ns, code, t.CAM_V4, str(t.CAM_UNFORWARDED_PORT))
    assert out.stdout.strip() == "b''", out.stderr


# --------------------------------------------------------------------------- packets with scapy

SCAPY_SCRIPT = r"""
import json, sys
from scapy.all import (ARP, ICMP, IP, TCP, Ether, IPv6, ICMPv6DestUnreach, ICMPv6EchoReply,
                       ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr,
                       conf, sr, srp)
from scapy.utils6 import in6_getnsma, in6_getnsmac
from socket import AF_INET6, inet_pton, inet_ntop
conf.verb = 0
spec = json.loads(sys.argv[1])
timeout = float(sys.argv[2])
out = {}

def describe(r):
    v4 = IP in r
    ip = r[IP] if v4 else r[IPv6]
    d = {"src": ip.src, "ttl": ip.ttl if v4 else ip.hlim}
    if v4 and ICMP in r and r[ICMP].type == 3:
        d.update(kind="icmp", type=3, code=r[ICMP].code)
    elif ICMPv6DestUnreach in r:
        d.update(kind="icmp", type=1, code=r[ICMPv6DestUnreach].code)
    elif (v4 and ICMP in r and r[ICMP].type == 0) or ICMPv6EchoReply in r:
        d.update(kind="echo-reply")
    elif TCP in r:
        d.update(kind="tcp", flags=str(r[TCP].flags))
    else:
        d.update(kind="other", summary=r.summary())
    return d

for family in ("v4", "v6"):
    labels, pkts = {}, []
    for i, (label, dst, port) in enumerate(spec["syn"]):
        if (":" in dst) != (family == "v6"):
            continue
        l3 = IPv6(dst=dst) if family == "v6" else IP(dst=dst)
        pkts.append(l3 / TCP(sport=42000 + i, dport=port, flags="S", seq=1000 + i))
        labels[("tcp", 42000 + i)] = label
    for i, (label, dst) in enumerate(spec["echo"]):
        if (":" in dst) != (family == "v6"):
            continue
        echo = ICMPv6EchoRequest(id=0x7072, seq=i) if family == "v6" else ICMP(id=0x7072, seq=i)
        pkts.append((IPv6(dst=dst) if family == "v6" else IP(dst=dst)) / echo)
        labels[("echo", i)] = label
    ans, unans = sr(pkts, timeout=timeout)
    for s, r in ans:
        key = ("tcp", s[TCP].sport) if TCP in s else ("echo", s.seq)
        out[labels[key]] = describe(r)
    for s in unans:
        key = ("tcp", s[TCP].sport) if TCP in s else ("echo", s.seq)
        out[labels[key]] = {"kind": "none"}

arp = {}
ans, _ = srp(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=spec["arp"]), timeout=timeout,
             multi=True, iface=spec["iface"])
for _, r in ans:
    arp.setdefault(r[ARP].psrc, []).append(r[ARP].hwsrc)
out["arp"] = {ip: sorted(arp.get(ip, [])) for ip in spec["arp"]}

nd, pkts = {}, []
for target in spec["nd"]:
    t6 = inet_ntop(AF_INET6, inet_pton(AF_INET6, target))
    nsma = in6_getnsma(inet_pton(AF_INET6, t6))
    pkts.append(Ether(dst=in6_getnsmac(nsma))
                / IPv6(src=spec["src6"], dst=inet_ntop(AF_INET6, nsma))
                / ICMPv6ND_NS(tgt=t6) / ICMPv6NDOptSrcLLAddr(lladdr=spec["mac"]))
    nd[t6] = set()
ans, _ = srp(pkts, timeout=timeout, multi=True, iface=spec["iface"])
for _, r in ans:
    if ICMPv6ND_NA in r and r[ICMPv6ND_NA].tgt in nd:
        nd[r[ICMPv6ND_NA].tgt].add(r[Ether].src)
nd = {target: sorted(nd[inet_ntop(AF_INET6, inet_pton(AF_INET6, target))])
      for target in spec["nd"]}
out["nd"] = nd
print(json.dumps(out))
"""

# label: (destination, port), expected kind, flags or "type/code", responder, TTL
SYN_CASES: dict[str, tuple[tuple[str, int], str, str | None, str | None, int | None]] = {
    "srv-open": ((t.SRV_V4, t.HTTP_PORT), "tcp", "SA", t.SRV_V4, t.TTL_ONE_HOP),
    "srv-closed": ((t.SRV_V4, t.CLOSED_PORT), "tcp", "RA", t.SRV_V4, t.TTL_ONE_HOP),
    "srv-dropped": ((t.SRV_V4, t.DROPPED_PORT), "none", None, None, None),
    "srv-admin-prohibited": (
        (t.SRV_V4, t.ADMIN_PROHIBITED_PORT),
        "icmp",
        "3/13",
        t.ROUTER_CLIENT_V4,
        t.TTL_DIRECT,
    ),
    "srv-port-unreach": (
        (t.SRV_V4, t.PORT_UNREACH_PORT),
        "icmp",
        "3/3",
        t.ROUTER_CLIENT_V4,
        t.TTL_DIRECT,
    ),
    "nat-forwarded": (
        (t.NAT_PUBLIC_V4, t.CAM_HTTP_PORT),
        "tcp",
        "SA",
        t.NAT_PUBLIC_V4,
        t.TTL_ONE_HOP,
    ),
    "nat-unforwarded": (
        (t.NAT_PUBLIC_V4, t.CAM_UNFORWARDED_PORT),
        "tcp",
        "RA",
        t.NAT_PUBLIC_V4,
        t.TTL_DIRECT,
    ),
    "cam-private": ((t.CAM_V4, t.CAM_HTTP_PORT), "none", None, None, None),
    "noping-open": ((t.NOPING_V4, t.HTTP_PORT), "tcp", "SA", t.NOPING_V4, t.TTL_ONE_HOP),
    "dual-open": ((t.DUAL_V4, t.HTTP_PORT), "tcp", "SA", t.DUAL_V4, t.TTL_ONE_HOP),
    "near-open": ((t.NEAR_V4, t.HTTP_PORT), "tcp", "SA", t.NEAR_V4, t.TTL_DIRECT),
    "unreachable": (
        (t.UNREACHABLE_HOST_V4, t.HTTP_PORT),
        "icmp",
        "3/1",
        t.ROUTER_CLIENT_V4,
        t.TTL_DIRECT,
    ),
    "prohibit": ((t.PROHIBIT_HOST_V4, t.HTTP_PORT), "icmp", "3/13", t.ROUTER_CLIENT_V4, 64),
    "no-route": (
        (t.NO_ROUTE_AT_ROUTER_V4, t.HTTP_PORT),
        "icmp",
        "3/0",
        t.ROUTER_CLIENT_V4,
        t.TTL_DIRECT,
    ),
    "blackhole": ((t.BLACKHOLE_HOST_V4, t.HTTP_PORT), "none", None, None, None),
    "srv6-open": ((t.SRV_V6, t.HTTP_PORT), "tcp", "SA", t.SRV_V6, t.TTL_ONE_HOP),
    "srv6-closed": ((t.SRV_V6, t.CLOSED_PORT), "tcp", "RA", t.SRV_V6, t.TTL_ONE_HOP),
    "srv6-dropped": ((t.SRV_V6, t.DROPPED_PORT), "none", None, None, None),
    "srv6-admin-prohibited": (
        (t.SRV_V6, t.ADMIN_PROHIBITED_PORT),
        "icmp",
        "1/1",
        t.ROUTER_CLIENT_V6,
        t.TTL_DIRECT,
    ),
    "srv6-port-unreach": (
        (t.SRV_V6, t.PORT_UNREACH_PORT),
        "icmp",
        "1/4",
        t.ROUTER_CLIENT_V6,
        t.TTL_DIRECT,
    ),
    "dual6-dropped": ((t.DUAL_V6, t.HTTP_PORT), "none", None, None, None),
    "unreachable6": (
        (t.UNREACHABLE_HOST_V6, t.HTTP_PORT),
        "icmp",
        "1/0",
        t.ROUTER_CLIENT_V6,
        t.TTL_DIRECT,
    ),
    "prohibit6": (
        (t.PROHIBIT_HOST_V6, t.HTTP_PORT),
        "icmp",
        "1/1",
        t.ROUTER_CLIENT_V6,
        t.TTL_DIRECT,
    ),
    "blackhole6": ((t.BLACKHOLE_HOST_V6, t.HTTP_PORT), "none", None, None, None),
}

# label: destination, expected kind, responder, TTL
ECHO_CASES: dict[str, tuple[str, str, str | None, int | None]] = {
    "echo-router": (t.ROUTER_CLIENT_V4, "echo-reply", t.ROUTER_CLIENT_V4, t.TTL_DIRECT),
    "echo-nat": (t.NAT_PUBLIC_V4, "echo-reply", t.NAT_PUBLIC_V4, t.TTL_DIRECT),
    "echo-srv": (t.SRV_V4, "echo-reply", t.SRV_V4, t.TTL_ONE_HOP),
    "echo-near": (t.NEAR_V4, "echo-reply", t.NEAR_V4, t.TTL_DIRECT),
    "echo-noping": (t.NOPING_V4, "none", None, None),
    "echo-srv6": (t.SRV_V6, "echo-reply", t.SRV_V6, t.TTL_ONE_HOP),
    "echo-noping6": (t.NOPING_V6, "none", None, None),
    "echo-unreachable": (t.UNREACHABLE_HOST_V4, "icmp", t.ROUTER_CLIENT_V4, t.TTL_DIRECT),
}

ARP_CASES: dict[str, list[str]] = {
    t.DUP_V4: sorted([t.DUP1_MAC, t.DUP2_MAC]),
    t.NEAR_V4: [t.NEAR_MAC],
    t.ROUTER_CLIENT_V4: [t.ROUTER_CLIENT_MAC],
    t.ONLINK_NOBODY_V4: [],
}
ND_CASES: dict[str, list[str]] = {
    t.DUP_V6: sorted([t.DUP1_MAC, t.DUP2_MAC]),
    t.NEAR_V6: [t.NEAR_MAC],
    t.ONLINK_NOBODY_V6: [],
}


@pytest.fixture(scope="module")
def packets(lab: Lab) -> dict[str, Any]:
    spec = {
        "syn": [[label, *target] for label, (target, *_) in SYN_CASES.items()],
        "echo": [[label, dst] for label, (dst, *_) in ECHO_CASES.items()],
        "arp": list(ARP_CASES),
        "nd": list(ND_CASES),
        "iface": t.HOST_IFACE,
        "mac": t.CLIENT_MAC,
        "src6": t.CLIENT_V6,
    }
    proc = lab.python(
        lab.client_ns, SCAPY_SCRIPT, json.dumps(spec), str(SCAPY_TIMEOUT), timeout=120
    )
    result: dict[str, Any] = run_json(proc)
    return result


@pytest.mark.parametrize("label", SYN_CASES)
def test_syn_answer(packets: dict[str, Any], label: str) -> None:
    _, kind, detail, responder, ttl = SYN_CASES[label]
    got = packets[label]
    assert got["kind"] == kind, got
    if kind == "tcp":
        assert got["flags"] == detail, got
    elif kind == "icmp":
        assert f"{got['type']}/{got['code']}" == detail, got
    if responder is not None:
        assert (got["src"], got["ttl"]) == (responder, ttl), got


@pytest.mark.parametrize("label", ECHO_CASES)
def test_echo_answer(packets: dict[str, Any], label: str) -> None:
    _, kind, responder, ttl = ECHO_CASES[label]
    got = packets[label]
    assert got["kind"] == kind, got
    if responder is not None:
        assert (got["src"], got["ttl"]) == (responder, ttl), got


def test_nat_ttls_tell_the_cam_from_the_router(packets: dict[str, Any]) -> None:
    """The camera case in one look: SYN/ACK one hop further than the RST and the echo."""
    forwarded, unforwarded = packets["nat-forwarded"], packets["nat-unforwarded"]
    assert forwarded["src"] == unforwarded["src"] == t.NAT_PUBLIC_V4
    assert forwarded["ttl"] == unforwarded["ttl"] - 1 == packets["echo-nat"]["ttl"] - 1


@pytest.mark.parametrize("address", ARP_CASES)
def test_arp_answers(packets: dict[str, Any], address: str) -> None:
    assert packets["arp"][address] == ARP_CASES[address]


@pytest.mark.parametrize("address", ND_CASES)
def test_neighbour_solicitation_answers(packets: dict[str, Any], address: str) -> None:
    assert packets["nd"][address] == ND_CASES[address]


# --------------------------------------------------------------------------- without CAP_NET_RAW

UNPRIVILEGED_SCRIPT = r"""
import json, os, socket, sys
srv4, srv6, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {"uid": os.geteuid()}
for name, args in (("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)),
                   ("raw6", (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_TCP)),
                   ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0))):
    try:
        socket.socket(*args).close()
        out[name] = "allowed"
    except PermissionError:
        out[name] = "PermissionError"
for name, family, proto, request, host in (
        ("echo4", socket.AF_INET, socket.IPPROTO_ICMP, 8, srv4),
        ("echo6", socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, srv6)):
    try:
        s = socket.socket(family, socket.SOCK_DGRAM, proto)
        s.settimeout(2)
        s.sendto(bytes([request, 0, 0, 0, 0, 1, 0, 1]) + b"probe-lab", (host, 0))
        data, addr = s.recvfrom(1024)
        out[name] = [data[0], addr[0]]
    except OSError as e:
        out[name] = repr(e)
with socket.create_connection((srv4, port), timeout=2):
    out["connect"] = "open"
print(json.dumps(out))
"""


def test_unprivileged_mode_has_no_raw_sockets_but_can_ping_and_connect(lab: Lab) -> None:
    proc = lab.python(
        lab.client_ns,
        UNPRIVILEGED_SCRIPT,
        t.SRV_V4,
        t.SRV_V6,
        str(t.HTTP_PORT),
        unprivileged=True,
    )
    out = run_json(proc)
    assert out["raw"] == out["raw6"] == out["packet"] == "PermissionError"
    assert out["echo4"] == [0, t.SRV_V4]  # echo reply through a ping_group_range socket
    assert out["echo6"] == [129, t.SRV_V6]
    assert out["connect"] == "open"


def test_privileged_mode_has_raw_sockets(lab: Lab) -> None:
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 6); print('ok')"
    assert lab.python(lab.client_ns, code).stdout.strip() == "ok"


# --------------------------------------------------------------------------- the probe command


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "no-net-raw"])
def test_probe_command_runs_in_the_client_namespace(lab: Lab, unprivileged: bool) -> None:
    proc = lab.run_probe("--help", timeout=60, unprivileged=unprivileged)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- servers.py lifecycle


@contextlib.contextmanager
def extra_server(*listen: str, hold: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """servers.py in the srv namespace on the spare port, ready; stopped and reaped after."""
    argv = [sys.executable, str(SERVERS_PY), "--name", "extra", "--hold", str(hold)]
    for spec in listen:
        argv += ["--listen", spec]
    with subprocess.Popen(
        ["ip", "netns", "exec", t.SRV_NS, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "READY"
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)


def test_server_exits_on_sigterm(lab: Lab) -> None:
    with extra_server(f"plain@{t.SRV_V4}:{t.SPARE_PORT}") as proc:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0


def test_server_exits_when_its_parent_dies(lab: Lab) -> None:
    parent = (
        "import subprocess, sys\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,"
        " text=True)\n"
        "assert p.stdout.readline().strip() == 'READY'\n"
        "print(p.pid, flush=True)\n"
    )
    argv = [sys.executable, str(SERVERS_PY), "--listen", f"silent@{t.SRV_V4}:{t.SPARE_PORT}"]
    proc = lab.python(t.SRV_NS, parent, *argv, timeout=20)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.strip())
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = os.path.exists(f"/proc/{pid}")
    if alive:  # do not leave it behind, whatever the verdict
        os.kill(pid, signal.SIGKILL)
    assert not alive, "servers.py outlived its parent"


def test_silent_mode_holds_for_a_bounded_time(lab: Lab) -> None:
    code = (
        "import socket, sys, time\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
        "start = time.monotonic(); data = s.recv(100)\n"
        "print(repr(data), round(time.monotonic() - start, 1))\n"
    )
    with extra_server(f"silent@[{t.SRV_V6}]:{t.SPARE_PORT}", hold=0.5):
        out = lab.python(lab.client_ns, code, t.SRV_V6, str(t.SPARE_PORT)).stdout.split()
    assert out[0] == "b''"  # closed by the server, never a byte
    assert 0.3 <= float(out[1]) <= 3
