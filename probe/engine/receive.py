"""The raw engine's receive side: its sockets read by one scan's thread at a time, each
answer routed to the scan whose source-port block it hits.

Every scan of an engine shares the engine's receive sockets (one per transport and family,
one for ICMP errors per family). A scan joins the receiver for a block of source ports
(cookies.py) and gets a ``Seat``: its inbox and a wake-up fd. At any moment one seated scan —
the leader — polls and drains the sockets. An answer to the leader's own block is matched at
once, in the leader's thread: a lone scan always leads, so a single big scan pays no
hand-over at all. An answer to another block is queued in that scan's inbox, and its wake-up
fd is written once per drain; scans that do not lead poll only their wake-up fd. When the
leader leaves it wakes the others, and the first to look takes the lead. Answers to a block
nobody holds (a scan that has ended) are dropped.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

from probe.engine.base import CANCEL_CHECK
from probe.engine.cookies import TRY_BITS
from probe.engine.transport import Answer

MAX_READS_PER_WAKE = 2048

# (answer, when it was read, the IPv4 packet or None, the IPv6 payload or None)
Delivery = tuple[Answer, float, bytes | None, bytes | None]
MatchFn = Callable[[Answer, float, bytes | None, bytes | None], None]


class Source(NamedTuple):
    """One receive socket and its decoder: ``parse(packet)`` for IPv4 (the socket returns
    the IP header), ``parse(payload, source address, hop limit)`` for IPv6."""

    sock: socket.socket
    v6: bool
    parse: Callable[..., Answer | None]


class Seat:
    """One scan's place at the receiver: its block of source ports, its inbox, its wake-up
    fd. Used from the scan's own thread only (the inbox and ``poke`` from any)."""

    def __init__(self, receiver: Receiver, block: int, match: MatchFn) -> None:
        self.block = block
        self.first_port = block << TRY_BITS
        self.match = match
        self.inbox: deque[Delivery] = deque()
        self.leading = False
        self._receiver = receiver
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN)

    def collect(self) -> None:
        """Match the answers other scans' threads read for this one."""
        inbox, match = self.inbox, self.match
        while inbox:
            match(*inbox.popleft())

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for answers: read them if this scan leads, else
        until the leader hands some over (``collect`` matches those)."""
        if not self.leading and self._receiver.leader is None:
            self._receiver.lead(self)
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
        self._free = list(range(first_block + blocks - 1, first_block - 1, -1))
        self._seats: dict[int, Seat] = {}
        self._guard = threading.Condition()
        self.leader: Seat | None = None

    def join(self, match: MatchFn, cancel: threading.Event | None) -> Seat | None:
        """A seat with a free block, waiting while every block is held (None: cancelled)."""
        with self._guard:
            while not self._free:
                if cancel is not None and cancel.is_set():
                    return None
                self._guard.wait(CANCEL_CHECK)
            seat = Seat(self, self._free.pop(), match)
            self._seats[seat.block] = seat
            return seat

    def leave(self, seat: Seat) -> None:
        """Give the block back; a leader steps down and wakes the others to take over."""
        with self._guard:
            if self._seats.get(seat.block) is seat:
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
        """Read what one socket holds: ``me``'s answers matched here, others' handed over."""
        source = self._sources[fd]
        mine, match, seats, clock, bits = me.block, me.match, self._seats, time.monotonic, TRY_BITS
        handed: set[Seat] = set()
        if not source.v6:  # nearly every answer of a big scan: its own tight loop
            recv, parse = source.sock.recv, source.parse
            for _ in range(MAX_READS_PER_WAKE):
                try:
                    pkt = recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                a = parse(pkt)
                if a is None:
                    continue
                block = a.sport >> bits
                if block == mine:
                    match(a, clock(), pkt, None)
                elif (seat := seats.get(block)) is not None:
                    seat.inbox.append((a, clock(), pkt, None))
                    handed.add(seat)
        else:
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
        if handed:
            with self._guard:
                for seat in handed:
                    if seats.get(seat.block) is seat:
                        seat.poke()


def _hoplimit(anc: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in anc:
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= 4:
            return int(struct.unpack("i", data[:4])[0])
    return None
