"""receive.py: one scan at a time reads the shared sockets and every answer reaches the scan
whose block it hits. The socket here is a loopback UDP socket carrying made-up answers
(source port and tag), so no privilege is needed and nothing leaves the machine."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from probe.engine.cookies import BLOCK
from probe.engine.receive import Receiver, Seat, Source
from probe.engine.transport import Answer
from probe.model import AnswerKind

FIRST_BLOCK = 2800  # ports 44800-44831
HOME = socket.inet_aton("127.0.0.1")


def parse(pkt: bytes) -> Answer | None:
    if len(pkt) != 6:
        return None
    sport, tag = struct.unpack("!HI", pkt)
    return Answer(AnswerKind.RST, "127.0.0.1", 64, HOME, 80, sport, tag)


class Link:
    def __init__(self) -> None:
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind(("127.0.0.1", 0))
        self.rx.setblocking(False)
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.receiver = Receiver([Source(self.rx, False, parse)], FIRST_BLOCK, 2)
        self.got: dict[int, list[tuple[int, str]]] = {}  # block -> (tag, thread that matched)
        self.seats: list[Seat] = []

    def seat(self, cancel: threading.Event | None = None) -> Seat | None:
        box: list[tuple[int, str]] = []

        def match(a: Answer, now: float, pkt: bytes | None, l4: bytes | None) -> None:
            box.append((a.tag, threading.current_thread().name))

        seat = self.receiver.join(match, cancel)
        if seat is not None:
            self.got[seat.block] = box
            self.seats.append(seat)
        return seat

    def answer(self, block: int, tag: int, try_no: int = 1) -> None:
        self.tx.sendto(struct.pack("!HI", block * BLOCK + try_no, tag), self.rx.getsockname())

    def close(self) -> None:
        for seat in self.seats:
            self.receiver.leave(seat)  # again for those that left: harmless
        self.rx.close()
        self.tx.close()


@pytest.fixture
def link() -> Iterator[Link]:
    made = Link()
    yield made
    made.close()


def settle() -> None:
    time.sleep(0.05)  # loopback delivery


def test_a_lone_scan_leads_and_matches_its_answers_in_its_own_thread(link: Link) -> None:
    seat = link.seat()
    assert seat is not None and seat.first_port == FIRST_BLOCK * BLOCK
    seat.wait(0)
    assert seat.leading and link.receiver.leader is seat
    link.answer(seat.block, 7)
    settle()
    seat.wait(1.0)
    assert link.got[seat.block] == [(7, threading.current_thread().name)]
    assert not seat.inbox


def test_answers_to_another_block_are_handed_over_and_its_scan_woken(link: Link) -> None:
    a, b = link.seat(), link.seat()
    assert a is not None and b is not None and a.block != b.block
    a.wait(0)
    b.wait(0)
    assert a.leading and not b.leading
    link.answer(b.block, 1)
    link.answer(a.block, 2)
    link.answer(b.block, 3, try_no=2)
    link.answer(FIRST_BLOCK + 7, 4)  # a block nobody holds: dropped
    settle()
    a.wait(1.0)
    assert [tag for tag, _ in link.got[a.block]] == [2]
    assert link.got[b.block] == [] and len(b.inbox) == 2
    start = time.monotonic()
    b.wait(5.0)  # woken by the hand-over, not by the timeout
    assert time.monotonic() - start < 1.0
    b.collect()
    assert [tag for tag, _ in link.got[b.block]] == [1, 3]


def test_when_the_leader_leaves_another_scan_takes_over(link: Link) -> None:
    a, b = link.seat(), link.seat()
    assert a is not None and b is not None
    a.wait(0)
    b.wait(0)
    link.receiver.leave(a)
    assert link.receiver.leader is None
    start = time.monotonic()
    b.wait(5.0)  # woken to take the lead
    assert time.monotonic() - start < 1.0
    b.wait(0)
    assert b.leading and link.receiver.leader is b
    link.answer(b.block, 9)
    link.answer(a.block, 10)  # the block a gave back: nobody's now
    settle()
    b.wait(1.0)
    assert [tag for tag, _ in link.got[b.block]] == [9] and link.got[a.block] == []


def test_a_scan_waits_for_a_free_block_and_cancel_ends_the_wait(link: Link) -> None:
    a, b = link.seat(), link.seat()
    assert a is not None and b is not None
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    assert link.seat(cancel) is None  # both blocks held until cancelled
    got: list[Seat | None] = []
    waiter = threading.Thread(target=lambda: got.append(link.seat()))
    waiter.start()
    time.sleep(0.1)
    assert not got
    link.receiver.leave(b)
    waiter.join(2.0)
    assert got and got[0] is not None and got[0].block == b.block


def test_a_scan_that_does_not_lead_reads_the_sockets_before_it_decides(link: Link) -> None:
    # The leader's thread may not come round to reading (it shares the interpreter with every
    # other scan's threads): the others read themselves before they call anything unanswered.
    a, b = link.seat(), link.seat()
    assert a is not None and b is not None
    a.wait(0)
    b.wait(0)
    assert a.leading and not b.leading
    link.answer(b.block, 5)
    link.answer(a.block, 6)
    settle()
    b.collect()  # a never ran meanwhile
    assert [tag for tag, _ in link.got[b.block]] == [5]
    assert link.got[a.block] == [] and len(a.inbox) == 1  # a's own, handed over to it
    a.collect()
    assert [tag for tag, _ in link.got[a.block]] == [6]


def test_consecutive_scans_leave_from_other_blocks_round_robin(link: Link) -> None:
    # watch sends one scan after another: each must leave from a fresh block of source ports
    # (a real client's next connection comes from a new port), cycling over the free ones.
    blocks = []
    for _ in range(4):
        seat = link.seat()
        assert seat is not None
        blocks.append(seat.block)
        link.receiver.leave(seat)
    assert blocks == [FIRST_BLOCK, FIRST_BLOCK + 1, FIRST_BLOCK, FIRST_BLOCK + 1]
