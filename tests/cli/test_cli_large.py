"""Large runs on the command line, over a fake edge: more than 16 addresses of a block get
the summary (each address with -v), --open lists only the targets that opened a port, and
a run too large for one batch is probed and written batch by batch — the same JSON document
(key order aside) and the same exit status as one whole report."""

from __future__ import annotations

import json

import pytest
from conftest import CliRun

from probe.engine.base import Job
from probe.engine.fake import FakeEngine
from probe.model import AnswerKind
from probe.session import batches


def _answer(job: Job) -> AnswerKind:
    """Odd addresses open 80; every address refuses 22; the rest is silence."""
    if job.port == 22:
        return AnswerKind.RST
    odd = int(job.address.rsplit(".", 1)[1]) % 2 == 1
    return AnswerKind.SYN_ACK if job.port == 80 and odd else AnswerKind.NONE


@pytest.fixture
def fake(cli_fake: FakeEngine) -> FakeEngine:
    cli_fake.script = _answer
    return cli_fake


def test_more_than_16_addresses_of_a_block_are_summarised(
    fake: FakeEngine, probe_cli: CliRun
) -> None:
    code, out, _ = probe_cli(["check", "198.18.1.0/27", "-p", "22,80"])
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "198.18.1.0/27: 30 addresses probed: 30 up (answered something), 0 silent"
    assert lines[2].split() == ["22", "ssh", "0", "30", "0"]  # open, refused, filtered
    assert lines[3].split() == ["80", "http", "15", "0", "15"]
    assert "198.18.1.1 " not in out and "Verdict" not in out
    _, verbose, _ = probe_cli(["check", "198.18.1.0/27", "-p", "22,80", "-v"])
    assert verbose.count("Verdict") == 30 and "30 addresses probed" in verbose


def test_16_addresses_keep_the_checklist(fake: FakeEngine, probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["check", "198.18.1.0/28", "-p", "22,80"])
    assert out.count("Verdict") == 14 and "addresses probed" not in out


def test_open_lists_only_what_answered(fake: FakeEngine, probe_cli: CliRun) -> None:
    code, out, _ = probe_cli(["check", "198.18.1.0/27", "-p", "22,80", "--open"])
    listed = [line for line in out.splitlines() if line.startswith("198.18.1.") and "/" not in line]
    assert listed == [f"198.18.1.{i}  80 http" for i in range(1, 31, 2)]
    assert code == 1  # the others' problems still count
    _, text, _ = probe_cli(["check", "198.18.1.2", "198.18.1.3", "-p", "22,80", "--open"])
    assert "198.18.1.3" in text and "198.18.1.2" not in text
    code, data, _ = probe_cli(["check", "198.18.1.2", "198.18.1.3", "-p", "80", "--open", "--json"])
    targets = json.loads(data)["targets"]
    assert [t["address"] for t in targets] == ["198.18.1.3"] and code == 1
    assert {p["state"] for p in targets[0]["ports"]} == {"open"}


def test_a_run_in_batches_writes_the_same_json(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["check", "198.18.1.0/26", "-p", "22,80,81", "--json"]
    code, whole, _ = probe_cli(args)
    scans = len(fake.scans)
    monkeypatch.setattr(batches, "MIN_BATCH", 8)
    monkeypatch.setattr(batches, "PROBES_PER_BATCH", 30)  # 10 addresses of 3 ports
    streamed_code, streamed, _ = probe_cli(args)
    assert len(fake.scans) - scans == 7  # 62 addresses in batches of 10
    assert json.loads(streamed) == json.loads(whole) and streamed_code == code == 1
    assert list(json.loads(streamed))[:3] == ["version", "mode", "targets"]
