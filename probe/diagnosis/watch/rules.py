"""Why a port is intermittent: rules over the attempt log of one host (and, for dns-changed,
the lookups of one name). Each returns at most one finding, its ports grouped.

- ``intermittent-refusal``: a steady fraction refused (or silent) while the rest open,
  spread evenly and decided attempt by attempt: a load balancer with a dead backend.
- ``flapping``: failures bunched into windows (the runs test, series.py): the path or the
  host goes away and comes back.
- ``syn-loss``: answers only to a retransmitted SYN, or RTTs at the kernel's SYN
  retransmission times (1 s, 3 s, 7 s after the first): lost packets, not a slow server.
- ``latency-spikes``: RTTs far above the median, now and then.
- ``overload-vs-firewall``: an open port silent now and then while a closed port of the same
  host answers RST every time, at once: the host drops those SYNs itself.
- ``dns-changed``: the name gave other addresses during the watch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from probe.diagnosis.watch.attempt import Attempt
from probe.diagnosis.watch.host import (
    MIN_ATTEMPTS,
    MIN_DEVIATIONS,
    Host,
    clock,
    name,
    pct,
    ports_of,
    read_host,
    silent,
)
from probe.diagnosis.watch.loss import latency_spikes, syn_loss
from probe.diagnosis.watch.series import SeriesReading, backend_words, near_fraction
from probe.diagnosis.watch.stats import answered
from probe.diagnosis.words import and_list, plural, port_list
from probe.model import Finding, PortState, Severity, TcpOptions

# Linux SYN cookies encode the MSS as one of four values (net/ipv4/syncookies.c msstab), and
# without TCP timestamps they cannot carry window scaling or SACK: a SYN/ACK with those signs
# was likely sent from a cookie, that is, with the listen queue full.
COOKIE_MSS: Final = (536, 1300, 1440, 1460)


# --------------------------------------------------------------------------- the rules


def intermittent_refusal(h: Host) -> Finding | None:
    refused_host = bool(h.steady_refused())
    chosen: list[SeriesReading] = []
    for r in h.mixed_open():
        if r.bunched:
            continue
        quiet = sum(1 for a in r.deviations if silent(a))
        if quiet * 2 > len(r.deviations):  # mostly silence: loss and overload speak of it
            retried = any(a.tries > 1 and answered(a) for a in r.attempts)
            if retried or refused_host:
                continue
        chosen.append(r)
    if not chosen:
        return None
    evidence: list[str] = []
    nears: list[int] = []
    for r in chosen:
        n, d = len(r.attempts), len(r.deviations)
        words = {s: sum(1 for a in r.deviations if a.state is s) for s in PortState}
        what = and_list([f"{c} {s}" for s, c in words.items() if c])
        parts = ", ".join(f"{k}/{m}" for k, m in r.parts)
        evidence.append(
            f"port {name(r)}: {d} of {n} attempts failed ({pct(d, n)}: {what}), "
            f"{n - d} open; per third of the attempts {parts}; "
            f"never more than {r.longest_run} in a row"
        )
        near = near_fraction(r.share)
        if near is not None:
            nears.append(near)
            evidence.append(
                f"{d} of {n} is close to 1 in {near}: one member of a pool of {near} that "
                "fails, taken in turn, gives that"
            )
        if len(r.backends) > 1:
            shown = "; ".join(f"{backend_words(b)} ({c})" for b, c in r.backends[:4])
            evidence.append(
                f"the SYN/ACKs on {name(r)} come from {len(r.backends)} different stacks "
                f"(at least {len(r.backends)} backends answer): {shown}"
            )
        ttls = sorted({a.ttl for a in r.deviations if a.ttl is not None})
        if ttls:
            evidence.append(
                f"the failed attempts were answered with TTL {', '.join(map(str, ttls))}"
            )
    ports, protocols = ports_of(chosen)
    pool = f"one dead backend among {nears[0]}" if nears else "a dead backend in the pool"
    return Finding(
        code="intermittent-refusal",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=f"{plural(len(ports), 'Port').capitalize()} {port_list(ports)} on {h.address} "
        f"{plural(len(ports), 'fails', 'fail')} on a steady share of attempts while the "
        "others connect, spread evenly over time: "
        f"typically a load balancer with {pool}.",
        evidence=tuple(evidence),
        next_steps=(
            f"check the load balancer's pool behind {h.address}: the health check of the "
            "member that refuses (its service is down, or listens elsewhere)",
            "probe each backend directly (probe check BACKEND -p "
            f"{ports[0]}) to find the one that refuses",
            "no load balancer? look for a service that restarts, or a connection limit that "
            "resets: the answers' TTL says who sends them",
        ),
    )


def flapping(h: Host) -> Finding | None:
    flaps = [r for r in h.readings if r.mixed and r.bunched and len(r.attempts) >= MIN_ATTEMPTS]
    if not flaps:
        return None
    windows = sorted(
        {(b.first_round, b.last_round, b.start, b.end) for r in flaps for b in r.bunches}
    )
    together = len(flaps) == len(h.readings) and len(h.readings) > 1
    evidence = []
    for first, last, start, end in windows[:8]:
        evidence.append(
            f"from {clock(start)} to {clock(end)}: {last - first + 1} rounds in a row failed"
        )
    if len(windows) > 8:
        evidence.append(f"and {len(windows) - 8} more windows")
    for r in flaps:
        n, d = len(r.attempts), len(r.deviations)
        evidence.append(
            f"port {name(r)}: {d} of {n} attempts failed, in {len(r.bunches)} "
            f"{plural(len(r.bunches), 'block')} (runs test z = {r.z:.1f}: far fewer runs than "
            "failures spread at random would make)"
        )
    if together:
        evidence.append(f"every watched port of {h.address} failed in the same windows")
    ports, protocols = ports_of(flaps)
    whole = "the host or the path to it" if together or len(h.readings) == 1 else "the ports"
    longest = max(end - start for _, _, start, end in windows)
    return Finding(
        code="flapping",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=f"{h.address} goes away and comes back: failures come in "
        f"{len(windows)} {plural(len(windows), 'window')} of time (the longest {longest:.1f} s) "
        f"rather than one by one, so {whole} drops out now and then.",
        evidence=tuple(evidence),
        next_steps=(
            "look at what happened at those times: a link going down (interface counters, "
            "switch logs), a router or firewall failing over, a VPN renegotiating, a reboot",
            "watch the gateway and a host beside the target at the same time: what fails "
            "with it locates the break",
            f"probe trace {h.address} --port {ports[0]} during a window shows where the SYN dies",
        ),
    )


def _cookie_signs(opens: Sequence[Attempt]) -> list[str]:
    opts = [a.tcp_options for a in opens if a.tcp_options is not None]
    if not opts:
        return []
    full = [o for o in opts if o.wscale is not None or o.sack_permitted or o.timestamps]
    bare = [o for o in opts if _bare(o) and o.mss in COOKIE_MSS]
    if not bare or not full:
        return []
    return [
        f"{len(bare)} of {len(opts)} SYN/ACKs carried MSS {bare[0].mss} and no window scaling, "
        "SACK or timestamps while the others had them: the signs of SYN cookies, which the "
        "kernel sends when the listen queue is full"
    ]


def _bare(o: TcpOptions) -> bool:
    return o.wscale is None and not o.sack_permitted and not o.timestamps


def overload_vs_firewall(h: Host) -> Finding | None:
    closed = h.steady_refused()
    if not closed:
        return None
    chosen = [
        r
        for r in h.readings
        if r.usual is PortState.OPEN
        and len(r.attempts) >= MIN_ATTEMPTS
        and sum(1 for a in r.attempts if silent(a) or a.tries > 1) >= MIN_DEVIATIONS
    ]
    if not chosen:
        return None
    c = closed[0]
    rtts = sorted(a.rtt_ms for a in c.attempts if a.rtt_ms is not None)
    at_once = f" in {rtts[len(rtts) // 2]:.2f} ms (median)" if rtts else ""
    evidence = []
    for r in chosen:
        quiet = sum(1 for a in r.attempts if silent(a))
        late = sum(1 for a in r.attempts if answered(a) and a.tries > 1)
        evidence.append(
            f"port {name(r)}: {quiet} of {len(r.attempts)} attempts unanswered and {late} "
            "answered only to a retransmitted SYN; the rest open"
        )
        evidence += _cookie_signs([a for a in r.attempts if a.state is PortState.OPEN])
    evidence.append(
        f"port {name(c)} of the same host answered RST to every first SYN "
        f"({len(c.attempts)} of {len(c.attempts)}){at_once}: same path, nothing lost there"
    )
    ports, protocols = ports_of(chosen)
    nums = port_list(ports)
    return Finding(
        code="overload-vs-firewall",
        severity=Severity.WARNING,
        ports=ports,
        protocols=protocols,
        summary=f"{plural(len(ports), 'Port').capitalize()} {nums} on {h.address} "
        f"{plural(len(ports), 'goes', 'go')} silent "
        f"now and then while closed port {name(c)} answers every time: the host is up and the "
        "path loses nothing, so the service's full listen queue (or SYN flood protection) is "
        "more likely than a firewall rule.",
        evidence=tuple(evidence),
        next_steps=(
            "on the server: nstat -az TcpExtListenOverflows TcpExtListenDrops (growing: the "
            "accept queue overflows); ss -ltn shows Recv-Q at Send-Q when the backlog is full",
            "raise the service's listen backlog and net.core.somaxconn, or find why it accepts "
            "slowly (threads, CPU, a blocked event loop)",
            f"a firewall rate limit on {nums} (hashlimit, a SYN proxy) drops like this too: "
            "its counters",
        ),
    )


HOST_RULES: Final = (
    intermittent_refusal,
    flapping,
    syn_loss,
    overload_vs_firewall,
    latency_spikes,
)


def diagnose_host(
    address: str, attempts: Sequence[Attempt], *, connect: bool = False
) -> tuple[Finding, ...]:
    """The intermittency findings for one address, from every attempt that went to it."""
    h = read_host(address, attempts, connect=connect)
    return tuple(f for rule in HOST_RULES if (f := rule(h)) is not None)
