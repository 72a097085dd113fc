"""The ``rst-injected`` finding: a RST that the server did not send answered a SYN before the
server's own SYN/ACK did.

A server answers a SYN once: with SYN/ACK (something listens) or with RST (nothing does),
never both. When the capture holds a RST and then the server's SYN/ACK to the same SYN, the
RST was made by someone else on the path: an IPS or firewall with a "reset" action, a
censor, an attacker racing the server. What gives the forger away, and is quoted as evidence:

- its TTL (IPv6: hop limit) differs from the SYN/ACK's: it left from another distance;
- it does not acknowledge the SYN's ISN + 1 (a kernel's RST/ACK to a SYN always does);
- it carries the SYN's own IP ID (made from the SYN by a device, not by the server's stack);
- it arrived before the SYN/ACK could have: faster than the server's own round trip.

No peer tool says this (Wireshark's expert info flags neither the RST nor the SYN/ACK).
"""

from __future__ import annotations

from probe.capture.analyze.results import RST_INJECTED, AnalyzeFinding, Outcome, ttl_words
from probe.diagnosis.words import plural
from probe.model import Severity


def injected_finding(o: Outcome, who: str, span: str) -> AnalyzeFinding:
    """The finding for the attempts of ``o`` (code ``rst-injected``); ``who`` names the
    clients and ``span`` the time, as the other findings word them."""
    n = o.count
    believed = n - o.completed
    evidence = [f"{n} {plural(n, 'attempt')} from {who}, {span}: {_sequence(o)}"]
    rst_ttl, synack_ttl = o.ttl, o.synack_ttl
    if rst_ttl is not None and synack_ttl is not None:
        if rst_ttl != synack_ttl:
            evidence.append(
                f"the RST came with {ttl_words(rst_ttl, o.server)}, the SYN/ACK with "
                f"{ttl_words(synack_ttl, o.server)}: they were not sent from the same place"
            )
        else:
            evidence.append(
                f"the RST and the SYN/ACK came with the same {ttl_words(rst_ttl, o.server)}: a "
                "device next to the server, or a forger that matches its distance"
            )
    if o.ack_example is not None:
        found, want = o.ack_example
        what = "acknowledges nothing (no ACK flag)" if found < 0 else f"acknowledges {found}"
        some = f" ({o.bad_ack} of {n})" if n > 1 else ""
        evidence.append(
            f"the RST {what}{some}, where the server's own RST to a SYN acknowledges the SYN's "
            f"ISN + 1 ({want})"
        )
    if o.copied_ipid:
        evidence.append(
            f"{o.copied_ipid} {plural(o.copied_ipid, 'RST carries', 'RSTs carry')} the IP ID "
            "of the SYN answered: built from the SYN by a device on the path, not by the "
            "server's IP stack"
        )
    if o.rst_delays is not None:
        rst_after, synack_after = o.rst_delays
        if rst_after < synack_after:
            evidence.append(
                f"the RST arrived {_ms(rst_after)} after the SYN, the SYN/ACK "
                f"{_ms(synack_after)} after the SYN it answers: the RST came from closer than "
                "the server"
            )
    if believed:
        summary = (
            f"A RST that {o.server} did not send answered the SYN before its real SYN/ACK on "
            f"port {o.port}, and the client gave up: a device on the path (a firewall or IPS "
            "with a reset action, a censor, an attacker) resets these connections."
        )
    else:
        summary = (
            f"A RST that {o.server} did not send answered the SYN before its real SYN/ACK on "
            f"port {o.port}; the connection worked anyway: a device on the path (a firewall "
            "or IPS with a reset action, a censor, an attacker) tries to reset it."
        )
    return AnalyzeFinding(
        RST_INJECTED,
        Severity.ERROR,
        o,
        summary,
        tuple(evidence),
        (
            f"capture on {o.server} at the same time: a RST it did not send is not in its "
            "capture, and the segment between the two capture points holds the device",
            "look for a firewall, IPS or proxy on the path with a TCP reset action (its log "
            "names the rule that fired)"
            + (f"; the RST's {ttl_words(rst_ttl, o.server)} tells its distance" if rst_ttl else ""),
            "if nothing on your path should reset connections, a third party injects them "
            "(censorship, an attack): an encrypted tunnel (VPN) hides the connection from it",
        ),
    )


def _sequence(o: Outcome) -> str:
    if o.synack_ttl is None:
        return "a RST first, then the client's ACK to a SYN/ACK the capture does not hold"
    if o.completed == o.count:
        return (
            f"a RST first, then the SYN/ACK of {o.server}, and the client completed the handshake"
        )
    if o.completed:
        return (
            f"a RST first, then the SYN/ACK of {o.server}; {o.completed} completed the "
            "handshake anyway, the others gave up at the RST"
        )
    return f"a RST first, then the SYN/ACK of {o.server}, which the client no longer acknowledged"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
