"""UDP in port specs: suffixes, nmap's prefixes, --udp, per-protocol service names, and every
refusal as one sentence naming the bad piece."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from probe.errors import BadInput, PortSpecError
from probe.model import PortRequest, Protocol
from probe.plan import services as service_names
from probe.plan.ports import PortSet, merge, parse_ports, port_set
from probe.plan.services import service_name, service_port

TCP, UDP = Protocol.TCP, Protocol.UDP


def rows(spec: str, only: Protocol | None = None) -> list[tuple[int, str | None, str]]:
    return [(r.port, r.service, str(r.protocol)) for r in parse_ports(spec, only)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("53/udp", [(53, "dns", "udp")]),
        ("53/UDP", [(53, "dns", "udp")]),
        ("53 / udp", [(53, "dns", "udp")]),
        ("80/tcp", [(80, "http", "tcp")]),
        ("5060-5062/udp", [(5060, "sip", "udp"), (5061, "sips", "udp"), (5062, None, "udp")]),
        ("dns/udp", [(53, "dns", "udp")]),
        ("domain/udp", [(53, "dns", "udp")]),
        ("sip/udp", [(5060, "sip", "udp")]),
        ("ntp/udp,snmp/udp", [(123, "ntp", "udp"), (161, "snmp", "udp")]),
        ("isakmp/udp,ike/udp", [(500, "ike", "udp")]),  # aliases meet on one port
        ("wireguard/udp", [(51820, "wireguard", "udp")]),
        ("https/udp", [(443, "quic", "udp")]),  # 443/udp is known by what it carries
        ("U:53,T:80", [(53, "dns", "udp"), (80, "http", "tcp")]),
        ("u:53", [(53, "dns", "udp")]),
        (
            "T:80,443,U:53,161",
            [(53, "dns", "udp"), (80, "http", "tcp"), (161, "snmp", "udp"), (443, "https", "tcp")],
        ),
        ("U:ntp", [(123, "ntp", "udp")]),  # a prefix makes the names UDP names
        ("U:53/udp", [(53, "dns", "udp")]),  # a suffix may repeat its scope
        (
            "80,443,443/udp,5060/udp",
            [
                (80, "http", "tcp"),
                (443, "https", "tcp"),
                (443, "quic", "udp"),
                (5060, "sip", "udp"),
            ],
        ),
        ("53,53/udp,53/tcp,U:53", [(53, "dns", "tcp"), (53, "dns", "udp")]),  # merged per protocol
        ("5060/udp,5060", [(5060, "sip", "tcp"), (5060, "sip", "udp")]),  # TCP first on a number
    ],
)
def test_udp_specs(spec: str, expected: list[tuple[int, str | None, str]]) -> None:
    assert rows(spec) == expected


@pytest.mark.parametrize(
    ("spec", "piece"),
    [
        ("70000/udp", "port 70000 is out of range 1-65535"),
        ("0/udp", "port 0 is out of range"),
        ("53/sctp", "'53/sctp': probe probes tcp and udp ports, not 'sctp'"),
        ("53/", "not ''"),
        ("udp", "'udp' is a protocol, not a port: write 53/udp, U:53 or --udp"),
        ("80,tcp", "'tcp' is a protocol, not a port in '80,tcp'"),
        ("/udp", "'/udp' has no port before /udp"),
        ("U:", "'U:' needs one port, range or service after U:"),
        ("80,U:", "'U:' needs one port, range or service after U: in '80,U:'"),
        ("U:T:53", "'U:T:53' needs one port"),
        ("S:80", "'S:80': probe takes T: (TCP) and U: (UDP) prefixes, not 'S:'"),
        ("53/udp/tcp", "'53/udp/tcp' names more than one protocol"),
        ("U:53/tcp", "'U:53/tcp' says tcp inside a U: list"),
        ("U:53,80/tcp", "'80/tcp' says tcp inside a U: list in 'U:53,80/tcp'"),
        ("T:53/udp", "'T:53/udp' says udp inside a T: list"),
        ("ntp", "unknown service name 'ntp': ntp is UDP port 123, write ntp/udp"),
        ("ssh/udp", "unknown UDP service name 'ssh': ssh is TCP port 22, write ssh/tcp"),
        ("nosuch/udp", "unknown UDP service name 'nosuch': give its port number instead"),
        ("5062-5060/udp", "port range '5062-5060' runs backwards (write 5060-5062)"),
        ("-5/udp", "port range '-5' has no start"),
    ],
)
def test_bad_udp_specs(spec: str, piece: str) -> None:
    with pytest.raises(PortSpecError) as info:
        parse_ports(spec)
    message = str(info.value)
    assert piece in message, message
    assert isinstance(info.value, BadInput) and message.isprintable()


def test_only_udp_makes_bare_ports_udp_and_refuses_tcp() -> None:
    assert rows("53,123-124,ntp,U:161", UDP) == [
        (53, "dns", "udp"),
        (123, "ntp", "udp"),
        (124, None, "udp"),
        (161, "snmp", "udp"),
    ]
    for spec in ("80/tcp", "T:80", "53,T:80"):
        with pytest.raises(PortSpecError, match="is TCP, but only UDP ports are allowed here"):
            parse_ports(spec, UDP)
    with pytest.raises(PortSpecError, match="'80/tcp' is TCP, but --udp makes"):
        parse_ports("80/tcp", UDP, "--udp makes every port of the spec UDP")


def test_current_specs_are_unchanged() -> None:
    assert parse_ports("6036,443,80") == (
        PortRequest(80, "http"),
        PortRequest(443, "https"),
        PortRequest(6036, None),
    )
    assert all(r.protocol is TCP for r in parse_ports("1-1024,http,all"))


def test_all_udp_is_every_port_and_as_fast_as_tcp() -> None:
    started = time.perf_counter()
    ports = parse_ports("all/udp")
    elapsed = time.perf_counter() - started
    assert len(ports) == 65535 and {r.protocol for r in ports} == {UDP}
    assert ports[122] == PortRequest(123, "ntp", protocol=UDP)
    assert parse_ports("all", UDP) == ports == parse_ports("U:all")
    assert elapsed < 1.0  # the same map() as TCP's "all" (about 40 ms); a loop would be far more
    both = parse_ports("all,all/udp")
    assert len(both) == 2 * 65535
    assert [(r.port, r.protocol) for r in both[:4]] == [(1, TCP), (1, UDP), (2, TCP), (2, UDP)]


def test_port_set_keeps_one_range_list_per_protocol() -> None:
    spec = port_set("1-65535,U:53,100-200,150-300")
    assert spec.tcp == PortSet(((1, 65535),), {}, TCP)
    assert spec.udp.ranges == ((53, 53), (100, 300)) and spec.udp.protocol is UDP
    assert len(spec) == 65535 + 202
    assert spec.of(UDP) is spec.udp and spec.udp.has(250) and not spec.udp.has(54)
    assert spec.udp.name(53) == "dns" and spec.tcp.name(53) == "dns"
    assert spec.udp.name(443) == "quic" and spec.tcp.name(443) == "https"
    assert merge([(5, 6), (1, 2), (3, 4)]) == ((1, 6),)


def test_udp_service_names() -> None:
    assert service_name(123, UDP) == "ntp" and service_name(123) is None
    assert service_name(389, UDP) == "cldap" and service_name(389) == "ldap"
    expected = {
        "ntp": 123, "snmp": 161, "syslog": 514, "sip": 5060, "isakmp": 500, "ike": 500,
        "openvpn": 1194, "wireguard": 51820, "netbios-ns": 137, "ssdp": 1900, "tftp": 69,
        "radius": 1812, "stun": 3478, "coap": 5683, "memcached": 11211, "mdns": 5353,
        "dns": 53, "domain": 53, "ipsec-nat-t": 4500, "l2tp": 1701, "ws-discovery": 3702,
    }  # fmt: skip
    assert {name: service_port(name, UDP) for name in expected} == expected
    assert service_port("NTP", UDP) == 123 and service_port("ntp", TCP) is None


def test_services_file_udp_entries_are_the_udp_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = tmp_path / "services"
    services.write_text(
        "fancy-svc\t4321/tcp\n"
        "udp-only\t4322/udp\tuo  # alias\n"
        "both\t4323/tcp\nboth\t4323/udp\n"
        "odd\t4324/sctp\n"
    )
    monkeypatch.setattr(service_names, "_SERVICES_FILE", services)
    assert parse_ports("udp-only/udp,uo/udp") == (PortRequest(4322, "udp-only", protocol=UDP),)
    assert rows("both,both/udp") == [(4323, "both", "tcp"), (4323, "both", "udp")]
    with pytest.raises(PortSpecError, match="'fancy-svc': fancy-svc is TCP port 4321"):
        parse_ports("fancy-svc/udp")
    with pytest.raises(PortSpecError, match="unknown UDP service name 'odd'"):
        parse_ports("odd/udp")
