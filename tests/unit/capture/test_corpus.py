"""probe analyze on the corpus of real captures (tests/corpus/manifest.json) against a reference
built from tshark's dissection (tests/corpus/reference.py), per server port: which ports had
completed handshakes, which got RST, which got nothing, which got ICMP; for UDP, answered,
ICMP or silent. Every capture must be read whole without an error, and every port must agree
except the manifest's named exceptions, which must still disagree exactly as written (one that
starts agreeing is taken out of the list). The time and memory of each analysis are printed.

The captures are public projects' test data and stay out of this repository: they are looked
for where the manifest says; without them the test is skipped, saying where to put them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from probe.capture import analyze as analyze_mod
from probe.capture.reader import open_capture

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "corpus"
sys.path.insert(0, str(CORPUS))

from reference import Port, View, probe_view, reference, tshark_rows  # noqa: E402

MANIFEST: dict[str, Any] = json.loads((CORPUS / "manifest.json").read_text())
CAPTURES: list[dict[str, Any]] = MANIFEST["captures"]
SECONDS = 45.0  # the whole corpus, probe and tshark: well under a minute on a shared 2-core box
MAX_BYTES = 3_000_000  # the corpus stays small


def _where() -> Path | None:
    """The first folder holding every capture of the manifest."""
    places = [os.environ.get("PROBE_CORPUS", ""), ROOT.parent / "shared" / "corpus" / "analyze"]
    places.append(CORPUS / "captures")
    for place in places:
        if place and all((Path(place) / c["file"]).is_file() for c in CAPTURES):
            return Path(place)
    return None


def _exceptions(capture: dict[str, Any]) -> dict[Port, tuple[frozenset[str], frozenset[str]]]:
    return {
        (e["protocol"], e["server"], e["port"]): (frozenset(e["probe"]), frozenset(e["reference"]))
        for e in capture.get("exceptions", ())
    }


def _disagreements(
    mine: View, theirs: View, allowed: dict[Port, tuple[frozenset[str], frozenset[str]]]
) -> list[str]:
    wrong = []
    for port in sorted(set(mine) | set(theirs) | set(allowed)):
        seen = (mine.get(port, frozenset()), theirs.get(port, frozenset()))
        if port in allowed:
            if seen != allowed[port]:
                wrong.append(
                    f"{port}: named exception no longer holds: probe {sorted(seen[0])}, "
                    f"tshark {sorted(seen[1])}"
                )
        elif seen[0] != seen[1]:
            wrong.append(f"{port}: probe {sorted(seen[0])}, tshark {sorted(seen[1])}")
    return wrong


def test_manifest_records_each_capture_origin_and_stays_small() -> None:
    names = [c["file"] for c in CAPTURES]
    assert len(names) == len(set(names)) >= 40
    for c in CAPTURES:
        assert c["repo"].count("/") == 1 and c["path"] and len(c["commit"]) == 40, c["file"]
        assert c["licence"] in {"BSD-3-Clause", "MIT", "GPL-2.0-only"}, c["file"]
        assert len(c["sha256"]) == 64 and c["bytes"] > 0, c["file"]
        for e in c.get("exceptions", ()):
            assert e["why"] and e["probe"] != e["reference"], c["file"]
    assert sum(c["bytes"] for c in CAPTURES) < MAX_BYTES


def test_reference_reads_what_the_words_mean() -> None:
    """The reference's own reading, on fields as tshark prints them: a SYN answered by a
    SYN/ACK is open, one answered by the server's RST refused, one answered by an ICMP error
    quoting it icmp, a lone one in the capture's last second left out."""

    def row(
        ts: float, src: str, dst: str, sp: int, dp: int, flags: int, seq: int, ack: int
    ) -> list[str]:
        return [
            str(ts),
            "eth:ethertype:ip:tcp",
            src,
            dst,
            "64",
            "",
            "",
            "",
            str(sp),
            str(dp),
            hex(flags),
            str(seq),
            str(ack),
        ] + [""] * 6

    rows = [
        row(0.0, "10.0.0.1", "10.0.0.2", 40000, 80, 0x02, 100, 0),
        row(0.1, "10.0.0.2", "10.0.0.1", 80, 40000, 0x12, 555, 101),
        row(1.0, "10.0.0.1", "10.0.0.2", 40001, 81, 0x02, 200, 0),
        row(1.1, "10.0.0.2", "10.0.0.1", 81, 40001, 0x14, 0, 201),
        row(2.0, "10.0.0.1", "10.0.0.2", 40002, 82, 0x02, 300, 0),
        [
            "2.1",
            "eth:ethertype:ip:icmp:ip:tcp",
            "10.0.0.9,10.0.0.1",
            "10.0.0.1,10.0.0.2",
            "250,63",
            "",
            "",
            "",
            "40002",
            "82",
            "0x002",
            "300",
            "0",
            "",
            "",
            "3",
            "13",
            "",
            "",
        ],
        row(5.0, "10.0.0.1", "10.0.0.2", 40003, 83, 0x02, 400, 0),
        row(9.5, "10.0.0.1", "10.0.0.2", 40004, 84, 0x02, 500, 0),
    ]
    assert reference(rows) == {
        ("tcp", "10.0.0.2", 80): {"open"},
        ("tcp", "10.0.0.2", 81): {"refused"},
        ("tcp", "10.0.0.2", 82): {"icmp"},
        ("tcp", "10.0.0.2", 83): {"silent"},
    }


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_corpus_agrees_with_tshark_per_server_port(capsys: pytest.CaptureFixture[str]) -> None:
    where = _where()
    if where is None:
        pytest.skip(
            "the corpus captures are not here: put the files of tests/corpus/manifest.json "
            "in $PROBE_CORPUS, shared/corpus/analyze/ or tests/corpus/captures/"
        )
    start = time.perf_counter()
    # tshark's passes run beside probe's analyses, two at a time (tshark's start-up dominates)
    pool = ThreadPoolExecutor(max_workers=2)
    rows = {c["file"]: pool.submit(tshark_rows, where / c["file"]) for c in CAPTURES}
    failures: list[str] = []
    figures: list[str] = []
    ports = agreeing = excepted = 0
    for c in CAPTURES:
        path = where / c["file"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == c["sha256"], f"{c['file']} is not the manifest's"
        tracemalloc.start()
        began = time.perf_counter()
        with open_capture(path) as cap:
            result = analyze_mod.analyze(cap.records())
        took = time.perf_counter() - began
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        info = cap.info
        if info.truncated != c.get("truncated", False) or not info.packets:
            failures.append(f"{c['file']}: not read whole: {info.problem}")
        unknown = [link for link, _ in info.unknown_links]
        if unknown != c.get("undecoded_link_types", []):
            failures.append(f"{c['file']}: link types not decoded: {unknown}")
        mine, theirs = probe_view(result), reference(rows[c["file"]].result())
        allowed = _exceptions(c)
        wrong = _disagreements(mine, theirs, allowed)
        failures += [f"{c['file']}: {w}" for w in wrong]
        n = len(set(mine) | set(theirs))
        ports += n
        excepted += len(allowed)
        agreeing += n - len(allowed) - len([w for w in wrong if "no longer" not in w])
        figures.append(
            f"  {c['file']:28} {c['bytes']:>8,} B {info.packets:>6} pkts {n:>3} ports "
            f"{took * 1000:7.1f} ms {peak / 1024:8.0f} KiB"
        )
    pool.shutdown()
    total = time.perf_counter() - start
    with capsys.disabled():  # the figures show in the test output, even with -q
        print("\ncorpus: probe analyze per capture (time, peak traced memory)")
        print("\n".join(figures))
        print(
            f"  {len(CAPTURES)} captures, {ports} server ports: {agreeing} agree with "
            f"tshark, {excepted} named exceptions; {total:.1f} s with tshark"
        )
    assert not failures, "\n".join(failures)
    assert agreeing + excepted == ports
    assert total < SECONDS
