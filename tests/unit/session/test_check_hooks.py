"""The runner's optional hooks with fake adapters: --app hellos on every open port (with the
protocol and the host name), ARP only for on-link targets and all of them in one call, and the
CLI options feeding them."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from conftest import CliRun, run_check

from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    AppResult,
    ArpResult,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    PortRequest,
    Report,
    RouteResult,
    RouteStatus,
    Target,
)
from probe.session import edge
from probe.session.core import Session
from probe.session.edge import Edge
from probe.session.options import CheckOptions

HOST = "198.18.1.10"
NEAR = "198.18.0.20"


class Calls:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.app: list[tuple[str, int, str | None, str | None]] = []
        self.arp: list[list[str]] = []  # the addresses of each call
        self.macs: dict[str, str] = {NEAR: "02:00:00:00:00:01"}  # who answers; others: None

    def hello(
        self, address: str, port: int, protocol: str | None, name: str | None, timeout: float = 1
    ) -> AppResult:
        time.sleep(0.02)  # long enough for the queue to fill: every hello must still run
        with self.lock:
            self.app.append((address, port, protocol, name))
        return AppResult("answered", protocol or "generic")

    def neighbours(
        self, asked: Sequence[tuple[str, RouteResult]], wait: float = 1
    ) -> Mapping[str, ArpResult | None]:
        with self.lock:
            self.arp.append([address for address, _ in asked])
        return {
            address: ArpResult((self.macs[address],)) if address in self.macs else None
            for address, _ in asked
        }


def adapters(calls: Calls) -> Edge:
    def route(address: str) -> RouteResult:
        gateway = None if address.startswith("198.18.0.") else "198.18.0.1"
        return RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", gateway)

    return Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (HOST,)),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=route,
        ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
        open_engine=lambda method: FakeEngine(default=AnswerKind.SYN_ACK),  # every port open
        arp=calls.neighbours,
        app=calls.hello,
    )


def test_every_open_port_gets_its_hello() -> None:
    calls = Calls()
    ports = tuple(PortRequest(p, "http" if p == 80 else None) for p in range(80, 110))
    opts = CheckOptions(ports=ports, app=True)
    report = run_check([Target("web.example", "name")], opts, adapters(calls))
    (t,) = report.targets
    assert all(p.app is not None for p in t.ports), [p.port for p in t.ports if p.app is None]
    assert sorted(calls.app)[:2] == [
        (HOST, 80, "http", "web.example"),
        (HOST, 81, None, "web.example"),
    ]
    assert len(calls.app) == 30


def test_hello_protocol_override_and_no_name_for_literals() -> None:
    calls = Calls()
    opts = CheckOptions(ports=(PortRequest(22, "ssh"),), app=True, app_protocol="tls")
    run_check([Target(HOST, "ipv4", HOST)], opts, adapters(calls))
    assert calls.app == [(HOST, 22, "tls", None)]


def test_no_hello_without_app() -> None:
    calls = Calls()
    opts = CheckOptions(ports=(PortRequest(80),))
    (t,) = run_check([Target(HOST, "ipv4", HOST)], opts, adapters(calls)).targets
    assert calls.app == [] and t.ports[0].app is None


def test_arp_only_on_link_and_absent_when_not_measured() -> None:
    calls = Calls()
    opts = CheckOptions(ports=(PortRequest(80),))
    targets = [Target(a, "ipv4", a) for a in (HOST, NEAR, "198.18.0.99")]
    by_address = {t.address: t for t in run_check(targets, opts, adapters(calls)).targets}
    assert [sorted(c) for c in calls.arp] == [[NEAR, "198.18.0.99"]]  # not the far host
    assert by_address[NEAR].arp == ArpResult(("02:00:00:00:00:01",))
    assert by_address["198.18.0.99"].arp is None  # the hook could not ask: no "no answer"
    assert by_address[HOST].arp is None


def test_every_on_link_target_is_asked_in_one_call() -> None:
    calls = Calls()
    near = [f"198.18.0.{i}" for i in range(20, 30)]
    calls.macs = {a: f"02:00:00:00:00:{i:02x}" for i, a in enumerate(near[:-1])}
    opts = CheckOptions(ports=(PortRequest(80),))
    targets = [Target(a, "ipv4", a) for a in (*near, HOST)]
    report = run_check(targets, opts, adapters(calls))
    assert calls.arp == [near]  # one window for all, in target order
    by_address = {t.address: t for t in report.targets}
    for address in near[:-1]:
        assert by_address[address].arp == ArpResult((calls.macs[address],))
    assert by_address[near[-1]].arp is None and by_address[HOST].arp is None


def test_no_arp_call_without_on_link_targets() -> None:
    calls = Calls()
    opts = CheckOptions(ports=(PortRequest(80),))
    (t,) = run_check([Target(HOST, "ipv4", HOST)], opts, adapters(calls)).targets
    assert calls.arp == [] and t.arp is None


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[CheckOptions]:
    got: list[CheckOptions] = []

    real = Session.check

    def check(self: Session, targets: Sequence[Target], opts: CheckOptions, **kw: Any) -> Report:
        got.append(opts)
        return real(self, targets, opts, **kw)

    monkeypatch.setattr(Session, "check", check)
    monkeypatch.setattr(edge, "default_edge", lambda: adapters(Calls()))
    return got


@pytest.mark.parametrize(
    ("args", "app", "protocol"),
    [
        ([], False, None),
        (["--app"], True, None),
        (["--app-protocol", "TLS"], True, "tls"),
        (["--app", "--app-protocol", "smtp"], True, "smtp"),
    ],
)
def test_cli_app_options(
    seen: list[CheckOptions],
    args: list[str],
    app: bool,
    protocol: str | None,
    probe_cli: CliRun,
) -> None:
    assert probe_cli(["check", HOST, "-p", "80", "--json", *args])[0] == 0
    (opts,) = seen
    assert (opts.app, opts.app_protocol) == (app, protocol)


def test_cli_unknown_app_protocol_is_exit_2(seen: list[CheckOptions], probe_cli: CliRun) -> None:
    code, _, err = probe_cli(["check", HOST, "-p", "80", "--app-protocol", "gopher"])
    assert code == 2
    assert "--app-protocol" in err and "gopher" in err
    assert seen == []


def test_ctrl_c_while_hellos_run_still_gives_a_report() -> None:
    calls = Calls()
    started = threading.Event()

    def slow_hello(
        address: str, port: int, protocol: str | None, name: str | None, timeout: float
    ) -> AppResult:
        if port == 81:
            started.set()
            time.sleep(0.5)  # still running when Ctrl-C comes
        return calls.hello(address, port, protocol, name)

    io = replace(adapters(calls), app=slow_hello)
    opts = CheckOptions(ports=(PortRequest(80), PortRequest(81)), app=True)
    report = interrupted_when(started, [Target(HOST, "ipv4", HOST)], opts, io)
    assert report.interrupted
    (t,) = report.targets
    assert [p.port for p in t.ports] == [80, 81]  # what the scan measured is kept


def test_ctrl_c_before_arp_answers_leaves_arp_out() -> None:
    calls = Calls()
    started = threading.Event()

    def slow(
        asked: Sequence[tuple[str, RouteResult]], wait: float
    ) -> Mapping[str, ArpResult | None]:
        started.set()
        time.sleep(0.5)  # still asking when Ctrl-C comes
        return calls.neighbours(asked)

    io = replace(adapters(calls), arp=slow)
    opts = CheckOptions(ports=(PortRequest(80),))
    report = interrupted_when(started, [Target(NEAR, "ipv4", NEAR)], opts, io)
    (t,) = report.targets
    assert report.interrupted and t.arp is None  # not "nobody answered"


def interrupted_when(
    started: threading.Event, targets: list[Target], opts: CheckOptions, io: Edge
) -> Report:
    """run_check, with Ctrl-C (SIGINT) sent as soon as ``started`` is set."""
    timer = threading.Thread(
        target=lambda: started.wait(2) and os.kill(os.getpid(), signal.SIGINT), daemon=True
    )
    timer.start()
    try:
        return run_check(targets, opts, io)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped run_check: nothing would be printed")
    finally:
        timer.join(3)
