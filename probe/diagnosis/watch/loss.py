"""syn-loss and latency-spikes: what the answers' timing says about the path."""

from __future__ import annotations

from typing import Final

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.host import (
    MIN_DEVIATIONS,
    Host,
    clock,
    name,
    pct,
    ports_of,
    silent,
)
from probe.diagnosis.watch.stats import answered
from probe.model import Finding, Severity

LOSS_MIN_SHARE: Final = 0.05  # syn-loss: attempts needing a retry, or lost
# Linux retransmits an unanswered SYN 1 s after the first, then 2 s later, then 4 s (RTO
# doubling from 1 s): a connect() answered on a retransmission takes about 1, 3 or 7 s.
SYN_RETRANSMIT_MS: Final = (1000.0, 3000.0, 7000.0)
RETRANSMIT_SLACK_MS: Final = 150.0
SPIKE_FACTOR: Final = 4.0  # latency-spikes: RTT above this many medians...
SPIKE_MIN_MS: Final = 50.0  # ...and this much above the median (a busy machine's own noise)
SPIKE_MIN_SAMPLES: Final = 10


def retransmit_rtt(a: Attempt) -> bool:
    rtt = a.rtt_ms
    return rtt is not None and any(abs(rtt - t) <= RETRANSMIT_SLACK_MS for t in SYN_RETRANSMIT_MS)


def syn_loss(h: Host) -> Finding | None:
    if h.steady_refused():
        return None  # a closed port of the same host loses nothing: overload-vs-firewall
    chosen, evidence = [], []
    lost_tries = all_tries = 0
    for r in h.readings:
        retried = [a for a in r.attempts if answered(a) and a.tries > 1]
        at_rto = [a for a in r.attempts if answered(a) and a.tries == 1 and retransmit_rtt(a)]
        unanswered = [a for a in r.attempts if silent(a)]
        if not any(answered(a) for a in r.attempts):
            continue  # never answered: filtered, not lossy
        late = len(retried) + len(at_rto)
        if late < MIN_DEVIATIONS or late < LOSS_MIN_SHARE * len(r.attempts):
            continue
        chosen.append(r)
        n = len(r.attempts)
        line = f"port {name(r)}: {late} of {n} attempts answered only to a retransmitted SYN"
        if retried:
            by_try = {k: sum(1 for a in retried if a.tries == k) for k in range(2, 16)}
            line += " (" + ", ".join(f"{c} on SYN #{k}" for k, c in by_try.items() if c) + ")"
        if at_rto:
            rtts = ", ".join(f"{a.rtt_ms:.0f}" for a in at_rto[:6] if a.rtt_ms is not None)
            line += f"; connect() took {rtts} ms: the kernel's SYN retransmission times"
        if unanswered:
            line += f"; {len(unanswered)} not answered at all"
        evidence.append(line)
        first = sorted(a.rtt_ms for a in r.attempts if a.tries == 1 and a.rtt_ms is not None)
        if first and not at_rto:
            evidence.append(
                f"answered first SYNs took {first[len(first) // 2]:.2f} ms (median): the "
                "server answers fast when the SYN reaches it"
            )
        lost_tries += sum(a.tries - 1 for a in retried) + sum(a.tries for a in unanswered)
        all_tries += sum(a.tries for a in r.attempts)
    if not chosen:
        return None
    if all_tries and not h.connect:
        evidence.append(
            f"{lost_tries} of {all_tries} SYNs sent went unanswered ({pct(lost_tries, all_tries)})"
        )
    ports, protocols = ports_of(chosen)
    return Finding(
        code="syn-loss",
        severity=Severity.WARNING,
        ports=ports,
        protocols=protocols,
        summary=f"SYNs to {h.address} get lost on the way: attempts succeed only on a "
        "retransmission, and a real client then waits 1 s (or 3 s) before it connects; "
        "the server is not slow, packets are lost.",
        evidence=tuple(evidence),
        next_steps=(
            "look for loss on the path: interface errors and drops, a saturated link or a "
            "policer, a duplex mismatch (mtr -T -P PORT shows where the loss starts)",
            "a capture on the server shows whether the lost SYNs arrive (then its answers are "
            "lost on the way back)",
            "a firewall or IPS limiting SYNs per second drops like this too: its counters",
        ),
    )


def latency_spikes(h: Host) -> Finding | None:
    chosen, evidence = [], []
    for r in h.readings:
        clean = [a for a in r.attempts if answered(a) and a.tries == 1 and a.rtt_ms is not None]
        if len(clean) < SPIKE_MIN_SAMPLES:
            continue
        rtts = sorted(a.rtt_ms for a in clean if a.rtt_ms is not None)
        median = rtts[len(rtts) // 2]
        bar = max(SPIKE_FACTOR * median, median + SPIKE_MIN_MS)
        spikes = [a for a in clean if (a.rtt_ms or 0.0) > bar and not retransmit_rtt(a)]
        if len(spikes) < MIN_DEVIATIONS or len(spikes) * 2 > len(clean):
            continue
        chosen.append(r)
        worst = max(a.rtt_ms or 0.0 for a in spikes)
        shown = ", ".join(f"{a.rtt_ms:.0f} ms at {clock(a.time)}" for a in spikes[:5])
        evidence.append(
            f"port {name(r)}: {len(spikes)} of {len(clean)} answers took over {bar:.0f} ms "
            f"against a median of {median:.2f} ms (up to {worst / max(median, 0.001):.0f}x): "
            f"{shown}"
        )
    if not chosen:
        return None
    ports, protocols = ports_of(chosen)
    return Finding(
        code="latency-spikes",
        severity=Severity.WARNING,
        ports=ports,
        protocols=protocols,
        summary=f"Answers from {h.address} usually come fast but now and then take many "
        "times longer: something on the path or in the server stalls at moments.",
        evidence=tuple(evidence),
        next_steps=(
            "a congested link or a busy device queues packets at such moments: interface "
            "utilisation and queue drops on the path",
            "the server may stall (CPU, memory pressure, garbage collection): its load at "
            "those times",
            "watch the gateway at the same time: spikes there too point at the local network",
        ),
    )
