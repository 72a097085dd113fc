"""Records made through their slots' setters (records.py) are the records __init__ makes:
equal, same hash and repr, of the class itself; and the bulk makers built on them (a port
list's requests, an address's jobs) give what the plain constructors give."""

from __future__ import annotations

from probe.engine.base import Job
from probe.model import PortRequest, Protocol
from probe.plan.ports import parse_ports
from probe.records import slot_setters
from probe.session import udp
from probe.session.options import CheckOptions


def test_a_record_set_through_its_slots_is_the_one_init_makes() -> None:
    setters = slot_setters(PortRequest)
    assert len(setters) == 4
    made: PortRequest = object.__new__(PortRequest)
    for setter, value in zip(setters, (443, "https", False, Protocol.UDP), strict=True):
        setter(made, value)
    plain = PortRequest(443, "https", asked=False, protocol=Protocol.UDP)
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert type(made) is PortRequest


def test_a_port_lists_requests_are_the_plain_ones() -> None:
    for spec in ("1-65535", "22,80,443", "53,53/udp,161/udp,1000-1010"):
        got = parse_ports(spec)
        plain = tuple(PortRequest(r.port, r.service, r.asked, r.protocol) for r in got)
        assert got == plain and all(type(r) is PortRequest for r in got)
    assert len(parse_ports("1-65535")) == 65535


def test_an_addresss_tcp_jobs_are_named_tuples_like_any_other() -> None:
    made = udp.jobs("198.18.1.10", [(p, Protocol.TCP) for p in range(1, 200)], CheckOptions(()))
    assert made == [Job("198.18.1.10", p) for p in range(1, 200)]
    assert all(type(j) is Job for j in made) and made[5].port == 6 and made[5].ttl == 64
