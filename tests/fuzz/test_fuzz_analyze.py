"""probe analyze against mutated captures: a clean result or one line and exit 2, never a
traceback, in bounded memory and time. The mutants come from the seed corpus (seeds/), with a
fixed seed: the same few hundred every run (worker.py runs more by hand: --count 6000)."""

from __future__ import annotations

import json
import random
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mutate import fields, mutant  # noqa: E402
from worker import judge  # noqa: E402

SEED = 20240501
MUTANTS = 400
SECONDS = 20.0  # the run stops there, whatever the count (a slow machine runs fewer)
MEMORY_MB = 2048  # the worker's address space
PEAK_RSS_MB = 300  # the worker's peak resident memory: a mutant must not balloon it


def test_seeds_are_clean_and_analysed(seed_files: list[Path]) -> None:
    from worker import run_cli

    assert len(seed_files) >= 10
    for path in seed_files:
        code, out, err = run_cli(["analyze", str(path), "--json"])
        assert judge(code, out, err, as_json=True) is None, path.name
        data = json.loads(out)
        assert code == 1 and data["findings"] and not data["capture"]["truncated"], path.name


def test_seed_builder_is_reproducible(seed_files: list[Path]) -> None:
    from make_seeds import build

    for name, data in build().items():
        assert (HERE / "seeds" / name).read_bytes() == data, f"{name}: run make_seeds.py"


def test_mutants_through_analyze_are_clean(tmp_path: Path, fuzz_counts: list[str]) -> None:
    run = subprocess.run(
        [
            sys.executable,
            str(HERE / "worker.py"),
            f"--seed={SEED}",
            f"--count={MUTANTS}",
            f"--seconds={SECONDS}",
            f"--memory-mb={MEMORY_MB}",
            f"--keep={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 60,
    )
    summary = json.loads(run.stdout.splitlines()[-1])
    fuzz_counts.append(
        f"mutants {summary['mutants']}, clean {summary['clean']}, exit-2 {summary['exit_2']}, "
        f"failures {summary['failures']} (seed {SEED}, {summary['seconds']} s, slowest "
        f"{summary['slowest_s']} s, peak RSS {summary['peak_rss_mb']} MB)"
    )
    assert summary["failures"] == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.returncode == 0 and run.stderr == ""
    assert summary["mutants"] >= MUTANTS // 4  # the time bound did not leave it empty
    assert summary["clean"] > 0 and summary["exit_2"] > 0  # both kinds of ending were met
    assert summary["peak_rss_mb"] < PEAK_RSS_MB


def _damaged(seed_files: list[Path]) -> list[bytes]:
    """Files of the kinds the issue found, made from the seeds, and a few random mutants."""
    ng = next(p for p in seed_files if p.suffix == ".pcapng").read_bytes()
    eth = next(p for p in seed_files if p.name == "eth.pcap").read_bytes()
    blocks = [at for at, _, btype in fields(ng) if btype == 6]
    short_epb = ng[: blocks[3]] + struct.pack("<I", 20) + b"\x00" * 8  # ends the file
    made = [b"", eth[:20], short_epb, eth[:-5], ng[: blocks[0] - 4] + b"\x06\x00\x00\x00"]
    rng = random.Random(SEED + 1)
    return made + [mutant(rng, [p.read_bytes() for p in seed_files]) for _ in range(5)]


def test_mutants_through_the_installed_command(tmp_path: Path, seed_files: list[Path]) -> None:
    probe = Path(sys.executable).with_name("probe")
    codes: set[int] = set()
    for n, data in enumerate(_damaged(seed_files)):
        path = tmp_path / f"mutant-{n}.pcap"
        path.write_bytes(data)
        as_json = n % 2 == 1
        run = subprocess.run(
            [str(probe), "analyze", str(path), *(["--json"] if as_json else [])],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "Traceback" not in run.stderr, run.stderr
        assert judge(run.returncode, run.stdout, run.stderr, as_json) is None, (n, run.stderr)
        codes.add(run.returncode)
    assert 2 in codes and codes & {0, 1}
