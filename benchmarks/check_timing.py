"""Start-up and check latency, measured (not asserted): run as root from the repo root.

    python benchmarks/check_timing.py [--runs N]

Prints:
1. ``probe --help`` wall time (median of N): target under 0.3 s.
2. The helpdesk case, side by side with nmap: ``probe check`` of two ports of a lab host
   that both answer, start-up included, like for like — ``--no-ping`` beside
   ``nmap -sS -n -Pn``, and the default check (which pings) beside nmap's default host
   discovery (``nmap -sS -n``). The four commands run interleaved, in turn forward and
   backward, N rounds; medians of each and of the per-round difference probe - nmap.
   Target: probe within 0.3 s of nmap. Beside it, what the check's imports cost
   (``python -X importtime``, top-level modules summed, median of N) and whether scapy
   was loaded.
3. ``probe check`` of two ports where one is silently dropped, with the default
   --tries 3 --timeout 1: target under tries x timeout + 1 s = 4 s. Beside it,
   ``nmap -sS -Pn -T4`` on the same two ports in the same namespace, interleaved A B A B.

Start-up is measured with a warm bytecode cache: the runs get an environment without
PYTHONDONTWRITEBYTECODE and every command runs once untimed first (an installed package's
modules are compiled when pip installs it; an editable one's on its first run). Timing on a
shared machine is noisy: compare medians of one run of this script, not figures from runs
apart.

Builds the namespace lab of tests/lab (addresses in 198.18.0.0/15 only) and tears it down.
Every loop is bounded by --runs (at most 50). Before the lab is built, probe must answer
``--version``; a run that fails, times out, or does not find both ports open stops the
benchmark with a non-zero status (``benchmarks/common.py``): no figures from a failed run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import check_status, checked_probe, fail, required, timed  # noqa: E402
from tests.lab import topology as t  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

GOAL = 0.3  # seconds: probe's two-port check at most this much slower than nmap's
LIMIT = 20.0  # seconds: a two-port check that takes longer is a failed run
_IMPORT = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")  # top level: no indent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, choices=range(1, 51), metavar="N")
    runs = ap.parse_args().runs
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # every run below: warm bytecode cache

    lab = Lab()
    probe = checked_probe(lab.probe_command())
    nmap = shutil.which("nmap")
    lab.setup()
    try:
        ns = ["ip", "netns", "exec", lab.client_ns]
        timed([*probe, "--help"])  # untimed: compiles what --help loads
        helps = [timed([*probe, "--help"])[0] for _ in range(runs)]
        print(f"probe --help: median {statistics.median(helps):.3f} s (target < 0.300 s)")
        helpdesk(ns, probe, runs)
        dropped(ns, probe, nmap, runs)
    finally:
        lab.teardown()


def helpdesk(ns: list[str], probe: list[str], runs: int) -> None:
    """Two answering ports, probe beside nmap, with and without the ping / host discovery."""
    nmap = required("nmap")
    ports = f"{t.HTTP_PORT},{t.SSH_PORT}"
    check = ["check", t.SRV_V4, "-p", ports]
    scan = [*ns, nmap, "-sS", "-n", "-p", ports, t.SRV_V4]
    # What each run must print to count: both ports open (and probe's three echo replies).
    scanned = tuple(rf"(?m)^{port}/tcp\s+open\b" for port in (t.HTTP_PORT, t.SSH_PORT))
    checked = (r"Ports\s+2 open",)
    pairs = {  # like for like: what each does before its SYNs
        ("--no-ping", "nmap -sS -n -Pn"): (
            Run([*ns, *probe, *check, "--no-ping"], checked),
            Run([*scan, "-Pn"], scanned),
        ),
        ("pinging", "nmap -sS -n"): (
            Run([*ns, *probe, *check], (*checked, r"Ping\s+3/3 replies")),
            Run(scan, scanned),
        ),
    }
    commands = [run for pair in pairs.values() for run in pair]
    for run in commands:  # untimed: compiles probe's bytecode, warms the page cache
        run.once()
    for n in range(runs):  # interleaved, forward then backward: no command always goes first
        for run in commands if n % 2 == 0 else commands[::-1]:
            run.times.append(run.once())

    python = [*ns, sys.executable, "-X", "importtime", "-m", "probe"]
    imports, scapy = import_cost([*python, *check, "--no-ping"], runs)
    print(
        f"probe check --no-ping, 2 ports answering: imports {imports:.3f} s (-X importtime, "
        f"top level summed, median of {runs}); scapy loaded: {'yes' if scapy else 'no'}"
    )
    for (ours_label, theirs_label), (ours, theirs) in pairs.items():
        diff = statistics.median(a - b for a, b in zip(ours.times, theirs.times, strict=True))
        verdict = "met" if diff <= GOAL else "MISSED"
        print(
            f"  probe {ours_label:9} {statistics.median(ours.times):.3f} s, "
            f"{theirs_label:15} {statistics.median(theirs.times):.3f} s, "
            f"probe - nmap {diff:+.3f} s (median per round; goal <= +{GOAL:.1f} s: {verdict})"
        )
    print(f"  ({runs} rounds, warm bytecode cache)")


@dataclass
class Run:
    """One command of the comparison, the words its output must hold, and its times."""

    argv: list[str]
    says: tuple[str, ...]  # regular expressions
    times: list[float] = field(default_factory=list)

    def once(self) -> float:
        """Wall seconds of one run that ended with status 0 and said what it must."""
        seconds, out = timed(self.argv, limit=LIMIT)
        if seconds == float("inf"):
            fail(f"{' '.join(self.argv)} did not finish in {LIMIT:.0f} s")
        missing = [words for words in self.says if not re.search(words, out)]
        if missing:
            fail(f"{' '.join(self.argv)} did not say {missing[0]!r}: {out!r}")
        return seconds


def import_cost(argv: list[str], runs: int) -> tuple[float, bool]:
    """Seconds the check spends importing (median of ``runs``), and whether scapy was among
    them. Without the ping: its thread imports beside the main one, and -X importtime's
    figures of imports in two threads at once overlap."""
    totals: list[float] = []
    scapy = False
    for _ in range(runs):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=LIMIT, check=False)
        check_status(argv, proc.returncode, (0,), proc.stderr)
        top = [m for m in map(_IMPORT.match, proc.stderr.splitlines()) if m]
        totals.append(sum(int(m.group(1)) for m in top) / 1e6)
        scapy = scapy or any(m.group(2).startswith("scapy") for m in top)
    return statistics.median(totals), scapy


def dropped(ns: list[str], probe: list[str], nmap: str | None, runs: int) -> None:
    """Two ports, one silently dropped: the retries' bound, beside nmap -T4."""
    ports = f"{t.HTTP_PORT},{t.DROPPED_PORT}"
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
        print(f"nmap -sS -Pn -T4, same ports: median {nm:.3f} s; ratio probe/nmap {med / nm:.2f}")


if __name__ == "__main__":
    main()
