"""One connection attempt while it is followed: the client's SYNs to one server port and
what came back so far (``tracker.py`` moves it along, ``tally.py`` counts it once over)."""

from __future__ import annotations

from typing import Final

from probe.capture.packets import IcmpRecord, TcpSegment
from probe.engine.tcp import TH_ACK, TH_SYN

Key = tuple[bytes, int, bytes, int]  # client, client port, server, server port
WINDOW: Final = 1 << 30  # bytes one connection may send: 1 GiB past its ISN


class Attempt:
    __slots__ = (
        "answer",
        "answer_ttl",
        "expired_by",
        "first",
        "icmp",
        "last",
        "options",
        "rst",
        "syn_after_synack",
        "syn_ipid",
        "syn_last",
        "syn_seq",
        "syn_ttl",
        "synack_ts",
        "synack_ttl",
        "synacks",
        "syns",
        "window",
    )

    def __init__(self, ts: float, ttl: int, seq: int = 0, ipid: int = 0) -> None:
        self.first = ts
        self.last = ts
        self.syns = 1
        self.syn_ttl = ttl
        self.syn_seq = seq  # the client's ISN
        self.syn_ipid = ipid
        self.syn_last = ts  # the last SYN's time: a SYN/ACK answers it
        self.synacks = 0
        self.synack_ttl = 0
        self.synack_ts = 0.0
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
        # The RST "from the server" that answered the SYN, kept until the client tries again:
        # a SYN/ACK after it, with no new SYN between, shows it was not the server's
        # (rst-injected).
        self.rst: TcpSegment | None = None

    @property
    def injected(self) -> bool:
        """A RST came first, then the server's SYN/ACK (or the client's ACK to one)."""
        return self.rst is not None and self.answer is None


def rejects_a_syn(r: IcmpRecord) -> bool:
    """An ICMP unreachable (not time exceeded, not IPv4's "fragmentation needed", which
    answers data) quoting a SYN, or a quote too short to show the flags."""
    unreachable = r.type == (1 if r.v6 else 3) and not (r.code == 4 and not r.v6)
    syn = r.qflags < 0 or r.qflags & (TH_SYN | TH_ACK) == TH_SYN
    return unreachable and syn


def acceptable(rst: TcpSegment, a: Attempt) -> bool:
    """A RST the client in SYN-SENT takes: it acknowledges the SYN (ACK = ISN + 1)."""
    return bool(rst.flags & TH_ACK) and rst.ack == (a.syn_seq + 1) & 0xFFFFFFFF


def ahead(seq: int, isn: int) -> bool:
    """``seq`` lies in the connection that ``isn`` started: past it, by at most ``WINDOW``
    (sequence numbers wrap: RFC 1982's comparison)."""
    return 0 < (seq - isn) & 0xFFFFFFFF <= WINDOW
