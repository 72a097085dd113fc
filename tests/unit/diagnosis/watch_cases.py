"""Recorded attempt sequences for the watch rules and statistics: plain data, written as
strings of outcomes (one letter per round) so that a test reads like the log it stands for.

    o  open, answered to the first SYN        r  refused (RST)
    2  open, answered to the 2nd SYN          3  open, answered to the 3rd SYN
    .  filtered (no answer to any of 3 tries) x  rejected (ICMP)
"""

from __future__ import annotations

from dataclasses import replace

from probe.diagnosis.watch.attempt import Attempt
from probe.model import PortState, Protocol, TcpOptions

T0 = 1_700_000_000.0
OPTS = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamps=True)

_LETTERS = {
    "o": (PortState.OPEN, "syn-ack", 1),
    "2": (PortState.OPEN, "syn-ack", 2),
    "3": (PortState.OPEN, "syn-ack", 3),
    "r": (PortState.REFUSED, "reset", 1),
    ".": (PortState.FILTERED, "no-response", 3),
    "x": (PortState.REJECTED, "admin-prohibited", 1),
}


def attempts(
    pattern: str,
    *,
    port: int = 80,
    address: str = "198.18.1.10",
    target: str | None = None,
    interval: float = 1.0,
    rtts: list[float] | None = None,
    ttl: int = 63,
    ttls: list[int] | None = None,
) -> list[Attempt]:
    out = []
    for k, letter in enumerate(pattern):
        state, reason, tries = _LETTERS[letter]
        answered = state is not PortState.FILTERED
        rtt = (rtts[k] if rtts is not None else 0.3) if answered else None
        out.append(
            Attempt(
                time=T0 + k * interval,
                round=k,
                target=target or address,
                address=address,
                port=port,
                protocol=Protocol.TCP,
                state=state,
                reason=reason,
                tries=tries,
                responder=address if answered else None,
                ttl=(ttls[k] if ttls else ttl) if answered else None,
                rtt_ms=rtt,
                window=64240 if state is PortState.OPEN else None,
                tcp_options=OPTS if state is PortState.OPEN else None,
            )
        )
    return out


def with_ttl(a: Attempt, ttl: int) -> Attempt:
    return replace(a, ttl=ttl)


HEALTHY_40 = "o" * 40
LB_ONE_DEAD_OF_3 = "oor" * 13 + "o"  # round robin, the third backend refuses
FLAP_40 = "o" * 8 + "." * 6 + "o" * 10 + "." * 5 + "o" * 11
LOSSY_40 = "oo2oo.o3oooo2oo2ooo.oo2o3ooooo2ooo2o.oo2"
