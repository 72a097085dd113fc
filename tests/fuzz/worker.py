"""The bounded mutation run: mutants of the seed captures through ``probe analyze`` as the
command runs it (``probe.cli.main.main``, in this process), each judged clean or not.

    python tests/fuzz/worker.py [--seed N] [--count N] [--seconds S] [--keep DIR]

Clean: exit 0 or 1 with a report on stdout (``--json``: a JSON document whose timestamps are
ISO 8601 or null) and nothing on stderr; or exit 2 with nothing on stdout and one line on
stderr, "probe: ...". Anything else — a traceback, another exit status, two lines — is a
failure, and the mutant is written to ``--keep`` to reproduce it. Memory is bounded from the
outside: the address space is limited (``--memory-mb``) and the peak RSS is reported. The last
line printed is a JSON summary for tests/fuzz/test_fuzz_analyze.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import resource
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutate import mutant

SEEDS = Path(__file__).resolve().parent / "seeds"


def seeds() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SEEDS.iterdir()) if p.suffix in (".pcap", ".pcapng")]


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``probe ARGS`` through cli.main in this process: (exit status, stdout, stderr). An
    exception that escapes main() is what a user would see as a traceback: re-raised."""
    from probe.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["probe", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def judge(code: int, out: str, err: str, as_json: bool) -> str | None:
    """None when the run is clean, else what is wrong with it."""
    if code == 2:
        lines = err.splitlines()
        if out or len(lines) != 1 or not lines[0].startswith("probe: "):
            return f"exit 2 without exactly one 'probe:' line on stderr: {err[-300:]!r}"
        return None
    if code not in (0, 1):
        return f"exit {code}: {err[-300:]!r}"
    if err or not out:
        return f"exit {code} with stderr {err[-300:]!r} / stdout of {len(out)} characters"
    if as_json:
        try:
            data = json.loads(out)
        except ValueError as exc:
            return f"stdout is not JSON: {exc}"
        times = [data["capture"]["first"], data["capture"]["last"]]
        times += [f[k] for f in data["findings"] for k in ("first", "last")]
        for t in times:
            if t is not None and not _iso(t):
                return f"not an ISO 8601 time: {t!r}"
    return None


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return len(text) == 27 and text.endswith("Z")


def fuzz(seed: int, count: int, seconds: float, keep: Path | None) -> dict[str, Any]:
    rng = random.Random(seed)
    corpus = seeds()
    counts = {"mutants": 0, "clean": 0, "exit_2": 0, "failures": 0}
    failures: list[str] = []
    slowest = 0.0
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.pcap"
        for n in range(count):
            if time.monotonic() - start > seconds:
                break
            data = mutant(rng, corpus)
            path.write_bytes(data)
            as_json = n % 2 == 0
            args = ["analyze", str(path), *(["--json"] if as_json else [])]
            began = time.monotonic()
            try:
                code, out, err = run_cli(args)
                wrong = judge(code, out, err, as_json)
            except Exception:  # what escapes main() is the failure looked for
                code, wrong = -1, traceback.format_exc(limit=-3)
            slowest = max(slowest, time.monotonic() - began)
            counts["mutants"] += 1
            if wrong is None:
                counts["clean" if code in (0, 1) else "exit_2"] += 1
                continue
            counts["failures"] += 1
            failures.append(f"mutant {n}: {wrong}")
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"mutant-{seed}-{n}.bin").write_bytes(data)
    peak_mb = _peak_rss_kb() / 1024
    return {
        **counts,
        "seed": seed,
        "seconds": round(time.monotonic() - start, 1),
        "slowest_s": round(slowest, 3),
        "peak_rss_mb": round(peak_mb),
        "failure_samples": failures[:5],
    }


def _peak_rss_kb() -> int:
    """This process's peak resident memory. Linux's VmHWM starts again at exec; ru_maxrss
    would carry the high-water mark of the process that forked this one (pytest's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    limit = args.memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    summary = fuzz(args.seed, args.count, args.seconds, args.keep)
    for line in summary["failure_samples"]:
        print(line)
    print(json.dumps(summary))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
