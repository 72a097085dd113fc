"""The attempt tracker: ``probe analyze``'s streaming state machine over a capture's records.

One attempt is a client's SYN (and its retransmissions) to one server address and port, keyed
by (client, client port, server, server port) in the direction of the SYN::

    SYN ──► waiting ── SYN again ──────────────────► waiting, one more try (the triple SYN)
             ├── RST from the server ──────────────► syn-refused  ┐ kept HOLD seconds: SYNs
             ├── ICMP unreachable quoting the SYN ─► syn-rejected ┘ again (same ISN) are more
             │                                        tries; a new ISN is a new attempt
             │                                        (the sender named)
             ├── ACK from the client ──────────────► ok (the SYN/ACK is not in the capture)
             ├── RST from the client, seq = ISN ───► syn-unanswered (the client gave up)
             ├── RST from the client, seq = ISN+1 ─► ok: its kernel reset a SYN/ACK the
             │                                        capture missed (other seq: stray, ignored)
             ├── nothing until it expires ─────────► syn-unanswered
             └── SYN/ACK ──► answered
                   ├── ACK from the client ────────► ok
                   ├── RST from the client ────────► ok, half-open (a SYN scan: nmap -sS, probe)
                   ├── RST from the server ────────► handshake-incomplete
                   ├── SYN or SYN/ACK retransmitted,
                   │   no ACK until it expires ────► handshake-incomplete
                   └── nothing more at all ────────► ok, half-open: the client's answer is
                                                     not in the capture (probe's own --pcap
                                                     files, capture filters that keep SYNs)

A RST "from the server" followed by the server's SYN/ACK (or the client's ACK), with no new
SYN between, was not the server's: the attempt waits again and ends ``rst-injected`` whatever
follows (the client completing the handshake anyway, or giving up). A new SYN after the RST
makes the RST a believed answer again (``Attempt.rst`` forgotten): a retry, not injection.
A RST whose numbers continue the connection its 4-tuple completed before is that connection's,
late (``stale.py``): the client ignores it, and so does the tracker. The client's ACK counts
only when its sequence number is past the SYN's (``attempt.ahead``): a segment of an earlier
connection on the same port does not complete the new one.

A lone SYN in the last second of the capture (``TOO_LATE``) had no time for an answer or a
retry: it is left out, and a note says so. The capture ends at its last packet of any kind
(the reader's ``Tick``), not at its last TCP or ICMP packet. A clock that goes back more than
``BACKWARDS`` seconds judges the attempts open at that moment and is counted for a note.

An ICMP unreachable quoting a SYN that is not in the capture starts a syn-rejected attempt of
no SYN ("SYN not in the capture"). ICMP time exceeded quoting a SYN is noted but does not end
the attempt (a TCP traceroute
sends SYNs with low TTLs on purpose). If nothing else answers, the attempt is syn-rejected
when its SYN left with a normal TTL (32 or more: a routing loop), and is left out as a
traceroute probe otherwise.

Memory is bounded whatever the capture's size: attempts not finished yet are at most
``MAX_WAITING``. An attempt with no packet for ``EXPIRE`` seconds of capture time is finished
as above (longer than the longest pause between a client's SYN retries: 32 s for Linux with
its 6 default retries, less on Windows and macOS); one answered by RST or ICMP after ``HOLD``
seconds (Windows sends the SYN again after a RST, from the same port, within a second); past
the cap, the oldest one is finished early. A completed handshake is removed at its ACK, so
the data of established connections costs one dictionary lookup per packet and no memory.
Finished attempts go to ``tally.py``'s bounded aggregates. UDP datagrams, and ICMP errors
quoting them, go to ``flows.py`` (``Analyzer.udp``), on the same clock.

Measured (tracemalloc): 0.45 kB per waiting attempt, about 1 kB per server port once its
outcomes are tallied; so at most about 45 MB + 100 MB, and in practice a few MB, whatever the
number of packets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from probe.capture.analyze.attempt import Attempt, Key, acceptable, ahead, rejects_a_syn
from probe.capture.analyze.flows import MAX_FLOWS, UdpFlows
from probe.capture.analyze.results import INCOMPLETE, OK, REFUSED, REJECTED, UNANSWERED, Outcome
from probe.capture.analyze.stale import Recent
from probe.capture.analyze.tally import MAX_ENDPOINTS, Tallies
from probe.capture.analyze.udptally import UdpTallies
from probe.capture.packets import IcmpRecord, Record, TcpSegment, UdpDatagram
from probe.engine.tcp import TH_ACK, TH_RST, TH_SYN

EXPIRE: Final = 70.0  # seconds of capture time without a packet before an attempt is over
HOLD: Final = 5.0  # seconds an answered attempt (RST, ICMP) waits for the client to try again
MAX_WAITING: Final = 100_000
TRACE_TTL: Final = 32  # a SYN sent with a TTL below this is a traceroute probe
TOO_LATE: Final = 1.0  # seconds: a lone SYN this close to the capture's end is undecided
# Seconds the timestamps may go back without a note: packets of interfaces merged into one
# file, or written by several capture threads, are out of order by milliseconds.
BACKWARDS: Final = 1.0


class Analyzer:
    """Feed records in file order (``feed``), then ``finish()`` for the outcomes."""

    def __init__(
        self,
        *,
        expire: float = EXPIRE,
        max_waiting: int = MAX_WAITING,
        max_endpoints: int = MAX_ENDPOINTS,
        max_flows: int = MAX_FLOWS,
    ) -> None:
        self.expire = expire
        self.udp = UdpFlows(UdpTallies(max_endpoints), expire=expire, max_flows=max_flows)
        self.max_waiting = max_waiting
        self.hold = HOLD
        # Attempts without a final answer, and attempts answered by RST or ICMP that may still
        # be tried again; each kept in the order of its last packet (moved to the end on every
        # packet), so expiring them is looking at the front.
        self.waiting: OrderedDict[Key, Attempt] = OrderedDict()
        self.answered: OrderedDict[Key, Attempt] = OrderedDict()
        self.tallies = Tallies(max_endpoints)
        self.recent = Recent()  # completed 4-tuples: a later RST may be theirs
        self.attempts = 0
        self.trace_probes = 0
        self.early = 0  # attempts finished early because MAX_WAITING were waiting
        self.undecided = 0  # a lone SYN at the very end of the capture
        self.end = 0.0  # the capture's last timestamp
        self.backwards = 0  # times the clock went back more than BACKWARDS seconds
        self.backwards_by = 0.0  # the largest of those steps
        self.now = 0.0
        self._next_expiry = 0.0

    @property
    def unkept(self) -> int:
        """Attempts to server ports past ``max_endpoints``: counted, not analysed."""
        return self.tallies.unkept

    def feed(self, records: Iterable[Record]) -> None:
        r: Record | None = None
        for r in records:
            # Attempts whose time is over are finished before the packet is handled: the
            # first SYN on a reused 4-tuple after a long silence starts a new attempt.
            if r.ts >= self._next_expiry:
                self._expire(r.ts)
            elif r.ts < self.now - BACKWARDS:
                self._clock_back(r.ts)
            if type(r) is TcpSegment:
                flags = r.flags
                if flags & TH_SYN:
                    if flags & TH_ACK:
                        self._synack(r)
                    else:
                        self._syn(r)
                elif flags & TH_RST:
                    self._rst(r)
                elif flags & TH_ACK and (self.waiting or self.answered):
                    self._ack(r)
            elif type(r) is UdpDatagram:
                self.udp.datagram(r)
            elif type(r) is IcmpRecord:
                if r.proto == 17:
                    self.udp.icmp(r)
                else:
                    self._icmp(r)
        if r is not None:
            self.end = max(self.end, r.ts)

    def finish(self) -> tuple[Outcome, ...]:
        """End every attempt still waiting (the capture is over) and return the outcomes.

        A single SYN sent less than ``TOO_LATE`` seconds before the capture's last packet had
        no time to be answered or retransmitted: it is counted as undecided, not as a problem.
        """
        while self.answered:
            self._end_waiting(*self.answered.popitem(last=False))
        while self.waiting:
            key, a = self.waiting.popitem(last=False)
            silent = not a.synacks and a.answer is None and a.expired_by is None
            if silent and a.syns == 1 and self.end - a.last < TOO_LATE:
                self.undecided += 1
                self.attempts -= 1
                continue
            self._end_waiting(key, a)
        self.udp.end_all(self.end)
        return (*self.tallies.outcomes(), *self.udp.tallies.outcomes())

    # ------------------------------------------------------------------ events

    def _syn(self, r: TcpSegment) -> None:
        key = (r.src, r.sport, r.dst, r.dport)
        a = self.waiting.get(key)
        if a is None:
            a = self.answered.pop(key, None)
            if a is not None and r.seq != a.syn_seq:
                # A new ISN after the "no": a new connection from the same port. The refusal
                # stays an outcome of its own ("refused once, then open" matters).
                self._end_waiting(key, a)
                a = None
            elif a is not None:  # tried again after a RST or an ICMP error: one attempt still
                self.waiting[key] = a
        if a is not None and a.last < r.ts - self.expire:
            del self.waiting[key]  # over long ago (the once-a-second expiry had not run yet)
            self._end_waiting(key, a)
            a = None
        if a is not None:
            # Another SYN on a waiting attempt: a retransmission, whatever its sequence
            # number (probe's own tries each carry a new one).
            a.syns += 1
            a.last = a.syn_last = r.ts
            self.waiting.move_to_end(key)
            if a.synacks:
                a.syn_after_synack = True
            if a.rst is not None and acceptable(a.rst, a):
                a.rst = None  # tried again after the RST: it was believed, whoever sent it
            # A RST that does not acknowledge the SYN is dropped in SYN-SENT (RFC 793): the
            # SYN sent again is the client's own timer, and a SYN/ACK still unmasks the RST.
            return
        self._make_room()
        self.waiting[key] = Attempt(r.ts, r.ttl, r.seq, r.ipid)
        self.attempts += 1

    def _synack(self, r: TcpSegment) -> None:
        key = (r.dst, r.dport, r.src, r.sport)
        a = self.waiting.get(key) or self._reset_first(key)
        if a is None:
            return  # its SYN is not in the capture (started mid-handshake, one direction)
        if a.rst is not None:
            a.answer = None  # the server answers: the RST before was not its
        a.last = r.ts
        self.waiting.move_to_end(key)
        if not a.synacks:
            a.synack_ttl = r.ttl
            a.synack_ts = r.ts
            a.window = r.window
            a.options = r.options
        a.synacks += 1

    def _ack(self, r: TcpSegment) -> None:
        """An ACK: the client's, on a waiting attempt, completes the handshake."""
        key = (r.src, r.sport, r.dst, r.dport)
        a = self.waiting.get(key) or self.answered.get(key)
        if a is None or not ahead(r.seq, a.syn_seq):
            return  # not past the SYN: another connection's (an earlier one on a reused port)
        a = self.waiting.pop(key, None) or self._reset_first(key, pop=True)
        if a is not None:
            if a.rst is not None:
                a.answer = None  # the handshake completed: the RST before was not the server's
            a.last = r.ts
            self.recent.completed(key, a.syn_seq, (r.ack - 1) & 0xFFFFFFFF)
            self._handshake_over(key, a, OK)

    def _rst(self, r: TcpSegment) -> None:
        key = (r.dst, r.dport, r.src, r.sport)  # from the server
        a = self.waiting.get(key)
        if a is not None:
            a.last = r.ts
            if a.synacks:
                del self.waiting[key]
                self._handshake_over(key, a, INCOMPLETE, server_rst=True)
            elif not self.recent.is_stale(key, r, a.syn_seq):  # (else: ignored, ``stale``)
                if a.answer is None:
                    a.answer, a.answer_ttl, a.rst = REFUSED, r.ttl, r
                self._answer(key, a)
            return
        key = (r.src, r.sport, r.dst, r.dport)  # from the client
        a = self.waiting.get(key)
        if a is not None:
            a.last = r.ts
            if a.synacks:
                del self.waiting[key]
                self._handshake_over(key, a, OK, half_open=True)
            elif a.answer is None and r.seq == a.syn_seq:  # the client gave up
                del self.waiting[key]
                self.tallies.add(r.src, r.dst, r.dport, a, UNANSWERED)
            elif a.answer is None and r.seq == (a.syn_seq + 1) & 0xFFFFFFFF:
                # Its kernel answering a SYN/ACK that the capture missed: a socket that is
                # gone (a SYN scan's raw SYN) resets the SYN/ACK with seq = ISN + 1. The
                # port answered: open.
                del self.waiting[key]
                t = self.tallies.add(r.src, r.dst, r.dport, a, OK)
                if t is not None:
                    t.kernel_rst += 1
            # Any other sequence number: a stray RST of another connection, not this
            # attempt's end (the same SYN sent again continues the attempt).

    def _reset_first(self, key: Key, *, pop: bool = False) -> Attempt | None:
        """The attempt of ``key`` refused by a RST that the server's SYN/ACK (or the client's
        ACK to one) now shows was not the server's: it waits again, marked injected.

        A RST answering a SYN, then the server's SYN/ACK to that same SYN (no SYN between):
        the RST came from elsewhere (an IPS, a censor, an attacker racing the server). A new
        SYN after the RST would make the SYN/ACK its answer instead (``_syn`` forgets the RST).
        """
        a = self.answered.get(key)
        if a is None or a.rst is None:
            return None
        del self.answered[key]
        a.answer = None
        if not pop:
            self.waiting[key] = a
        return a

    def _handshake_over(
        self, key: Key, a: Attempt, code: str, *, server_rst: bool = False, half_open: bool = False
    ) -> None:
        """Count an attempt that was answered by SYN/ACK (``OK`` or ``INCOMPLETE``), or by an
        injected RST first: then it is ``RST_INJECTED``, whatever followed."""
        client, _, server, port = key
        if a.injected:
            self.tallies.add_injected(
                client, server, port, a, completed=code == OK and not half_open
            )
            return
        t = self.tallies.add(client, server, port, a, code)
        if t is not None:
            t.server_rst += int(server_rst)
            t.half_open += int(half_open)

    def _icmp(self, r: IcmpRecord) -> None:
        key = (r.src, r.sport, r.dst, r.dport)
        a = self.waiting.get(key)
        if a is None and key not in self.answered and rejects_a_syn(r):
            self._syn_missing(key, r)
        if a is None or a.synacks:
            return
        if (r.type == 11 and not r.v6) or (r.type == 3 and r.v6):  # time exceeded
            a.expired_by = r
            return
        a.last = r.ts
        if a.answer is None:
            a.answer, a.icmp = REJECTED, r
        self._answer(key, a)

    def _syn_missing(self, key: Key, r: IcmpRecord) -> None:
        """An ICMP unreachable quoting a SYN the capture does not hold (a firewall on the
        capturing machine rejecting outgoing SYNs, a capture started mid-way): a rejected
        attempt of no SYN (``syns`` 0); the client's SYN sent again continues it."""
        self._make_room()
        a = Attempt(r.ts, 0, r.seq)
        a.syns = 0
        a.answer, a.icmp = REJECTED, r
        self.answered[key] = a
        self.attempts += 1

    def _make_room(self) -> None:
        """Past ``max_waiting`` attempts followed, finish the oldest one first."""
        if len(self.waiting) + len(self.answered) >= self.max_waiting:
            if self.answered:
                self._end_waiting(*self.answered.popitem(last=False))
            else:
                self.early += 1
                self._end_waiting(*self.waiting.popitem(last=False))

    def _answer(self, key: Key, a: Attempt) -> None:
        """The SYN was answered no (RST or ICMP): over, unless the client tries again."""
        del self.waiting[key]
        self.answered[key] = a

    def _expire(self, now: float) -> None:
        """Finish the attempts whose time is over; runs once a second of capture time."""
        self.now = max(self.now, now)
        self._next_expiry = self.now + 1.0
        self._expire_queue(self.answered, self.now - self.hold)
        self._expire_queue(self.waiting, self.now - self.expire)
        self.udp.expire(self.now)

    def _clock_back(self, ts: float) -> None:
        """The capture's clock went back (a merged capture, a clock set back while capturing):
        the attempts open then are judged there, and time starts again from ``ts``."""
        self.backwards += 1
        self.backwards_by = max(self.backwards_by, self.now - ts)
        while self.answered:
            self._end_waiting(*self.answered.popitem(last=False))
        while self.waiting:
            self._end_waiting(*self.waiting.popitem(last=False))
        self.udp.end_all()
        self.now = ts
        self._next_expiry = ts + 1.0

    def _expire_queue(self, queue: OrderedDict[Key, Attempt], limit: float) -> None:
        """Finish the attempts of ``queue`` without a packet since ``limit``."""
        while queue:
            key, a = next(iter(queue.items()))
            if a.last > limit:
                return  # in the order of their last packet: the rest is younger
            del queue[key]
            self._end_waiting(key, a)

    def _end_waiting(self, key: Key, a: Attempt) -> None:
        """An attempt whose time is over (expired, evicted, or the file ended)."""
        client, _, server, port = key
        if a.synacks:
            if a.synacks > 1 or a.syn_after_synack:
                self._handshake_over(key, a, INCOMPLETE)
            else:
                self._handshake_over(key, a, OK, half_open=True)
        elif a.answer == REFUSED:
            t = self.tallies.add(client, server, port, a, REFUSED)
            if t is not None:
                t.count_ttl(a.answer_ttl)
        elif a.icmp is not None:
            self.tallies.add_rejected(client, server, port, a, a.icmp)
        elif a.expired_by is not None:
            if a.syn_ttl < TRACE_TTL:
                self.trace_probes += 1
                self.attempts -= 1
            else:
                self.tallies.add_rejected(client, server, port, a, a.expired_by)
        else:
            self.tallies.add(client, server, port, a, UNANSWERED)
