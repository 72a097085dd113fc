"""Ended UDP flows, kept as per-server aggregates only (as ``tally.py`` keeps TCP attempts):
one tally per (server, port, outcome), at most ``MAX_ENDPOINTS`` server ports (flows to
further ones are counted, not kept), each with at most ``MAX_CLIENTS`` client addresses,
256 TTL values and ``MAX_RESPONDERS`` ICMP senders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from probe.capture.analyze.results import Outcome
from probe.capture.analyze.services import service
from probe.capture.analyze.tally import MAX_ENDPOINTS, Aggregate, Endpoints, ntop
from probe.model import Protocol

if TYPE_CHECKING:
    from probe.capture.analyze.flows import Flow


class UdpTally(Aggregate):
    """Mutable aggregate behind one UDP ``Outcome`` (``ttls``: each flow's first reply's)."""

    __slots__ = ("datagrams", "late", "missing", "replies", "resent", "size")

    def __init__(self, first: float) -> None:
        super().__init__(first)
        self.datagrams = 0  # from the clients
        self.replies = 0  # from the server
        self.size: int | None = None  # the first flow's first datagram: payload bytes
        self.resent = 0  # flows where the client sent the same datagram again
        self.late = 0  # flows seen by their replies only (the capture started after)
        self.missing = 0  # flows seen by an ICMP error only (their datagram not captured)


class UdpTallies(Endpoints[UdpTally]):
    """The UDP tallies of every server port, bounded."""

    def __init__(self, max_endpoints: int = MAX_ENDPOINTS) -> None:
        super().__init__(UdpTally, max_endpoints)

    def add(
        self, client: bytes, server: bytes, port: int, f: Flow, code: str, *, resent: bool
    ) -> None:
        """Count flow ``f``, ended as ``code``; ``resent``: its client sent a datagram again."""
        t = self.tally(server, port, code, f.first)
        if t is None:
            return
        t.count_one(client, f.first, f.last, f.requests)
        if t.size is None and f.requests:
            t.size = f.size
        t.datagrams += f.requests
        t.replies += f.replies
        if f.replies:
            t.count_ttl(f.reply_ttl)
            t.late += int(not f.requests)
        t.resent += int(resent)
        if f.icmp is not None and not f.replies:
            t.missing += int(not f.requests)
            t.count_responder(f.icmp)

    def outcomes(self) -> Iterator[Outcome]:
        for (server, port), by_code in self.by_endpoint.items():
            known = service(port)
            for code, t in by_code.items():
                yield Outcome(
                    server=ntop(server),
                    port=port,
                    code=code,
                    syns=0,
                    **t.shared(),
                    syn_missing=t.missing,
                    protocol=Protocol.UDP,
                    datagrams=t.datagrams,
                    replies=t.replies,
                    resent=t.resent,
                    late=t.late,
                    size=t.size,
                    service=known.name if known is not None else None,
                )
