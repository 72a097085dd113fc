"""Finished attempts, kept as per-server aggregates only: one tally per (server, port,
outcome), at most ``MAX_ENDPOINTS`` server ports (attempts to further ones are counted, not
kept), each with at most ``MAX_CLIENTS`` client addresses, 256 TTL values and
``MAX_RESPONDERS`` ICMP senders — about 1 kB per server port, whatever the number of
packets."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any, Final, Generic, TypeVar

from probe.capture.analyze.attempt import Attempt
from probe.capture.analyze.results import INCOMPLETE, OK, REJECTED, RST_INJECTED, Outcome
from probe.capture.packets import IcmpRecord
from probe.engine.tcp import TH_ACK, parse_options

MAX_ENDPOINTS: Final = 100_000
MAX_CLIENTS: Final = 8
MAX_RESPONDERS: Final = 16
T = TypeVar("T")


class Aggregate:
    """What every tally counts, TCP's and UDP's (``udptally``): attempts, the most tries one
    made, clients (bounded), the time span, the answers' TTLs and the ICMP senders."""

    __slots__ = ("clients", "count", "first", "last", "more_clients", "responders", "tries", "ttls")

    def __init__(self, first: float) -> None:
        self.count = 0
        self.tries = 0
        self.clients: dict[bytes, None] = {}
        self.more_clients = False
        self.first = first
        self.last = first
        self.ttls: dict[int, int] = {}
        self.responders: dict[tuple[bytes, bool, int, int], list[int]] = {}  # -> [ttl, count]

    def count_one(self, client: bytes, first: float, last: float, tries: int) -> None:
        """One more attempt from ``client``, between ``first`` and ``last``."""
        self.count += 1
        self.tries = max(self.tries, tries)
        self.first = min(self.first, first)
        self.last = max(self.last, last)
        if client not in self.clients:
            if len(self.clients) < MAX_CLIENTS:
                self.clients[client] = None
            else:
                self.more_clients = True

    def count_ttl(self, ttl: int) -> None:
        self.ttls[ttl] = self.ttls.get(ttl, 0) + 1

    def count_responder(self, r: IcmpRecord) -> None:
        """The ICMP error ``r``'s sender, with its type, code and TTL (bounded)."""
        who = (r.responder, r.v6, r.type, r.code)
        seen = self.responders.get(who)
        if seen is not None:
            seen[1] += 1
        elif len(self.responders) < MAX_RESPONDERS:
            self.responders[who] = [r.ttl, 1]

    def shared(self) -> dict[str, Any]:
        """The ``Outcome`` fields every tally fills the same way."""
        return {
            "count": self.count,
            "tries": self.tries,
            "clients": tuple(ntop(c) for c in self.clients),
            "more_clients": self.more_clients,
            "first": self.first,
            "last": self.last,
            "ttls": tuple(sorted(self.ttls.items(), key=lambda kv: (-kv[1], kv[0]))),
            "responders": tuple(
                (ntop(addr), v6, typ, cod, ttl, n)
                for (addr, v6, typ, cod), (ttl, n) in sorted(
                    self.responders.items(), key=lambda kv: -kv[1][1]
                )
            ),
        }


class Endpoints(Generic[T]):
    """Tallies by server port and outcome, at most ``max_endpoints`` server ports."""

    def __init__(self, make: Callable[[float], T], max_endpoints: int = MAX_ENDPOINTS) -> None:
        self.make = make
        self.max_endpoints = max_endpoints
        self.by_endpoint: dict[tuple[bytes, int], dict[str, T]] = {}
        self.unkept = 0  # attempts to server ports past max_endpoints

    def tally(self, server: bytes, port: int, code: str, first: float) -> T | None:
        """The tally of ``code`` at the server port (made when new); None past the bound."""
        by_code = self.by_endpoint.get((server, port))
        if by_code is None:
            if len(self.by_endpoint) >= self.max_endpoints:
                self.unkept += 1
                return None
            by_code = self.by_endpoint[(server, port)] = {}
        t = by_code.get(code)
        if t is None:
            t = by_code[code] = self.make(first)
        return t


class Tally(Aggregate):
    """Mutable aggregate behind one ``Outcome``."""

    __slots__ = (
        "ack_example",
        "bad_ack",
        "completed",
        "copied_ipid",
        "count",
        "first",
        "half_open",
        "kernel_rst",
        "no_synack",
        "options",
        "retried",
        "rst_delays",
        "server_rst",
        "syn_missing",
        "synack_ttls",
        "syns",
        "window",
    )

    def __init__(self, first: float) -> None:
        super().__init__(first)
        self.syns = 0
        self.window: int | None = None
        self.options: bytes | None = None
        self.half_open = 0
        self.retried = 0
        self.no_synack = 0
        self.server_rst = 0
        self.syn_missing = 0  # syn-rejected: the ICMP error only, its SYN not in the capture
        self.kernel_rst = 0  # ok without SYN/ACK: the client's RST with seq = ISN + 1
        # rst-injected: the SYN/ACKs' TTLs (the RSTs' are ``ttls``), the attempts the client
        # completed anyway, the RSTs whose ACK number is not the SYN's ISN + 1 (one example:
        # found, expected), those with the SYN's own IP ID, and the first attempt's delays
        # from the SYN to the RST and to the SYN/ACK.
        self.synack_ttls: dict[int, int] = {}
        self.completed = 0
        self.bad_ack = 0
        self.ack_example: tuple[int, int] | None = None
        self.copied_ipid = 0
        self.rst_delays: tuple[float, float] | None = None


class Tallies(Endpoints[Tally]):
    """The tallies of every server port, bounded."""

    def __init__(self, max_endpoints: int = MAX_ENDPOINTS) -> None:
        super().__init__(Tally, max_endpoints)

    def add(self, client: bytes, server: bytes, port: int, a: Attempt, code: str) -> Tally | None:
        """Count attempt ``a``, ended as ``code``; its tally (None past the bound)."""
        t = self.tally(server, port, code, a.first)
        if t is None:
            return None
        t.count_one(client, a.first, a.last, a.syns)
        t.syns += a.syns
        if code == OK:
            if a.syns > 1:
                t.retried += 1
            if a.synacks:
                t.count_ttl(a.synack_ttl)
                t.window, t.options = a.window, a.options
            else:
                t.no_synack += 1
        elif code == INCOMPLETE:
            t.count_ttl(a.synack_ttl)
            t.window, t.options = a.window, a.options
        return t

    def add_injected(
        self, client: bytes, server: bytes, port: int, a: Attempt, *, completed: bool
    ) -> None:
        """Count attempt ``a``: a RST reached it before the server's real answer."""
        rst = a.rst
        assert rst is not None
        t = self.add(client, server, port, a, RST_INJECTED)
        if t is None:
            return
        t.count_ttl(rst.ttl)
        if a.synacks:
            t.synack_ttls[a.synack_ttl] = t.synack_ttls.get(a.synack_ttl, 0) + 1
            if t.rst_delays is None:
                # from the SYN the RST answered, and from the SYN the SYN/ACK answered (the
                # client's retransmission, when its stack ignored the RST)
                synack_after = a.synack_ts - (a.syn_last if a.syn_last < a.synack_ts else a.first)
                t.rst_delays = (rst.ts - a.first, synack_after)
        t.completed += int(completed)
        want = (a.syn_seq + 1) & 0xFFFFFFFF
        # A kernel's RST to a SYN acknowledges it (RST/ACK, ISN + 1); a forger that does
        # not see the SYN, or does not care, gets it wrong.
        if not rst.flags & TH_ACK or rst.ack != want:
            t.bad_ack += 1
            if t.ack_example is None:
                t.ack_example = (rst.ack if rst.flags & TH_ACK else -1, want)
        # The server's IP stack numbers its own packets: the SYN's IP ID in the RST means it
        # was made from the SYN by a device on the path (IPv6 has no IP ID).
        if a.syn_ipid and rst.ipid == a.syn_ipid:
            t.copied_ipid += 1

    def add_rejected(
        self, client: bytes, server: bytes, port: int, a: Attempt, r: IcmpRecord
    ) -> None:
        """Count attempt ``a``, rejected by the ICMP error ``r`` (its sender named)."""
        t = self.add(client, server, port, a, REJECTED)
        if t is None:
            return
        t.syn_missing += int(not a.syns)
        t.count_responder(r)

    def outcomes(self) -> Iterator[Outcome]:
        for (server, port), by_code in self.by_endpoint.items():
            address = ntop(server)
            for code, t in by_code.items():
                yield Outcome(
                    server=address,
                    port=port,
                    code=code,
                    syns=t.syns,
                    **t.shared(),
                    window=t.window,
                    tcp_options=parse_options(t.options) if t.options is not None else None,
                    half_open=t.half_open,
                    retried=t.retried,
                    no_synack=t.no_synack,
                    server_rst=t.server_rst,
                    kernel_rst=t.kernel_rst,
                    syn_missing=t.syn_missing,
                    synack_ttl=max(t.synack_ttls, key=t.synack_ttls.__getitem__, default=None),
                    completed=t.completed,
                    bad_ack=t.bad_ack,
                    ack_example=t.ack_example,
                    copied_ipid=t.copied_ipid,
                    rst_delays=t.rst_delays,
                )


def ntop(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(packed) == 16 else socket.AF_INET, packed)
