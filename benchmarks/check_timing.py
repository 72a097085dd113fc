"""Start-up and check latency, measured (not asserted): run as root from the repo root.

    python benchmarks/check_timing.py [--runs N]

Prints:
1. ``probe --help`` wall time (median of N): target under 0.3 s.
2. ``probe check`` of two ports of a lab host where one is silently dropped, with the
   default --tries 3 --timeout 1: target under tries x timeout + 1 s = 4 s. Beside it,
   ``nmap -sS -Pn`` on the same two ports in the same namespace, interleaved A B A B.

Builds the namespace lab of tests/lab (addresses in 198.18.0.0/15 only) and tears it down.
Every loop is bounded by --runs (at most 50).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import topology as t  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, capture_output=True, timeout=60, check=False)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, choices=range(1, 51), metavar="N")
    runs = ap.parse_args().runs

    lab = Lab()
    lab.setup()
    try:
        probe = lab.probe_command()
        helps = [timed([*probe, "--help"]) for _ in range(runs)]
        print(f"probe --help: median {statistics.median(helps):.3f} s (target < 0.300 s)")

        ports = f"{t.HTTP_PORT},{t.DROPPED_PORT}"
        ns = ["ip", "netns", "exec", lab.client_ns]
        check = [*ns, *probe, "check", t.SRV_V4, "-p", ports, "--no-ping", "--json"]
        nmap = shutil.which("nmap")
        nmap_argv = [*ns, nmap, "-sS", "-Pn", "-n", "-p", ports, t.SRV_V4] if nmap else None
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(runs):
            ours.append(timed(check))
            if nmap_argv:
                theirs.append(timed(nmap_argv))
        bound = 3 * 1.0 + 1.0
        med = statistics.median(ours)
        verdict = "met" if max(ours) < bound else "MISSED"
        print(
            f"probe check, 2 ports, 1 dropped (--tries 3 --timeout 1): median {med:.3f} s, "
            f"max {max(ours):.3f} s (bound {bound:.1f} s: {verdict})"
        )
        if theirs:
            nm = statistics.median(theirs)
            print(f"nmap -sS -Pn, same ports: median {nm:.3f} s; ratio probe/nmap {med / nm:.2f}")
    finally:
        lab.teardown()


if __name__ == "__main__":
    main()
