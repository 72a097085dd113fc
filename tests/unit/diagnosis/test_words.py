"""words.py: port lists in words."""

from __future__ import annotations

import operator
import random
from collections.abc import Callable

import pytest

from probe.diagnosis.words import (
    endpoints,
    group,
    numbers,
    port_list,
    ports_of,
    ports_words,
    split,
    split_endpoints,
    split_list,
    split_words,
    udp_list,
)
from probe.model import PortResult, Protocol
from tests.conftest import Factories

# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ([80], "80"),
        ([8443, 82], "82, 8443"),
        ([1, 2, 3, 5, 7, 8], "1-3, 5, 7-8"),
        (list(range(1, 30, 2)), "1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, and 3 more"),
    ],
)
def test_port_list(ports: list[int], words: str) -> None:
    assert port_list(ports) == words


def test_port_list_of_a_full_range_scan() -> None:
    refused = [p for p in range(1, 65536) if p not in (22, 80, 82, 8081, 8082)]
    assert port_list(refused, limit=3) == "1-21, 23-79, 81, and 65451 more"
    assert port_list(refused) == "1-21, 23-79, 81, 83-8080, 8083-65535"
    assert port_list([65535, *range(1, 65535)]) == "1-65535"


def test_port_list_agrees_with_walking_the_runs() -> None:
    rng = random.Random(7)
    for _ in range(200):
        ports = rng.sample(range(1, 200), rng.randint(1, 150))
        runs: list[list[int]] = []
        for p in sorted(ports):
            if runs and runs[-1][-1] == p - 1:
                runs[-1].append(p)
            else:
                runs.append([p])
        limit = rng.randint(1, 15)
        words = [str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs[:limit]]
        rest = sum(len(r) for r in runs[limit:])
        expected = ", ".join(words) + (f", and {rest} more" if rest else "")
        assert port_list(ports, limit=limit) == expected


def _mixed(n: int, seed: int) -> list[PortResult]:
    """Ports in a shuffled order, of both transports (53/tcp and 53/udp both), several facts."""
    rnd = random.Random(seed)
    ps = []
    for port in rnd.sample(range(1, 400), n):
        protocol = rnd.choice(("tcp", "tcp", "udp"))
        state = rnd.choice(("refused", "refused", "filtered", "open"))
        ps.append(Factories.port(port, state, ttl=rnd.choice((63, 64)), protocol=protocol))
        if rnd.random() < 0.2:
            ps.append(Factories.port(port, state, protocol="udp" if protocol == "tcp" else "tcp"))
    return ps


def _group_by_walking(
    ps: list[PortResult], key: Callable[[PortResult], object]
) -> list[list[PortResult]]:
    groups: dict[object, list[PortResult]] = {}
    for p in sorted(ps, key=lambda p: p.port):
        groups.setdefault(key(p), []).append(p)
    return list(groups.values())


@pytest.mark.parametrize("seed", range(20))
def test_group_and_the_split_words_agree_with_walking_the_ports(seed: int) -> None:
    ps = _mixed(random.Random(seed).randint(0, 60), seed)
    for key in (
        operator.attrgetter("responder", "ttl"),
        operator.attrgetter("state"),
        lambda p: (p.tries, p.protocol),
    ):
        assert group(ps, key) == _group_by_walking(ps, key)
    assert group(iter(ps), operator.attrgetter("state")) == group(ps, lambda p: p.state)
    assert numbers(ps) == tuple(sorted({p.port for p in ps}))
    tcp = tuple(sorted({p.port for p in ps if p.protocol is not Protocol.UDP}))
    udp = tuple(sorted({p.port for p in ps if p.protocol is Protocol.UDP}))
    assert split(ps) == split(iter(ps)) == (tcp, udp)
    parts = ([port_list(tcp)] if tcp else []) + ([udp_list(udp)] if udp else [])
    assert ports_of(ps) == split_list(split(ps)) == " and ".join(parts)
    assert ports_words(ps) == split_words(split(ps))
    assert ports_words(ps).endswith(" and ".join(parts))
    assert endpoints(ps) == split_endpoints(split(ps))


def test_a_full_range_scans_ports_in_words() -> None:
    ps = [Factories.port(n, "refused") for n in range(1, 65536) if n not in (80, 443, 8443)]
    assert ports_words(ps) == "ports 1-79, 81-442, 444-8442, 8444-65535"
    assert [len(g) for g in group(ps, operator.attrgetter("responder", "ttl"))] == [65532]
    assert numbers(reversed(ps)) == numbers(ps)
