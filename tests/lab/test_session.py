"""One Session, many runs at once: 8 checks started together from 8 threads through one
session (one raw engine, one worker pool) against lab hosts. Each run must get exactly its
own ports with the states the lab gives them — none of another run's answers, none lost —
even where two runs probe the same address and port at the same moment."""

from __future__ import annotations

import json
from typing import Any

from . import topology as t
from .netlab import Lab

# Runs in the client namespace: 8 checks through one Session, released together by a
# barrier; prints one JSON object per run (its ports' states and responders) and the
# number of distinct engine objects the runs used.
SCRIPT = r"""
import json, sys, threading
from probe.model import PortRequest
from probe.plan.targets import parse_target
from probe.session.core import Session
from probe.session.options import CheckOptions

runs = json.loads(sys.argv[1])
out = [None] * len(runs)
engines = set()
with Session() as session:
    gate = threading.Barrier(len(runs))

    def one(i, target, ports):
        opts = CheckOptions(ports=tuple(PortRequest(p) for p in ports), tries=2, ping=False)
        engines.add(id(session.engine_for(False).engine))
        gate.wait(10)
        report = session.check(parse_target(target), opts)
        out[i] = {
            "interrupted": report.interrupted,
            "mode": str(report.mode),
            "targets": [
                {
                    "address": r.address,
                    "ports": [[p.port, str(p.state), p.responder] for p in r.ports],
                }
                for r in report.targets
            ],
        }

    threads = [threading.Thread(target=one, args=(i, *run)) for i, run in enumerate(runs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
print(json.dumps({"runs": out, "engines": len(engines)}))
"""

# (target, ports, the state each port must have) — two runs share SRV_V4:80 and two share
# the NAT address's ports, so answers to one run's probes also reach the others' sockets.
RUNS: list[tuple[str, dict[int, str]]] = [
    (t.SRV_V4, {t.HTTP_PORT: "open", t.CLOSED_PORT: "refused", t.DROPPED_PORT: "filtered"}),
    (t.SRV_V4, {t.HTTP_PORT: "open", t.ADMIN_PROHIBITED_PORT: "rejected"}),
    (t.SRV_V6, {t.HTTP_PORT: "open", t.SSH_PORT: "open", t.CLOSED_PORT: "refused"}),
    (t.NOPING_V4, {t.HTTP_PORT: "open", t.CLOSED_PORT: "refused"}),
    (t.DUAL_V6, {t.HTTP_PORT: "filtered", t.CLOSED_PORT: "refused"}),
    (t.NAT_PUBLIC_V4, {t.CAM_HTTP_PORT: "open", t.CAM_UNFORWARDED_PORT: "refused"}),
    (t.NAT_PUBLIC_V4, {t.CAM_UNFORWARDED_PORT: "refused"}),
    (t.UNREACHABLE_HOST_V4, {t.HTTP_PORT: "unreachable"}),
]


def test_eight_concurrent_checks_through_one_session_get_their_own_answers(lab: Lab) -> None:
    runs = [[target, sorted(states)] for target, states in RUNS]
    done = lab.python(lab.client_ns, SCRIPT, json.dumps(runs), timeout=90)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["engines"] == 1  # every run used the session's one raw engine
    for (target, states), got in zip(RUNS, result["runs"], strict=True):
        assert got is not None, f"the run for {target} did not finish"
        assert not got["interrupted"] and got["mode"] == "syn"
        (report,) = got["targets"]
        assert report["address"] == target
        seen = {port: state for port, state, _ in report["ports"]}
        assert seen == {port: state for port, state in states.items()}, target
        for port, state, responder in report["ports"]:
            if state in ("open", "refused") and target != t.NAT_PUBLIC_V4:
                assert responder == target, (target, port, responder)
