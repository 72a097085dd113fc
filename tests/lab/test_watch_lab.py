"""probe watch in the lab: a load balancer with a dead backend, a flapping path, random SYN
loss, a host dropping SYNs on one port only, a DNS answer that changes, a slow link whose
deep queue bursts of bulk traffic fill now and then (bufferbloat), and a healthy target for
the same number of attempts. Each run is bounded (--count, short --interval), and the
statistics of the summary are checked against a count of the JSON lines by hand."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from probe.diagnosis.watch.loss import SPIKE_FACTOR, SPIKE_MIN_MS

from . import topology as t
from .netlab import Lab
from .watch_lab import (
    BULK_DRAIN_MS,
    LB_PORT,
    SLOW_PORT,
    VIP_V4,
    bulk_bursts,
    flapping,
    load_balancer,
    qdisc_stats,
    random_loss,
    slow_link,
    watch_json,
)

ROUNDS = 42
SPIKE_ROUNDS = 60  # about 8 s with the spikes: 6 to 10 bursts of bulk traffic
FAST = ("--interval", "0.1", "--no-ping")
INTERMITTENCY = {
    "intermittent-refusal",
    "flapping",
    "syn-loss",
    "latency-spikes",
    "dns-changed",
    "overload-vs-firewall",
}


@pytest.fixture(scope="module")
def lb(lab: Lab) -> Iterator[Lab]:
    with load_balancer(lab):
        yield lab


def attempts_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [x for x in lines if x["type"] == "attempt"]


def summary_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    assert lines[-1]["type"] == "summary"
    return lines[-1]


def port_entry(summary: dict[str, Any], port: int) -> dict[str, Any]:
    (target,) = summary["targets"]
    return next(p for p in target["ports"] if p["port"] == port)


def codes(summary: dict[str, Any]) -> list[str]:
    return [f["code"] for t in summary["targets"] for f in t["findings"]]


def finding(summary: dict[str, Any], code: str) -> dict[str, Any]:
    return next(f for t in summary["targets"] for f in t["findings"] if f["code"] == code)


def check_hand_count(lines: list[dict[str, Any]], port: int) -> None:
    """The summary's statistics of ``port`` agree with a count of its attempt lines."""
    mine = [a for a in attempts_of(lines) if a["port"] == port]
    repeat = port_entry(summary_of(lines), port)["repeat"]
    assert repeat["attempts"] == len(mine)
    assert repeat["counts"] == dict(Counter(a["state"] for a in mine))
    opened = sum(a["state"] == "open" for a in mine)
    assert repeat["success_rate"] == pytest.approx(round(100 * opened / len(mine), 2))
    assert repeat["retried"] == sum(a["tries"] > 1 and a["state"] != "filtered" for a in mine)
    rtts = sorted(a["rtt_ms"] for a in mine if a["rtt_ms"] is not None)
    if rtts:
        assert repeat["rtt_ms"]["count"] == len(rtts)
        assert repeat["rtt_ms"]["min"] == rtts[0] and repeat["rtt_ms"]["max"] == rtts[-1]
    longest = run = 0
    for a in mine:
        run = run + 1 if a["state"] != "open" else 0
        longest = max(longest, run)
    got = repeat["longest_failure"]
    assert (got["length"] if got else 0) == longest
    assert [a["round"] for a in mine] == list(range(len(mine)))


def test_healthy_target_gets_no_intermittency_finding(lab: Lab) -> None:
    code, lines = watch_json(lab, t.SRV_V4, "-p", f"{t.HTTP_PORT}", "--count", str(ROUNDS), *FAST)
    assert code == 0, lines[-1]
    assert len(attempts_of(lines)) == ROUNDS
    check_hand_count(lines, t.HTTP_PORT)
    assert port_entry(summary_of(lines), t.HTTP_PORT)["repeat"]["success_rate"] == 100.0
    assert not INTERMITTENCY & set(codes(summary_of(lines)))
    # each round's SYN left from another source port: the engine rotates its blocks
    assert summary_of(lines)["rounds"] == ROUNDS


def test_load_balancer_with_a_dead_backend_is_intermittent_refusal(lb: Lab) -> None:
    code, lines = watch_json(lb, VIP_V4, "-p", str(LB_PORT), "--count", str(ROUNDS), *FAST)
    assert code == 1
    mine = attempts_of(lines)
    states = Counter(a["state"] for a in mine)
    assert states == {"open": ROUNDS * 2 // 3, "refused": ROUNDS // 3}  # round robin, exactly
    check_hand_count(lines, LB_PORT)
    ttls = {a["ttl"] for a in mine if a["state"] == "open"}
    assert ttls == {63, 127}  # wb1 (TTL 64) and wb2 (TTL 128), one hop away
    summary = summary_of(lines)
    assert "intermittent-refusal" in codes(summary)
    assert "flapping" not in codes(summary) and "syn-loss" not in codes(summary)
    f = finding(summary, "intermittent-refusal")
    assert f["ports"] == [LB_PORT] and f["severity"] == "error"
    assert "one dead backend among 3" in f["summary"]
    text = " ".join(f["evidence"])
    assert f"{ROUNDS // 3} of {ROUNDS} attempts failed" in text
    assert "2 different stacks" in text and "TTL 127" in text


def test_timed_outages_are_flapping(lab: Lab) -> None:
    ports = f"{t.HTTP_PORT},{t.CLOSED_PORT}"
    with flapping(lab, ((1.2, 2.2), (3.2, 4.2))):
        code, lines = watch_json(
            lab, t.SRV_V4, "-p", ports, "--count", "40", "--tries", "1", "--timeout", "0.2", *FAST
        )
    assert code == 1
    summary = summary_of(lines)
    for port in (t.HTTP_PORT, t.CLOSED_PORT):
        check_hand_count(lines, port)
    assert "flapping" in codes(summary)
    assert "intermittent-refusal" not in codes(summary)
    f = finding(summary, "flapping")
    assert sorted(f["ports"]) == [t.HTTP_PORT, t.CLOSED_PORT]
    assert any("every watched port" in e for e in f["evidence"])
    http = port_entry(summary, t.HTTP_PORT)["repeat"]
    assert len(http["downtime"]) == 2  # the two windows
    assert all(w["length"] >= 3 for w in http["downtime"])


def test_random_syn_loss_is_syn_loss(lab: Lab) -> None:
    with random_loss(lab):
        code, lines = watch_json(
            lab,
            t.SRV_V4,
            "-p",
            str(t.HTTP_PORT),
            "--count",
            str(ROUNDS),
            "--timeout",
            "0.3",
            *FAST,
        )
    summary = summary_of(lines)
    check_hand_count(lines, t.HTTP_PORT)
    retried = sum(a["tries"] > 1 for a in attempts_of(lines) if a["state"] == "open")
    assert retried >= 3, lines[-1]  # P(fewer than 3 of 42 at 30 % loss) < 1e-3
    assert "syn-loss" in codes(summary)
    assert "intermittent-refusal" not in codes(summary) and "flapping" not in codes(summary)
    assert finding(summary, "syn-loss")["severity"] == "warning"
    del code


def test_loss_on_the_open_port_only_is_overload_not_firewall(lab: Lab) -> None:
    ports = f"{t.HTTP_PORT},{t.CLOSED_PORT}"
    with random_loss(lab):
        _, lines = watch_json(
            lab, t.SRV_V4, "-p", ports, "--count", str(ROUNDS), "--timeout", "0.3", *FAST
        )
    summary = summary_of(lines)
    closed = port_entry(summary, t.CLOSED_PORT)["repeat"]
    assert closed["counts"] == {"refused": ROUNDS} and closed["retried"] == 0
    assert "overload-vs-firewall" in codes(summary)
    assert "syn-loss" not in codes(summary)
    f = finding(summary, "overload-vs-firewall")
    assert f["ports"] == [t.HTTP_PORT]
    assert f"port {t.CLOSED_PORT} of the same host answered RST" in f["evidence"][-1]


def test_a_changed_hosts_entry_is_dns_changed(lab: Lab) -> None:
    import threading

    name = t.NAME_HOSTS_ONLY  # the client's hosts file says srv; DNS does not know it
    with lab.client_hosts({name: t.SRV_V4}) as path:
        moved = threading.Timer(1.5, lambda: path.write_text(_hosts({name: t.NOPING_V4})))
        moved.start()
        try:
            _, lines = watch_json(
                lab, name, "-p", str(t.HTTP_PORT), "--count", "30", "--resolve-every", "5", *FAST
            )
        finally:
            moved.cancel()
    lookups = [x for x in lines if x["type"] == "lookup"]
    assert any(x["changed"] and x["addresses"] == [t.NOPING_V4] for x in lookups)
    addresses = [a["address"] for a in attempts_of(lines)]
    assert addresses[0] == t.SRV_V4 and addresses[-1] == t.NOPING_V4
    assert "dns-changed" in codes(summary_of(lines))


def _hosts(entries: dict[str, str]) -> str:
    from .netlab import _hosts_text

    return _hosts_text({**t.CLIENT_HOSTS, **entries})


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_bursts_through_a_bloated_queue_are_latency_spikes(lab: Lab) -> None:
    args = ("-p", str(SLOW_PORT), "--count", str(SPIKE_ROUNDS), *FAST)
    with slow_link(lab) as target:
        _, idle = watch_json(lab, target, *args)  # the same slow link, its queue empty
        with bulk_bursts(lab) as sent:
            code, busy = watch_json(lab, target, *args)
        queue = qdisc_stats(lab)
    assert not INTERMITTENCY & set(codes(summary_of(idle))), summary_of(idle)["targets"]
    assert code == 0, summary_of(busy)["targets"]  # a warning: the port works
    check_hand_count(busy, SLOW_PORT)
    mine = attempts_of(busy)
    # a deep queue delays, it never drops: every SYN answered on its first try
    assert {(a["state"], a["tries"]) for a in mine} == {("open", 1)}
    assert queue["drops"] == 0 and queue["bytes"] > (len(sent) - 1) * 40_000, queue
    rtts = sorted(a["rtt_ms"] for a in mine)
    stats = port_entry(summary_of(busy), SLOW_PORT)["repeat"]["rtt_ms"]
    assert stats["median"] == pytest.approx(statistics.median(rtts), abs=0.001)
    assert stats["p95"] == rtts[math.ceil(0.95 * len(rtts)) - 1]
    # the rule's count, by hand: answers over max(4 medians, median + 50 ms)
    median = rtts[len(rtts) // 2]
    bar = max(SPIKE_FACTOR * median, median + SPIKE_MIN_MS)
    spikes = [a for a in mine if a["rtt_ms"] > bar]
    seen = [a["rtt_ms"] for a in mine]  # for the messages
    assert median < 5.0, seen  # between bursts the link is as fast as the others
    assert 4 <= len(spikes) <= SPIKE_ROUNDS // 3, seen
    assert stats["p95"] > bar and stats["max"] <= BULK_DRAIN_MS + 100, (stats, seen)
    # each spike is what was left of one burst ahead of the SYN in the queue: the burst was
    # sent about (drain time - RTT) before the round began
    orphans = [
        a
        for a in spikes
        if not any(
            abs(_epoch(a["time"]) + (a["rtt_ms"] - BULK_DRAIN_MS) / 1000 - b) < 0.15 for b in sent
        )
    ]
    assert len(orphans) <= 1, (orphans, sent)  # one stall of a busy machine, at most
    start, end = _epoch(mine[0]["time"]), _epoch(mine[-1]["time"])
    during = [b for b in sent if start - BULK_DRAIN_MS / 1000 <= b <= end]
    assert len(during) // 2 <= len(spikes) <= len(during) + 1, (len(spikes), len(during))
    f = finding(summary_of(busy), "latency-spikes")
    assert f["ports"] == [SLOW_PORT] and f["severity"] == "warning"
    (evidence,) = f["evidence"]
    assert evidence.startswith(  # the rule counted what the hand count counts
        f"port {SLOW_PORT}: {len(spikes)} of {SPIKE_ROUNDS} answers took over {bar:.0f} ms "
        f"against a median of {median:.2f} ms"
    )
    others = INTERMITTENCY - {"latency-spikes"}
    assert not others & set(codes(summary_of(busy)))
