"""What the benchmarks share: the probe command, checked before anything is built or
generated, and timed runs that stop the benchmark when a run fails.

A failed run is no measurement: a probe that cannot even start (installed for another
interpreter, say) ends in a few milliseconds, and timing it once printed "ratio 0.27".
So every run's exit status is checked, and a wrong one ends the benchmark with a non-zero
status and the run's last words, before any figure is printed.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Collection, Sequence
from typing import NoReturn


def fail(message: str) -> NoReturn:
    raise SystemExit(f"benchmark failed: {message}")


def checked_probe(argv: Sequence[str]) -> list[str]:
    """``argv``, the way this benchmark starts probe, once ``argv --version`` answers."""
    try:
        proc = subprocess.run(
            [*argv, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        fail(f"{' '.join(argv)} cannot be started: {exc}")
    if proc.returncode != 0 or not proc.stdout.startswith("probe "):
        fail(
            f"{' '.join(argv)} does not run here ({_last_words(proc)}); run the benchmark with "
            "the interpreter probe is installed for, e.g. .venv/bin/python benchmarks/..."
        )
    return list(argv)


def required(tool: str) -> str:
    """The path of ``tool``, which this benchmark cannot do without."""
    found = shutil.which(tool)
    if found is None:
        fail(f"{tool} is not installed")
    return found


def check_status(argv: Sequence[str], status: int, ok: Collection[int], said: str = "") -> None:
    """Stop the benchmark unless ``status`` is one of the statuses a good run ends with."""
    if status not in ok:
        words = f": {said.strip().splitlines()[-1]}" if said.strip() else ""
        fail(f"{' '.join(argv)} ended with status {status}{words}; no figures from a failed run")


def timed(
    argv: Sequence[str], ok: Collection[int] = (0,), limit: float | None = 60.0
) -> tuple[float, str]:
    """(wall seconds, stdout) of one run. A run past ``limit`` seconds is unfinished: inf,
    no output. Any other end with a status outside ``ok`` stops the benchmark."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return float("inf"), ""
    elapsed = time.perf_counter() - start
    check_status(argv, proc.returncode, ok, proc.stderr)
    return elapsed, proc.stdout


def _last_words(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {proc.returncode}"
