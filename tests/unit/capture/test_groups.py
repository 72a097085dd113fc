"""One server's many failing ports grouped by pattern (issue 17, item 6): several clients hit
hundreds of closed, filtered or rejected ports; one finding per pattern, the ports one by one
with -v and in JSON."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterable, Sequence

from rich.console import Console
from test_scans import nmap_syn_scan

from probe.capture import analyze as an
from probe.capture.analyze.groups import GROUP_MIN
from probe.capture.packets import IcmpRecord, TcpSegment, UdpDatagram
from probe.capture.reader import CaptureInfo
from probe.model import Protocol
from probe.output.json.analyze import analysis_to_dict
from probe.output.text.analyze import render_analysis
from probe.output.views import CaptureAnalysis
from probe.status import ExitStatus

SERVER, NAT = "198.18.1.10", "198.18.1.1"
CLIENTS = ("198.18.0.2", "198.18.0.3", "198.18.0.4")
SYN, SYN_ACK, RST_ACK, ACK = 0x02, 0x12, 0x14, 0x10
T0 = 1_700_000_000.0
Record = TcpSegment | UdpDatagram | IcmpRecord


def p(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, addr)


def seg(
    t: float, src: str, dst: str, sport: int, dport: int, flags: int, *, ttl: int = 64
) -> TcpSegment:
    return TcpSegment(T0 + t, p(src), p(dst), sport, dport, flags, 1000, 0, ttl, 1024, b"")


def icmp(
    t: float, client: str, cport: int, port: int, *, code: int = 3, by: str = SERVER,
    ttl: int = 63, udp: bool = False,
) -> IcmpRecord:  # fmt: skip
    """ICMP unreachable ``code`` from ``by`` quoting a client's SYN (seq 1000) or datagram."""
    seq, flags, proto = (0, -1, 17) if udp else (1000, SYN, 6)
    quoted = (p(client), p(SERVER), cport, port, seq, flags, proto)
    return IcmpRecord(T0 + t, p(by), ttl, False, 3, code, *quoted)


def refused(ports: Iterable[int], *, ttl: int = 63, at: float = 0.0) -> list[Record]:
    """Each port tried by two of the clients (no client alone: no scan), reset with ``ttl``;
    ``ttl`` None: no answer at all."""
    out: list[Record] = []
    for i, port in enumerate(ports):
        for k in (0, 1):
            client, t = CLIENTS[(i + k) % len(CLIENTS)], at + i * 0.01 + k * 0.005
            out.append(seg(t, client, SERVER, 40000 + i, port, SYN))
            out.append(seg(t + 0.001, SERVER, client, port, 40000 + i, RST_ACK, ttl=ttl))
    return out


def silent(ports: Iterable[int], *, at: float = 0.0) -> list[Record]:
    out: list[Record] = []
    for i, port in enumerate(ports):
        for k in (0, 1):
            client, t = CLIENTS[(i + k) % len(CLIENTS)], at + i * 0.01 + k * 0.005
            out += [seg(t + s, client, SERVER, 41000 + i, port, SYN) for s in (0, 1, 3)]
    return out


def run(records: Sequence[Record]) -> an.Analysis:
    end = seg(200, CLIENTS[0], "198.18.1.99", 1, 9, ACK)  # the capture goes on: all judged
    return an.analyze(sorted([*records, end], key=lambda r: r.ts))


def _info() -> CaptureInfo:
    return CaptureInfo(
        path="many.pcap", format="pcap", link_types=(1,), packets=1000, tcp=1000,
        icmp_errors=0, skipped=0, first_ts=T0, last_ts=T0 + 200,
    )  # fmt: skip


def text(result: an.Analysis, *, verbose: bool = False) -> str:
    out = io.StringIO()
    render_analysis(CaptureAnalysis(_info(), result), Console(file=out, width=300), verbose=verbose)
    return out.getvalue()


def test_300_refused_ports_from_several_clients_are_one_finding() -> None:
    result = run(refused([*range(1000, 1200), *range(3000, 3100)]))
    assert result.scans == ()
    (group,) = result.groups
    assert (group.server, group.code, len(group.ports)) == (SERVER, "syn-refused", 300)
    assert group.ranges == ((1000, 1199), (3000, 3099))
    assert (group.count, group.sent, group.clients_total, group.ttl) == (600, 600, 3, 63)
    assert group.summary == (
        f"{SERVER} refused 300 ports that 3 clients tried: nothing listens there, or a "
        "firewall resets them (the RSTs carry the host's address, TTL 63)."
    )
    assert group.evidence[0] == "ports 1000-1199, 3000-3099 (300 in all)"
    assert group.evidence[1].startswith(
        "600 attempts (600 SYNs) from 3 clients (198.18.0.2, 198.18.0.3, 198.18.0.4), "
    )
    # The ports still fail: the exit status says so, the per-port findings stay.
    assert an.exit_status(result) is ExitStatus.PROBLEM
    assert sum(1 for f in result.findings if f.code == "syn-refused") == 300
    short, full = text(result), text(result, verbose=True)
    assert f"syn-refused ({SERVER}, 300 ports): {SERVER} refused 300 ports" in short
    assert f"{SERVER}:1000" not in short and short.count("\n") < 30
    assert f"syn-refused ({SERVER}:1000)" in full and f"syn-refused ({SERVER}, 300 ports)" in full


def test_json_keeps_the_ports_and_marks_the_members() -> None:
    doc = analysis_to_dict(CaptureAnalysis(_info(), run(refused(range(1000, 1300)))))
    first, *rest = doc["findings"]
    assert first["group"] is True and first["port"] is None
    assert (first["ports_total"], first["port_ranges"]) == (300, [[1000, 1299]])
    assert first["ports"] == list(range(1000, 1300))
    assert (first["count"], first["syns"], first["clients_total"], first["ttl"]) == (
        600,
        600,
        3,
        63,
    )
    assert len(rest) == 300 and all(f["in_group"] is True for f in rest)
    assert set(_plain_keys()) <= set(first)  # a port's keys, and the group's
    assert {k for k in rest[0] if k != "in_group"} == set(_plain_keys())


def _plain_keys() -> list[str]:
    """A port's finding's keys without any group (the JSON of a lone refused port)."""
    (f,) = analysis_to_dict(CaptureAnalysis(_info(), run(refused([80]))))["findings"]
    return list(f)


def test_mixed_patterns_make_one_group_each() -> None:
    records = [
        *refused(range(2000, 2150)),  # the host's RSTs, TTL 63
        *refused(range(4000, 4050), ttl=62, at=5),  # another device's RSTs: one hop further
        *silent(range(3000, 3100), at=10),  # dropped
        *refused(range(5000, 5010), ttl=61, at=15),  # too few to group
        seg(20, CLIENTS[0], SERVER, 46000, 80, SYN),  # port 80 works: SYN/ACK with TTL 63
        seg(20.001, SERVER, CLIENTS[0], 80, 46000, SYN_ACK, ttl=63),
        seg(20.002, CLIENTS[0], SERVER, 46000, 80, ACK),
    ]
    result = run(records)
    got = sorted((g.code, g.ttl, g.ports[0], len(g.ports)) for g in result.groups)
    assert got == [
        ("syn-refused", 62, 4000, 50),
        ("syn-refused", 63, 2000, 150),
        ("syn-unanswered", None, 3000, 100),
    ]
    own, other = (g.summary for g in result.groups if g.code == "syn-refused")
    assert own.endswith("(the RSTs come from the host itself, TTL 63 like its SYN/ACKs).")
    assert other.endswith(
        "(the RSTs come with TTL 62, the host's SYN/ACKs with 63: a device 1 hop further "
        "answers in its name)."
    )
    silence = next(g for g in result.groups if g.code == "syn-unanswered")
    assert silence.summary == (
        f"{SERVER} did not answer on 100 ports that 3 clients tried: a firewall drops the SYNs "
        "silently."
    )
    short = text(result)
    assert short.count("syn-refused (198.18.1.10, ") == 2
    assert "syn-unanswered (198.18.1.10, 100 ports)" in short
    # The ten left over keep their own findings and rows.
    assert all(f"syn-refused ({SERVER}:{port})" in short for port in range(5000, 5010))


def test_a_few_failing_ports_are_not_grouped() -> None:
    few = GROUP_MIN - 1
    result = run(refused(range(1000, 1000 + few)))
    assert result.groups == () and result.grouped == frozenset()
    short = text(result)
    assert all(f"syn-refused ({SERVER}:{port})" in short for port in range(1000, 1000 + few))
    doc = analysis_to_dict(CaptureAnalysis(_info(), result))
    assert len(doc["findings"]) == few
    assert all(list(f) == _plain_keys() for f in doc["findings"])


def test_a_port_that_also_works_stays_on_its_own() -> None:
    records = refused(range(1000, 1000 + GROUP_MIN))
    records += [  # one attempt to 1000 completed: that port's problem comes and goes
        seg(50, CLIENTS[2], SERVER, 45000, 1000, SYN),
        seg(50.001, SERVER, CLIENTS[2], 1000, 45000, SYN_ACK, ttl=63),
        seg(50.002, CLIENTS[2], SERVER, 45000, 1000, ACK),
    ]
    assert run(records).groups == ()  # 19 ports left: fewer than GROUP_MIN
    (group,) = run([*records, *refused([2000], at=60)]).groups
    assert 1000 not in group.ports and len(group.ports) == GROUP_MIN


def test_a_scan_is_summarised_not_grouped_again() -> None:
    result = an.analyze(sorted(nmap_syn_scan(range(1, 1001)), key=lambda r: r.ts))
    assert len(result.scans) == 1 and result.groups == ()
    assert "ports):" not in text(result)
    # Beside the scan, other clients refused on other ports of the same host: one group, of
    # those ports only; the scan's are said by the scan alone.
    both = run([*nmap_syn_scan(range(1, 1001)), *refused(range(2000, 2030), at=2)])
    (scan,) = both.scans
    (group,) = both.groups
    assert group.ports == tuple(range(2000, 2030)) and group.clients_total == 3
    assert not any(scan.holds(o) for o in both.outcomes if both.in_group(o))


def test_port_unreachable_on_many_udp_ports_from_many_clients() -> None:
    clients = [f"198.18.0.{i}" for i in range(10, 30)]
    records: list[Record] = []
    for i, port in enumerate(range(20000, 20200)):
        for k in (0, 1):
            client, t = clients[(i + k) % len(clients)], i * 0.01 + k * 0.005
            records.append(UdpDatagram(T0 + t, p(client), p(SERVER), 50000 + i, port, 64, 40))
            records.append(icmp(t + 0.001, client, 50000 + i, port, udp=True))
    result = run(records)
    (group,) = result.groups
    assert (group.protocol, group.code, len(group.ports)) == (Protocol.UDP, "udp-refused", 200)
    assert (group.responder, group.ttl, group.clients_total) == (SERVER, 63, 20)
    assert group.summary == (
        f"{SERVER} answered ICMP port unreachable on 200 UDP ports that 20 clients tried: "
        "nothing listens there."
    )
    assert group.evidence[1].startswith(
        "400 flows (400 datagrams) from 20 clients (198.18.0.10, 198.18.0.11, 198.18.0.12, "
        "198.18.0.13, 198.18.0.14, ...), "
    )
    assert f"udp-refused ({SERVER}, 200 UDP ports)" in text(result)
    doc = analysis_to_dict(CaptureAnalysis(_info(), result))
    assert doc["findings"][0]["syns"] is None and doc["findings"][0]["protocol"] == "udp"


def test_a_nat_device_rejecting_a_range_is_one_finding_naming_it() -> None:
    records: list[Record] = []
    for i, port in enumerate(range(8000, 8040)):
        for k in (0, 1):
            client, t = CLIENTS[(i + k) % len(CLIENTS)], i * 0.01 + k * 0.005
            records.append(seg(t, client, SERVER, 42000 + i, port, SYN))
            # ICMP administratively prohibited (3/13) from the NAT device
            records.append(icmp(t + 0.001, client, 42000 + i, port, code=13, by=NAT, ttl=64))
    (group,) = run(records).groups
    assert (group.code, group.responder, group.ttl, len(group.ports)) == (
        "syn-rejected", NAT, 64, 40,
    )  # fmt: skip
    assert group.summary == (
        f"{NAT} answered ICMP administratively prohibited for 40 ports of {SERVER} that 3 "
        "clients tried: a firewall or router refuses them."
    )
    assert (
        f"every one answered by ICMP administratively prohibited from {NAT}, TTL 64"
        in (group.evidence[2])
    )
    assert group.next_steps[0] == f"look at the rules of {NAT} for TCP to {SERVER} on these ports"


def test_an_ipv6_server_says_hop_limit() -> None:
    six, clients = "2001:2:0:1::10", ("2001:2::2", "2001:2::3")
    outcomes = [
        an.Outcome(six, port, "syn-refused", 2, 2, 1, clients, False, T0, T0 + 1, ttls=((63, 2),))
        for port in range(9000, 9030)
    ]
    (group,) = an.explain(outcomes).groups
    words = " ".join((group.summary, *group.evidence, *group.next_steps))
    assert group.summary.endswith("(the RSTs carry the host's address, hop limit 63).")
    assert "with hop limit 63 (≈ 1 hop)" in words and "TTL" not in words
    assert group.label == f"{six}, 30 ports"
