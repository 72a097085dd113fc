"""Who sent the RST, proven: a TTL-limited SYN for each RST that looks sent by a device in
front of the host, and the packet oddities that point the same way.

The TTL comparison in context.py only suspects a middlebox: a RST whose TTL says it crossed
fewer routers than the host's own SYN/ACK or echo reply. The proof follows from TTL
arithmetic. When the host's answers cross H routers (``classify.hops_from_ttl``: 63 -> 1),
the host is H + 1 hops away, and a SYN sent with TTL H is handled by the device at hop H:
a router there finds the TTL spent and answers ICMP time exceeded — unless that device (or
one before it) owns the address and answers for the host itself::

    client ---- router (hop 1) ---- host (hop 2)     the host's SYN/ACK arrives with TTL 63: H = 1
    SYN to the RST's port with TTL 1:
      RST back           -> the router answers in the host's name (a NAT without that forward)
      time exceeded      -> the RST came from farther away: not confirmed

Two more signs, read from the scan itself:

- a SYN/ACK with window 0 and no TCP options is what SYN proxies (firewalls that complete
  the handshake in the host's name) send; real stacks offer at least an MSS;
- a RST whose IP ID is 0 while the host's own answers carry other IDs (or the reverse) came
  from another IP stack: Linux sends 0 with "don't fragment", Windows and many embedded
  stacks count upwards.

Pure: ``plan`` chooses the probes from the scan's evidence, ``evidence_lines`` words what
the probes and the scan showed, for ``port-refused-by-middlebox`` (rules/ports.py). The
session sends the probes through the engine after the main scan, in raw mode only, and
``registry.attach_confirmations`` diagnoses the target again with their evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

from probe.diagnosis import classify
from probe.diagnosis.context import context
from probe.engine.base import Job
from probe.model import (
    AnswerKind,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PortEvidence,
    PortResult,
    PortState,
    TargetReport,
    TcpOptions,
)

NO_OPTIONS = TcpOptions()
MAX_PROOFS = 4  # ports per address confirmed with a TTL-limited SYN
_SHOWN = 5  # ports or IP IDs quoted in one evidence line


def plan(
    address: str, ports: Sequence[PortResult], ping: PingResult | None, source: str | None = None
) -> list[Job]:
    """The confirmation probes for one address, from its raw-SYN scan's classified ports:
    for each RST that the TTL comparison puts in front of the host, a SYN to that port whose
    TTL reaches the hop before the host only (from ``source``, as the scan's were)."""
    if not any(p.state is PortState.REFUSED for p in ports):
        return []
    preview = TargetReport(
        input=address,
        address=address,
        dns=DnsResult(DnsStatus.LITERAL, addresses=(address,)),
        ping=ping,
        ports=tuple(ports),
    )
    ctx = context(preview, Method.RAW)
    ref = ctx.reference
    if ref is None or ref.hops < 1:
        return []  # no router between us and the host: no hop before it to stop at
    suspects = [
        p
        for p in ctx.middlebox_refused
        if p.ttl is not None and classify.hops_from_ttl(p.ttl) < ref.hops
    ]
    # A few ports prove it: the device answering for one port answers for the others too,
    # and a NAT box resetting 60000 ports must not double the scan.
    return [Job(address, p.port, ttl=ref.hops, source=source) for p in suspects[:MAX_PROOFS]]


def by_address(evidence: Sequence[PortEvidence]) -> dict[str, tuple[PortEvidence, ...]]:
    """Evidence grouped by the address probed, in the engine's order."""
    out: dict[str, list[PortEvidence]] = {}
    for e in evidence:
        out.setdefault(e.address, []).append(e)
    return {a: tuple(es) for a, es in out.items()}


def looks_forged(p: PortResult) -> bool:
    """A SYN/ACK as SYN proxies send it: window 0 and no TCP options at all."""
    return p.state is PortState.OPEN and p.window == 0 and p.tcp_options == NO_OPTIONS


def evidence_lines(
    t: TargetReport,
    refused: Sequence[PortResult],
    own: Sequence[PortResult],
) -> list[str]:
    """Evidence for ``port-refused-by-middlebox``: the confirmation probes' outcome, forged
    SYN/ACKs, and RSTs whose IP ID pattern differs from the host's own answers.

    ``refused``: the ports whose RST is put in front of the host; ``own``: answers known to
    come from the host (its SYN/ACKs and RSTs).
    """
    ports = {p.port for p in refused}
    groups: dict[tuple[object, ...], list[PortEvidence]] = {}
    for e in sorted(t.confirmations, key=lambda e: e.port):
        if e.port in ports and e.address == t.address:
            same = (e.answer, e.probe_ttl, e.responder, e.ttl, e.window, e.tries)
            groups.setdefault((*same, e.icmp_type, e.icmp_code, e.errno_name), []).append(e)
    lines = [_proof(g[0], [e.port for e in g]) for g in groups.values()]
    forged = [p.port for p in t.ports if looks_forged(p)]
    if forged:
        lines.append(
            f"SYN/ACK on {_nums(forged)} with window 0 and no TCP options: forged by a SYN "
            "proxy (a firewall completing the handshake in the host's name), not the host's "
            "own TCP stack"
        )
    lines.extend(_ip_id_lines(refused, [p for p in own if not looks_forged(p)]))
    return lines


def _nums(ports: Sequence[int]) -> str:
    """ "80, 443", or the first few and how many more."""
    ordered = sorted(ports)
    more = f" and {len(ordered) - _SHOWN} more" if len(ordered) > _SHOWN else ""
    return ", ".join(str(p) for p in ordered[:_SHOWN]) + more


def _proof(e: PortEvidence, ports: Sequence[int]) -> str:
    """What the TTL-limited SYNs to ``ports`` (all answered like ``e``) prove."""
    ttl = e.probe_ttl
    one = len(ports) == 1
    syn = f"{'a SYN' if one else 'SYNs'} to {_nums(ports)} with TTL {ttl}"
    if e.answer is AnswerKind.RST:
        hop = ttl if e.ttl is None or ttl is None else min(ttl, classify.hops_from_ttl(e.ttl) + 1)
        line = (
            f"{syn} — enough for hop {ttl}, too short to reach the host — still drew "
            f"{'the RST' if one else 'RSTs'} from {e.responder}: the device at hop {hop} "
            "answers for the host"
        )
        if e.window:
            line += f" (with window {e.window} in the RST, where TCP stacks put 0)"
        return line
    if e.answer is AnswerKind.NONE:
        tries = f"{e.tries} {'try' if e.tries == 1 else 'tries'}"
        return (
            f"{syn} (to stop one hop before the host) got no answer after {tries}: who sent "
            "the RST is not confirmed"
        )
    if e.answer is AnswerKind.SYN_ACK:
        return (
            f"{syn} drew a SYN/ACK from {e.responder}: the answers on the way changed between "
            "probes, so who sent the RST is not confirmed"
        )
    reason = classify.reading(e).reason
    if reason == "time-exceeded":
        return (
            f"{syn} died at hop {ttl} (ICMP time exceeded from {e.responder}) without drawing "
            "a RST: the RST came from farther away, so the TTL comparison is not confirmed"
        )
    return (
        f"{syn} drew {classify.reason_text(reason)} from {e.responder or 'this computer'}: "
        "who sent the RST is not confirmed"
    )


def _ip_id_lines(refused: Sequence[PortResult], own: Sequence[PortResult]) -> list[str]:
    """RSTs whose IP ID is zero where the host's are not, or the reverse (IPv4 only)."""
    own_ids = [p for p in own if p.ip_id is not None]
    if not own_ids or len({p.ip_id == 0 for p in own_ids}) != 1:
        return []  # nothing to compare with, or the host itself mixes both
    host_zero = own_ids[0].ip_id == 0
    odd = sorted(
        (p for p in refused if p.ip_id is not None and (p.ip_id == 0) != host_zero),
        key=lambda p: p.port,
    )
    if not odd:
        return []
    ids = ", ".join(list(dict.fromkeys(str(p.ip_id) for p in odd))[:_SHOWN])
    theirs = ", ".join(list(dict.fromkeys(str(p.ip_id) for p in own_ids))[:_SHOWN])
    what = ", ".join(
        f"{'SYN/ACK' if p.state is PortState.OPEN else 'RST'} on {p.port}" for p in own_ids[:_SHOWN]
    )
    return [
        f"RST on {_nums([p.port for p in odd])} with IP ID {ids}, the host's own answers "
        f"({what}) with IP ID {theirs}: another IP stack sent the RST"
    ]
