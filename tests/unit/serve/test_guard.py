"""The SSRF guard: one host per request, literals and resolved names checked against
--allow-targets before any packet, module ports against --allow-ports."""

from __future__ import annotations

import pytest

from probe.errors import BadInput
from probe.model import Protocol
from probe.serve.guard import BadRequest, Guard, InFlight, Refused, parse_networks, parse_ports

TCP, UDP = Protocol.TCP, Protocol.UDP
LAB = Guard(networks=parse_networks("198.18.0.0/15, 2001:2::/48"), ports=parse_ports("1-1024"))


def test_allowed_literals_and_names_pass() -> None:
    assert LAB.target("198.18.1.10", ((80, TCP),)).address == "198.18.1.10"
    assert LAB.target("[2001:2::10]", ((80, TCP),)).address == "2001:2::10"
    name = LAB.target(
        "cam.probe.test",
        (
            (80, TCP),
            (443, TCP),
        ),
    )
    assert name.address is None and name.kind == "name"  # checked once resolved


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("198.18.0.0/24", "is a CIDR block"),
        ("198.18.1.10/32", "is a CIDR block"),
        ("10.0.0.1", "target address 10.0.0.1 is not allowed: --allow-targets permits"),
        ("2001:db8::1", "not allowed"),
        ("127.0.0.1", "not allowed"),
        ("::ffff:10.0.0.1", "not allowed"),
    ],
)
def test_refused_targets(text: str, words: str) -> None:
    with pytest.raises(Refused, match=words):
        LAB.target(text, ((80, TCP),))


@pytest.mark.parametrize("text", ["", "  ", "300.1.1.1", "host:80", "http://x/"])
def test_targets_that_do_not_parse_are_bad_requests(text: str) -> None:
    with pytest.raises(BadRequest):
        LAB.target(text, ((80, TCP),))


def test_module_ports_outside_allow_ports_are_refused() -> None:
    with pytest.raises(Refused, match="port 6036 of the module is not allowed"):
        LAB.target(
            "198.18.2.1",
            (
                (80, TCP),
                (6036, TCP),
            ),
        )
    assert LAB.refused_ports(tuple((p, TCP) for p in (22, 80, 8080, 6036))) == ("8080", "6036")
    udp = Guard(ports=parse_ports("1-1024,53/udp"))
    assert udp.refused_ports(((53, UDP), (123, UDP), (123, TCP))) == ("123/udp",)


def test_addresses_of_a_resolved_name() -> None:
    assert LAB.allows_address("198.19.255.255")
    assert not LAB.allows_address("198.20.0.1")
    assert not LAB.allows_address("not an address")
    assert Guard().allows_address("192.0.2.1")  # no list: anything (the log warns)


def test_bad_lists_are_bad_input() -> None:
    with pytest.raises(BadInput):
        parse_networks("10.0.0.0/33")
    with pytest.raises(BadInput):
        parse_networks(" , ")
    with pytest.raises(BadInput):
        parse_ports("0")


def test_in_flight_limit() -> None:
    limit = InFlight(2)
    assert limit.enter() and limit.enter()
    assert not limit.enter() and limit.count == 2
    limit.leave()
    assert limit.enter()
