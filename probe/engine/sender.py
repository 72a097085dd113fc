"""Putting probes on the wire: inline, or from a thread of their own in batches.

Why a thread: ``sendto()`` of a raw probe is not a cheap copy into a queue. The kernel runs the
packet's whole local path inside the call (routing, netfilter, the driver's transmit; on a
virtual link such as a veth pair, even the receiving side's processing up to the answer),
so in a full-range scan the kernel's share of the work is about as large as Python's. A
sender thread spends nearly all its time in the kernel with the GIL released, so on a
machine with two cores the kernel's work runs beside the main thread's matching and
bookkeeping instead of after it.

IPv4 probes go out with ``sendmmsg(2)`` (mmsg.py): one system call and one GIL hand-over per
batch instead of per packet. IPv6 probes carry their hop limit (and a source
asked for, as IPV6_PKTINFO) as ancillary data and go out one ``sendmsg()`` each, on their
transport's socket, from the same thread.

The sender thread needs the GIL for a moment after each batch; by default it would wait up
to 5 ms for the scan's busy loop to hand it over, with the kernel idle. While any sender
thread runs the process's switch interval is shortened (``sys.setswitchinterval`` is
process-wide: the first sender sets it, the last one to stop restores it).

Both senders stamp each probe's send time into the scan's ``sent_at`` table just before the
packet leaves (so an answer can never be seen before its send time) and report the local
kernel's refusals (no route, failed ARP, an output firewall rule) as ``(job, try, errno)``
in ``failed``: that is the probe's answer, given by this machine.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys
import threading
import time
import typing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from probe.engine import mmsg
from probe.errors import NoPermission
from probe.model import Protocol

if TYPE_CHECKING:
    from probe.engine.burst import SendRows

# Errors that mean "the queue is full, try again shortly" rather than an answer.
_BUSY = frozenset({errno.EAGAIN, errno.ENOBUFS, errno.EINTR})
# Errors that are the local kernel's verdict on a probe (no route, failed ARP, an output
# firewall rule on this machine) rather than a failure to run.
_LOCAL_VERDICTS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EPERM, errno.EACCES}
)
BUSY_PAUSE = 0.0005  # seconds to let a full device queue drain
MAX_BUSY_WAIT = 2.0  # seconds: a queue still full after this is an error, not a pause
BATCH = 64  # probes per sendmmsg(): ~1 ms of kernel work, short enough to keep RTTs honest
_SLOT = 128  # bytes per packet in the batch buffer (an IPv4 SYN with options is 60)
# Seconds: the GIL hand-over interval while a sender thread runs. A batch is ~0.7 ms in the
# kernel; at 0.5 ms a sender waited up to that long for the interpreter after each one, and
# two lanes (lanes.py) sent a full-range scan in 0.83-0.86 s against 0.78-0.82 s at 0.1 ms.
SWITCH_INTERVAL = 0.0001


class Outgoing(NamedTuple):
    """One probe to send: which one (job number and try) and the bytes."""

    job: int
    try_no: int
    packet: bytes
    address: str
    dst: bytes  # the address, packed
    ttl: int  # IPv6: the hop limit, passed as ancillary data (IPv4 has it in the header)
    v6: bool
    protocol: Protocol  # IPv6: which raw socket sends it (the kernel writes the IPv6 header)
    src: bytes | None = None  # the source asked for (--source), packed: IP(V6)_PKTINFO


class Burst(NamedTuple):
    """Probes built a batch at a time (bulk.py): row k of ``rows`` is try ``tries[k]`` of job
    ``jobs[k]``; ``start`` is the first row not yet sent."""

    jobs: list[int]
    tries: list[int]
    rows: SendRows
    start: int = 0


# sent_at[job][try - 1]: when that try left (time.monotonic()), written by the sender.
SentTable = list[list[float]]
Failure = tuple[int, int, int]  # (job, try, errno)


Send6 = Mapping[Protocol, socket.socket]  # IPv6 sockets by transport (absent: no IPv6)


class Sender(typing.Protocol):
    @property
    def error(self) -> BaseException | None:
        """A failure of the sender itself, for the scan to raise."""

    def submit(self, items: Iterable[Outgoing], now: float) -> None: ...

    def submit_burst(self, burst: Burst, now: float) -> None: ...

    def pending(self) -> int: ...

    def close(self) -> None: ...


def busy(code: int) -> bool:
    """The errno of a queue still full after ``MAX_BUSY_WAIT``: a lost try, not an answer."""
    return code in _BUSY


def local_verdict(code: int) -> str:
    """The kernel's word for a refusal in ``failed`` ("EHOSTUNREACH"); any other error is
    raised: it means the probes cannot be sent at all."""
    if code in _LOCAL_VERDICTS:
        return errno.errorcode[code]
    if code == errno.EAFNOSUPPORT:
        raise NoPermission("IPv6 raw sockets are not available here")
    raise OSError(code, os.strerror(code))


def _send_v6(send6: Send6, item: Outgoing) -> None:
    sock = send6.get(item.protocol)
    if sock is None:
        raise OSError(errno.EAFNOSUPPORT, "IPv6 raw sockets are not available here")
    control = [(socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("i", item.ttl))]
    if item.src is not None:
        # The kernel writes the IPv6 header of a raw socket's packet and picks its source by
        # the route (RFC 6724); struct in6_pktinfo (address, interface index 0: the route's)
        # makes it use ours instead, and the checksum it fills in (IPV6_CHECKSUM) covers it.
        control.append((socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, item.src + bytes(4)))
    sock.sendmsg([item.packet], control, 0, (item.address, 0))


def _send_v4(send4: socket.socket, item: Outgoing) -> None:
    if item.src is None:
        send4.sendto(item.packet, (item.address, 0))
        return
    control = [(socket.IPPROTO_IP, mmsg.IP_PKTINFO, mmsg.in_pktinfo(item.src))]
    send4.sendmsg([item.packet], control, 0, (item.address, 0))


def _send_one(
    send4: socket.socket,
    send6: Send6,
    item: Outgoing,
    stopping: Callable[[], bool],
) -> int:
    """Send one probe, waiting out a full queue for a while; 0 when sent, else the errno."""
    give_up = time.monotonic() + MAX_BUSY_WAIT
    while True:
        try:
            if item.v6:
                _send_v6(send6, item)
            else:
                _send_v4(send4, item)
            return 0
        except OSError as exc:
            code = exc.errno or 0
            if code not in _BUSY or stopping() or time.monotonic() > give_up:
                return code
        time.sleep(BUSY_PAUSE)


class _SwitchInterval:
    """The short switch interval, held while any sender thread runs (reference-counted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved = 0.0

    def hold(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0:
                sys.setswitchinterval(self._saved)


_switch = _SwitchInterval()


class InlineSender:
    """Sends at once, in the caller's thread, stamped with the caller's clock. The engine's
    unit tests drive it with a fake clock; it is also the fallback when sendmmsg is missing."""

    def __init__(
        self,
        send4: socket.socket,
        send6: Send6,
        sent_at: SentTable,
        failed: deque[Failure],
    ) -> None:
        self._send4, self._send6 = send4, send6
        self._sent_at, self._failed = sent_at, failed
        self.error: BaseException | None = None

    def submit(self, items: Iterable[Outgoing], now: float) -> None:
        self._send_each(items, lambda: now)

    def submit_burst(self, burst: Burst, now: float) -> None:
        self._send_each(_unbatched(burst), lambda: now)

    def _send_each(self, items: Iterable[Outgoing], clock: Callable[[], float]) -> None:
        for item in items:
            self._sent_at[item.job][item.try_no - 1] = clock()
            code = _send_one(self._send4, self._send6, item, self._stop)
            if code:
                self._failed.append((item.job, item.try_no, code))

    def _stop(self) -> bool:
        return False

    def pending(self) -> int:
        return 0

    def close(self) -> None:
        pass


class ThreadSender(InlineSender):
    """Sends from a daemon thread: ``submit`` queues and returns at once."""

    def __init__(
        self,
        send4: socket.socket,
        send6: Send6,
        sent_at: SentTable,
        failed: deque[Failure],
        *,
        batch: int = BATCH,
        port: int = 0,  # destination port in the socket address: raw sockets ignore it
    ) -> None:
        super().__init__(send4, send6, sent_at, failed)
        self._queue: deque[Outgoing | Burst] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._busy = 0  # items taken from the queue and not yet sent
        self._sendmmsg = mmsg.sendmmsg()
        self._batch = mmsg.SendBatch(batch, _SLOT, port)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="probe-sender", daemon=True)
        _switch.hold()
        self._thread.start()

    def submit(self, items: Iterable[Outgoing], now: float) -> None:
        self._queue.extend(items)
        self._wake.set()

    def submit_burst(self, burst: Burst, now: float) -> None:
        self._queue.append(burst)
        self._wake.set()

    def pending(self) -> int:
        """Probes queued or being sent."""
        return len(self._queue) + self._busy

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=5.0)
        if not self._closed:
            self._closed = True
            _switch.release()

    def _stop(self) -> bool:
        return self._stopping

    def _loop(self) -> None:
        try:
            while not self._stopping:
                self._wake.wait(0.5)
                self._wake.clear()
                while self._queue and not self._stopping:
                    self._send_some()
        except BaseException as exc:  # handed to the scan's thread, re-raised there
            self.error = exc

    def _send_some(self) -> None:
        queue = self._queue
        head = queue[0]
        if isinstance(head, Burst):
            queue.popleft()
            self._send_burst(head)
            return
        items: list[Outgoing] = []
        while queue and len(items) < self._batch.size and not isinstance(queue[0], Burst):
            items.append(typing.cast(Outgoing, queue.popleft()))
        self._busy = len(items)
        batched = [it for it in items if not it.v6 and len(it.packet) <= _SLOT]
        if batched and self._sendmmsg is not None:
            self._send_v4_batch(batched)
            items = [it for it in items if it.v6 or len(it.packet) > _SLOT]
        self._send_each(items, time.monotonic)  # IPv6 (hop limit as ancillary data), odd sizes
        self._busy = 0

    def _send_v4_batch(self, items: list[Outgoing]) -> None:
        b = self._batch
        for k, item in enumerate(items):
            b.fill(k, item.packet, item.dst, item.src)
        stamp = time.monotonic()
        for item in items:
            self._sent_at[item.job][item.try_no - 1] = stamp
        self._send_messages(b.message, 0, len(items), lambda k: (items[k].job, items[k].try_no))

    def _send_burst(self, burst: Burst) -> None:
        """The next ``BATCH`` rows of a burst (the rest goes back to the queue's head)."""
        start = burst.start
        end = min(len(burst.rows), start + self._batch.size)
        self._busy = end - start
        jobs, tries = burst.jobs, burst.tries
        stamp = time.monotonic()
        sent_at = self._sent_at
        for k in range(start, end):
            sent_at[jobs[k]][tries[k] - 1] = stamp
        if end < len(burst.rows):
            self._queue.appendleft(burst._replace(start=end))
        self._send_messages(burst.rows.address, start, end, lambda k: (jobs[k], tries[k]))
        self._busy = 0

    def _send_messages(
        self, address: Callable[[int], int], k: int, n: int, who: Callable[[int], tuple[int, int]]
    ) -> None:
        """sendmmsg() messages ``k`` to ``n`` (``address(k)``: where message k starts),
        waiting out a full queue for a while; a refused message is its probe's answer."""
        assert self._sendmmsg is not None
        fd = self._send4.fileno()
        give_up = time.monotonic() + MAX_BUSY_WAIT
        while k < n:
            # ctypes releases the GIL for the call: the kernel's work runs beside Python's.
            sent = self._sendmmsg(fd, address(k), n - k, 0)
            if sent > 0:
                k += sent
                give_up = time.monotonic() + MAX_BUSY_WAIT
                continue
            code = ctypes.get_errno()
            if code in _BUSY and not self._stopping and time.monotonic() < give_up:
                time.sleep(BUSY_PAUSE)
                continue
            # The first message of the rest was refused by the local kernel: its answer.
            job, try_no = who(k)
            self._failed.append((job, try_no, code))
            k += 1


def _unbatched(burst: Burst) -> Iterator[Outgoing]:
    """A burst's rows as single probes, for the inline sender."""
    rows = burst.rows
    for k in range(burst.start, len(rows)):
        dst = int(rows.dst[k]).to_bytes(4, "big")
        address = socket.inet_ntop(socket.AF_INET, dst)
        packet = rows.packet(k)
        yield Outgoing(burst.jobs[k], burst.tries[k], packet, address, dst, packet[8], False,
                       Protocol.TCP)  # fmt: skip


def make_sender(
    send4: socket.socket,
    send6: Send6,
    sent_at: SentTable,
    failed: deque[Failure],
) -> ThreadSender | InlineSender:
    """The threaded sender where sendmmsg exists (Linux with glibc or musl), else inline."""
    if not mmsg.available():
        return InlineSender(send4, send6, sent_at, failed)
    return ThreadSender(send4, send6, sent_at, failed)
