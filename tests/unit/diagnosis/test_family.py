"""rules/family.py: family-mismatch between the IPv4 and IPv6 addresses of one name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from diagnosis_cases import V6

from probe.diagnosis.registry import attach_family_findings, diagnose
from probe.diagnosis.rules.family import diagnose_family
from probe.model import DnsResult, DnsStatus, PortResult, PortState, Severity, TargetReport

# --------------------------------------------------------------------------- family mismatch


def dual(
    mk: Any, v4: list[Any], v6: list[Any], *, input: str = "web.example"
) -> list[TargetReport]:
    return [
        mk.target(*v4, input=input, address=mk.host),
        mk.target(
            *[{"port": p, "state": s, "responder": V6} for p, s in v6], input=input, address=V6
        ),
    ]


def test_family_mismatch_goes_to_the_family_that_fails(mk: Any) -> None:
    reports = dual(mk, [(80, "open"), (443, "open")], [(80, "filtered"), (443, "open")])
    v4, v6 = diagnose_family(reports)
    assert v4 == ()
    (f,) = v6
    assert (f.code, f.severity, f.ports) == ("family-mismatch", Severity.WARNING, (80,))
    assert "open on IPv4 (198.18.2.1) but filtered on IPv6 (2001:db8::7)" in f.summary
    assert "IPv6 firewall rule is missing" in f.summary
    assert f.evidence == ("80: open on 198.18.2.1 (IPv4), filtered on 2001:db8::7 (IPv6)",)


def test_family_mismatch_tells_tcp_and_udp_apart(mk: Any) -> None:
    # 53/tcp open on both families, 53/udp answers on IPv4 only: the UDP port is the one.
    udp = {"protocol": "udp"}
    reports = [
        mk.target((53, "open"), {"port": 53, "state": "open", **udp}, address=mk.host),
        mk.target(
            {"port": 53, "state": "open", "responder": V6},
            {"port": 53, "state": "open|filtered", **udp},
            address=V6,
        ),
    ]
    v4, v6 = diagnose_family(reports)
    assert v4 == ()
    (f,) = v6
    assert (f.ports, [str(p) for p in f.protocols]) == ((53,), ["udp"])
    assert "53/udp" in f.summary and "open|filtered on IPv6" in f.summary
    assert "datagrams" in f.summary


def test_family_mismatch_the_other_way_round(mk: Any) -> None:
    reports = dual(mk, [(80, "filtered")], [(80, "open")])
    v4, v6 = diagnose_family(reports)
    assert [f.code for f in v4] == ["family-mismatch"] and v6 == ()
    assert "IPv4 firewall rule" in v4[0].summary


def test_family_mismatch_refused_on_v6_means_not_listening(mk: Any) -> None:
    _, v6 = diagnose_family(dual(mk, [(80, "open")], [(80, "refused")]))
    assert "does not listen on IPv6" in v6[0].summary


def test_family_mismatch_mixed_states(mk: Any) -> None:
    _, v6 = diagnose_family(
        dual(mk, [(80, "open"), (22, "open")], [(80, "refused"), (22, "filtered")])
    )
    assert v6[0].ports == (22, 80)
    assert len(v6[0].evidence) == 2


def test_family_mismatch_evidence_is_grouped(mk: Any) -> None:
    ports = [21, 22, 23, 80]
    _, v6 = diagnose_family(
        dual(mk, [(p, "open") for p in ports], [(p, "filtered") for p in ports])
    )
    assert v6[0].evidence == (
        "21-23, 80: open on 198.18.2.1 (IPv4), filtered on 2001:db8::7 (IPv6)",
    )


@pytest.mark.parametrize(
    ("v4", "v6", "input_v6"),
    [
        ([(80, "open")], [(80, "open")], "web.example"),  # same state
        ([(80, "filtered")], [(80, "filtered")], "web.example"),
        ([(80, "open")], [(80, "filtered")], "other.example"),  # different names
        ([(80, "open")], [(443, "filtered")], "web.example"),  # no common port
    ],
)
def test_no_family_mismatch(mk: Any, v4: list[Any], v6: list[Any], input_v6: str) -> None:
    r4, r6 = dual(mk, v4, v6)
    r6 = replace(r6, input=input_v6)
    assert diagnose_family([r4, r6]) == ((), ())


def test_family_skips_failed_names_and_stays_parallel(mk: Any) -> None:
    failed = mk.target(input="web.example", address=None, dns=mk.dns("nxdomain"))
    reports = [failed, *dual(mk, [(80, "open")], [(80, "filtered")])]
    extra = diagnose_family(reports)
    assert len(extra) == 3
    assert extra[0] == () and extra[1] == () and extra[2][0].code == "family-mismatch"


def test_attach_family_findings_appends(mk: Any) -> None:
    r4, r6 = dual(mk, [(80, "open")], [(80, "filtered")])
    own = diagnose(r6)
    r6 = replace(r6, findings=own)
    out = attach_family_findings([r4, r6])
    assert out[0] is r4
    assert [f.code for f in out[1].findings] == [*(f.code for f in own), "family-mismatch"]


# --------------------------------------------------------------------------- scale


class WalkedPorts(tuple[PortResult, ...]):
    """A report's ports that count how often anything walks them."""

    walks = 0

    def __iter__(self) -> Iterator[PortResult]:
        WalkedPorts.walks += 1
        return super().__iter__()


def recorded(input: str, address: str, *states: tuple[int, str]) -> TargetReport:
    """A finished report as plain data: the address's ports and their states."""
    reason = {"open": "syn-ack", "refused": "reset", "filtered": "no-response"}
    ports = WalkedPorts(PortResult(p, PortState(s), reason[s], 1) for p, s in states)
    return TargetReport(input, address, DnsResult(DnsStatus.OK, (address,)), ports=ports)


def test_family_mismatch_is_linear_in_the_targets() -> None:
    reports: list[TargetReport] = []
    for i in range(9_000):  # dual-stack names; every third one drops 443 on IPv6
        name = f"web{i}.example"
        reports.append(
            recorded(name, f"198.18.{i // 250}.{i % 250 + 1}", (80, "open"), (443, "open"))
        )
        v6 = "filtered" if i % 3 == 0 else "open"
        reports.append(recorded(name, f"2001:db8::{i:x}", (80, "open"), (443, v6)))
    for i in range(2_000):  # one IPv4 block: thousands of targets, one input, one family
        reports.append(recorded("198.19.0.0/21", f"198.19.{i // 250}.{i % 250 + 1}", (22, "open")))
    for i in range(500):  # one name with 500 addresses of each family
        reports.append(recorded("pool.example", f"198.20.{i // 250}.{i % 250 + 1}", (80, "open")))
        reports.append(recorded("pool.example", f"2001:db8:1::{i:x}", (80, "refused")))
    assert len(reports) == 21_000
    WalkedPorts.walks = 0

    extra = diagnose_family(reports)

    # Each report's ports are walked at most twice (its group's best answers, its own
    # comparison): comparing every pair would walk the pool's ports 250,000 times.
    assert WalkedPorts.walks <= 2 * len(reports)
    assert len(extra) == len(reports)
    (f,) = extra[1]  # web0.example on IPv6
    assert (f.code, f.ports) == ("family-mismatch", (443,))
    assert f.summary.startswith("Port 443 on web0.example is open on IPv4 (198.18.0.1) but ")
    assert extra[0] == () and extra[2] == () and extra[3] == ()  # web1.example answers alike
    assert all(e == () for e in extra[18_000:20_000])  # the block has no other family
    (pool,) = extra[20_001]  # the pool's first IPv6 address: open on the first IPv4 one
    assert pool.summary.startswith(
        "Port 80 on pool.example is open on IPv4 (198.20.0.1) but refused on IPv6 "
        "(2001:db8:1::0): the service does not listen on IPv6"
    )
    assert sum(1 for e in extra if e) == 3_000 + 500


def test_family_mismatch_skips_the_default_profiles_closed_ports(mk: Any) -> None:
    v4, _ = dual(mk, [(80, "open"), (22, "refused"), (443, "open")], [])
    other = [replace(p, asked=False) for p in v4.ports]
    reports = [
        replace(v4, ports=tuple(other)),
        replace(
            v4,
            address=V6,
            ports=(
                replace(other[0], state=PortState.OPEN),  # 22: refused on v4, open on v6
                replace(other[1], state=PortState.FILTERED, responder=None),  # 80: open on v4
                replace(other[2], state=PortState.OPEN),
            ),
        ),
    ]
    v4f, v6f = diagnose_family(reports)
    # open on one family and not on the other still matters, asked for or not
    assert [f.ports for f in v4f] == [(22,)] and [f.ports for f in v6f] == [(80,)]
    # refused on one, filtered on the other, asked for by nobody: no remark
    reports[1] = replace(reports[1], ports=(replace(other[0], state=PortState.FILTERED),))
    assert diagnose_family(reports) == ((), ())
