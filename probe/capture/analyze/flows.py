"""UDP flows in a capture, followed as the TCP tracker follows attempts (``tracker.py`` feeds
them): one flow is the datagrams between a client address and port and a server address and
port, both ways, until it has been quiet for ``EXPIRE`` seconds of capture time.

Which side is the server: the side whose port is a known service, else below 1024, else the
lower port (``services.rank``); the same port on both sides (NTP 123 to 123, IKE 500 to 500):
the first sender is the client. A flow whose first datagram comes from the server was already
going when the capture started: its replies alone make it ``udp-ok``. Datagrams to multicast
and broadcast addresses (mDNS, SSDP, DHCP, NetBIOS chatter) are no flow to any server: counted
for a note, never judged.

How a flow ends (``outcome``)::

    a reply from the server ──────────────────────────► udp-ok
    ICMP port unreachable from the server itself ──────► udp-refused (nothing listens)
    ICMP prohibited, or port unreachable from another ─► udp-rejected (the sender named)
    ICMP host / net unreachable, time exceeded ────────► udp-unreachable (the router named)
    nothing, to a protocol that answers (DNS, NTP...) ─► udp-unanswered
    nothing, the same datagram sent again ─────────────► udp-unanswered (the client waited)
    nothing otherwise (syslog, RTP, flow export...) ───► udp-one-way (how it works)

An ICMP error is matched to its flow by the IP and UDP headers it quotes, as for TCP; one
quoting a datagram the capture lacks starts a flow of no datagram ("datagram not in the
capture"). Datagrams sent with a TTL below 32 and answered by ICMP (or aimed at traceroute's
ports) are a UDP traceroute's probes: left out, counted for a note. A lone datagram in the last
second of the capture had no time for an answer: left out too. TFTP answers from a new port of
the server: that port's datagrams to the client's port are the flow's replies.

Memory: at most ``MAX_FLOWS`` flows open at once (past that the quietest is ended early and
counted), kept in the order of their last datagram so that expiring them is looking at the
front; ended flows go to ``udptally``'s bounded aggregates.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from probe.capture.analyze import services
from probe.capture.analyze.results import (
    UDP_OK,
    UDP_ONE_WAY,
    UDP_REFUSED,
    UDP_REJECTED,
    UDP_UNANSWERED,
    UDP_UNREACHABLE,
)
from probe.capture.analyze.udptally import UdpTallies
from probe.capture.packets import IcmpRecord, UdpDatagram
from probe.diagnosis.classify import ICMP_TABLE, ICMP_TYPE_TABLE, REJECTED

EXPIRE: Final = 70.0  # seconds of capture time without a datagram before a flow is over
MAX_FLOWS: Final = 100_000
TRACE_TTL: Final = 32  # a datagram sent with a TTL below this is a traceroute probe
RESEND_GAP: Final = 0.2  # seconds: a client retrying waits at least this long between tries
MAX_RESENDS: Final = 16  # more same-size datagrams than this is a stream, not a retry
TOO_LATE: Final = 1.0  # seconds: a lone datagram this close to the capture's end is undecided
_TFTP: Final = 69

Key = tuple[bytes, int, bytes, int]  # client, client port, server, server port


class Flow:
    """One flow while it is followed."""

    __slots__ = (
        "first",
        "icmp",
        "last",
        "last_request",
        "min_gap",
        "replies",
        "reply_ttl",
        "requests",
        "same_size",
        "size",
        "ttl",
        "via",
    )

    def __init__(self, ts: float, ttl: int, size: int) -> None:
        self.first = self.last = ts
        self.requests = 0
        self.replies = 0
        self.ttl = ttl  # the first request's TTL / hop limit
        self.size = size  # the first request's payload bytes
        self.same_size = True
        self.last_request = ts
        self.min_gap = float("inf")
        self.reply_ttl = 0
        self.icmp: IcmpRecord | None = None  # the first ICMP error quoting a request
        self.via: Key | None = None  # TFTP: the server's new port, whose datagrams answer


class UdpFlows:
    """Feed ``datagram`` and ``icmp`` in file order; ``expire``, ``end_all`` as time passes."""

    def __init__(
        self, tallies: UdpTallies, *, expire: float = EXPIRE, max_flows: int = MAX_FLOWS
    ) -> None:
        self.tallies = tallies
        self.expire_after = expire
        self.max_flows = max_flows
        self.flows: OrderedDict[Key, Flow] = OrderedDict()
        self.aliases: dict[Key, Key] = {}  # TFTP: (client, port, server, new port) -> flow
        self.flows_seen = 0
        self.broadcast = 0  # datagrams to multicast / broadcast addresses
        self.trace_probes = 0
        self.early = 0  # flows ended early because MAX_FLOWS were open
        self.undecided = 0  # a lone datagram at the very end of the capture

    def datagram(self, r: UdpDatagram) -> None:
        key = (r.src, r.sport, r.dst, r.dport)
        f = self.flows.get(key)
        if f is None and key in self.aliases:  # TFTP: the client to the server's new port
            key = self.aliases[key]
            f = self.flows.get(key)
        if f is not None:
            self._request(key, f, r)
            return
        back = (r.dst, r.dport, r.src, r.sport)
        f = self.flows.get(back)
        if f is None and back in self.aliases:
            back = self.aliases[back]
            f = self.flows.get(back)
        if f is not None:
            f.replies += 1
            f.last = r.ts
            if f.replies == 1:
                f.reply_ttl = r.ttl
            self.flows.move_to_end(back)
            return
        if _group(r.dst) or _group(r.src):
            self.broadcast += 1
            return
        if self._tftp_reply(r):
            return
        if r.sport == r.dport or services.rank(r.dport) <= services.rank(r.sport):
            f = self._open(key, r.ts, r.ttl, r.size)
            self._request(key, f, r)
            if r.dport == _TFTP:
                f.via = key
            return
        f = self._open(back, r.ts, 0, 0)  # its requests came before the capture started
        f.replies, f.reply_ttl = 1, r.ttl

    def icmp(self, r: IcmpRecord) -> None:
        """An ICMP error quoting a datagram from the client (``r.src``) to the server."""
        if r.type == 3 and not r.v6 and r.code == 4:
            return  # fragmentation needed: the path's MTU, not an answer to the request
        key = (r.src, r.sport, r.dst, r.dport)
        f = self.flows.get(key)
        if f is None:
            if self.flows.get((r.dst, r.dport, r.src, r.sport)) is not None:
                return  # quotes a reply: the client's port was closed by then (a late answer)
            if _group(r.dst) or (r.type, r.v6) in ((11, False), (3, True)):
                return
            if r.sport != r.dport and services.rank(r.sport) < services.rank(r.dport):
                return  # quotes a server's reply to a client port closed since (a late answer)
            f = self._open(key, r.ts, 0, 0)  # "datagram not in the capture"
        if f.icmp is None:
            f.icmp = r
        f.last = r.ts
        self.flows.move_to_end(key)

    def expire(self, now: float) -> None:
        """End the flows quiet since ``now - EXPIRE``."""
        limit = now - self.expire_after
        while self.flows:
            key, f = next(iter(self.flows.items()))
            if f.last > limit:
                return
            del self.flows[key]
            self._end(key, f)

    def end_all(self, end: float | None = None) -> None:
        """End every flow (the capture is over at ``end``, or its clock went back)."""
        while self.flows:
            key, f = self.flows.popitem(last=False)
            lone = f.requests == 1 and not f.replies and f.icmp is None
            if lone and end is not None and end - f.last < TOO_LATE:  # no time for an answer
                self.undecided += 1
                self.flows_seen -= 1
                self._forget(f)
                continue
            self._end(key, f)

    # ------------------------------------------------------------------ internals

    def _open(self, key: Key, ts: float, ttl: int, size: int) -> Flow:
        if len(self.flows) >= self.max_flows:
            self.early += 1
            self._end(*self.flows.popitem(last=False))
        f = self.flows[key] = Flow(ts, ttl, size)
        self.flows_seen += 1
        return f

    def _request(self, key: Key, f: Flow, r: UdpDatagram) -> None:
        if f.requests:
            f.min_gap = min(f.min_gap, r.ts - f.last_request)
            if r.size != f.size:
                f.same_size = False
        elif f.replies or f.icmp is not None:
            f.ttl, f.size = r.ttl, r.size  # the first request seen after its answer
        f.requests += 1
        f.last = f.last_request = r.ts
        self.flows.move_to_end(key)

    def _tftp_reply(self, r: UdpDatagram) -> bool:
        """TFTP answers a request from a new port: the first datagram from the server's
        address to a client port waiting on port 69 is that flow's reply."""
        request = (r.dst, r.dport, r.src, _TFTP)
        f = self.flows.get(request)
        if f is None or f.via != request or f.replies:
            return False
        self.aliases[(r.dst, r.dport, r.src, r.sport)] = request
        f.via = (r.dst, r.dport, r.src, r.sport)
        f.replies, f.reply_ttl, f.last = 1, r.ttl, r.ts
        self.flows.move_to_end(request)
        return True

    def _forget(self, f: Flow) -> None:
        if f.via is not None:
            self.aliases.pop(f.via, None)

    def _end(self, key: Key, f: Flow) -> None:
        self._forget(f)
        client, _, server, port = key
        code = self._outcome(f, port)
        if code is None:
            self.trace_probes += 1
            self.flows_seen -= 1
            return
        self.tallies.add(client, server, port, f, code, resent=resent(f))

    def _outcome(self, f: Flow, port: int) -> str | None:
        """The flow's ending (see the module docstring); None for a traceroute probe."""
        icmp = f.icmp
        low = 0 < f.ttl < TRACE_TTL
        if not f.replies and low and (icmp is not None or port in services.TRACEROUTE_PORTS):
            return None
        if f.replies:
            return UDP_OK
        if icmp is not None:
            reading = ICMP_TABLE.get((icmp.v6, icmp.type, icmp.code)) or ICMP_TYPE_TABLE.get(
                (icmp.v6, icmp.type)
            )
            if reading is not None and reading.reason == "port-unreach":
                if icmp.responder == icmp.dst:
                    return UDP_REFUSED  # the server's own stack: nothing listens
                return UDP_REJECTED
            return (
                UDP_REJECTED
                if reading is not None and reading.state is REJECTED
                else (UDP_UNREACHABLE)
            )
        known = services.service(port)
        if known is not None:
            return UDP_UNANSWERED if known.answers else UDP_ONE_WAY
        return UDP_UNANSWERED if resent(f) else UDP_ONE_WAY


def resent(f: Flow) -> bool:
    """The client sent the same datagram again, at a retry's pace: it waited for an answer
    (a media stream or a heartbeat sends many, or fast)."""
    return 2 <= f.requests <= MAX_RESENDS and f.same_size and f.min_gap >= RESEND_GAP


def _group(address: bytes) -> bool:
    """A multicast or broadcast address: no server stands behind it. An IPv4 address ending
    in .255 is taken for a subnet's broadcast (the capture does not say the prefix)."""
    if len(address) == 4:  # 240.0.0.0/4 is reserved, not multicast: anonymised captures use it
        return 224 <= address[0] < 240 or address[3] == 255
    return address[0] == 0xFF
