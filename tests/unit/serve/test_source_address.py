"""A module's ``source_address``: parsed and checked at start (an address of this computer,
of the family ``ip_protocol`` names), and every probe of the module leaves from it."""

from __future__ import annotations

from typing import Any

import pytest

from probe.engine import inet
from probe.engine.fake import FakeEngine
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    RouteResult,
    RouteStatus,
)
from probe.plan.profiles import get_profile
from probe.serve.app import Exporter
from probe.serve.config import ConfigError
from probe.serve.configfile import parse_config
from probe.serve.guard import Guard, parse_networks
from probe.session.core import Session
from probe.session.edge import Edge

OURS = {"198.18.0.3", "2001:2::3"}  # the addresses this test's machine pretends to have
CONFIG = """\
[modules.from-3]
ports = [80]
ping = false
source_address = "198.18.0.3"

[modules.plain]
ports = [80]
ping = false
"""


@pytest.fixture(autouse=True)
def _our_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inet, "is_local", lambda address: address in OURS)


def module_of(body: str) -> Any:
    return parse_config(f"[modules.m]\nports = [80]\n{body}", "probe.toml", get_profile).modules[
        "m"
    ]


def test_the_key_is_parsed_and_reaches_the_check_options() -> None:
    m = module_of('source_address = "198.18.0.3"')
    assert m.source_address == "198.18.0.3"
    assert m.families() == ((4,),)  # the source's family alone: no fallback to IPv6
    assert m.options((4,)).source == "198.18.0.3"
    m6 = module_of('source_address = "2001:2:0::3"\nip_protocol = "ip6"')
    assert m6.source_address == "2001:2::3" and m6.families() == ((6,),)
    assert module_of("").source_address is None and module_of("").options((6,)).source is None


def test_the_yaml_key_too() -> None:
    text = "modules:\n  m:\n    ports: [80]\n    source_address: 198.18.0.3\n"
    config = parse_config(text, "probe.yml", get_profile)
    assert config.modules["m"].source_address == "198.18.0.3"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('"nope"', "'source_address' must be an IP address, not 'nope'"),
        ("3", "'source_address' must be an IP address, not 3"),
        ('"198.18.0.9"', "'source_address' 198.18.0.9 is not an address of this computer"),
        (
            '"198.18.0.3"\nip_protocol = "ip6"',
            "'source_address' 198.18.0.3 is IPv4, but 'ip_protocol' is ip6",
        ),
    ],
)
def test_bad_values_name_the_file_line_and_key(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        module_of(f"source_address = {value}")
    assert str(err.value).startswith("config file probe.toml, line 3, module 'm': ")
    assert words in str(err.value)


def test_the_exporter_probes_from_the_modules_source() -> None:
    engine = FakeEngine({80: AnswerKind.SYN_ACK})
    edge = Edge(
        resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.NO_ANSWER),
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda a: RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1"),
        ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
        open_engine=lambda method: engine,
    )
    config = parse_config(CONFIG, "probe.toml", get_profile)
    guard = Guard(networks=parse_networks("198.18.0.0/15"))
    with Session(edge) as session:
        app = Exporter(session, config, guard, limit=2)
        for module in ("from-3", "plain"):
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/probe",
                "QUERY_STRING": f"target=198.18.1.10&module={module}",
            }
            body = b"".join(app(environ, lambda status, headers: None)).decode()
            assert "probe_success 1.0" in body
    sources = [{j.source for j in jobs} for jobs in engine.scans]
    assert sources == [{"198.18.0.3"}, {None}]
