"""The contract every Engine keeps (base.py), checked on each implementation with the same
cases: an open port, a closed one, a silent one (no answer after every try), the same with
bare ACKs (host discovery: answered by any live host, listening or not), cancel in the
middle of a scan, scans from several threads at once on one engine (each gets exactly its
own evidence, even for the same port), a Ctrl-C in a scan (the engine still works after
it), and close() twice.

The fake engine runs here with a script. The raw and connect engines run against real
listeners on the loopback of a network namespace this test makes for itself (198.18.99.1 and
::1 on its ``lo``, an nftables rule dropping the silent ports; nothing leaves the namespace),
in a child process started inside it (this file, run as a script); the child prints what
each case gave and the tests below judge it. Both need root to build the namespace (and raw
sockets): without it they are skipped, unless PROBE_REQUIRE_LAB=1 asks for a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from probe.engine.base import Engine, EngineConfig, EngineRun, Job
from probe.engine.fake import FakeEngine
from probe.model import AnswerKind

V4, V6 = "198.18.99.1", "::1"
OPEN, CLOSED, SILENT = 8080, 8081, 8083
OWN_CLOSED = 9000  # scan k of the concurrent case also probes OWN_CLOSED + k (closed)
SILENT_RANGE = (20000, 20399)  # dropped too: the cancelled scan's long tail
QUICK = EngineConfig(tries=2, timeout=0.2, min_timeout=0.2)
SLOW = EngineConfig(tries=3, timeout=2.0, min_timeout=2.0)
CANCEL_AFTER = 0.3  # seconds
THREADS = 4
NFT_RULES = f"""table inet contract {{
  chain input {{
    type filter hook input priority 0;
    tcp dport {{ {SILENT}, {SILENT_RANGE[0]}-{SILENT_RANGE[1]} }} drop
  }}
}}
"""


# --------------------------------------------------------------------------- the cases


def record(run: EngineRun, jobs: Sequence[Job]) -> dict[str, Any]:
    return {
        "jobs": [[j.address, j.port] for j in jobs],
        "interrupted": run.interrupted,
        "evidence": [
            {
                "address": e.address,
                "port": e.port,
                "answer": str(e.answer),
                "tries": e.tries,
                "method": str(e.method),
                "responder": e.responder,
                "ttl": e.ttl,
            }
            for e in run.evidence
        ],
    }


def run_cases(engine: Engine, hosts: Sequence[str]) -> dict[str, Any]:
    """Every case, on one engine, then close() twice: what each gave, as plain data."""
    out: dict[str, Any] = {"method": str(engine.method), "hosts": list(hosts)}
    jobs = [Job(h, p) for h in hosts for p in (OPEN, CLOSED, SILENT)]
    out["basic"] = record(engine.scan(jobs, QUICK), jobs)
    acks = [Job(h, p, ack=True) for h in hosts for p in (OPEN, CLOSED, SILENT)]
    out["ack"] = record(engine.scan(acks, QUICK), acks)

    cancel = threading.Event()
    cancelled_at: list[float] = []
    tail = [Job(V4, p) for p in range(SILENT_RANGE[0], SILENT_RANGE[1] + 1)]
    jobs = [Job(V4, OPEN), Job(V4, CLOSED), *tail]
    timer = threading.Timer(
        CANCEL_AFTER, lambda: (cancelled_at.append(time.monotonic()), cancel.set())
    )
    timer.start()
    run = engine.scan(jobs, SLOW, cancel=cancel)
    out["cancel"] = record(run, jobs) | {"late": time.monotonic() - cancelled_at[0]}
    timer.join()

    barrier = threading.Barrier(THREADS)
    runs: dict[int, dict[str, Any]] = {}

    def one(k: int) -> None:
        mine = [Job(V4, OPEN), Job(V4, CLOSED), Job(V4, SILENT), Job(V4, OWN_CLOSED + k)]
        barrier.wait()
        runs[k] = record(engine.scan(mine, QUICK), mine)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    out["concurrent"] = [runs.get(k) for k in range(THREADS)]
    out["ctrl_c"] = ctrl_c(engine)
    engine.close()
    engine.close()
    out["closed_twice"] = True
    return out


def ctrl_c(engine: Engine) -> dict[str, Any]:
    """A KeyboardInterrupt in the middle of a scan (this must be the main thread): the scan
    may end interrupted or let it through, and the engine scans on afterwards."""
    jobs = [Job(V4, OPEN), *(Job(V4, p) for p in range(SILENT_RANGE[0], SILENT_RANGE[1] + 1))]
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(CANCEL_AFTER, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        try:
            got: dict[str, Any] = {"interrupted": engine.scan(jobs, SLOW).interrupted}
        except KeyboardInterrupt:
            got = {"interrupted": True}
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    after = [Job(V4, OPEN), Job(V4, CLOSED)]
    return got | {"after": record(engine.scan(after, QUICK), after)}


def fake_engine() -> FakeEngine:
    closed = {OWN_CLOSED + k: AnswerKind.RST for k in range(THREADS)}
    script = {OPEN: AnswerKind.SYN_ACK, CLOSED: AnswerKind.RST, **closed}
    return FakeEngine(script, ttl=64, delay=0.05)


def _child(kind: str) -> None:
    """In the namespace: listeners on the open port, the engine, the cases, JSON out."""
    import socket

    listeners = [socket.create_server((V4, OPEN), backlog=128)]
    hosts = [V4]
    try:
        listeners.append(socket.create_server((V6, OPEN), family=socket.AF_INET6, backlog=128))
        hosts.append(V6)
    except OSError:  # no IPv6 in this kernel: the IPv4 cases still run
        pass
    engine: Engine
    if kind == "raw":
        from probe.engine.raw import RawEngine

        engine = RawEngine()
    else:
        from probe.engine.connect import ConnectEngine

        engine = ConnectEngine()
    print(json.dumps(run_cases(engine, hosts)))


# --------------------------------------------------------------------------- running them


def _without_root() -> str | None:
    """Why the real engines cannot run here, or None when they can."""
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if os.geteuid() == 0 and not missing:
        return None
    return "needs root, ip and nft" + (f" (missing: {', '.join(missing)})" if missing else "")


def _ip(*args: str, stdin: str | None = None) -> None:
    subprocess.run(
        ["ip", *args], check=True, capture_output=True, timeout=10, input=stdin, text=True
    )


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, dict[str, Any]]]:
    """Every engine's cases. The real engines run each in a child process of its own inside
    a fresh namespace of its own (their listeners would share one port otherwise); the fake
    runs here meanwhile."""
    kinds = () if _without_root() else ("raw", "connect")
    spaces = {kind: f"probe-contract-{kind}-{os.getpid()}" for kind in kinds}
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    try:
        children = {}
        for kind, ns in spaces.items():
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{V4}/32", "dev", "lo")
            _ip("netns", "exec", ns, "nft", "-f", "-", stdin=NFT_RULES)
            children[kind] = subprocess.Popen(
                ["ip", "netns", "exec", ns, sys.executable, __file__, kind],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        results = {"fake": run_cases(fake_engine(), [V4, V6])}
        for kind, child in children.items():
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, f"{kind}: {err}"
            results[kind] = json.loads(out)
    finally:
        for ns in spaces.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    yield results


@pytest.fixture(params=["fake", "raw", "connect"])
def cases(request: pytest.FixtureRequest, outcomes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if request.param not in outcomes:
        why = _without_root()
        if os.environ.get("PROBE_REQUIRE_LAB") == "1":
            pytest.fail(f"{request.param} engine: {why}")
        pytest.skip(f"{request.param} engine: {why}")
    return outcomes[request.param]


# --------------------------------------------------------------------------- the contract

EXPECTED = {OPEN: "syn-ack", CLOSED: "rst", SILENT: "none"}


def answers(run: dict[str, Any]) -> dict[tuple[str, int], str]:
    return {(e["address"], e["port"]): e["answer"] for e in run["evidence"]}


def test_open_closed_and_silent_ports(cases: dict[str, Any]) -> None:
    run = cases["basic"]
    assert not run["interrupted"]
    assert len(run["evidence"]) == len(run["jobs"])
    got = answers(run)
    assert got == {(h, p): EXPECTED[p] for h in cases["hosts"] for p in EXPECTED}
    for e in run["evidence"]:
        assert e["method"] == cases["method"]
        if e["answer"] == "none":
            assert e["tries"] == QUICK.tries  # silence only after every try
        elif cases["method"] == "syn":
            assert (e["responder"], e["ttl"], e["tries"]) == (e["address"], 64, 1)


def test_a_bare_ack_is_answered_by_any_live_host(cases: dict[str, Any]) -> None:
    # Host discovery's ACK: the raw engine's gets a RST whether or not the port listens;
    # connect() cannot send one and tries a connection instead, answered as a SYN would be.
    got = answers(cases["ack"])
    for host in cases["hosts"]:
        assert got[(host, OPEN)] in ("rst", "syn-ack") and got[(host, CLOSED)] == "rst", got
        assert got[(host, SILENT)] == "none"


def test_cancel_mid_scan_returns_what_was_measured(cases: dict[str, Any]) -> None:
    run = cases["cancel"]
    assert run["interrupted"]
    assert run["late"] < 0.3  # returned soon after cancel was set
    got = answers(run)
    assert got[V4, OPEN] == "syn-ack" and got[V4, CLOSED] == "rst"  # finished before it
    assert len(run["evidence"]) < len(run["jobs"])  # the rest is absent, not "none"
    assert set(got) <= {tuple(j) for j in run["jobs"]}
    assert "none" not in got.values()


def test_concurrent_scans_each_get_exactly_their_own_evidence(cases: dict[str, Any]) -> None:
    for k, run in enumerate(cases["concurrent"]):
        assert run is not None, f"scan {k} did not finish"
        assert not run["interrupted"]
        keys = [(e["address"], e["port"]) for e in run["evidence"]]
        assert sorted(keys) == sorted(tuple(j) for j in run["jobs"])  # no more, no less
        expected = {**EXPECTED, OWN_CLOSED + k: "rst"}
        assert answers(run) == {(V4, p): a for p, a in expected.items()}


def test_ctrl_c_leaves_the_engine_usable(cases: dict[str, Any]) -> None:
    got = cases["ctrl_c"]
    assert got["interrupted"]
    assert answers(got["after"]) == {(V4, OPEN): "syn-ack", (V4, CLOSED): "rst"}


def test_close_twice(cases: dict[str, Any]) -> None:
    assert cases["closed_twice"]


if __name__ == "__main__":
    _child(sys.argv[1])
