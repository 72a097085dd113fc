"""The fuzz suite's shared pieces: the seed corpus, and the counts of the mutation runs,
printed at the end of every pytest run (CI logs show them whether the tests pass or not)."""

from __future__ import annotations

from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent / "seeds"
_COUNTS: list[str] = []


@pytest.fixture
def seed_files() -> list[Path]:
    """Every seed capture, recorded or built (see seeds/README.md)."""
    return sorted(p for p in SEEDS.iterdir() if p.suffix in (".pcap", ".pcapng"))


@pytest.fixture
def fuzz_counts() -> list[str]:
    """Append a line of counts here: it is printed in the run's summary."""
    return _COUNTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _COUNTS:
        terminalreporter.section("capture fuzzing")
        for line in _COUNTS:
            terminalreporter.write_line(line)
