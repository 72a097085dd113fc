"""The raw engine's receive side: its sockets shared by every scan that runs on it, each
answer routed to the scan whose source-port block it hits.

A scan joins the receiver for a block of source ports (cookies.py) and gets a ``Seat``: its
inbox and a wake-up fd. One seated scan at a time — the leader — waits on the sockets and
reads them when answers come. An answer to the leader's own block is matched at once, in the
leader's thread: a lone scan always leads, so a single big scan pays no hand-over at all. An
answer to another block is queued in that scan's inbox, and its wake-up fd is written once per
read; scans that do not lead wait on their wake-up fd only (an answer wakes the leader and at
most the scan it belongs to, not every scan).
Before a scan that does not lead decides that a probe went unanswered, it reads the sockets
itself (one reader at a time), so an answer never waits unread in a socket while its scan
gives up on it — under load the leader's thread gets the interpreter only now and then. When
the leader leaves it wakes the others, and the first to look takes the lead. Answers to a
block nobody holds (a scan that has ended) are dropped.
"""

from __future__ import annotations

import itertools
import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple, Protocol

from probe.engine.base import CANCEL_CHECK
from probe.engine.cookies import TRY_BITS
from probe.engine.transport import Answer

if TYPE_CHECKING:
    from probe.engine import bulk
    from probe.engine.burst import RecvRows

MAX_READS_PER_WAKE = 2048
# Answers a big scan reads per wake-up before it goes back to sending: answers come as fast
# as they are read, and a scan that read them all first would leave its sender idle.
ROWS_PER_WAKE = 256
BULK_READ = 32  # packets read at once from which they are decoded as one batch (bulk.py)

# (answer, when it was read, the IPv4 packet or None, the IPv6 payload or None)
Delivery = tuple[Answer, float, bytes | None, bytes | None]
MatchFn = Callable[[Answer, float, bytes | None, bytes | None], None]


class RowsFn(Protocol):
    """A scan's matcher for a decoded batch (``Scan.match_rows``): rows ``ks`` are its own."""

    def __call__(
        self, d: bulk.Decoded, ks: bulk.I64, rows: bulk.U8, lengths: bulk.I64, now: float
    ) -> None: ...


class Source(NamedTuple):
    """One receive socket and its decoder: ``parse(packet)`` for IPv4 (the socket returns
    the IP header), ``parse(payload, source address, hop limit)`` for IPv6."""

    sock: socket.socket
    v6: bool
    parse: Callable[..., Answer | None]
    rows: bool = False  # IPv4 TCP: read a batch at a time once a big scan has come (bulk.py)


class Seat:
    """One scan's place at the receiver: its block of source ports, its inbox, its wake-up
    fd. Used from the scan's own thread only (the inbox and ``poke`` from any)."""

    def __init__(
        self, receiver: Receiver, block: int, match: MatchFn, match_rows: RowsFn | None = None
    ) -> None:
        self.block = block
        self.first_port = block << TRY_BITS
        self.match = match
        self.match_rows = match_rows
        self.logs = False  # the scan logs its packets (Receiver.join)
        self.inbox: deque[Delivery] = deque()
        self.leading = False
        self._receiver = receiver
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN)

    def backlog(self) -> bool:
        """Whether the last read of the bulk path filled its batch: answers may still wait
        in the socket, for this scan or another one."""
        return self._receiver.backlog

    def collect(self) -> None:
        """Bring the scan up to date: read the sockets unless it leads (then its ``wait``
        just did), and match the answers other scans' threads read for it."""
        if not self.leading:
            self._receiver.catch_up(self)
        inbox, match = self.inbox, self.match
        while inbox:
            match(*inbox.popleft())

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for answers: read them if this scan leads, else
        until the leader hands some over (``collect`` matches those)."""
        if not self.leading and self._receiver.leader is None:
            self._receiver.lead(self)
        if self.leading:
            self._receiver.backlog = False  # until a read finds one again
        for fd, _ in self._poller.poll(timeout * 1000):
            if fd == self._fd:
                os.eventfd_read(self._fd)
            else:
                self._receiver.drain(fd, self)

    def poke(self) -> None:
        os.eventfd_write(self._fd, 1)

    def watch(self, fds: Sequence[int]) -> None:
        for fd in fds:
            self._poller.register(fd, select.POLLIN)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Receiver:
    """The engine's receive sockets, their reader of the moment, and who holds which block."""

    def __init__(self, sources: Sequence[Source], first_block: int, blocks: int) -> None:
        self._sources = {s.sock.fileno(): s for s in sources}
        self.backlog = False  # the last bulk read filled its batch (Seat.backlog)
        # Round-robin over the free blocks: a block given back goes to the end of the line,
        # so consecutive scans (watch's rounds) leave from other source ports, as a real
        # client's connections do. Reusing the block at once would send the next SYN from
        # the port the last one used: a server or NAT that still holds that connection
        # (TIME_WAIT, a conntrack entry) could answer it as the old one instead of anew.
        self._free = deque(range(first_block, first_block + blocks))
        self._seats: dict[int, Seat] = {}
        self._guard = threading.Condition()
        # One reader at a time: an answer read is in its scan's inbox before another scan
        # reads the sockets and then decides what went unanswered.
        self._reading = threading.Lock()
        self.leader: Seat | None = None
        self._rows: RecvRows | None = None  # the batch buffer, once a big scan has come
        # Seated scans that log packets (--pcap): while any is, every packet is read whole.
        self._logging = 0

    def read_rows(self) -> None:
        """From now on, read the IPv4 TCP socket a batch at a time (numpy is loaded)."""
        from probe.engine.burst import SO_TIMESTAMPNS, RecvRows

        with self._reading:
            if self._rows is None:
                self._rows = RecvRows()
                for source in self._sources.values():
                    if source.rows:  # the kernel's receive time of each packet, for its RTT
                        source.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def join(
        self,
        match: MatchFn,
        cancel: threading.Event | None,
        match_rows: RowsFn | None = None,
        *,
        logs: bool = False,
    ) -> Seat | None:
        """A seat with a free block, waiting while every block is held (None: cancelled).
        ``logs``: the scan logs its packets, which a batch read would cut short."""
        with self._guard:
            while not self._free:
                if cancel is not None and cancel.is_set():
                    return None
                self._guard.wait(CANCEL_CHECK)
            seat = Seat(self, self._free.popleft(), match, match_rows)
            seat.logs = logs
            self._logging += logs
            self._seats[seat.block] = seat
            return seat

    def leave(self, seat: Seat) -> None:
        """Give the block back; a leader steps down and wakes the others to take over."""
        with self._guard:
            if self._seats.get(seat.block) is seat:
                self._logging -= seat.logs
                del self._seats[seat.block]
                self._free.append(seat.block)
                self._guard.notify()
            if self.leader is seat:
                self.leader = None
                for other in self._seats.values():
                    other.poke()
        seat.close()  # nobody pokes it now: pokes happen under the guard, to seated scans

    def lead(self, seat: Seat) -> None:
        with self._guard:
            if self.leader is None and self._seats.get(seat.block) is seat:
                self.leader = seat
                seat.leading = True
                seat.watch(list(self._sources))

    def drain(self, fd: int, me: Seat) -> None:
        """Read what one socket (that poll found readable) holds, in ``me``'s thread."""
        with self._reading:
            handed = self._read(self._sources[fd], me, ROWS_PER_WAKE)
        self._poke(handed)

    def catch_up(self, me: Seat) -> None:
        """Read what every socket holds now. A scan that does not lead does this before it
        decides that a probe went unanswered: the leader may not have come round to reading
        (it shares the interpreter with every other scan's threads), and an answer that waits
        in a socket must not become "no answer"."""
        with self._reading:
            handed: set[Seat] = set()
            for source in self._sources.values():
                handed |= self._read(source, me)
        self._poke(handed)

    def _read(self, source: Source, me: Seat, rows: int = MAX_READS_PER_WAKE) -> set[Seat]:
        """``me``'s answers matched here, others' handed over (those scans are returned);
        at most ``rows`` of them on the bulk path."""
        if source.rows and self._rows is not None and not self._logging:
            return self._read_rows(source, me, rows)
        if not source.v6:  # nearly every answer of a big scan
            return self._route_v4(source.parse, _received(source.sock.recv), me, time.monotonic)
        mine, match, seats, clock, bits = me.block, me.match, self._seats, time.monotonic, TRY_BITS
        handed: set[Seat] = set()
        recvmsg, parse = source.sock.recvmsg, source.parse
        for _ in range(MAX_READS_PER_WAKE):
            try:
                data, anc, _flags, addr = recvmsg(65535, socket.CMSG_SPACE(4))
            except (BlockingIOError, InterruptedError):
                break
            a = parse(data, str(addr[0]).split("%")[0], _hoplimit(anc))
            if a is None:
                continue
            block = a.sport >> bits
            if block == mine:
                match(a, clock(), None, data)
            elif (seat := seats.get(block)) is not None:
                seat.inbox.append((a, clock(), None, data))
                handed.add(seat)
        return handed

    def _route_v4(
        self,
        parse: Callable[[bytes], Answer | None],
        packets: Iterable[bytes],
        me: Seat,
        clock: Callable[[], float],
    ) -> set[Seat]:
        """IPv4 packets decoded one by one: ``me``'s answers matched here, others' handed
        over (those scans are returned). The tight loop of a scan's every answer."""
        mine, match, seats, bits = me.block, me.match, self._seats, TRY_BITS
        handed: set[Seat] = set()
        for pkt in packets:
            a = parse(pkt)
            if a is None:
                continue
            block = a.sport >> bits
            if block == mine:
                match(a, clock(), pkt, None)
            elif (seat := seats.get(block)) is not None:
                seat.inbox.append((a, clock(), pkt, None))
                handed.add(seat)
        return handed

    def _read_rows(self, source: Source, me: Seat, most: int) -> set[Seat]:
        """The IPv4 TCP socket read with recvmmsg and decoded a batch at a time, up to
        ``most`` packets."""
        from probe.engine.bulk import KIND_NONE, decode_v4
        from probe.engine.fastpath import answers, match_each

        assert self._rows is not None
        buffer, fd, handed = self._rows, source.sock.fileno(), set()
        self.backlog = False
        for _ in range(max(1, most // buffer.capacity)):
            count = buffer.read(fd)
            self.backlog = count == buffer.capacity  # a full read: more may wait behind it
            if not count:
                break
            now = time.monotonic()
            rows, lengths = buffer.rows[:count], buffer.lengths(count).astype("int64")
            if count < BULK_READ:  # too few for numpy's fixed cost per batch: one by one
                each = (rows[k, :size].tobytes() for k, size in enumerate(lengths.tolist()))
                handed |= self._route_v4(source.parse, each, me, itertools.repeat(now).__next__)
                if count < buffer.capacity:
                    break
                continue
            d = replace(decode_v4(rows, lengths), arrived=buffer.arrivals(count, now))
            blocks = d.sport >> TRY_BITS
            answer = d.kind != KIND_NONE
            mine = (answer & (blocks == me.block)).nonzero()[0]
            if len(mine):
                if me.match_rows is not None:
                    me.match_rows(d, mine, rows, lengths, now)
                else:
                    match_each(me.match, d, mine, rows, lengths, now)
            others = (answer & (blocks != me.block)).nonzero()[0]
            theirs = zip(
                others.tolist(), answers(d, others, rows), d.times(others, now), strict=True
            )
            for k, a, t in theirs:
                if (seat := self._seats.get(a.sport >> TRY_BITS)) is not None:
                    seat.inbox.append((a, t, rows[k, : lengths[k]].tobytes(), None))
                    handed.add(seat)
            if count < buffer.capacity:
                break
        return handed

    def _poke(self, handed: set[Seat]) -> None:
        if handed:
            with self._guard:
                for seat in handed:
                    if self._seats.get(seat.block) is seat:
                        seat.poke()


def _received(recv: Callable[[int], bytes]) -> Iterator[bytes]:
    """What a socket holds now, packet by packet (at most MAX_READS_PER_WAKE)."""
    for _ in range(MAX_READS_PER_WAKE):
        try:
            yield recv(65535)
        except (BlockingIOError, InterruptedError):
            return


def _hoplimit(anc: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= 4:
            return int(struct.unpack("i", data[:4])[0])
    return None
