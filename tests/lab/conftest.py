"""The session-wide ``lab`` fixture: builds the namespace lab once, always tears it down.

Without root, or where ``ip netns`` does not work, lab tests are skipped with the reason;
with ``PROBE_REQUIRE_LAB=1`` (CI) they fail instead, so a broken CI machine cannot pass by
skipping everything. Every test collected under tests/lab/ gets the ``lab`` marker.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from .netlab import Lab, unavailable_reason

LAB_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(LAB_DIR):
            item.add_marker(pytest.mark.lab)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the run like Ctrl-C does, so the fixture's teardown still runs.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("PROBE_REQUIRE_LAB") == "1":
            pytest.fail(f"PROBE_REQUIRE_LAB=1 but the lab cannot run: {reason}", pytrace=False)
        pytest.skip(f"namespace lab unavailable: {reason}")
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate)
    the_lab = Lab()
    try:
        the_lab.setup()  # tears down what it built if it fails half-way
        yield the_lab
    finally:
        the_lab.teardown()
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
