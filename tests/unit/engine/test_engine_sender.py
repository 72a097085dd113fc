"""The engine's senders over loopback UDP sockets (nothing leaves this machine; no root
needed): every packet arrives once and in order, every send is time-stamped, and the local
kernel's refusals come back as (job, try, errno) instead of being lost."""

from __future__ import annotations

import errno
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator

import pytest

from probe.engine import mmsg, sender
from probe.engine.sender import InlineSender, Outgoing, ThreadSender
from probe.model import Protocol

LOOPBACK = "127.0.0.1"
pytestmark = pytest.mark.skipif(not mmsg.available(), reason="this libc has no sendmmsg")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((LOOPBACK, 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    rx.settimeout(2.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield tx, rx
    tx.close()
    rx.close()


def items(n: int, *, v6: bool = False) -> list[Outgoing]:
    dst = socket.inet_aton(LOOPBACK)
    return [
        Outgoing(job, 1, f"probe {job}".encode(), LOOPBACK, dst, 64, v6, Protocol.TCP)
        for job in range(n)
    ]


def wait_idle(s: ThreadSender) -> None:
    give_up = time.monotonic() + 5.0
    while s.pending() and time.monotonic() < give_up:
        time.sleep(0.001)
    assert s.pending() == 0


def test_thread_sender_sends_every_packet_once_in_order_and_stamps_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tx, rx = pair
    n = 300  # several sendmmsg batches, the last one partial
    sent_at = [[float("inf")] for _ in range(n)]
    failed: deque[tuple[int, int, int]] = deque()
    before = time.monotonic()
    s = ThreadSender(tx, {}, sent_at, failed, batch=64, port=rx.getsockname()[1])
    try:
        s.submit(items(n), before)
        wait_idle(s)
    finally:
        s.close()
    got = [rx.recv(100) for _ in range(n)]
    assert got == [f"probe {job}".encode() for job in range(n)]
    assert not failed
    assert s.error is None
    assert all(before <= row[0] <= time.monotonic() for row in sent_at)


def test_thread_sender_reports_each_refused_packet_and_goes_on(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tx, _ = pair
    n = 70
    sent_at = [[float("inf")] for _ in range(n)]
    failed: deque[tuple[int, int, int]] = deque()
    # Port 0 in the socket address: the kernel refuses every UDP datagram (EINVAL).
    s = ThreadSender(tx, {}, sent_at, failed, batch=64, port=0)
    try:
        s.submit(items(n), 0.0)
        wait_idle(s)
    finally:
        s.close()
    assert list(failed) == [(job, 1, errno.EINVAL) for job in range(n)]


def test_ipv6_without_a_socket_is_reported_not_raised(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tx, _ = pair
    sent_at = [[float("inf")] for _ in range(2)]
    failed: deque[tuple[int, int, int]] = deque()
    s = ThreadSender(tx, {}, sent_at, failed)
    try:
        s.submit(items(2, v6=True), 0.0)
        wait_idle(s)
    finally:
        s.close()
    assert list(failed) == [(0, 1, errno.EAFNOSUPPORT), (1, 1, errno.EAFNOSUPPORT)]


def test_inline_sender_stamps_with_the_callers_clock(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tx, rx = pair
    tx.connect(rx.getsockname())  # the inline path uses sendto((address, 0)): UDP needs a port
    sent_at = [[float("inf")] for _ in range(3)]
    failed: deque[tuple[int, int, int]] = deque()
    InlineSender(tx, {}, sent_at, failed).submit(items(3), 42.0)
    assert sent_at == [[42.0], [42.0], [42.0]]
    # sendto() to port 0 on a connected UDP socket is refused, and reported per packet.
    assert list(failed) == [(job, 1, errno.EINVAL) for job in range(3)]


def test_a_full_queue_is_waited_out_then_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    class Full:
        calls = 0

        def sendto(self, data: bytes, addr: object) -> int:
            self.calls += 1
            raise OSError(errno.ENOBUFS, "No buffer space available")

    monkeypatch.setattr(sender, "MAX_BUSY_WAIT", 0.02)
    sock = Full()
    sent_at = [[float("inf")]]
    failed: deque[tuple[int, int, int]] = deque()
    InlineSender(sock, {}, sent_at, failed).submit(items(1), 1.0)  # type: ignore[arg-type]
    assert sock.calls > 1  # retried while the queue might drain
    assert list(failed) == [(0, 1, errno.ENOBUFS)]


def test_the_switch_interval_is_short_while_any_sender_thread_runs(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    tx, _ = pair
    before = sys.getswitchinterval()
    failed: deque[tuple[int, int, int]] = deque()
    first = ThreadSender(tx, {}, [], failed)
    second = ThreadSender(tx, {}, [], failed)
    assert sys.getswitchinterval() == pytest.approx(sender.SWITCH_INTERVAL)
    first.close()
    assert sys.getswitchinterval() == pytest.approx(
        sender.SWITCH_INTERVAL
    )  # the second still sends
    second.close()
    second.close()  # twice: released once
    assert sys.getswitchinterval() == before
