"""Shared factories: model records from short plain data, for table-driven tests.

Tests get them through the ``mk`` fixture: ``mk.port(6036, "refused", 64)``,
``mk.target((80, "open", 63), (6036, "refused", 64), ping=mk.ping("ok", 64))``. Defaults
describe a healthy target one router hop away (TTL 63) behind gateway 192.0.2.1; every
default can be overridden. For the report writers there are whole targets too:
``mk.camera()`` (the NAT-router story, fully measured), ``mk.nxdomain()``, ``mk.literal()``,
and ``mk.report()``. Nothing here touches the network.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import EllipsisType
from typing import Any

import pytest

from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    AppResult,
    ArpResult,
    DnsResult,
    DnsStatus,
    Finding,
    PingResult,
    PingStatus,
    PortEvidence,
    PortResult,
    PortState,
    Protocol,
    Report,
    RouteResult,
    RouteStatus,
    Severity,
    TargetReport,
    TcpOptions,
)

HOST = "198.18.2.1"  # the target (RFC 2544 benchmarking range)
ROUTER = "198.18.0.1"  # a router / firewall on the way
CLIENT = "192.0.2.10"
GATEWAY = "192.0.2.1"
NAMESERVER = "192.0.2.53"

_REASON = {
    PortState.OPEN: "syn-ack",
    PortState.REFUSED: "reset",
    PortState.FILTERED: "no-response",
    PortState.REJECTED: "admin-prohibited",
    PortState.UNREACHABLE: "host-unreach",
    PortState.OPEN_FILTERED: "no-response",
}
# UDP's words where they differ: a datagram back, and the host's own port unreachable.
_UDP_REASON = {PortState.OPEN: "udp-response", PortState.REFUSED: "port-unreach"}

PortSpec = PortResult | tuple[Any, ...] | dict[str, Any]


class Factories:
    host = HOST
    router = ROUTER
    client = CLIENT
    nameserver = NAMESERVER

    @staticmethod
    def evidence(
        port: int = 80,
        answer: AnswerKind | str = AnswerKind.SYN_ACK,
        *,
        method: str = "syn",
        address: str = HOST,
        tries: int = 1,
        **kw: Any,
    ) -> PortEvidence:
        return PortEvidence(address, port, method, AnswerKind(answer), tries, **kw)

    @staticmethod
    def port(
        port: int = 80,
        state: PortState | str = PortState.OPEN,
        ttl: int | EllipsisType | None = ...,
        *,
        reason: str | None = None,
        responder: str | EllipsisType | None = ...,
        tries: int | None = None,
        app: AppResult | str | None = None,
        **kw: Any,
    ) -> PortResult:
        """A classified port. Defaults: the state's usual reason; TTL 63 and the target as
        responder for answers (the router for ICMP), nothing for filtered; 3 tries when
        filtered, else 1. ``app="silent"`` is short for an HTTP AppResult with that status."""
        st = PortState(state)
        silent = st in (PortState.FILTERED, PortState.OPEN_FILTERED)
        if "protocol" in kw:
            kw["protocol"] = Protocol(kw["protocol"])
        if reason is None and kw.get("protocol") is Protocol.UDP:
            reason = _UDP_REASON.get(st)
        if responder is ...:
            icmp = st in (PortState.REJECTED, PortState.UNREACHABLE)
            responder = None if silent else ROUTER if icmp else HOST
        if ttl is ...:
            ttl = None if silent else 63
        if isinstance(app, str):
            app = AppResult(status=app, protocol="http")
        return PortResult(
            port=port,
            state=st,
            reason=reason or _REASON[st],
            tries=tries if tries is not None else 3 if silent else 1,
            responder=responder,
            ttl=ttl,
            app=app,
            **kw,
        )

    @staticmethod
    def open_port(port: int = 80, **kw: Any) -> PortResult:
        """An open port with all a raw scan reads off the SYN/ACK: the ``port()`` defaults plus
        service http, RTT 0.4 ms, window 64240 and TCP options. Any of them can be overridden
        (``window=None, tcp_options=None``: nothing seen)."""
        seen: dict[str, Any] = {
            "service": "http",
            "rtt_ms": 0.4,
            "window": 64240,
            "tcp_options": Factories.options(),
        }
        return Factories.port(port, PortState.OPEN, **(seen | kw))

    @staticmethod
    def connect_port(
        port: int = 80, state: PortState | str = PortState.OPEN, **kw: Any
    ) -> PortResult:
        """A port as the connect() fallback reports it: no TTL, no responder."""
        st = PortState(state)
        reason = {PortState.REFUSED: "conn-refused"}.get(st, _REASON[st])
        return Factories.port(port, st, None, responder=None, reason=kw.pop("reason", reason), **kw)

    @staticmethod
    def ping(
        status: PingStatus | str = PingStatus.OK, ttl: int | None = 63, **kw: Any
    ) -> PingResult:
        st = PingStatus(status)
        ok = st is PingStatus.OK
        sent = 0 if st is PingStatus.SKIPPED else 3
        kw.setdefault("received", sent if ok else 0)
        if ok:
            kw.setdefault("rtt_avg_ms", 1.5)
        return PingResult(status=st, sent=kw.pop("sent", sent), ttl=ttl if ok else None, **kw)

    @staticmethod
    def dns(status: DnsStatus | str = DnsStatus.OK, **kw: Any) -> DnsResult:
        st = DnsStatus(status)
        if st is DnsStatus.OK:
            kw.setdefault("addresses", (HOST,))
        kw.setdefault("nameservers", (NAMESERVER,))
        return DnsResult(status=st, **kw)

    @staticmethod
    def route(
        gateway: str | None = GATEWAY, status: RouteStatus | str = "ok", **kw: Any
    ) -> RouteResult:
        kw.setdefault("interface", "eth0")
        kw.setdefault("source", CLIENT)
        return RouteResult(status=RouteStatus(status), gateway=gateway, **kw)

    @staticmethod
    def arp(*macs: str) -> ArpResult:
        return ArpResult(macs=macs)

    @staticmethod
    def options() -> TcpOptions:
        return TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=True)

    @staticmethod
    def target(
        *ports: PortSpec,
        input: str = "host.example",
        address: str | None = HOST,
        dns: DnsResult | None = None,
        route: RouteResult | EllipsisType | None = ...,
        ping: PingResult | EllipsisType | None = ...,
        arp: ArpResult | None = None,
        findings: tuple[Finding, ...] = (),
    ) -> TargetReport:
        """A target report. Ports are PortResults, or tuples / dicts of ``port()`` arguments."""
        built = tuple(
            p
            if isinstance(p, PortResult)
            else Factories.port(**p)
            if isinstance(p, dict)
            else Factories.port(*p)
            for p in ports
        )
        if dns is None:
            dns = Factories.dns(addresses=(address,)) if address else Factories.dns()
        return TargetReport(
            input=input,
            address=address,
            dns=dns,
            route=Factories.route() if route is ... else route,
            ping=Factories.ping() if ping is ... else ping,
            arp=arp,
            ports=tuple(sorted(built, key=lambda p: p.port)),
            findings=findings,
        )

    # ------------------------------------------------ whole targets, for the report writers

    @staticmethod
    def middlebox_finding(**kw: Any) -> Finding:
        """The camera's finding: port 6036 refused by the NAT router in front of it."""
        fields: dict[str, Any] = {
            "severity": Severity.ERROR,
            "summary": "Port 6036 is refused by the NAT router, not by the camera; 80 works.",
            "ports": (6036,),
            "evidence": (
                "SYN/ACK on 80 with TTL 63; RST on 6036 with TTL 64: one hop closer",
                "the RST carries IP ID 0",
            ),
            "next_steps": ("check the port forwarding for 6036 on the NAT device",),
        }
        return Finding(code="port-refused-by-middlebox", **(fields | kw))

    @staticmethod
    def camera(*, ports: tuple[PortSpec, ...] | EllipsisType = ..., **kw: Any) -> TargetReport:
        """A camera behind a NAT router, every step measured: camera.example resolved through
        a CNAME to the host in 3.1 ms, the default route, ping answered by the router (TTL 64,
        rtt 0.1/0.2/0.3 ms), ``open_port(80)`` (TTL 63) and 6036 refused one hop closer (TTL 64,
        0.2 ms), and ``middlebox_finding()``. ``ports=`` replaces both ports (``()``: none);
        other keywords go to ``target()``."""
        fields: dict[str, Any] = {
            "input": "camera.example",
            "dns": Factories.dns(
                cname_chain=("cam.example.net",), answered_by=NAMESERVER, elapsed_ms=3.1
            ),
            "ping": Factories.ping("ok", 64, rtt_min_ms=0.1, rtt_avg_ms=0.2, rtt_max_ms=0.3),
            "findings": (Factories.middlebox_finding(),),
        }
        if ports is ...:
            ports = (Factories.open_port(), Factories.port(6036, "refused", 64, rtt_ms=0.2))
        return Factories.target(*ports, **(fields | kw))

    @staticmethod
    def nxdomain(input: str = "nope.example") -> TargetReport:
        """A name that does not exist: no address, nothing probed after DNS, one finding."""
        return Factories.target(
            input=input,
            address=None,
            dns=Factories.dns(DnsStatus.NXDOMAIN, elapsed_ms=12.0),
            route=None,
            ping=None,
            findings=(
                Finding(
                    code="dns-nxdomain",
                    severity=Severity.ERROR,
                    summary=f"The name {input} does not exist in DNS.",
                    evidence=(f"{NAMESERVER} answered NXDOMAIN",),
                ),
            ),
        )

    @staticmethod
    def literal(
        address: str = HOST, *, ports: tuple[PortSpec, ...] = (), **kw: Any
    ) -> TargetReport:
        """A target given as an address: the address is the input, DNS is not asked, no port
        unless ``ports=``. Other keywords go to ``target()``."""
        dns = Factories.dns(DnsStatus.LITERAL, nameservers=())
        return Factories.target(*ports, input=address, address=address, dns=dns, **kw)

    @staticmethod
    def report(*targets: TargetReport, **kw: Any) -> Report:
        """A report of these targets (default: ``camera()``); keywords go to Report."""
        return Report(targets=targets or (Factories.camera(),), **kw)


@pytest.fixture
def mk() -> type[Factories]:
    return Factories


# --------------------------------------------------------------------------- TLS certificates


class CertFactory:
    """Self-signed certificates made at test time (``cryptography``), written as PEM files:
    ``make_cert(("web.probe.test",), days=(-10, -1))`` is a certificate that expired
    yesterday. ``days`` is (not before, not after) relative to now."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    def __call__(
        self,
        names: tuple[str, ...] = ("web.probe.test",),
        *,
        days: tuple[float, float] = (-1, 30),
        common_name: str | None = None,
        ips: tuple[str, ...] = (),
    ) -> tuple[Path, Path]:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        cn = common_name or (names[0] if names else "probe test")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
        )
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alt += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if alt:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        cert = builder.sign(key, hashes.SHA256())
        self.count += 1
        cert_path = self.directory / f"cert{self.count}.pem"
        key_path = self.directory / f"key{self.count}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path


@pytest.fixture(scope="session")
def make_cert(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("certs"))


CliRun = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def probe_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliRun:
    """``probe ARGS...`` run in this process (cli.main): (exit status, stdout, stderr)."""
    from probe.cli import main as cli

    def run(args: list[str]) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["probe", *args])
        with pytest.raises(SystemExit) as exc:
            cli.main()
        out, err = capsys.readouterr()
        return int(exc.value.code or 0), out, err

    return run


CLI_HOST = "198.18.1.10"  # every name resolves to it in ``cli_fake``


@pytest.fixture
def cli_fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """The commands' edge, faked: every name resolves to CLI_HOST, one router hop away, ping
    answers, and the scripted engine answers 80 with a SYN/ACK and 81 with a RST (everything
    else is silence). Returns the engine, whose ``scans`` and ``jobs`` say what was asked."""
    from probe.session import edge
    from probe.session.edge import Edge

    engine = FakeEngine({80: AnswerKind.SYN_ACK, 81: AnswerKind.RST})
    route = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")

    def adapters() -> Edge:
        return Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, (CLI_HOST,)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: route,
            ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
            open_engine=lambda method: engine,
        )

    monkeypatch.setattr(edge, "default_edge", adapters)
    return engine


def run_check(targets: Any, opts: Any, edge: Any, **kw: Any) -> Report:
    """``probe check`` over a fake edge, in a session of its own closed at the end (as the
    CLI's): ``Session(edge).check(targets, opts, **kw)``."""
    from probe.session.core import Session

    with Session(edge) as session:
        return session.check(targets, opts, **kw)
