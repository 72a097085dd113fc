"""The audit file (parsing and every bad input), the comparison of a report with the
expectations, and the runs over fake adapters: no network anywhere."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from probe.diagnosis import expect
from probe.diagnosis.expect import Verdict
from probe.diagnosis.registry import diagnose
from probe.engine.base import Job
from probe.engine.fake import FakeEngine
from probe.errors import AuditFileError, BadInput, ProfileError
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    PortState,
    Report,
    RouteResult,
    RouteStatus,
    TargetReport,
)
from probe.plan import audit as audit_file
from probe.plan.audit import Expect
from probe.plan.inputs import MAX_INPUT_BYTES
from probe.plan.profiles import PortProfile, ProfilePort
from probe.session import audit
from probe.session.core import Session
from probe.session.edge import Edge
from probe.session.options import CheckOptions
from probe.status import ExitStatus

CAMERA = PortProfile(
    name="camera",
    description="test cameras",
    ports=(ProfilePort(80, "http"), ProfilePort(554, "rtsp")),
    source="built-in",
)


def lookup(name: str) -> PortProfile:
    if name.lower() == "camera":
        return CAMERA
    raise ProfileError(f"unknown profile '{name}'; known profiles: camera")


def parse(text: str) -> audit_file.AuditPlan:
    return audit_file.parse_audit(text, "site.toml", lookup)


def expectations(host: audit_file.AuditHost) -> list[tuple[int, str]]:
    return [(e.port, str(e.expect)) for e in host.expectations]


# --------------------------------------------------------------------------- parsing


def test_contract_example() -> None:
    plan = parse(
        """
[[hosts]]
target = "web.example"
profile = "camera"       # the profile's ports are expected open
open = [80, 443]
blocked = [22, 3389]
filtered = [6036]
refused = [8080]
"""
    )
    (host,) = plan.hosts
    assert host.target.kind == "name" and host.name == "web.example"
    assert host.profile == "camera" and host.line == 2
    assert expectations(host) == [
        (22, "blocked"),
        (80, "open"),
        (443, "open"),
        (554, "open"),
        (3389, "blocked"),
        (6036, "filtered"),
        (8080, "refused"),
    ]
    by_port = {e.port: e for e in host.expectations}
    assert by_port[80].sources == ("profile camera", "open")  # listed twice, tested once
    assert by_port[554].service == "rtsp" and by_port[554].sources == ("profile camera",)
    assert by_port[3389].service == "rdp"
    assert [r.port for r in host.requests()] == [22, 80, 443, 554, 3389, 6036, 8080]
    assert plan.expectation_count == 7


def test_addresses_names_and_port_specs() -> None:
    plan = parse(
        """
[[hosts]]
target = "198.18.2.1"
open = ["https", "8000-8002", 8001]

[[hosts]]
target = "2001:2::10"
blocked = [22, 22]
refused = [22]
"""
    )
    first, second = plan.hosts
    assert first.target.address == "198.18.2.1"
    assert expectations(first) == [(443, "open"), (8000, "open"), (8001, "open"), (8002, "open")]
    assert (first.line, second.line) == (2, 6)
    # blocked and refused do not contradict (refused is a way of being blocked): two tests.
    assert expectations(second) == [(22, "blocked"), (22, "refused")]
    assert [e.name for e in second.expectations] == ["port 22 blocked", "port 22 refused"]


def test_inline_hosts_array_has_no_lines() -> None:
    plan = parse(
        'hosts = [{target = "a.example", open = [80]}, {target = "b.example", open = [80]}]'
    )
    assert [h.line for h in plan.hosts] == [None, None]
    assert [h.entry for h in plan.hosts] == [1, 2]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # malformed TOML: the parser's line and column
        ('[[hosts]]\ntarget = "a"\nopen = [80,, 81]\n', ["not valid TOML", "line 3, column"]),
        ("[[hosts]\n", ["not valid TOML", "line 1, column 8"]),
        ('[[hosts]]\ntarget = "a"\nopen = [80', ["not valid TOML", "line 3, column 11"]),
        # empty
        ("", ["is empty"]),
        ("  \n# only a comment\n", ["is empty"]),
        ("hosts = []\n", ["no hosts"]),
        # unknown keys
        ('port = 80\n[[hosts]]\ntarget = "a"\nopen = [80]\n', ["unknown key 'port'", "top level"]),
        (
            '[[hosts]]\ntarget = "a"\nopne = [80]\n',
            ["unknown key 'opne'", "hosts entry 1 (a), line 1", "allowed: target"],
        ),
        ('[hosts]\ntarget = "a"\n', ["[[hosts]] tables"]),
        # contradictions
        (
            '[[hosts]]\ntarget = "a"\nopen = [80]\nblocked = [80]\n',
            ["port 80", "open (open)", "blocked (blocked)"],
        ),
        (
            '[[hosts]]\ntarget = "a"\nprofile = "camera"\nrefused = [554]\n',
            ["port 554", "open (profile camera)", "refused"],
        ),
        ('[[hosts]]\ntarget = "a"\nfiltered = [23]\nrefused = ["23"]\n', ["port 23", "filtered"]),
        (
            '[[hosts]]\ntarget = "a"\nopen = ["8000-8010"]\nfiltered = [8005]\n',
            ["port 8005", "open", "filtered"],
        ),
        # profiles
        (
            '[[hosts]]\ntarget = "a"\nprofile = "kamera"\n',
            ["unknown profile 'kamera'", "known profiles: camera", "hosts entry 1 (a"],
        ),
        ('[[hosts]]\ntarget = "a"\nprofile = 5\n', ["'profile' must be a profile's name"]),
        # targets
        ("[[hosts]]\nopen = [80]\n", ["hosts entry 1, line 1", "no 'target'"]),
        ('[[hosts]]\ntarget = ""\nopen = [80]\n', ["'target' must be a host name"]),
        ("[[hosts]]\ntarget = 7\nopen = [80]\n", ["'target' must be a host name"]),
        ('[[hosts]]\ntarget = "bad name"\nopen = [80]\n', ["not a valid host name"]),
        ('[[hosts]]\ntarget = "198.18.0.0/24"\nopen = [80]\n', ["CIDR block"]),
        (
            '[[hosts]]\ntarget = "a.example"\nopen = [80]\n[[hosts]]\ntarget = "A.example."\n'
            "blocked = [22]\n",
            ["hosts entry 2", "already in hosts entry 1"],
        ),
        # ports
        ('[[hosts]]\ntarget = "a"\nopen = [0]\n', ["port 0, out of range 1-65535"]),
        ('[[hosts]]\ntarget = "a"\nopen = [70000]\n', ["port 70000"]),
        ('[[hosts]]\ntarget = "a"\nopen = [true]\n', ["True, which is not a port"]),
        ('[[hosts]]\ntarget = "a"\nopen = 80\n', ["'open' must be a list of ports"]),
        ('[[hosts]]\ntarget = "a"\nopen = ["nosuchservice"]\n', ["unknown service name"]),
        ('[[hosts]]\ntarget = "a"\n', ["expects nothing"]),
        ('[[hosts]]\ntarget = "a"\nopen = []\n', ["expects nothing"]),
    ],
)
def test_bad_audit_files(text: str, words: Sequence[str]) -> None:
    with pytest.raises(AuditFileError) as err:
        parse(text)
    message = str(err.value)
    assert message.startswith("audit file site.toml")
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert isinstance(err.value, BadInput)  # exit status 2


def test_load_audit_reads_files_and_profile_dirs(tmp_path: Path) -> None:
    extra = tmp_path / "profiles"
    extra.mkdir()
    (extra / "lab-cam.toml").write_text('description = "lab"\n[[ports]]\nport = 6036\n')
    site = tmp_path / "site.toml"
    site.write_text('[[hosts]]\ntarget = "cam.example"\nprofile = "lab-cam"\nblocked = [22]\n')
    plan = audit_file.load_audit(site, [extra])
    assert plan.source == str(site)
    assert expectations(plan.hosts[0]) == [(22, "blocked"), (6036, "open")]
    assert plan.hosts[0].profile == "lab-cam"


def test_load_audit_unreadable(tmp_path: Path) -> None:
    with pytest.raises(AuditFileError, match=r"cannot read audit file .*missing\.toml"):
        audit_file.load_audit(tmp_path / "missing.toml")
    with pytest.raises(AuditFileError, match="cannot read audit file"):
        audit_file.load_audit(tmp_path)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[[hosts]]\ntarget = "caf\xe9"\n')
    with pytest.raises(AuditFileError, match="not UTF-8"):
        audit_file.load_audit(latin)


def test_unknown_profile_through_the_real_lookup(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[[hosts]]\ntarget = "a.example"\nprofile = "no-such-profile"\n')
    with pytest.raises(AuditFileError, match=r"unknown profile 'no-such-profile'.*camera"):
        audit_file.load_audit(site)


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        # deeper than tomllib's recursion: RecursionError from the parser
        ("a = " + "[" * 500, "nests arrays or tables too deeply"),
        ("a = " + "{b = " * 500, "nests arrays or tables too deeply"),
        # past the interpreter's 4300-digit limit: ValueError from the parser
        ('[[hosts]]\ntarget = "a"\nopen = [' + "1" * 5000 + "]\n", "more than 4300 digits"),
        # hexadecimal has no such limit: the number parses, and is too large to quote
        ('[[hosts]]\ntarget = "a"\nopen = [0x' + "f" * 5000 + "]\n", "a value too large"),
        ('[[hosts]]\ntarget = "a"\nopen = ["' + "9" * 5000 + '"]\n', "(5000 characters)"),
        ('[[hosts]]\ntarget = "\\u001b[2J\\u202e"\nopen = [80]\n', "'\\x1b[2J\\u202e'"),
        ('[[hosts]]\ntarget = "' + "a" * 100_000 + '"\nopen = [80]\n', "(100000 characters)"),
        ('[[hosts]]\ntarget = ["\\u0007"]\nopen = [80]\n', "not ['\\x07']"),
    ],
)
def test_hostile_audit_files_are_one_printable_line(text: str, piece: str) -> None:
    with pytest.raises(AuditFileError) as err:
        parse(text)
    message = str(err.value)
    assert piece in message and message.isprintable() and len(message) < 600, message[:600]


def test_a_port_listed_many_times_is_expanded_once() -> None:
    # 6 KB of "1-65535" once took a gigabyte: each copy was expanded before merging.
    text = '[[hosts]]\ntarget = "a"\nopen = [' + ", ".join(['"1-65535"'] * 600) + "]\n"
    checked = audit_file.check_audit(text, "site.toml", lookup)
    assert checked.probes() == 65535 and checked.addresses() == 1
    assert len(checked.plan().hosts[0].expectations) == 65535


def test_the_size_is_known_before_anything_is_expanded() -> None:
    # 150 hosts x all ports: counted on ranges, so --yes can be asked before 10 million
    # expectations exist.
    text = "".join(f'[[hosts]]\ntarget = "h{n}.example"\nopen = ["all"]\n' for n in range(150))
    checked = audit_file.check_audit(text, "site.toml", lookup)
    assert (checked.addresses(), checked.probes()) == (150, 150 * 65535)
    assert all(len(h.listed) == 1 for h in checked.hosts)


def test_ranges_merge_and_contradictions_are_found_inside_ranges() -> None:
    text = '[[hosts]]\ntarget = "a"\nopen = ["8000-8010", "8005-8020", 7999]\n'
    (host,) = parse(text).hosts
    assert [e.port for e in host.expectations] == list(range(7999, 8021))
    with pytest.raises(AuditFileError, match="port 8015 is expected both open"):
        parse('[[hosts]]\ntarget = "a"\nopen = ["8000-8020"]\nblocked = ["9000-9100", 8015]\n')


def test_header_lines_are_counted_in_one_pass() -> None:
    # Counted from the start of the text for each header, 200 000 headers would take hours.
    started = time.perf_counter()
    lines = audit_file._header_lines("[[hosts]]\n\n" * 200_000, 200_000)
    assert time.perf_counter() - started < 5
    assert lines[:3] == [1, 3, 5] and lines[-1] == 399_999


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_audit_file_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = Path("/dev/zero") if kind == "device" else tmp_path / "site.toml"
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(AuditFileError, match=r"it is a (FIFO \(named pipe\)|device); give a file$"):
        audit_file.read_audit(path)


def test_audit_file_size_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "site.toml"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(AuditFileError, match="is larger than 16 MiB"):
        audit_file.read_audit(big)


# --------------------------------------------------------------------------- comparison


@pytest.mark.parametrize(
    ("expect", "held_by"),
    [
        (Expect.OPEN, {PortState.OPEN}),
        (Expect.BLOCKED, set(PortState) - {PortState.OPEN}),
        (Expect.FILTERED, {PortState.FILTERED}),
        (Expect.REFUSED, {PortState.REFUSED}),
    ],
)
def test_expectation_table(expect: Expect, held_by: set[PortState]) -> None:
    assert {s for s in PortState if expect.holds(s)} == held_by


def diagnosed(t: TargetReport) -> TargetReport:
    return replace(t, findings=diagnose(t))


def one_host(text: str, *targets: TargetReport, **report: object) -> expect.HostResult:
    plan = parse(text)
    (result,) = expect.evaluate(plan, Report(targets=targets, **report))  # type: ignore[arg-type]
    return result


CAM_FILE = '[[hosts]]\ntarget = "cam.example"\nopen = [80, 6036]\nblocked = [3389]\n'


def nat_target(mk: Any) -> TargetReport:
    """A NAT router forwarding only 80: its own RSTs (TTL 64) on the other ports."""
    return diagnosed(
        mk.target(
            (80, "open", 63),
            (3389, "refused", 64),
            (6036, "refused", 64),
            input="cam.example",
            ping=mk.ping("ok", 64),
        )
    )


def test_nat_port_expected_open_fails_with_the_middlebox_finding(mk: Any) -> None:
    host = one_host(CAM_FILE, nat_target(mk))
    verdicts = {r.expectation.name: r for r in host.results}
    assert [r.verdict for r in host.results] == [Verdict.PASS, Verdict.PASS, Verdict.FAIL]
    failed = verdicts["port 6036 open"]
    assert failed.message == "expected open, observed refused"
    assert failed.finding is not None
    assert failed.finding.code == "port-refused-by-middlebox" and 6036 in failed.finding.ports
    assert "NAT" in failed.finding.summary
    assert failed.observations == (expect.Observation(mk.host, PortState.REFUSED, Verdict.FAIL),)
    passed = verdicts["port 3389 blocked"]
    assert passed.message == "expected blocked, observed refused" and passed.finding is None
    assert host.count(Verdict.FAIL) == 1 and host.count(Verdict.PASS) == 2


def test_open_port_expected_blocked_is_explained(mk: Any) -> None:
    target = diagnosed(mk.target((22, "open", 63), input="srv.example"))
    host = one_host('[[hosts]]\ntarget = "srv.example"\nblocked = [22]\n', target)
    (r,) = host.results
    assert r.verdict is Verdict.FAIL and r.message == "expected blocked, observed open"
    assert r.finding is not None and r.finding.code == expect.PORT_OPEN_CODE
    assert r.finding.ports == (22,)
    assert f"SYN/ACK from {mk.host} on 22 with TTL 63" in r.finding.evidence
    assert any("firewall rule" in s for s in r.finding.next_steps)


def test_filtered_expected_refused_names_the_filtered_finding(mk: Any) -> None:
    target = diagnosed(mk.target((80, "open", 63), (8080, "filtered"), input="srv.example"))
    host = one_host('[[hosts]]\ntarget = "srv.example"\nrefused = [8080]\n', target)
    (r,) = host.results
    assert r.message == "expected refused, observed filtered"
    assert r.finding is not None and r.finding.code == "port-filtered"


def test_unresolved_name_is_an_error_with_the_dns_finding(mk: Any) -> None:
    t = TargetReport(
        input="missing.example",
        address=None,
        dns=DnsResult(status=DnsStatus.NXDOMAIN, nameservers=("192.0.2.53",)),
    )
    host = one_host(
        '[[hosts]]\ntarget = "missing.example"\nopen = [80]\nblocked = [22]\n', diagnosed(t)
    )
    assert [r.verdict for r in host.results] == [Verdict.ERROR, Verdict.ERROR]
    r = host.results[0]
    assert (
        r.message == "expected blocked, not checked: missing.example did not resolve (DNS nxdomain)"
    )
    assert r.finding is not None and r.finding.code == "dns-nxdomain"


def test_both_families_must_hold(mk: Any) -> None:
    v4 = diagnosed(mk.target((80, "open", 63), input="dual.example", address="198.18.1.12"))
    v6 = diagnosed(mk.target((80, "filtered"), input="dual.example", address="2001:2:0:1::12"))
    host = one_host('[[hosts]]\ntarget = "dual.example"\nopen = [80]\n', v4, v6)
    (r,) = host.results
    assert r.verdict is Verdict.FAIL
    assert r.message == "expected open, observed open on 198.18.1.12, filtered on 2001:2:0:1::12"
    assert r.finding is not None and r.finding.code in ("host-silent", "port-filtered")
    assert 80 in r.finding.ports


def test_host_never_reached_when_interrupted(mk: Any) -> None:
    host = one_host('[[hosts]]\ntarget = "later.example"\nopen = [80]\n', interrupted=True)
    (r,) = host.results
    assert r.verdict is Verdict.ERROR and "interrupted" in r.message
    assert r.observations == (expect.Observation(None, None, Verdict.ERROR),)


# --------------------------------------------------------------------------- runs over fakes


@dataclass
class FakeNet:
    """Answers by (address, port); names resolve from ``names``; ``no_route`` addresses
    have no route. Records every engine scan's jobs."""

    answers: dict[tuple[str, int], AnswerKind]
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    no_route: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.engine = FakeEngine(self.answers)

    @property
    def scans(self) -> list[list[Job]]:
        return self.engine.scans

    def adapters(self) -> Edge:
        def resolve(
            name: str, ns: Sequence[str], timeout: float, fams: tuple[int, ...]
        ) -> DnsResult:
            addrs = self.names.get(name)
            if addrs is None:
                return DnsResult(status=DnsStatus.NXDOMAIN)
            return DnsResult(status=DnsStatus.OK, addresses=addrs)

        def route(address: str) -> RouteResult:
            if address in self.no_route:
                return RouteResult(status=RouteStatus.NO_ROUTE)
            return RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")

        return Edge(
            resolve=resolve,
            literal=lambda a: DnsResult(status=DnsStatus.LITERAL, addresses=(a,)),
            route=route,
            ping=lambda a, t: PingResult(status=PingStatus.SKIPPED),
            open_engine=lambda method: self.engine,
        )


OPTS = CheckOptions(ports=(), ping=False, tries=2)


def run_audit(plan: audit_file.AuditPlan, opts: CheckOptions, io: Edge) -> expect.AuditResult:
    """``probe audit`` over ``io``, in a session of its own."""
    with Session(io) as session:
        return audit.run_audit(session, plan, opts)


def run(text: str, net: FakeNet) -> expect.AuditResult:
    return run_audit(parse(text), OPTS, net.adapters())


def test_every_host_is_probed_in_one_scan_with_its_own_ports() -> None:
    net = FakeNet({("198.18.1.10", 80): AnswerKind.SYN_ACK, ("198.18.1.11", 80): AnswerKind.RST})
    result = run(
        '[[hosts]]\ntarget = "198.18.1.10"\nopen = [80]\n'
        '[[hosts]]\ntarget = "198.18.1.11"\nrefused = [80]\n'
        '[[hosts]]\ntarget = "198.18.1.12"\nopen = [80]\nfiltered = [82]\n',
        net,
    )
    assert [sorted((j.address, j.port) for j in scan) for scan in net.scans] == [
        [("198.18.1.10", 80), ("198.18.1.11", 80), ("198.18.1.12", 80), ("198.18.1.12", 82)],
    ]
    assert [[p.port for p in t.ports] for t in result.report.targets] == [[80], [80], [80, 82]]
    assert [t.address for t in result.report.targets] == [
        "198.18.1.10",
        "198.18.1.11",
        "198.18.1.12",
    ]
    assert [[str(r.verdict) for r in h.results] for h in result.hosts] == [
        ["pass"],
        ["pass"],
        ["fail", "pass"],
    ]
    assert (result.total, result.count(Verdict.PASS), result.count(Verdict.FAIL)) == (4, 3, 1)
    assert not result.ok and audit.exit_status(result) is ExitStatus.PROBLEM
    assert result.started.endswith("+00:00")


def test_all_hold_is_exit_0_and_probes_each_name_family() -> None:
    net = FakeNet(
        {
            ("198.18.1.10", 443): AnswerKind.SYN_ACK,
            ("2001:2:0:1::10", 443): AnswerKind.SYN_ACK,
            ("198.18.1.10", 22): AnswerKind.RST,
        },
        names={"web.example": ("198.18.1.10", "2001:2:0:1::10")},
    )
    result = run('[[hosts]]\ntarget = "web.example"\nopen = [443]\nblocked = [22]\n', net)
    assert {(j.address, j.port) for j in net.scans[0]} == {
        ("198.18.1.10", 22),
        ("198.18.1.10", 443),
        ("2001:2:0:1::10", 22),
        ("2001:2:0:1::10", 443),
    }
    (host,) = result.hosts
    assert [t.address for t in host.targets] == ["198.18.1.10", "2001:2:0:1::10"]
    assert result.ok and audit.exit_status(result) is ExitStatus.OK


def test_family_restriction_is_passed_to_the_runner() -> None:
    net = FakeNet(
        {("198.18.1.10", 443): AnswerKind.SYN_ACK},
        names={"web.example": ("198.18.1.10", "2001:2:0:1::10")},
    )
    text = '[[hosts]]\ntarget = "web.example"\nopen = [443]\n'
    result = run_audit(parse(text), replace(OPTS, families=(4,)), net.adapters())
    assert {j.address for j in net.scans[0]} == {"198.18.1.10"}
    assert result.ok


def test_no_route_anywhere_is_exit_3_and_nxdomain_is_exit_1() -> None:
    net = FakeNet({}, no_route={"198.18.255.1"})
    result = run('[[hosts]]\ntarget = "198.18.255.1"\nblocked = [80]\n', net)
    assert net.scans == []
    assert result.count(Verdict.ERROR) == 1
    assert audit.exit_status(result) is ExitStatus.CANNOT_PROBE
    result = run('[[hosts]]\ntarget = "missing.example"\nblocked = [80]\n', FakeNet({}))
    assert result.hosts[0].results[0].finding is not None
    assert audit.exit_status(result) is ExitStatus.PROBLEM


def test_an_interrupted_run_keeps_what_was_measured() -> None:
    class Interrupting(FakeNet):
        def __post_init__(self) -> None:
            def first_host_only(j: Job) -> AnswerKind | None:
                # Ctrl-C before the second host's port was answered or given up on.
                if j.address != "198.18.1.10":
                    return None
                return self.answers.get((j.address, j.port), AnswerKind.NONE)

            self.engine = FakeEngine(first_host_only)

    net = Interrupting({("198.18.1.10", 80): AnswerKind.SYN_ACK})
    result = run(
        '[[hosts]]\ntarget = "198.18.1.10"\nopen = [80]\n'
        '[[hosts]]\ntarget = "198.18.1.11"\nopen = [81]\n',
        net,
    )
    assert len(net.scans) == 1
    assert result.report.interrupted and audit.exit_status(result) is ExitStatus.INTERRUPTED
    assert [r.verdict for h in result.hosts for r in h.results] == [Verdict.PASS, Verdict.ERROR]


def test_targets_sharing_an_address_share_its_probes() -> None:
    # A name and its address in one audit: each (address, port) probed once, and each host
    # sees only its own ports (one probe per port: no second, unanswerable copy).
    net = FakeNet(
        {("198.18.1.10", 80): AnswerKind.SYN_ACK, ("198.18.1.10", 22): AnswerKind.RST},
        names={"web.example": ("198.18.1.10",)},
    )
    result = run(
        '[[hosts]]\ntarget = "web.example"\nopen = [80]\n'
        '[[hosts]]\ntarget = "198.18.1.10"\nopen = [80]\nrefused = [22]\n',
        net,
    )
    (scan,) = net.scans
    assert sorted((j.address, j.port) for j in scan) == [("198.18.1.10", 22), ("198.18.1.10", 80)]
    assert [[p.port for p in t.ports] for t in result.report.targets] == [[80], [22, 80]]
    assert result.ok
