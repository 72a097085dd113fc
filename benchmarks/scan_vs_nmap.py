"""probe's SYN engine against nmap's SYN scan, in the namespace lab. Run as root from the
repo root:

    python benchmarks/scan_vs_nmap.py [--runs N] [--cases 1,2,3]

Cases (interleaved A B A B on the same targets; the median wall-time ratio probe/nmap and
whether the states agree port for port — nmap open = open, closed = refused, filtered =
filtered/rejected/unreachable):

1. all 65535 ports of one lab host with a few open and a few silently dropped ports;
2. 64 lab hosts x 100 ports (64 addresses on one namespace, two open and one dropped port);
3. the host of case 1 through a path that loses 20% of packets each way (nftables
   ``numgen random``), ports 1-10000 (nmap -T4 needs about 20 s per 1000 ports on this path:
   the full range would take it over 20 minutes per run). Both tools get the same retry
   budget: nmap -T4 retransmits up to 6 times, so probe runs with --tries 7. Goal: no open
   port reported as filtered. States cannot agree exactly: a closed port whose every try (or
   every answer) was lost is "filtered" to either tool, about 0.36^7 of the ports each, on
   different ports; the script counts those apart from real disagreements.

Also prints probe's peak RSS for case 1 (goal: under 200 MB). Goal for cases 1 and 2: ratio
at most 1.0 with identical states. Every address is in 198.18.0.0/15 inside the lab; every
loop is bounded by --runs (at most 20). Before the lab is built, probe must answer
``--version`` and nmap and /usr/bin/time must be there; a run that fails stops the benchmark
with a non-zero status (``benchmarks/common.py``): no figures from a failed run.
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

from benchmarks.common import checked_probe, required, timed  # noqa: E402
from tests.lab import topology as t  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

MANY_NET = "198.18.8"  # 198.18.8.1-64: case 2's hosts, all on the srv namespace
LOSSY = "198.18.9.10"  # case 3: srv again, behind a router path that drops 20% each way
MANY_PORTS = "8000-8099"
MANY_OPEN = (8081, 8082)
MANY_DROPPED = 8083
LOSSY_PORTS = "1-10000"

NMAP_STATE = {
    "open": {"open"},
    "closed": {"refused"},
    "filtered": {"filtered", "rejected", "unreachable"},
}


@dataclass
class Case:
    name: str
    targets: list[str]
    ports: str
    probe_extra: tuple[str, ...] = ()
    nmap_extra: tuple[str, ...] = ()
    lossy: bool = False


def sh(lab: Lab, ns: str, cmd: str) -> None:
    proc = lab.exec(ns, "sh", "-c", cmd, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{ns}: {cmd}: {proc.stderr.strip()}")


def extend_lab(lab: Lab) -> None:
    """Case 2's 64 addresses and case 3's lossy address, all answered by srv."""
    router, srv = t.ns_name("router"), t.ns_name("srv")
    addrs = "; ".join(f"ip addr add {MANY_NET}.{n}/32 dev lo" for n in range(1, 65))
    sh(lab, srv, f"{addrs}; ip addr add {LOSSY}/32 dev lo")
    sh(
        lab,
        router,
        f"ip route add {MANY_NET}.0/24 via {t.SRV_V4}; ip route add {LOSSY}/32 via {t.SRV_V4}",
    )
    rules = f"""
table inet bench {{
  chain benchdrop {{
    type filter hook input priority -10;
    ip daddr {MANY_NET}.0/24 tcp dport {MANY_DROPPED} drop
  }}
}}
"""
    lossy = f"""
table inet benchloss {{
  chain benchloss {{
    type filter hook forward priority -10;
    ip daddr {LOSSY} numgen random mod 100 < 20 drop
    ip saddr {LOSSY} numgen random mod 100 < 20 drop
  }}
}}
"""
    for ns, ruleset in ((srv, rules), (router, lossy)):
        proc = lab.exec(ns, "nft", "-f", "-", input=ruleset)
        if proc.returncode != 0:
            raise RuntimeError(f"{ns}: nft: {proc.stderr.strip()}")
    # Two listeners on every address of srv for case 2 (bounded lifetime: 30 minutes).
    code = (
        "import socket, time\n"
        "ss = []\n"
        f"for port in {MANY_OPEN}:\n"
        "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    s.bind(('0.0.0.0', port)); s.listen(4096); ss.append(s)\n"
        "time.sleep(1800)\n"
    )
    lab.bench_listener = subprocess.Popen(  # type: ignore[attr-defined]
        ["ip", "netns", "exec", srv, sys.executable, "-c", code]
    )
    time.sleep(0.5)


RUN_LIMIT = 900.0  # seconds: a run past this is recorded as unfinished (inf), not waited for


def probe_states(stdout: str) -> dict[tuple[str, int], str]:
    report = json.loads(stdout)
    return {(x["address"], p["port"]): p["state"] for x in report["targets"] for p in x["ports"]}


def nmap_states(xml_text: str, ports: list[int]) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for host in ET.fromstring(xml_text).iter("host"):
        addr = host.find("address")
        assert addr is not None
        ip = addr.get("addr", "")
        default = "filtered"
        listed: dict[int, str] = {}
        for node in host.iter("extraports"):
            default = node.get("state", default)
        for node in host.iter("port"):
            state = node.find("state")
            assert state is not None
            listed[int(node.get("portid", "0"))] = state.get("state", "")
        for port in ports:
            out[(ip, port)] = listed.get(port, default)
    return out


def port_list(spec: str) -> list[int]:
    if spec == "all":
        return list(range(1, 65536))
    lo, hi = spec.split("-")
    return list(range(int(lo), int(hi) + 1))


@dataclass
class Agreement:
    agree: int = 0
    disagree: int = 0  # of which:
    lost_closed: int = 0  # closed to one tool, filtered to the other: every try lost
    open_lost: int = 0  # open to nmap, filtered to probe: the case-3 goal is none


def compare(ours: dict[tuple[str, int], str], theirs: dict[tuple[str, int], str]) -> Agreement:
    out = Agreement()
    for key, nstate in theirs.items():
        pstate = ours.get(key, "missing")
        if pstate in NMAP_STATE.get(nstate, set()):
            out.agree += 1
            continue
        out.disagree += 1
        if {nstate, pstate} in ({"closed", "filtered"}, {"filtered", "refused"}):
            out.lost_closed += 1
        if nstate == "open" and pstate == "filtered":
            out.open_lost += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, choices=range(1, 21), metavar="N")
    ap.add_argument("--cases", default="1,2,3")
    args = ap.parse_args()
    wanted = {int(c) for c in args.cases.split(",")}

    cases = {
        1: Case("1: one host, all 65535 ports", [t.SRV_V4], "all"),
        2: Case("2: 64 hosts x 100 ports", [f"{MANY_NET}.{n}" for n in range(1, 65)], MANY_PORTS),
        3: Case(
            "3: one host, ports 1-10000, 20% loss each way",
            [LOSSY],
            LOSSY_PORTS,
            probe_extra=("--tries", "7"),
            lossy=True,
        ),
    }
    lab = Lab()
    probe = checked_probe(lab.probe_command())
    nmap = required("nmap")
    timer = required("time")  # GNU time, for the peak RSS (%M)
    lab.setup()
    try:
        extend_lab(lab)
        ns = ["ip", "netns", "exec", lab.client_ns]
        with tempfile.TemporaryDirectory() as tmp:
            for number in sorted(wanted):
                case = cases[number]
                ports = port_list(case.ports)
                nmap_ports = "-" if case.ports == "all" else case.ports
                probe_argv = [
                    *ns,
                    timer,
                    "-f",
                    "%M",
                    "-o",
                    f"{tmp}/rss",
                    *probe,
                    "check",
                    *case.targets,
                    "-p",
                    case.ports,
                    "--no-ping",
                    "--json",
                    *case.probe_extra,
                ]
                nmap_argv = [
                    *ns,
                    nmap,
                    "-sS",
                    "-Pn",
                    "-T4",
                    "-n",
                    "-oX",
                    "-",
                    f"-p{nmap_ports}",
                    *case.targets,
                ]
                ours_t: list[float] = []
                theirs_t: list[float] = []
                rss: list[int] = []
                agreement: list[Agreement] = []
                for _ in range(args.runs):
                    # probe: 0 or 1, the run completed (1: it found a problem, as it should)
                    pt, pout = timed(probe_argv, ok=(0, 1), limit=RUN_LIMIT)
                    if pout:
                        rss.append(int(Path(f"{tmp}/rss").read_text().split()[-1]))
                    nt, nout = timed(nmap_argv, limit=RUN_LIMIT)
                    ours_t.append(pt)
                    theirs_t.append(nt)
                    if pout and nout:  # a tool that did not finish has no states to compare
                        agreement.append(compare(probe_states(pout), nmap_states(nout, ports)))
                    elif pout:
                        mine = probe_states(pout)
                        opened = sorted(port for (_, port), st in mine.items() if st == "open")
                        print(f"  (nmap unfinished) probe's open ports: {opened}")
                ratio = statistics.median(ours_t) / statistics.median(theirs_t)
                print(f"case {case.name}")
                for name, runs in (("probe", ours_t), ("nmap", theirs_t)):
                    times = [
                        round(x, 2) if x != float("inf") else f"> {RUN_LIMIT:.0f}" for x in runs
                    ]
                    print(f"  {name:6s} median {statistics.median(runs):6.2f} s  runs {times}")
                if rss:
                    print(f"  probe peak RSS {max(rss) / 1024:.0f} MB")
                print(f"  ratio probe/nmap {ratio:.2f}")
                for n, a in enumerate(agreement, 1):
                    lost = ""
                    if case.lossy:
                        lost = f" ({a.lost_closed} closed/filtered: all tries lost)"
                    print(
                        f"  run {n}: states agree on {a.agree} ports, differ on {a.disagree}"
                        f"{lost}; open ports probe called filtered: {a.open_lost}"
                    )
    finally:
        listener = getattr(lab, "bench_listener", None)
        if listener is not None:
            listener.kill()
        lab.teardown()


if __name__ == "__main__":
    main()
