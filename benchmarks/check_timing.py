"""Start-up and check latency, measured (not asserted): run as root from the repo root.

    python benchmarks/check_timing.py [--runs N]

Prints:
1. ``probe --help`` wall time (median of N): target under 0.3 s.
2. ``probe check`` of two ports of a lab host where one is silently dropped, with the
   default --tries 3 --timeout 1: target under tries x timeout + 1 s = 4 s. Beside it,
   ``nmap -sS -Pn -T4`` on the same two ports in the same namespace, interleaved A B A B.

Builds the namespace lab of tests/lab (addresses in 198.18.0.0/15 only) and tears it down.
Every loop is bounded by --runs (at most 50). Before the lab is built, probe must answer
``--version``; a run that fails stops the benchmark with a non-zero status
(``benchmarks/common.py``): no figures from a failed run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import checked_probe, timed  # noqa: E402
from tests.lab import topology as t  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, choices=range(1, 51), metavar="N")
    runs = ap.parse_args().runs

    lab = Lab()
    probe = checked_probe(lab.probe_command())
    nmap = shutil.which("nmap")
    lab.setup()
    try:
        helps = [timed([*probe, "--help"])[0] for _ in range(runs)]
        print(f"probe --help: median {statistics.median(helps):.3f} s (target < 0.300 s)")

        ports = f"{t.HTTP_PORT},{t.DROPPED_PORT}"
        ns = ["ip", "netns", "exec", lab.client_ns]
        check = [*ns, *probe, "check", t.SRV_V4, "-p", ports, "--no-ping", "--json"]
        nmap_argv = [*ns, nmap, "-sS", "-Pn", "-T4", "-n", "-p", ports, t.SRV_V4] if nmap else None
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(runs):
            ours.append(timed(check, ok=(0, 1))[0])  # 0 or 1: the run completed
            if nmap_argv:
                theirs.append(timed(nmap_argv)[0])
        bound = 3 * 1.0 + 1.0
        med = statistics.median(ours)
        verdict = "met" if max(ours) < bound else "MISSED"
        print(
            f"probe check, 2 ports, 1 dropped (--tries 3 --timeout 1): median {med:.3f} s, "
            f"max {max(ours):.3f} s (bound {bound:.1f} s: {verdict})"
        )
        if theirs:
            nm = statistics.median(theirs)
            print(
                f"nmap -sS -Pn -T4, same ports: median {nm:.3f} s; ratio probe/nmap {med / nm:.2f}"
            )
    finally:
        lab.teardown()


if __name__ == "__main__":
    main()
