"""words.py: port lists in words."""

from __future__ import annotations

import random

import pytest

from probe.diagnosis.words import port_list

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
