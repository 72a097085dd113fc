"""probe's UDP scan against nmap's (-sU -T4), in the namespace lab. Run as root from the repo
root:

    python benchmarks/udp_vs_nmap.py [--runs N] [--ports 1-1024] [--wait-ports 1-120]

The target is the lab's srv host: real UDP services inside the range (chronyd on 123, snmpd
on 161), one port its firewall drops for this benchmark (BENCH_DROPPED), every other port
closed — and srv keeps a real Linux host's ICMP rate limit (a burst of about six port
unreachables, then one a second to each client), which is what makes UDP scans hard. The lab
knows the truth of every port, so for each tool the script prints:

- decided: ports given a definite state (open, closed/refused, rejected/filtered by ICMP);
  undecided: open|filtered;
- right: decided ports whose state is the truth (the dropped port is right as open|filtered);
- wrong: decided ports whose state is not the truth (the goal: none, for both tools);
- time: the run's wall time.

Then probe with --wait-for-icmp over ``--wait-ports`` (a smaller range: at one probe a second
the whole range would take longer than a benchmark should), to show that the paced pass
decides every closed port at the host's measured rate; and the rate itself, measured from
that run (closed ports decided per second of the paced pass).

Runs are interleaved (probe, nmap, probe, nmap...) on the same target; figures are medians.
Every address is in 198.18.0.0/15 inside the lab; every loop is bounded by --runs (at most
10). A run that fails stops the benchmark (benchmarks/common.py): no figures from a failed run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import checked_probe, fail, required, timed  # noqa: E402
from tests.lab import topology as t  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

BENCH_DROPPED = 500  # srv's firewall drops this UDP port for the benchmark (IKE's, as it happens)
OPEN = {t.NTP_PORT, t.SNMP_PORT}
RUN_LIMIT = 1800.0  # seconds: past this a run is unfinished (inf), not waited for

# nmap's words -> probe's, for comparing with the truth
NMAP = {
    "open": "open",
    "closed": "refused",
    "filtered": "rejected",
    "open|filtered": "open|filtered",
}


@dataclass
class Score:
    decided: int
    right: int
    wrong: int
    undecided: int
    seconds: float

    def row(self, name: str) -> str:
        return (
            f"{name:<24} decided {self.decided:5d}  right {self.right:5d}  wrong {self.wrong:3d}  "
            f"undecided {self.undecided:5d}  time {self.seconds:7.1f} s"
        )


def truth(port: int) -> str:
    if port in OPEN:
        return "open"
    if port == BENCH_DROPPED:
        return "open|filtered"
    return "refused"


def score(states: dict[int, str], ports: list[int], seconds: float) -> Score:
    missing = [p for p in ports if states.get(p, "?") == "?"]
    if missing:
        fail(f"{len(missing)} ports missing from a run's output (first: {missing[0]})")
    decided = [p for p in ports if states[p] != "open|filtered"]
    right = sum(1 for p in ports if states[p] == truth(p))
    wrong = sum(1 for p in decided if states[p] != truth(p))
    return Score(len(decided), right, wrong, len(ports) - len(decided), seconds)


def probe_states(stdout: str) -> dict[int, str]:
    report = json.loads(stdout)
    return {p["port"]: p["state"] for x in report["targets"] for p in x.get("ports", ())}


def nmap_states(xml_text: str, ports: list[int]) -> dict[int, str]:
    """Every port's state from nmap's XML: the ports listed one by one, and the ports folded
    into <extraports>, whose <extrareasons ports="1-3,9"> lists them (nmap 7.9x)."""
    root = ET.fromstring(xml_text)
    listed: dict[int, str] = {}
    for node in root.iter("extraports"):
        state = node.get("state", "")
        for reasons in node.iter("extrareasons"):
            for part in reasons.get("ports", "").split(","):
                if part:
                    lo, _, hi = part.partition("-")
                    for port in range(int(lo), int(hi or lo) + 1):
                        listed[port] = state
    for node in root.iter("port"):
        state_node = node.find("state")
        if state_node is not None:
            listed[int(node.get("portid", "0"))] = state_node.get("state", "")
    return {p: NMAP.get(listed.get(p, "missing"), "?") for p in ports}


def port_range(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    first, last = int(lo), int(hi or lo)
    if not 1 <= first <= last <= 65535:
        fail(f"bad port range {spec}")
    return list(range(first, last + 1))


def drop_one_port(lab: Lab) -> None:
    ruleset = f"""
table inet udpbench {{
  chain input {{
    type filter hook input priority -10;
    udp dport {BENCH_DROPPED} drop
  }}
}}
"""
    proc = lab.exec(t.ns_name("srv"), "nft", "-f", "-", input=ruleset)
    if proc.returncode != 0:
        fail(f"nft on srv: {proc.stderr.strip()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, choices=range(1, 11), metavar="N")
    ap.add_argument("--ports", default="1-1024")
    ap.add_argument("--wait-ports", default="1-120")
    args = ap.parse_args()
    ports, wait_ports = port_range(args.ports), port_range(args.wait_ports)
    spec = f"{ports[0]}-{ports[-1]}"

    lab = Lab()
    probe = checked_probe(lab.probe_command())
    nmap = required("nmap")
    client = t.ns_name("client")
    ns = ["ip", "netns", "exec", client]
    lab.setup()
    try:
        drop_one_port(lab)
        ours: list[Score] = []
        theirs: list[Score] = []
        for _ in range(args.runs):
            time.sleep(2)  # srv's ICMP bucket refills between runs (burst of 6, 1/s)
            argv = [*ns, *probe, "check", t.SRV_V4, "-p", f"{spec}/udp", "--json", "--no-ping"]
            seconds, out = timed([*argv, "--yes"], ok=(0, 1), limit=RUN_LIMIT)
            ours.append(score(probe_states(out), ports, seconds))
            time.sleep(2)
            with tempfile.NamedTemporaryFile(suffix=".xml") as xml:
                cmd = [*ns, nmap, "-sU", "-T4", "-n", "-Pn", "-p", spec, "-oX", xml.name, t.SRV_V4]
                seconds, _ = timed(cmd, ok=(0,), limit=RUN_LIMIT)
                theirs.append(score(nmap_states(Path(xml.name).read_text(), ports), ports, seconds))
        time.sleep(7)  # a full ICMP bucket, as a fresh client would find it
        wspec = f"{wait_ports[0]}-{wait_ports[-1]}/udp"
        argv = [*ns, *probe, "check", t.SRV_V4, "-p", wspec, "--json", "--no-ping", "--yes"]
        seconds, out = timed([*argv, "--wait-for-icmp"], ok=(0, 1), limit=RUN_LIMIT)
        waited = score(probe_states(out), wait_ports, seconds)
    finally:
        lab.teardown()

    def median(scores: list[Score]) -> Score:
        return Score(
            int(statistics.median(s.decided for s in scores)),
            int(statistics.median(s.right for s in scores)),
            max(s.wrong for s in scores),
            int(statistics.median(s.undecided for s in scores)),
            statistics.median(s.seconds for s in scores),
        )

    p, n = median(ours), median(theirs)
    print(f"UDP ports {spec} of srv ({len(ports)} ports: {len(OPEN)} open, 1 dropped, rest closed)")
    print(f"runs: {args.runs} each, interleaved; medians (wrong: the worst run)")
    print(p.row("probe check"))
    print(n.row("nmap -sU -T4"))
    ratio = p.seconds / n.seconds if n.seconds else float("inf")
    print(f"decided: probe {p.decided} vs nmap {n.decided}; time ratio probe/nmap {ratio:.2f}")
    print(waited.row(f"probe --wait-for-icmp {wait_ports[0]}-{wait_ports[-1]}"))
    closed = sum(1 for q in wait_ports if truth(q) == "refused")
    print(
        f"--wait-for-icmp decided {waited.decided} of {len(wait_ports)} ports ({closed} closed) "
        f"in {waited.seconds:.1f} s: {waited.decided / waited.seconds:.2f} ports decided a second"
    )
    if p.wrong or waited.wrong:
        fail(f"probe decided {p.wrong + waited.wrong} ports wrongly")


if __name__ == "__main__":
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        fail("the lab needs root")
    main()
