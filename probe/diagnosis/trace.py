"""Reading a traceroute (pure): probes' evidence -> hops -> where the SYN (or, with
``--udp``, the datagram) stopped.

``wave`` chooses the next TTLs to send, ``hop_of`` reads one probe's evidence, ``cut`` and
``verdict`` turn the hops into the answer. ``probe.session.trace`` does the sending.

What a hop says (the network's quirks):


- A SYN whose TTL runs out at a router draws ICMP time exceeded (IPv4 type 11, ICMPv6 type
  3) from that router: the hop's responder. Routers rate-limit these or never send them, so
  one silent hop in the middle of a path is normal; silence from some hop to the end is the
  drop.
- The SYN that gets far enough draws the target's SYN/ACK or RST — or, from a firewall on
  the way, a RST or an ICMP unreachable/prohibited in the target's name. The TTL it takes to
  draw that answer says where the answering device is.
- A router that rejects traffic it would forward answers only SYNs that live past it: at
  its own hop the TTL runs out first (time exceeded), one TTL later it rejects. So a reject
  at TTL k+1 from the router seen at hop k names that router as the firewall.
- Every probe of a trace has the same addresses and ports (only the TTL and the sequence
  number differ), so routers that balance load by flow send them all the same way (the
  idea of Paris traceroute) and the hops belong to one path.
- UDP (classic traceroute's own protocol): the datagram carries the port's request, so the
  target's service can answer (``udp-response``, open); a closed port draws the target's
  own ICMP port unreachable (``refused``). Silence to the end is not "filtered": UDP has no
  handshake, and a service that ignores the request is as silent as a firewall's drop, so
  the state is nmap's ``open|filtered`` and the verdict names both readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from probe import payloads
from probe.diagnosis import classify
from probe.diagnosis.classify import same_address
from probe.engine.base import Job
from probe.model import AnswerKind, Hop, PortEvidence, PortState, Protocol, TraceVerdict

WAVE = 8  # TTLs sent at once: one wave covers most LAN and VPN paths

# Hop kinds (the JSON's "kind" words): a router on the way, silence, and (below) the kinds
# that end the trace because the probe went no farther, with the port state each one means.
TIME_EXCEEDED = "time-exceeded"
NONE = "none"
SYN_ACK = "syn-ack"
RST = "rst"
UDP_RESPONSE = "udp-response"  # a datagram back from the port: something listens
REFUSED = "refused"  # UDP: the target's own ICMP port unreachable (nothing listens)
REJECTED = "rejected"
UNREACHABLE = "unreachable"
_KIND_STATE = {
    SYN_ACK: PortState.OPEN,
    UDP_RESPONSE: PortState.OPEN,
    RST: PortState.REFUSED,
    REFUSED: PortState.REFUSED,
    REJECTED: PortState.REJECTED,
    UNREACHABLE: PortState.UNREACHABLE,
}
_ANSWER_KIND = {AnswerKind.SYN_ACK: SYN_ACK, AnswerKind.RST: RST, AnswerKind.UDP: UDP_RESPONSE}


@dataclass(frozen=True, slots=True)
class _Words:
    """How a verdict names what was sent: the SYN to port 82, the datagram to 53/udp."""

    probe: str
    port: str


def _words(port: int, protocol: Protocol) -> _Words:
    if protocol is Protocol.UDP:
        return _Words("datagram", f"{port}/udp")
    return _Words("SYN", str(port))


def hop_of(ev: PortEvidence) -> Hop:
    """One probe's evidence as a hop: who answered at that TTL, and with what."""
    ttl = ev.probe_ttl if ev.probe_ttl is not None else 0
    if ev.answer is AnswerKind.NONE:
        return Hop(ttl, NONE, reason="no-response", tries=ev.tries)
    state, reason = classify.reading(ev)
    answered = _ANSWER_KIND.get(ev.answer)
    if answered is not None:
        kind = answered
    elif reason == TIME_EXCEEDED:
        kind = TIME_EXCEEDED
    else:
        # "rejected" or "unreachable", the ICMP reason beside it; UDP's "refused" (the
        # target's own port unreachable)
        kind = state.value
    return Hop(
        ttl=ttl,
        kind=kind,
        responder=ev.responder,
        rtt_ms=ev.rtt_ms,
        reason=reason,
        reply_ttl=ev.ttl,
        tries=ev.tries,
    )


def is_final(hop: Hop) -> bool:
    """The probe went no farther than this hop: it reached the target or was turned away."""
    return hop.kind in _KIND_STATE


def jobs(
    address: str,
    port: int,
    ttls: Sequence[int],
    protocol: Protocol = Protocol.TCP,
    datagrams: tuple[bytes, ...] = (),
    source: str | None = None,
) -> list[Job]:
    """One probe per TTL; a UDP probe carries ``datagrams`` (the port's request, try by try).
    ``source``: the address they leave from (--source)."""
    if protocol is Protocol.TCP:
        return [Job(address, port, ttl=ttl, source=source) for ttl in ttls]
    return [Job(address, port, ttl, protocol, datagrams, source=source) for ttl in ttls]


def wave(hops: Sequence[Hop], max_hops: int, silent_hops: int, size: int = WAVE) -> range:
    """The TTLs to send next, given the hops 1..n seen so far; empty when the trace is over."""
    sent = len(hops)
    if sent >= max_hops or any(is_final(h) for h in hops):
        return range(0)
    last = max((h.ttl for h in hops if h.kind != NONE), default=0)
    if sent - last >= silent_hops:
        return range(0)
    return range(sent + 1, min(sent + size, max_hops) + 1)


def contiguous(evidence: Sequence[PortEvidence], start: int) -> list[Hop]:
    """Hops start, start+1, ... from one wave's evidence, stopping at the first TTL missing
    (an interrupted scan finishes only some probes)."""
    by_ttl = {e.probe_ttl: e for e in evidence}
    hops: list[Hop] = []
    ttl = start
    while ttl in by_ttl:
        hops.append(hop_of(by_ttl[ttl]))
        ttl += 1
    return hops


def cut(hops: Sequence[Hop], silent_hops: int) -> tuple[Hop, ...]:
    """The hops worth showing: up to the first final one, else up to ``silent_hops`` silent
    hops past the last answer (a wave may have probed farther)."""
    for i, h in enumerate(hops):
        if is_final(h):
            return tuple(hops[: i + 1])
    last = max((i for i, h in enumerate(hops) if h.kind != NONE), default=-1)
    return tuple(hops[: last + 1 + silent_hops])


def verdict(
    hops: Sequence[Hop],
    address: str,
    port: int,
    max_hops: int,
    protocol: Protocol = Protocol.TCP,
    reply: bytes | None = None,
) -> TraceVerdict:
    """The state at the end of the path and one sentence saying where the probe stopped.

    ``stopped_at_ttl`` is the TTL of the hop the sentence is about — the final answer, or the
    last hop that answered before the silence (None when nothing answered at all) — and
    ``last_responder`` is who answered there. ``reply``: the final UDP answer's payload, said
    in a few words (``payloads.decode``).
    """
    w = _words(port, protocol)
    final = next((h for h in hops if is_final(h)), None)
    if final is not None:
        before = [h for h in hops if h.ttl < final.ttl]
        return TraceVerdict(
            state=_KIND_STATE[final.kind],
            summary=_final_summary(final, before, address, w, _answer_words(port, reply)),
            last_responder=final.responder,
            stopped_at_ttl=final.ttl,
            reason=final.reason,
        )
    answered = [h for h in hops if h.kind != NONE]
    last = answered[-1] if answered else None
    if last is not None and last.ttl >= max_hops:
        return TraceVerdict(
            state=PortState.UNREACHABLE,
            summary=f"The {w.probe} to port {w.port} was still on its way at hop {last.ttl} "
            f"({_who(last)}): {address} is more than {max_hops} hops away, or the path loops; "
            "raise --max-hops to see farther.",
            last_responder=last.responder,
            stopped_at_ttl=last.ttl,
            reason=last.reason,
        )
    if protocol is Protocol.UDP:
        state, summary = PortState.OPEN_FILTERED, _udp_silence(last, address, port, w)
    elif last is None:
        state = PortState.FILTERED
        summary = (
            f"Port {w.port} is filtered: nothing answers from hop 1 on, so the SYN is dropped "
            "at the first hop (this computer's firewall, or the first router's) or no router "
            "on the path sends ICMP time exceeded."
        )
    else:
        who = _who(last)
        state = PortState.FILTERED
        summary = (
            f"Port {w.port} is filtered: the SYN got as far as hop {last.ttl} ({who}); after "
            f"that nothing answers, so the firewall that drops it sits right after {who} "
            f"(or is the target's own)."
        )
    return TraceVerdict(
        state=state,
        summary=summary,
        last_responder=last.responder if last else None,
        stopped_at_ttl=last.ttl if last else None,
        reason="no-response",
    )


def _udp_silence(last: Hop | None, address: str, port: int, w: _Words) -> str:
    """UDP's silence to the end, in words: undecided between a drop and a mute service. What
    the port's protocol does with the request sent (payloads' table) tips the balance."""
    known = payloads.request_for(port)
    request = "the request" if known is None else known.request
    if last is None:
        seen = "nothing answers from hop 1 on, not even a router's ICMP time exceeded"
        drop = (
            "the datagram is dropped at the first hop (this computer's firewall, or the first "
            "router's) or no router on the path sends time exceeded"
        )
    else:
        who = _who(last)
        seen = f"the datagram got as far as hop {last.ttl} ({who}) and nothing answers after that"
        drop = f"a firewall right after {who} (or the target's own) drops the datagram"
    summary = (
        f"Port {w.port} is open|filtered: {seen}. UDP has no handshake, so the silence is "
        f"undecided: either {drop}, or the service at {address} gets it and ignores {request}."
    )
    if known is not None:
        summary += f" {known.why[:1].upper()}{known.why[1:]}."
    return summary


def _answer_words(port: int, reply: bytes | None) -> str:
    if reply is None:
        return ""
    decoded = payloads.decode(port, reply) or f"{len(reply)} bytes"
    return f" ({decoded})"


def _who(h: Hop) -> str:
    return h.responder or "this computer"


def _as_far(before: Sequence[Hop], w: _Words) -> str:
    routers = [h for h in before if h.kind == TIME_EXCEEDED]
    if not routers:
        return ""
    last = routers[-1]
    return f"; the {w.probe} got as far as hop {last.ttl} ({_who(last)})"


def _final_summary(final: Hop, before: Sequence[Hop], address: str, w: _Words, answer: str) -> str:
    who = _who(final)
    at = f"hop {final.ttl}"
    port = w.port
    from_target = final.responder is not None and same_address(final.responder, address)
    if final.kind in (SYN_ACK, UDP_RESPONSE):
        by = "" if from_target else f" (answered by {who}, not by {address})"
        got = "a SYN/ACK" if final.kind == SYN_ACK else f"a UDP answer{answer}"
        return f"Port {port} is open: the {w.probe} reached {address} at {at} and got {got}{by}."
    if final.kind == REFUSED:  # UDP: only the target's own port unreachable reads so
        return (
            f"Port {port} is refused: {address} answers ICMP port unreachable at {at}, so "
            f"nothing listens there{_as_far(before, w)}."
        )
    if final.kind == RST:
        if from_target:
            return f"Port {port} is refused: {address} answers RST at {at}{_as_far(before, w)}."
        return (
            f"Port {port} is refused: the RST comes from {who} at {at}, not from {address}: "
            "a device on the way answers in its name."
        )
    words = classify.reason_text(final.reason or "icmp")
    seen = [h for h in before if h.kind == TIME_EXCEEDED and h.responder is not None]
    router = next((h for h in seen if h.responder == final.responder), None)
    if final.kind == REJECTED:
        if final.responder is None:
            return f"Port {port} is rejected at {at}: {words}."
        if router is not None:
            return (
                f"Port {port} is rejected: {who}, the router at hop {router.ttl}, refuses to "
                f"forward the {w.probe} ({words})."
            )
        if from_target:
            return f"Port {port} is rejected by {address} itself at {at} ({words})."
        return f"Port {port} is rejected at {at} by {who} ({words}){_as_far(before, w)}."
    return f"{address} is unreachable: {who} at {at} reports {words}{_as_far(before, w)}."
