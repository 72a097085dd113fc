"""One connection attempt while it is followed: the client's SYNs to one server port and
what came back so far (``tracker.py`` moves it along, ``tally.py`` counts it once over)."""

from __future__ import annotations

from probe.capture.packets import IcmpRecord

Key = tuple[bytes, int, bytes, int]  # client, client port, server, server port


class Attempt:
    __slots__ = (
        "answer",
        "answer_ttl",
        "expired_by",
        "first",
        "icmp",
        "last",
        "options",
        "syn_after_synack",
        "syn_ttl",
        "synack_ttl",
        "synacks",
        "syns",
        "window",
    )

    def __init__(self, ts: float, ttl: int) -> None:
        self.first = ts
        self.last = ts
        self.syns = 1
        self.syn_ttl = ttl
        self.synacks = 0
        self.synack_ttl = 0
        self.window = 0
        self.options = b""
        self.syn_after_synack = False
        self.expired_by: IcmpRecord | None = None  # ICMP time exceeded quoting a SYN
        # The server's (or a firewall's) "no" to a SYN: REFUSED (RST) or REJECTED (ICMP). The
        # attempt stays until it expires, so that a client retrying on the same port (Windows
        # sends the SYN again after a RST) makes more SYNs of one attempt, not more attempts.
        self.answer: str | None = None
        self.answer_ttl = 0
        self.icmp: IcmpRecord | None = None
