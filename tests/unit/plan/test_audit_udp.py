"""UDP in audit files: the udp_ keys, their protocol carried by every expectation, per-protocol
contradictions, and each mistake as one line naming the host entry."""

from __future__ import annotations

import pytest

from probe.errors import AuditFileError, ProfileError
from probe.model import PortRequest, PortState, Protocol
from probe.plan import audit as audit_file
from probe.plan.audit import Expect
from probe.plan.profiles import PortProfile, ProfilePort

TCP, UDP = Protocol.TCP, Protocol.UDP
PHONES = PortProfile(
    name="phones",
    description="test phones",
    ports=(ProfilePort(5061, "sips"),),
    source="built-in",
    udp=(ProfilePort(5060, "sip", protocol=UDP),),
)


def lookup(name: str) -> PortProfile:
    if name == "phones":
        return PHONES
    raise ProfileError(f"unknown profile '{name}'; known profiles: phones")


def host_of(text: str) -> audit_file.AuditHost:
    (host,) = audit_file.parse_audit(text, "site.toml", lookup).hosts
    return host


def test_every_udp_key() -> None:
    host = host_of(
        """
[[hosts]]
target = "pbx.example"
open = [5060]
udp_open = [5060, "ntp"]
udp_blocked = ["161/udp", 53]
udp_filtered = ["U:69"]
udp_refused = [514]
"""
    )
    got = [(e.port, str(e.protocol), e.key, e.service, e.name) for e in host.expectations]
    assert got == [
        (53, "udp", "udp_blocked", "dns", "port 53/udp blocked"),
        (69, "udp", "udp_filtered", "tftp", "port 69/udp filtered"),
        (123, "udp", "udp_open", "ntp", "port 123/udp open"),
        (161, "udp", "udp_blocked", "snmp", "port 161/udp blocked"),
        (514, "udp", "udp_refused", "syslog", "port 514/udp refused"),
        (5060, "tcp", "open", "sip", "port 5060 open"),  # TCP names stay as they were
        (5060, "udp", "udp_open", "sip", "port 5060/udp open"),
    ]
    assert host.expectations[0].port_label == "53/udp" and host.expectations[5].port_label == "5060"
    assert host.requests() == (
        PortRequest(53, "dns", protocol=UDP),
        PortRequest(69, "tftp", protocol=UDP),
        PortRequest(123, "ntp", protocol=UDP),
        PortRequest(161, "snmp", protocol=UDP),
        PortRequest(514, "syslog", protocol=UDP),
        PortRequest(5060, "sip"),
        PortRequest(5060, "sip", protocol=UDP),
    )


def test_the_same_number_over_both_protocols_is_no_contradiction() -> None:
    host = host_of('[[hosts]]\ntarget = "a"\nopen = [53]\nudp_blocked = [53]\n')
    assert [(e.port, e.protocol, e.expect) for e in host.expectations] == [
        (53, TCP, Expect.OPEN),
        (53, UDP, Expect.BLOCKED),
    ]


def test_size_counts_port_and_protocol_pairs() -> None:
    text = '[[hosts]]\ntarget = "a"\nopen = ["1-100"]\nudp_open = ["50-150"]\nudp_blocked = [200]\n'
    checked = audit_file.check_audit(text, "site.toml", lookup)
    assert checked.probes() == 100 + 101 + 1
    assert checked.has(UDP) and checked.has(TCP)
    tcp_only = audit_file.check_audit('[[hosts]]\ntarget = "a"\nopen = [1]\n', "s", lookup)
    assert not tcp_only.has(UDP)
    everything = '[[hosts]]\ntarget = "a"\nudp_blocked = ["all"]\nblocked = ["all"]\n'
    assert audit_file.check_audit(everything, "s", lookup).probes() == 2 * 65535


def test_a_profile_expects_its_tcp_ports_only() -> None:
    host = host_of('[[hosts]]\ntarget = "a"\nprofile = "phones"\nudp_open = [5060]\n')
    assert [(e.name, e.sources) for e in host.expectations] == [
        ("port 5060/udp open", ("udp_open",)),
        ("port 5061 open", ("profile phones",)),
    ]


def test_expect_keys_and_udp_silence() -> None:
    assert [e.key(UDP) for e in Expect] == [
        "udp_open",
        "udp_blocked",
        "udp_filtered",
        "udp_refused",
    ]
    assert [e.key(TCP) for e in Expect] == ["open", "blocked", "filtered", "refused"]
    held = {e: {s for s in PortState if e.holds(s, UDP)} for e in Expect}
    assert held[Expect.OPEN] == {PortState.OPEN}
    assert held[Expect.BLOCKED] == set(PortState) - {PortState.OPEN}
    assert held[Expect.FILTERED] == {PortState.FILTERED, PortState.OPEN_FILTERED}
    assert held[Expect.REFUSED] == {PortState.REFUSED}
    assert not Expect.FILTERED.holds(PortState.OPEN_FILTERED)  # TCP as before


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            'udp_open = [53]\nudp_blocked = ["50-60"]\n',
            ["port 53/udp is expected both open (udp_open) and blocked (udp_blocked)"],
        ),
        (
            "udp_filtered = [69]\nudp_refused = [69]\n",
            ["port 69/udp is expected both filtered (udp_filtered) and refused (udp_refused)"],
        ),
        (
            'open = ["53/udp"]\n',
            ["'open':", "'53/udp' is UDP, but 'open' lists TCP ports", "udp_open"],
        ),
        ('udp_open = ["53/tcp"]\n', ["'udp_open':", "'53/tcp' is TCP, but 'udp_open' lists UDP"]),
        ('udp_blocked = ["T:22"]\n', ["'T:22' is TCP", "put it under 'blocked'"]),
        ('udp_open = ["70000/udp"]\n', ["'udp_open': port 70000 is out of range"]),
        ('udp_open = ["53/sctp"]\n', ["not 'sctp'"]),
        ('udp_open = ["ssh"]\n', ["unknown UDP service name 'ssh'", "ssh is TCP port 22"]),
        ("udp_open = [0]\n", ["'udp_open' has port 0, out of range"]),
        ('udp_open = "53"\n', ["'udp_open' must be a list of ports"]),
        ("udp_opne = [53]\n", ["unknown key 'udp_opne'", "udp_open, udp_blocked"]),
        ("udp_open = []\n", ["expects nothing", "udp_open"]),
    ],
)
def test_udp_mistakes(text: str, words: list[str]) -> None:
    with pytest.raises(AuditFileError) as info:
        audit_file.parse_audit('[[hosts]]\ntarget = "a"\n' + text, "site.toml", lookup)
    message = str(info.value)
    assert message.startswith("audit file site.toml, hosts entry 1 (a)"), message
    for word in words:
        assert word in message, message
