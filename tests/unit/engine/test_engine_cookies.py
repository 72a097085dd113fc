"""cookies.py: a probe's tag names its destination, port, TTL, protocol and try, under the
scan's key; source ports name the scan's block and the try."""

from __future__ import annotations

import socket

from probe.engine import cookies

DST = socket.inet_aton("198.18.1.10")
TCP, UDP = socket.IPPROTO_TCP, socket.IPPROTO_UDP


def cookie(key: int, dst: bytes, port: int, ttl: int, number: int) -> int:
    return cookies.cookie(cookies.prefix(key, dst), port, ttl, number)


def test_a_tag_gives_back_its_cookie_and_try() -> None:
    ck = cookie(99, DST, 80, 64, TCP)
    assert ck & cookies.TRY_MASK == 0
    for try_no in (1, 2, 3, 15):
        assert cookies.split(ck | try_no) == (ck, try_no)


def test_every_part_of_a_probe_changes_its_cookie() -> None:
    ck = cookie(99, DST, 80, 64, TCP)
    others = [
        cookie(98, DST, 80, 64, TCP),  # another scan's key
        cookie(99, socket.inet_aton("198.18.1.11"), 80, 64, TCP),
        cookie(99, DST, 81, 64, TCP),
        cookie(99, DST, 80, 3, TCP),  # trace: another TTL
        cookie(99, DST, 80, 64, UDP),
    ]
    assert ck not in others


def test_ports_name_their_block() -> None:
    first = 45008
    assert first % cookies.BLOCK == 0
    blocks = {cookies.block_of(first + t) for t in range(1, cookies.TRY_MASK + 1)}
    assert blocks == {first // cookies.BLOCK}
    assert cookies.block_of(first + cookies.BLOCK) == first // cookies.BLOCK + 1
