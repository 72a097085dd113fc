"""`probe analyze` on real captures: tcpdump records the client namespace while curl (a real
client, with its kernel's own SYN retries) connects to an open port, a refused one, a silently
dropped one, a firewall-rejected one and the NAT case; the findings must name each server and
pattern, and say nothing against the healthy ones.

Two captures of the same traffic are taken at once: ``-i eth0`` (Ethernet, microseconds) and
``-i any`` with nanosecond timestamps (Linux cooked SLL2), so the reader meets both."""

from __future__ import annotations

import gzip
import json
import os
import re
import select
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab

SRV = t.SRV_V4
NAT = t.NAT_PUBLIC_V4
TCPDUMP_READY = 10.0  # seconds for tcpdump to say it listens


def _tcpdump(
    lab: Lab, path: Path, *args: str, expr: str = "tcp or icmp or icmp6"
) -> subprocess.Popen[bytes]:
    """tcpdump in the client namespace, bounded by -c; returns once it listens."""
    argv = [
        "ip",
        "netns",
        "exec",
        lab.client_ns,
        "tcpdump",
        "-n",
        "-U",  # write each packet as it comes ...
        "--immediate-mode",  # ... and get it at once (else up to 1 s late: lost at SIGTERM)
        "-Z",
        "root",  # do not drop to the tcpdump user: it could not write the test's directory
        "-c",
        "10000",
        *args,
        "-w",
        str(path),
        expr,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + TCPDUMP_READY
    said = b""
    while b"listening on" not in said and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            break  # timed out, or tcpdump exited
        said += chunk
    if b"listening on" not in said:
        proc.kill()
        proc.wait(5)
        pytest.fail(f"tcpdump did not start: {said.decode(errors='replace').strip()}")
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # tcpdump writes out what it has and exits
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _curl(lab: Lab, url: str, connect_timeout: float = 4.0) -> subprocess.CompletedProcess[str]:
    return lab.exec(
        lab.client_ns,
        "curl",
        "-sS",
        "-o",
        "/dev/null",
        "--connect-timeout",
        str(connect_timeout),
        "--max-time",
        str(connect_timeout + 2),
        url,
        timeout=30,
    )


@pytest.fixture(scope="module")
def captures(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    where = tmp_path_factory.mktemp("analyze")
    paths = {"eth0": where / "eth0.pcap", "any": where / "any-nano.pcap"}
    dumps = [
        _tcpdump(lab, paths["eth0"], "-i", t.HOST_IFACE),
        _tcpdump(lab, paths["any"], "-i", "any", "--time-stamp-precision=nano"),
    ]
    try:
        ok = _curl(lab, f"http://{SRV}:{t.HTTP_PORT}/")
        assert ok.returncode == 0, ok.stderr
        assert _curl(lab, f"http://{SRV}:{t.CLOSED_PORT}/").returncode == 7  # refused
        # dropped: the kernel retransmits the SYN (Linux >= 6.5: every second at first)
        assert _curl(lab, f"http://{SRV}:{t.DROPPED_PORT}/", 2.5).returncode == 28  # timed out
        assert _curl(lab, f"http://{SRV}:{t.ADMIN_PROHIBITED_PORT}/").returncode != 0
        assert _curl(lab, f"http://{NAT}:{t.CAM_HTTP_PORT}/").returncode == 0
        assert _curl(lab, f"http://{NAT}:{t.CAM_UNFORWARDED_PORT}/").returncode == 7
        time.sleep(1.0)  # let the last answers reach the files before stopping
    finally:
        for proc in dumps:
            _stop(proc)
    yield paths


def analyze(lab: Lab, path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = lab.run_probe("analyze", str(path), "--json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def by_server(report: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in report["findings"]:
        found.setdefault(f["server"], set()).add(f["code"])
    return found


def finding(report: dict[str, Any], server: str, code: str) -> dict[str, Any]:
    matches = [f for f in report["findings"] if f["server"] == server and f["code"] == code]
    assert len(matches) == 1, report["findings"]
    found: dict[str, Any] = matches[0]
    return found


EXPECTED = {
    f"{SRV}:{t.HTTP_PORT}": {"ok"},
    f"{SRV}:{t.CLOSED_PORT}": {"syn-refused"},
    f"{SRV}:{t.DROPPED_PORT}": {"syn-unanswered"},
    f"{SRV}:{t.ADMIN_PROHIBITED_PORT}": {"syn-rejected"},
    f"{NAT}:{t.CAM_HTTP_PORT}": {"ok"},
    f"{NAT}:{t.CAM_UNFORWARDED_PORT}": {"syn-refused"},
}


@pytest.mark.parametrize("which", ["eth0", "any"])
def test_each_server_and_pattern_is_named(lab: Lab, captures: dict[str, Path], which: str) -> None:
    rc, report = analyze(lab, captures[which])
    assert rc == 1
    assert by_server(report) == EXPECTED
    link = "Ethernet" if which == "eth0" else "Linux cooked v2 (SLL2)"
    assert report["capture"]["link_types"] == [link]
    assert report["capture"]["truncated"] is False
    for f in report["findings"]:
        assert f["client"] == t.CLIENT_V4
        assert f["first"] <= f["last"]


def _syns_in(path: Path, port: int) -> int:
    """SYNs to ``port`` in the file, counted by tcpdump itself."""
    proc = subprocess.run(
        ["tcpdump", "-n", "-r", str(path), f"tcp dst port {port} and tcp[tcpflags] == tcp-syn"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return len(proc.stdout.splitlines())


def test_the_retransmitted_syns_are_counted(lab: Lab, captures: dict[str, Path]) -> None:
    _, report = analyze(lab, captures["eth0"])
    f = finding(report, f"{SRV}:{t.DROPPED_PORT}", "syn-unanswered")
    syns = _syns_in(captures["eth0"], t.DROPPED_PORT)
    assert syns >= 2  # curl waited 2.5 s: the kernel sent its SYN again at least once
    assert (f["count"], f["syns"], f["tries"]) == (1, syns, syns)
    assert f"{syns} SYNs from {t.CLIENT_V4}" in f["evidence"][0]
    assert f"it answers on {t.HTTP_PORT}" in f["summary"]  # check's words: the host is up


def test_refused_by_the_host_and_by_the_nat(lab: Lab, captures: dict[str, Path]) -> None:
    _, report = analyze(lab, captures["eth0"])
    host = finding(report, f"{SRV}:{t.CLOSED_PORT}", "syn-refused")
    assert host["summary"].startswith(f"Nothing is listening on port {t.CLOSED_PORT}")
    assert host["ttl"] == t.TTL_ONE_HOP
    nat = finding(report, f"{NAT}:{t.CAM_UNFORWARDED_PORT}", "syn-refused")
    assert nat["ttl"] == t.TTL_DIRECT
    assert "device in front of" in nat["summary"] and "NAT" in nat["summary"]
    assert any("one hop closer" in e for e in nat["evidence"])


def test_rejected_names_the_firewall(lab: Lab, captures: dict[str, Path]) -> None:
    _, report = analyze(lab, captures["eth0"])
    f = finding(report, f"{SRV}:{t.ADMIN_PROHIBITED_PORT}", "syn-rejected")
    assert f["responder"] == t.ROUTER_CLIENT_V4
    assert t.ROUTER_CLIENT_V4 in f["summary"] and "administratively prohibited" in f["summary"]


def test_healthy_servers_get_nothing_but_ok(lab: Lab, captures: dict[str, Path]) -> None:
    _, report = analyze(lab, captures["eth0"])
    for server in (f"{SRV}:{t.HTTP_PORT}", f"{NAT}:{t.CAM_HTTP_PORT}"):
        f = finding(report, server, "ok")
        assert f["severity"] == "info" and f["half_open"] == 0
        assert f["tcp_options"]["mss"] and f["ttl"] == t.TTL_ONE_HOP
    servers = {s["address"]: s for s in report["servers"]}
    assert servers[SRV]["ports_ok"] == [t.HTTP_PORT]
    assert servers[NAT]["ports_ok"] == [t.CAM_HTTP_PORT]
    assert servers[SRV]["status"] == "partial"


def test_human_output_names_servers_patterns_and_the_limit(
    lab: Lab, captures: dict[str, Path]
) -> None:
    proc = lab.run_probe("analyze", str(captures["eth0"]))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    for server, codes in EXPECTED.items():
        (code,) = codes
        assert re.search(rf"^  {re.escape(server)} +{code} ", out, re.M), (server, out)  # a row
        if code != "ok":
            assert f"{code} ({server}):" in out  # the finding
    words = " ".join(out.split())  # the verdict wraps at the console's width
    assert f"The problem is limited to {SRV} (ports" in words and "\x1b[" not in out
    assert f"{NAT} is up (port {t.CAM_HTTP_PORT} works)" in words


def test_only_the_healthy_connection_exits_0(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "healthy.pcap"
    dump = _tcpdump(lab, path, "-i", t.HOST_IFACE)
    try:
        assert _curl(lab, f"http://{SRV}:{t.HTTP_PORT}/").returncode == 0
        time.sleep(0.5)
    finally:
        _stop(dump)
    rc, report = analyze(lab, path)
    assert rc == 0
    assert by_server(report) == {f"{SRV}:{t.HTTP_PORT}": {"ok"}}


def test_a_truncated_capture_is_analysed_up_to_the_cut(
    lab: Lab, captures: dict[str, Path], tmp_path: Path
) -> None:
    data = captures["eth0"].read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-5])
    rc, report = analyze(lab, cut)
    assert report["capture"]["truncated"] is True
    assert any("cut short" in n for n in report["notes"])
    assert rc == 1 and f"{SRV}:{t.DROPPED_PORT}" in by_server(report)


def test_not_a_capture_is_exit_2(lab: Lab, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("this is not a capture\n")
    proc = lab.run_probe("analyze", str(bogus))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "not a capture file" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# An on-path injector (issue 17): a script in the router namespace watches the client's LAN
# and, for the first SYN to the port, forges a RST "from the server" toward the client: no
# ACK flag, TTL 46, the SYN's IP ID. The router drops that first SYN (an nft quota), so the
# forgery is the only answer to it; Linux drops a RST without ACK in SYN-SENT (RFC 793), its
# timer sends the SYN again, and the server's SYN/ACK to it completes the connection.
_INJECTOR = r"""
import socket, struct, sys
port = int(sys.argv[1])
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
sniff.bind((sys.argv[2], 0))
out = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
print("ready", flush=True)

def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

while True:
    frame = sniff.recv(4096)
    ip = frame[14:]
    if len(ip) < 40 or ip[9] != 6:
        continue
    tcp = ip[(ip[0] & 15) * 4:]
    sport, dport = struct.unpack("!HH", tcp[:4])
    if dport != port or tcp[13] != 0x02:
        continue
    ipid, src, dst = ip[4:6], ip[12:16], ip[16:20]
    th = struct.pack("!HHIIBBHHH", dport, sport, 0, 0, 5 << 4, 0x04, 0, 0, 0)
    th = th[:16] + struct.pack("!H", csum(dst + src + struct.pack("!BBH", 0, 6, 20) + th)) + th[18:]
    iph = struct.pack("!BBH2sHBBH4s4s", 0x45, 0, 40, ipid, 0, 46, 6, 0, dst, src)
    out.sendto(iph + th, (socket.inet_ntoa(src), 0))
    break
"""


def test_an_injected_rst_before_the_synack_is_rst_injected(lab: Lab, tmp_path: Path) -> None:
    # nft's quota: "until" matches while the bytes counted stay under it: the first SYN only
    drop_first = (
        "table ip probe_lab_inject {\n chain forward {\n"
        "  type filter hook forward priority -10; policy accept;\n"
        f"  ip daddr {SRV} tcp dport {t.HTTP_PORT} tcp flags & (syn | ack) == syn "
        "quota until 100 bytes drop\n }\n}\n"
    )
    added = lab.exec(t.ROUTER_NS, "nft", "-f", "-", input=drop_first)
    assert added.returncode == 0, added.stderr
    injector = subprocess.Popen(
        ["ip", "netns", "exec", t.ROUTER_NS, sys.executable, "-c", _INJECTOR,
         str(t.HTTP_PORT), t.CLIENT_LAN.bridge],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    path = tmp_path / "injected.pcap"
    try:
        assert injector.stdout is not None and injector.stdout.readline() == b"ready\n"
        dump = _tcpdump(lab, path, "-i", t.HOST_IFACE)
        try:
            assert _curl(lab, f"http://{SRV}:{t.HTTP_PORT}/").returncode == 0
            time.sleep(0.5)
        finally:
            _stop(dump)
    finally:
        lab.exec(t.ROUTER_NS, "nft", "delete", "table", "ip", "probe_lab_inject")
        injector.kill()
        injector.wait(5)
    rc, report = analyze(lab, path)
    assert rc == 1
    assert by_server(report) == {f"{SRV}:{t.HTTP_PORT}": {"rst-injected"}}
    f = finding(report, f"{SRV}:{t.HTTP_PORT}", "rst-injected")
    assert (f["ttl"], f["synack_ttl"], f["completed"], f["rst_bad_ack"]) == (
        46,
        t.TTL_ONE_HOP,
        1,
        1,
    )
    evidence = " ".join(f["evidence"])
    assert "the RST came with TTL 46" in evidence and "acknowledges nothing" in evidence
    assert f["syns"] >= 2 and "the connection worked anyway" in f["summary"]


def test_the_clients_kernel_rst_to_a_synack_the_capture_missed(lab: Lab, tmp_path: Path) -> None:
    """probe check's raw SYN: the client's kernel, which has no socket for it, resets the
    server's SYN/ACK with seq = ISN + 1. A capture that misses the SYN/ACK (filtered out here)
    must read the port as open, not unanswered (issue 17)."""
    path = tmp_path / "no-synack.pcap"
    no_synack = "tcp and not (tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack))"
    dump = _tcpdump(lab, path, "-i", t.HOST_IFACE, expr=no_synack)
    try:
        code, _ = lab.probe_json("check", SRV, "-p", str(t.HTTP_PORT), "--no-ping")
        assert code == 0
        time.sleep(0.5)
    finally:
        _stop(dump)
    rc, report = analyze(lab, path)
    assert rc == 0, report
    f = finding(report, f"{SRV}:{t.HTTP_PORT}", "ok")
    assert "its kernel answering a SYN/ACK the capture missed" in " ".join(f["evidence"])


def test_a_gzip_compressed_capture_reads_the_same(
    lab: Lab, captures: dict[str, Path], tmp_path: Path
) -> None:
    packed = tmp_path / "eth0.pcap.gz"
    packed.write_bytes(gzip.compress(captures["eth0"].read_bytes()))
    rc, report = analyze(lab, packed)
    assert rc == 1 and by_server(report) == EXPECTED and report["capture"]["compressed"] is True


def test_a_port_sweep_is_summarised(lab: Lab, tmp_path: Path) -> None:
    """curl over 25 closed ports and the open one: one client, 26 server ports, refused but
    one; the analysis summarises it as a scan, its per-port findings in JSON only."""
    path = tmp_path / "sweep.pcap"
    dump = _tcpdump(lab, path, "-i", t.HOST_IFACE)
    try:
        for port in range(20000, 20025):
            assert _curl(lab, f"http://{SRV}:{port}/").returncode == 7  # refused
        assert _curl(lab, f"http://{SRV}:{t.HTTP_PORT}/").returncode == 0
        time.sleep(0.5)
    finally:
        _stop(dump)
    _, report = analyze(lab, path)
    (scan,) = report["scans"]
    assert (scan["scanner"], scan["targets"], scan["ports_tried"]) == (t.CLIENT_V4, [SRV], 26)
    assert (scan["open"], scan["closed"], scan["filtered"]) == ([f"{SRV}:{t.HTTP_PORT}"], 25, 0)
    assert report["summary"][0].startswith(f"{t.CLIENT_V4} scanned 1 host ({SRV}) with SYNs")
    assert len(report["findings"]) == 26  # every port in JSON
    proc = lab.run_probe("analyze", str(path))
    assert "Scan: " in proc.stdout and "syn-refused (" not in proc.stdout


# Many clients, many closed ports (issue 17, item 6): the client namespace gets two more
# addresses, and a script connects to srv's web server, then from two of the three addresses
# to each of 30 closed ports: no one client's scan, one server refusing a range, grouped into
# one finding whose RSTs have the TTL of the web server's SYN/ACK.
GROUP_SOURCES = ("198.18.0.4", "198.18.0.5")  # free in topology.py
GROUP_CLIENT = """
import socket, sys, time
sources, server = sys.argv[1].split(","), sys.argv[2]
socket.create_connection((server, int(sys.argv[3])), timeout=5).close()  # the open port
for i, port in enumerate(range(21000, 21030)):
    for k in (0, 1):
        s = socket.socket()
        s.bind((sources[(i + k) % len(sources)], 0))
        try:
            s.connect((server, port))
            sys.exit(f"port {port} accepted")
        except ConnectionRefusedError:
            pass
        finally:
            s.close()
        time.sleep(0.01)  # clients, not a burst
"""


def test_many_clients_refused_on_many_ports_are_one_finding(lab: Lab, tmp_path: Path) -> None:
    path = tmp_path / "group.pcap"
    added: list[str] = []
    try:
        for address in GROUP_SOURCES:
            lab.exec(lab.client_ns, "ip", "addr", "add", f"{address}/24", "dev", t.HOST_IFACE)
            added.append(address)
        dump = _tcpdump(lab, path, "-i", t.HOST_IFACE)
        try:
            sources = ",".join((t.CLIENT_V4, *GROUP_SOURCES))
            script = (sys.executable, "-c", GROUP_CLIENT, sources, SRV, str(t.HTTP_PORT))
            done = lab.exec(lab.client_ns, *script)
            assert done.returncode == 0, done.stderr
            time.sleep(1.0)  # let the last answers reach the file before stopping
        finally:
            _stop(dump)
    finally:
        for address in added:
            lab.exec(lab.client_ns, "ip", "addr", "del", f"{address}/24", "dev", t.HOST_IFACE)
    rc, report = analyze(lab, path)
    assert rc == 1 and report["scans"] == []
    group, *ports, ok = report["findings"]
    assert (ok["code"], ok["port"]) == ("ok", t.HTTP_PORT)
    assert (group["group"], group["code"], group["server"]) == (True, "syn-refused", SRV)
    assert (group["ports_total"], group["port_ranges"]) == (30, [[21000, 21029]])
    assert (group["count"], group["clients_total"], group["ttl"]) == (60, 3, t.TTL_ONE_HOP)
    assert group["summary"].startswith(f"{SRV} refused 30 ports that 3 clients tried")
    assert group["summary"].endswith(
        f"(the RSTs come from the host itself, TTL {t.TTL_ONE_HOP} like its SYN/ACKs)."
    )
    assert len(ports) == 30 and all(f["in_group"] for f in ports)
    proc = lab.run_probe("analyze", str(path))
    assert f"syn-refused ({SRV}, 30 ports)" in proc.stdout
    assert f"{SRV}:21000" not in proc.stdout
    print(proc.stdout)  # the README's example (pytest -s)


# UDP (issue 14, item 6): a client script sends real datagrams while tcpdump records: a DNS
# query to the lab's dnsmasq (answered, v4 and v6), one to a port of srv where nothing listens
# (srv's kernel answers ICMP port unreachable, v4 and v6), one into the router's `prohibit`
# net (its ICMP admin prohibited) and `unreachable` net (host unreachable), an NTP request
# sent three times into the blackhole (silence), syslog into the blackhole (one-way by
# design), and a NetBIOS broadcast on the client's LAN (no server behind it).
UDP_CLOSED = 9002  # nothing listens there on srv
_UDP_CLIENT = r"""
import json, socket, struct, sys, time
for family, addr, port, payload, times, broadcast in json.loads(sys.argv[1]):
    s = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET, socket.SOCK_DGRAM)
    if broadcast:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.settimeout(0.5)
    for n in range(times):
        if n:
            time.sleep(1.0)  # a client's retry
        s.sendto(bytes.fromhex(payload), (addr, port))
    try:
        s.recvfrom(2048)
    except OSError:
        pass  # no answer, or the ICMP error as an error
    s.close()
"""


def _dns_query(name: str) -> str:
    labels = b"".join(bytes((len(x),)) + x.encode() for x in name.split("."))
    head = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    return (head + labels + b"\x00" + struct.pack("!HH", 1, 1)).hex()


@pytest.fixture(scope="module")
def udp_capture(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("analyze-udp") / "udp.pcap"
    query = _dns_query(t.NAME_WEB)
    ntp = (b"\x23" + b"\x00" * 47).hex()
    sends = [
        (4, t.DNS_V4, 53, query, 1, False),
        (6, t.DNS_V6, 53, query, 1, False),
        (4, SRV, UDP_CLOSED, b"hello".hex(), 1, False),
        (6, t.SRV_V6, UDP_CLOSED, b"hello".hex(), 1, False),
        (4, t.PROHIBIT_HOST_V4, 161, (b"\x30" * 40).hex(), 1, False),
        (4, t.UNREACHABLE_HOST_V4, 53, query, 1, False),
        (4, t.BLACKHOLE_HOST_V4, 123, ntp, 3, False),
        (4, t.BLACKHOLE_HOST_V4, 514, b"<13>probe lab".hex(), 1, False),
        (4, "198.18.0.255", 137, (b"\x00" * 50).hex(), 1, True),
    ]
    dump = _tcpdump(lab, path, "-i", t.HOST_IFACE, expr="udp or icmp or icmp6")
    try:
        sent = lab.python(lab.client_ns, _UDP_CLIENT, json.dumps(sends))
        assert sent.returncode == 0, sent.stderr
        # A last DNS query (a second flow to dnsmasq) 1.5 s later: the capture does not end
        # on the syslog datagram (a lone datagram in the last second is left out).
        time.sleep(1.5)
        again = json.dumps([(4, t.DNS_V4, 53, query, 1, False)])
        assert lab.python(lab.client_ns, _UDP_CLIENT, again).returncode == 0
        time.sleep(0.5)
    finally:
        _stop(dump)
    yield path


UDP_EXPECTED = {
    (f"{t.DNS_V4}:53", "udp-ok"),
    (f"[{t.DNS_V6}]:53", "udp-ok"),
    (f"{SRV}:{UDP_CLOSED}", "udp-refused"),
    (f"[{t.SRV_V6}]:{UDP_CLOSED}", "udp-refused"),
    (f"{t.PROHIBIT_HOST_V4}:161", "udp-rejected"),
    (f"{t.UNREACHABLE_HOST_V4}:53", "udp-unreachable"),
    (f"{t.BLACKHOLE_HOST_V4}:123", "udp-unanswered"),
    (f"{t.BLACKHOLE_HOST_V4}:514", "udp-one-way"),
}


def test_udp_flows_are_named_by_what_came_back(lab: Lab, udp_capture: Path) -> None:
    rc, report = analyze(lab, udp_capture)
    assert rc == 1
    udp = [f for f in report["findings"] if f["protocol"] == "udp"]
    assert {(f["server"], f["code"]) for f in udp} == UDP_EXPECTED
    assert report["udp_flows"] == len(UDP_EXPECTED) + 1  # dnsmasq: two flows
    found = {f["server"]: f for f in udp}
    dns = found[f"{t.DNS_V4}:53"]
    assert (dns["responder"], dns["ttl"], dns["service"], dns["count"], dns["replies"]) == (
        t.DNS_V4,
        t.TTL_ONE_HOP,
        "DNS",
        2,
        2,
    )
    refused = found[f"{SRV}:{UDP_CLOSED}"]
    assert (refused["responder"], refused["ttl"]) == (SRV, t.TTL_ONE_HOP)
    assert refused["summary"].startswith(f"Nothing listens on UDP port {UDP_CLOSED} on {SRV}")
    six = found[f"[{t.SRV_V6}]:{UDP_CLOSED}"]
    assert f"ICMPv6 port unreachable from {t.SRV_V6}, hop limit 63" in six["evidence"][1]
    rejected = found[f"{t.PROHIBIT_HOST_V4}:161"]
    assert (rejected["responder"], rejected["ttl"]) == (t.ROUTER_CLIENT_V4, t.TTL_DIRECT)
    assert "administratively prohibited" in rejected["summary"]
    unreachable = found[f"{t.UNREACHABLE_HOST_V4}:53"]
    assert unreachable["responder"] == t.ROUTER_CLIENT_V4
    assert "host unreachable" in unreachable["summary"]
    ntp = found[f"{t.BLACKHOLE_HOST_V4}:123"]
    assert (ntp["datagrams"], ntp["resent"], ntp["replies"], ntp["severity"]) == (3, 1, 0, "error")
    assert "the client sent the same datagram 3 times" in ntp["evidence"][0]
    assert found[f"{t.BLACKHOLE_HOST_V4}:514"]["severity"] == "info"
    assert any("multicast or broadcast" in n for n in report["notes"])
    servers = {s["address"]: s for s in report["servers"]}
    assert servers[SRV]["udp_ports_failing"] == [UDP_CLOSED]
    assert servers[t.DNS_V4]["udp_ports_ok"] == [53]


def test_udp_rows_stand_in_the_text_table(lab: Lab, udp_capture: Path) -> None:
    proc = lab.run_probe("analyze", str(udp_capture))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    for server, code in UDP_EXPECTED:
        assert re.search(rf"^  {re.escape(server)}/udp +{code} ", out, re.M), (server, out)
    assert f"udp-unanswered ({t.BLACKHOLE_HOST_V4}:123/udp): " in out


def test_a_udp_port_sweep_is_summarised(lab: Lab, tmp_path: Path) -> None:
    """Empty datagrams from one socket to 25 ports of srv where nothing listens (nmap -sU's
    way) and a DNS query to dnsmasq: one UDP scan. srv's kernel answers the first few with
    ICMP port unreachable and then rate limits its errors (a real host's defaults), so some
    ports read closed and the rest open|filtered: together, every port tried."""
    path = tmp_path / "udp-sweep.pcap"
    sweep = (
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "for port in range(20000, 20025):\n"
        "    s.sendto(b'', (sys.argv[1], port))\n"
        "    time.sleep(0.02)\n"
    )
    dns = json.dumps([(4, t.DNS_V4, 53, _dns_query(t.NAME_WEB), 1, False)])
    dump = _tcpdump(lab, path, "-i", t.HOST_IFACE, expr="udp or icmp")
    try:
        sent = lab.python(lab.client_ns, sweep, SRV)
        assert sent.returncode == 0, sent.stderr
        assert lab.python(lab.client_ns, _UDP_CLIENT, dns).returncode == 0
        time.sleep(1.5)  # a last query 1.5 s later: the sweep's datagrams are not "too late"
        assert lab.python(lab.client_ns, _UDP_CLIENT, dns).returncode == 0
        time.sleep(0.5)
    finally:
        _stop(dump)
    rc, report = analyze(lab, path)
    assert rc == 1
    (scan,) = report["scans"]
    assert (scan["protocol"], scan["scanner"], scan["ports_tried"]) == ("udp", t.CLIENT_V4, 26)
    assert scan["open"] == [f"{t.DNS_V4}:53"] and scan["closed"] >= 1
    assert scan["closed"] + scan["filtered"] == 25
    assert "with UDP datagrams" in report["summary"][0]
    if scan["filtered"]:  # srv's rate limit swallowed some port unreachables: said in a note
        said = f"{SRV} answered {scan['closed']} closed UDP ports"
        assert any(said in n for n in report["notes"])
    proc = lab.run_probe("analyze", str(path))
    assert "Scan: " in proc.stdout and "udp-refused (" not in proc.stdout
