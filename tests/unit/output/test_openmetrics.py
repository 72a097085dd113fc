"""Metric building (pure): recorded reports -> the families probe serve exposes and
``--format openmetrics`` writes, read back with prometheus_client's own parser."""

from __future__ import annotations

import io
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from probe.model import PingStatus, PortState, Report, TargetReport
from probe.output.base import FormatName
from probe.output.openmetrics import Probed, exposition, families, for_check, ip_hash, succeeded
from probe.output.registry import render
from probe.plan.expectations import Expect, Expectation

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def expose(t: TargetReport, *expect: tuple[int, Expect], interrupted: bool = False) -> Samples:
    wanted = tuple(Expectation(port, e) for port, e in expect)
    ok = succeeded(t, wanted, interrupted)
    text = exposition(families([Probed(t, ok, wanted)], duration=0.25, interrupted=interrupted))
    assert text.endswith("# EOF\n")
    return samples(text)


def state(port: int, word: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("probe_port_state", (("port", str(port)), ("protocol", "tcp"), ("state", word)))


def test_the_nat_camera_with_its_expectations_met(mk: Any) -> None:
    got = expose(mk.camera(), (80, Expect.OPEN), (6036, Expect.REFUSED))
    assert got[("probe_success", ())] == 1
    assert got[("probe_duration_seconds", ())] == 0.25
    assert got[("probe_dns_lookup_time_seconds", ())] == 0.0031
    assert got[("probe_ip_protocol", ())] == 4
    assert got[("probe_interrupted", ())] == 0
    assert got[state(80, "open")] == 1 and got[state(6036, "refused")] == 1
    for word in ("refused", "filtered", "rejected", "unreachable", "open|filtered"):
        assert got[state(80, word)] == 0  # every state of the contract, one series each
    assert sum(1 for name, _ in got if name == "probe_port_state") == 2 * len(PortState)
    where = (("port", "6036"), ("protocol", "tcp"))
    assert got[("probe_port_responder_ttl", where)] == 64
    assert got[("probe_port_rtt_seconds", where)] == 0.0002
    assert got[("probe_port_tries", where)] == 1
    expected = ("probe_port_expected", (("expected", "refused"), *where))
    assert got[expected] == 1
    finding = ("probe_finding", (("code", "port-refused-by-middlebox"), ("severity", "error")))
    assert got[finding] == 1
    assert got[("probe_ping_success", ())] == 1
    assert got[("probe_ping_reply_ttl", ())] == 64
    assert got[("probe_ping_rtt_seconds", ())] == 0.0002


def test_an_expected_open_port_that_is_refused_fails_the_probe(mk: Any) -> None:
    got = expose(mk.camera(), (80, Expect.OPEN), (6036, Expect.OPEN))
    assert got[("probe_success", ())] == 0
    key = (("expected", "open"), ("port", "6036"), ("protocol", "tcp"))
    assert got[("probe_port_expected", key)] == 0


def test_an_expected_blocked_port_that_is_closed_is_a_success(mk: Any) -> None:
    t = mk.literal(ports=((80, "open", 63), (82, "filtered")))
    got = expose(t, (80, Expect.OPEN), (82, Expect.BLOCKED))
    assert got[("probe_success", ())] == 1
    assert got[state(82, "filtered")] == 1
    assert ("probe_port_rtt_seconds", (("port", "82"), ("protocol", "tcp"))) not in got


def test_a_name_that_does_not_resolve(mk: Any) -> None:
    got = expose(mk.nxdomain(), (80, Expect.OPEN))
    assert got[("probe_success", ())] == 0
    assert got[("probe_ip_protocol", ())] == 0
    assert not any(name == "probe_ip_addr_hash" for name, _ in got)
    assert not any(name == "probe_port_state" for name, _ in got)
    key = (("expected", "open"), ("port", "80"), ("protocol", "tcp"))
    assert got[("probe_port_expected", key)] == 0  # not probed: not met
    assert got[("probe_finding", (("code", "dns-nxdomain"), ("severity", "error")))] == 1


def test_an_interrupted_probe_is_no_success(mk: Any) -> None:
    got = expose(mk.camera(), (80, Expect.OPEN), interrupted=True)
    assert got[("probe_success", ())] == 0 and got[("probe_interrupted", ())] == 1


def test_skipped_ping_has_no_ping_metrics(mk: Any) -> None:
    t = mk.camera(ping=mk.ping(PingStatus.SKIPPED))
    got = expose(t, (80, Expect.OPEN))
    assert not any(name.startswith("probe_ping_") for name, _ in got)


def test_ip_hash_is_blackbox_fnv1a_of_the_packed_address() -> None:
    # FNV-1a 32 computed by hand over the bytes 198, 18, 2, 1 and over 16 bytes of v6.
    def fnv(data: bytes) -> float:
        h = 2166136261
        for b in data:
            h = ((h ^ b) * 16777619) % 2**32
        return float(h)

    assert ip_hash("198.18.2.1") == fnv(bytes([198, 18, 2, 1]))
    assert ip_hash("2001:2::10") == fnv(bytes.fromhex("20010002000000000000000000000010"))
    assert ip_hash("198.18.2.1") != ip_hash("198.18.2.2")


def test_check_output_labels_each_target(mk: Any) -> None:
    report: Report = mk.report(mk.camera(), mk.nxdomain())
    out = io.StringIO()
    render(report, FormatName.OPENMETRICS, out)
    got = samples(out.getvalue())
    cam = (("address", "198.18.2.1"), ("target", "camera.example"))
    assert got[("probe_success", cam)] == 0  # 6036 asked and refused: the check's verdict
    assert got[("probe_success", (("address", ""), ("target", "nope.example")))] == 0
    assert (
        got[
            (
                "probe_port_state",
                (*cam[:1], ("port", "80"), ("protocol", "tcp"), ("state", "open"), cam[1]),
            )
        ]
        == 1
    )
    probed = for_check(report)
    assert [p.expectations[0].expect for p in probed if p.expectations] == [Expect.OPEN]


def test_a_healthy_check_is_a_success(mk: Any) -> None:
    report = mk.report(mk.literal(ports=((80, "open", 63),)))
    (probed,) = for_check(report)
    assert probed.success
