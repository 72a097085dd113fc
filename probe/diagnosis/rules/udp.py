"""Rules about UDP's silence: udp-no-answer, icmp-rate-limited.

UDP has no handshake. A closed port is known only by its host's ICMP port unreachable, an
open one only by an answer to a request its service understands; silence is nmap's
"open|filtered" and needs reading: was the request one the protocol always answers (NTP,
DNS, SIP OPTIONS), one that depends on configuration (an SNMP community), or one that is never
answered (syslog)? And hosts send ICMP errors slowly — Linux a burst of 6, then about one per
second to each client — so a scan of many closed ports draws a few refusals and then silence
that only looks like a firewall. The refusals, answers and ICMP errors themselves are read
by the per-port rules (ports.py, host.py) for both transports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from probe import payloads
from probe.diagnosis.context import Context
from probe.diagnosis.words import (
    cap,
    endpoints,
    group,
    numbers,
    plural,
    port_spec,
    ports_of,
    ports_words,
    udp_list,
    verb,
)
from probe.model import Finding, PortResult, PortState, Severity, TargetReport
from probe.payloads import Expect, UdpRequest

# A host whose own ICMP port unreachable answered some UDP ports while at least this many
# others stayed silent has most likely run out of ICMP tokens (Linux: 6, then one a second).
RATE_LIMIT_SILENT: Final = 5
ICMP_PER_SECOND: Final = 1.0  # Linux's default per-client rate (net.ipv4.icmp_ratelimit 1000 ms)


def known_request(p: PortResult) -> UdpRequest | None:
    """The table's request for ``p``, when that is what was sent (not --payload-hex)."""
    known = payloads.request_for(p.port)
    return known if known is not None and known.request == p.request else None


def _silent(ctx: Context) -> list[PortResult]:
    return [p for p in ctx.udp if p.state is PortState.OPEN_FILTERED]


def _own_refusals(t: TargetReport, ctx: Context) -> list[PortResult]:
    """UDP ports closed by the host's own ICMP port unreachable (raw mode: sender known)."""
    return [
        p
        for p in ctx.udp
        if p.state is PortState.REFUSED and p.responder is not None and p.reason == "port-unreach"
    ]


def rate_limited(t: TargetReport, ctx: Context) -> list[PortResult]:
    """The silent UDP ports left undecided by the host's ICMP rate limit: those whose request
    is not one their protocol always answers, on a host that did answer port unreachable for
    some ports and then went quiet for many."""
    if ctx.connect:
        return []
    silent = [p for p in _silent(ctx) if _expect(p) is not Expect.ALWAYS]
    if not _own_refusals(t, ctx) or len(silent) < RATE_LIMIT_SILENT:
        return []
    return silent


def _expect(p: PortResult) -> Expect | None:
    known = known_request(p)
    return None if known is None else known.expect


def udp_no_answer(t: TargetReport, ctx: Context) -> Finding | None:
    """udp-no-answer: UDP ports that stayed silent (open|filtered), read by what was sent."""
    silent = _silent(ctx)
    if not silent or ctx.host_silent or ctx.link_down or ctx.host_unreachable:
        return None
    ports, protocols = endpoints(silent)
    named = udp_list(numbers(silent))
    said = cap(ports_words(silent))
    always = [p for p in silent if _expect(p) is Expect.ALWAYS]
    never = [p for p in silent if _expect(p) is Expect.NEVER]
    limited = rate_limited(t, ctx)
    refusals = _own_refusals(t, ctx)
    if always:
        what = _protocols(always)
        summary = (
            f"{cap(what)} on {udp_list(numbers(always))} did not answer a request such a server "
            "always answers: the datagrams are most likely dropped by a firewall on the way or on "
            "the host (or nothing listens and the host's ICMP errors are filtered)"
        )
    elif len(never) == len(silent):
        summary = (
            f"{said} stayed silent, as {_protocols(never)} does even when it works: UDP "
            "has no handshake, so probe cannot tell an open port from a filtered one here"
        )
    elif limited:
        summary = (
            f"{said} gave no answer; most are probably closed ports whose ICMP errors "
            f"{ctx.host} held back (see icmp-rate-limited), the rest dropped or ignoring the "
            "request"
        )
    else:
        summary = (
            f"{said} got no answer: UDP has no handshake, so either a firewall drops the "
            f"{plural(len(silent), 'datagram')} or the service ignores the request sent"
        )
    if refusals and not limited:
        summary += (
            f"; {ctx.host} answered ICMP port unreachable on {udp_list(numbers(refusals))}, so "
            f"its firewall does not drop all UDP: a rule for {named} is the likely cause"
        )
    evidence = ctx.syn_lines(silent)
    evidence += _request_lines(silent)
    answered = [p for p in ctx.udp if p.state is PortState.OPEN]
    tcp_open = ctx.state(PortState.OPEN)
    if answered or tcp_open:
        evidence.append(f"the host answers on {ports_of([*tcp_open, *answered])}: it is up")
    first = numbers(silent)[0]
    steps = [
        f"check the firewalls between this client and {ctx.host}, and the one on the host, for "
        f"a rule dropping UDP {port_spec(numbers(silent))}",
        f"check that the service runs and listens on {named} on {ctx.host} (ss -lunp)",
        f"probe trace {ctx.host} --udp --port {first} shows how far the datagram gets",
    ]
    if any(_expect(p) is not Expect.ALWAYS for p in silent):
        steps.append(
            "if the service only answers its own kind of request (an SNMP community, a RADIUS "
            "secret, a protocol probe does not know), probe again with --payload-hex or "
            "--payload-file holding one it answers"
        )
    return Finding(
        code="udp-no-answer",
        severity=Severity.ERROR,
        ports=ports,
        protocols=protocols,
        summary=summary + ".",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )


def icmp_rate_limited(t: TargetReport, ctx: Context) -> Finding | None:
    """icmp-rate-limited: closed UDP ports answered in a burst, then silence at the host's
    ICMP rate limit: the silent ports are undecided, not filtered."""
    limited = rate_limited(t, ctx)
    if not limited:
        return None
    refusals = _own_refusals(t, ctx)
    ports, protocols = endpoints(limited)
    seconds = len(limited) / ICMP_PER_SECOND
    spec = ",".join(f"{part}/udp" for part in port_spec(numbers(limited)).split(","))
    return Finding(
        code="icmp-rate-limited",
        severity=Severity.WARNING,
        ports=ports,
        protocols=protocols,
        summary=f"The host {ctx.host} sent ICMP port unreachable for {len(refusals)} UDP "
        f"{plural(len(refusals), 'port')} and then went quiet: hosts rate-limit their ICMP "
        f"errors, so the {len(limited)} silent {plural(len(limited), 'port')} "
        f"{verb(ports, 'is', 'are')} undecided, most likely closed rather than filtered.",
        evidence=(
            f"ICMP port unreachable from {ctx.host} itself for {udp_list(numbers(refusals))}",
            f"no answer at all on {udp_list(numbers(limited))}",
            "Linux sends a burst of 6 ICMP errors to a client, then about one per second "
            "(net.ipv4.icmp_ratelimit); Windows and routers limit them too",
        ),
        next_steps=(
            f"probe check {ctx.host} -p {spec} --wait-for-icmp decides them at one probe per "
            f"second: about {_duration(seconds)}",
            "or probe fewer UDP ports at a time: the ones the service really uses",
        ),
    )


def _protocols(ps: Sequence[PortResult]) -> str:
    """ "NTP", "DNS and SNMP": the protocols of the requests sent to ``ps``."""
    names = []
    for p in ps:
        known = known_request(p)
        name = known.protocol.upper() if known is not None else f"the service on {p.port}/udp"
        if name not in names:
            names.append(name)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _request_lines(silent: Sequence[PortResult]) -> list[str]:
    """What was sent, per request, and what its silence means."""
    lines = []
    for g in group(silent, lambda p: p.request):
        p, nums = g[0], udp_list(numbers(g))
        known = known_request(p)
        if known is not None:
            lines.append(f"sent {known.request} to {nums}: {known.why}")
        elif p.request is not None:
            lines.append(f"sent {p.request} to {nums}")
        else:
            lines.append(
                f"sent an empty datagram to {nums} (no request known for that port): most "
                "services ignore one, so silence says little"
            )
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
