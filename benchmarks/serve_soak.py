"""The exporter under load, measured: run as root from the repo root.

    python benchmarks/serve_soak.py [--count N] [--concurrency C] [--module soak|firewalled]

Builds the namespace lab of tests/lab (addresses in 198.18.0.0/15 only), starts
``probe serve`` in the client namespace (raw sockets opened as root, then running as
nobody), and sends N ``/probe`` requests (default: SERVE_SOAK_COUNT, else 2000), C at once
(default 20), every answer checked; prints requests per second and the exporter's RSS and
open descriptors at the start, after warm-up and every N/10 answers. Bounded: N at most
100 000, and the requests stop after 600 s. Tears the lab down at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import checked_probe, fail  # noqa: E402
from tests.lab import serve_lab as s  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

MAX_COUNT = 100_000
LIMIT = 600.0  # seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = int(os.environ.get("SERVE_SOAK_COUNT", "2000"))
    ap.add_argument("--count", type=int, default=default, metavar="N")
    ap.add_argument("--concurrency", type=int, default=20, choices=range(1, 201), metavar="C")
    args = ap.parse_args()
    if not 1 <= args.count <= MAX_COUNT:
        fail(f"--count must be from 1 to {MAX_COUNT}")
    lab = Lab()
    checked_probe(lab.probe_command())
    workdir = Path(tempfile.mkdtemp(prefix="probe-serve-soak-"))
    os.chmod(workdir, 0o755)
    config = workdir / "probe.toml"
    config.write_text(s.CONFIG)
    os.chmod(config, 0o644)
    try:
        with lab, s.serving(lab, workdir, config, "--log-level", "warning") as served:
            warmup = min(200, max(1, args.count // 10))
            result = s.soak(lab, served, args.count, args.concurrency, warmup, LIMIT)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"probe serve soak, {args.concurrency} in flight, module soak (2 ports, no ping):")
    print(s.soak_figures(result))
    if result["bad"]:
        fail(f"{result['bad']} answers were not valid: {result['examples'][:2]}")


if __name__ == "__main__":
    main()
