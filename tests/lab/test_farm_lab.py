"""A large check in the lab: a /22 of the farm (every address answering, 80 open, 22 closed,
8443 dropped), in JSON and as the text summary; the counts must be
the farm's exactly. The /16 is for the benchmark (benchmarks/farm_memory.py), not for CI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from .farm import FARM_DROPPED, farm
from .netlab import Lab

BLOCK = "198.19.4.0/22"  # 1022 addresses
HOSTS = 1022
PORTS = f"22,80,{FARM_DROPPED}"
FAST = ("--tries", "2", "--timeout", "0.5")


@pytest.fixture(scope="module")
def farmed(lab: Lab) -> Iterator[Lab]:
    with farm(lab):
        yield lab


def test_a_block_of_the_farm_in_json(farmed: Lab) -> None:
    code, data = farmed.probe_json("check", BLOCK, "-p", PORTS, "--yes", *FAST, timeout=120)
    targets = data["targets"]
    assert code == 1 and not data["interrupted"]
    assert len(targets) == HOSTS and len({t["address"] for t in targets}) == HOSTS
    states = Counter((p["port"], p["state"]) for t in targets for p in t["ports"])
    assert states == {
        (22, "refused"): HOSTS,
        (80, "open"): HOSTS,
        (FARM_DROPPED, "filtered"): HOSTS,
    }
    codes = Counter(f["code"] for t in targets for f in t["findings"])
    assert codes["port-refused"] == HOSTS and codes["port-filtered"] == HOSTS
    found = data["discovery"]  # host discovery ran (1022 addresses): every one is alive
    assert found["alive"] == HOSTS and found["skipped"] == 0


def test_a_block_of_the_farm_summarised(farmed: Lab) -> None:
    proc = farmed.run_probe("check", BLOCK, "-p", PORTS, "--yes", *FAST, timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stderr[-2000:]
    head = f"{BLOCK}: 1,022 addresses probed: 1,022 up (answered something), 0 silent"
    assert head in lines
    table = {line.split()[0]: line.split()[2:] for line in lines if line.startswith("    ")}
    assert table["22"] == ["0", "1,022", "0"] and table["80"] == ["1,022", "0", "0"]
    assert table[str(FARM_DROPPED)] == ["0", "0", "1,022"]
    assert not any(line.startswith("198.19.4.") and "/" not in line for line in lines)  # -v
    opened = farmed.run_probe("check", BLOCK, "-p", PORTS, "--yes", "--open", *FAST, timeout=120)
    listed = [x for x in opened.stdout.splitlines() if x.startswith("198.19.") and "/" not in x]
    assert len(listed) == HOSTS and listed[0] == "198.19.4.1  80 http"
