"""Peak memory of a site-scale check: a /18 and a /16 of the lab's farm x 5 ports.

The farm (tests/lab/farm.py) answers every address of 198.19.0.0/16: 80 and 443 open, 8443
dropped, 22 and 3389 closed. For each block, ``probe check BLOCK -p 22,80,443,3389,8443
--yes --json`` runs in the lab's client namespace under GNU time: wall time and peak RSS;
then the /16 again with the text summary. Every run's output is checked against the farm
(every address listed, the states counted exactly), and a run that fails, or does not find
what the farm is, ends the benchmark with a non-zero status before any figure is printed.

Goals (issue 13, item 3): peak RSS under 250 MB for the /16, and at most +20 % from the /18
to the /16. Also printed: the text summary's own cost for 65,536 synthetic targets (no lab).

    sudo .venv/bin/python benchmarks/farm_memory.py [--sizes 18,16] [--no-text]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import check_status, checked_probe, fail, required  # noqa: E402
from tests.lab.farm import FARM_PORTS, farm  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

RSS_GOAL_MB = 250.0
RATIO_GOAL = 1.2
LIMIT_S = 900.0  # one run; a /16 takes about a minute and a half here


def block(prefix: int) -> str:
    return f"198.19.0.0/{prefix}"


def hosts(prefix: int) -> int:
    return 2 ** (32 - prefix) - 2  # a block's network and broadcast addresses are left out


def measured(lab: Lab, probe: list[str], args: list[str], out: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of ``probe ARGS`` in the client, stdout into ``out``."""
    timer = required("time")
    figures = out.with_suffix(".time")
    argv = ["ip", "netns", "exec", lab.client_ns, timer, "-o", str(figures), "-f", "%e %M"]
    argv += [*probe, *args]
    with out.open("w") as sink:
        proc = subprocess.run(
            argv,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=LIMIT_S,
            env={"NO_COLOR": "1", "COLUMNS": "120", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            check=False,
        )
    check_status(argv, proc.returncode, (1,), proc.stderr)  # 22 and 3389 closed: exit 1
    wall, rss_kb = figures.read_text().split()[-2:]
    return float(wall), int(rss_kb) / 1024


def check_json(path: Path, prefix: int) -> None:
    """The farm, exactly: every address once, each port's state counted (text counts: the
    /16's document is 300 MB)."""
    text = path.read_text()
    n = hosts(prefix)
    if not text.endswith("}\n") or '\n  "interrupted": false' not in text:
        fail(f"{block(prefix)}: the JSON document is cut or interrupted")
    counts = {
        "targets": text.count('\n    {\n      "input": '),
        "open": text.count('"state": "open"'),
        "refused": text.count('"state": "refused"'),
        "filtered": text.count('"state": "filtered"'),
    }
    wanted = {"targets": n, "open": 2 * n, "refused": 2 * n, "filtered": n}
    if counts != wanted:
        fail(f"{block(prefix)}: found {counts}, the farm is {wanted}")


def check_text(path: Path, prefix: int) -> None:
    n = f"{hosts(prefix):,}"
    head = f"{block(prefix)}: {n} addresses probed: {n} up (answered something), 0 silent"
    if head not in path.read_text().splitlines():
        fail(f"{block(prefix)}: the summary does not say {head!r}")


def summary_seconds(n: int) -> float:
    """The text summary of ``n`` targets like the farm's, from reports to the last line."""
    from probe.model import (
        DnsResult,
        DnsStatus,
        Finding,
        PingResult,
        PingStatus,
        PortResult,
        PortState,
        Report,
        Severity,
        TargetReport,
    )
    from probe.output.base import Options
    from probe.output.text.summary import SummaryText

    def port(number: int, state: PortState) -> PortResult:
        return PortResult(number, state, "reset" if state is PortState.REFUSED else "syn-ack", 1)

    ports = tuple(port(p, PortState.OPEN if p in (80, 443) else PortState.REFUSED)
                  for p in FARM_PORTS)  # fmt: skip
    finding = Finding("port-refused", Severity.ERROR, "Nothing listens.", (22, 3389))
    ping = PingResult(PingStatus.OK, 3, 3, ttl=63)
    template = TargetReport(block(16), None, DnsResult(DnsStatus.LITERAL), None, ping, None,
                            ports, (finding,))  # fmt: skip
    start = time.perf_counter()
    sink = SummaryText(io.StringIO(), Options(color=False))
    for at in range(0, n, 4000):
        targets = (replace(template, address=f"198.19.{i >> 8}.{i & 255}")
                   for i in range(at, min(n, at + 4000)))  # fmt: skip
        sink.add(Report(tuple(targets)))
    sink.end((), interrupted=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="18,16", help="prefix lengths, smallest block last")
    parser.add_argument("--no-text", action="store_true", help="skip the text run")
    args = parser.parse_args()
    prefixes = [int(p) for p in args.sizes.split(",")]
    if any(not 16 <= p <= 30 for p in prefixes):
        fail("--sizes: prefix lengths from 16 to 30 (blocks of the farm)")
    ports = ",".join(map(str, FARM_PORTS))
    lab = Lab()
    probe = checked_probe(lab.probe_command())
    rows: list[tuple[str, float, float]] = []
    rss: dict[int, float] = {}
    lab.setup()
    try:
        with farm(lab), tempfile.TemporaryDirectory() as tmp:
            for prefix in prefixes:
                out = Path(tmp) / f"json{prefix}"
                common = ["check", block(prefix), "-p", ports, "--yes"]
                wall, peak = measured(lab, probe, [*common, "--json"], out)
                check_json(out, prefix)
                out.unlink()
                rss[prefix] = peak
                rows.append((f"{block(prefix)} x 5 ports --json", wall, peak))
            if not args.no_text:
                prefix = min(prefixes)
                out = Path(tmp) / f"text{prefix}"
                common = ["check", block(prefix), "-p", ports, "--yes"]
                wall, peak = measured(lab, probe, common, out)
                check_text(out, prefix)
                rows.append((f"{block(prefix)} x 5 ports, text summary", wall, peak))
    finally:
        lab.teardown()
    print(f"{'run':<44} {'wall s':>8} {'peak RSS MB':>12}")
    for name, wall, peak in rows:
        print(f"{name:<44} {wall:>8.1f} {peak:>12.1f}")
    met = True
    if 16 in rss:
        ok = rss[16] < RSS_GOAL_MB
        met &= ok
        print(
            f"/16 peak RSS {rss[16]:.1f} MB, goal < {RSS_GOAL_MB:.0f}: {'met' if ok else 'MISSED'}"
        )
    if 16 in rss and 18 in rss:
        ratio = rss[16] / rss[18]
        ok = ratio <= RATIO_GOAL
        met &= ok
        print(
            f"/16 / /18 peak RSS x{ratio:.2f}, goal <= x{RATIO_GOAL}: {'met' if ok else 'MISSED'}"
        )
    print(f"text summary of 65,536 targets (no lab): {summary_seconds(65536):.2f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
