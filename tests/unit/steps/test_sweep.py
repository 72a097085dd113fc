"""The echo sweep's packets against scapy: requests carry the sweep's identifier and
token with a correct checksum, and only replies giving both back count."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest

from probe.steps import sweep

TOKEN = bytes(range(8))


@pytest.mark.parametrize(("ident", "seq"), [(0, 0), (0xBEEF, 1), (0xFFFF, 0xFFFF), (7, 4096)])
def test_echo_request_is_scapys(ident: int, seq: int) -> None:
    built = sweep.echo_request(ident, seq, TOKEN, v6=False)
    assert built == bytes(ICMP(type=8, id=ident, seq=seq) / TOKEN)


def test_ipv6_request_leaves_the_checksum_to_the_kernel() -> None:
    built = sweep.echo_request(1, 2, TOKEN, v6=True)
    msg = ICMPv6EchoRequest(built)
    assert (msg.type, msg.id, msg.seq, bytes(msg.data), msg.cksum) == (128, 1, 2, TOKEN, 0)


def test_only_our_replies_count() -> None:
    ours = bytes(ICMP(type=0, id=9, seq=3) / TOKEN)
    assert sweep.reply_from(ours, 9, TOKEN, v6=False)
    assert not sweep.reply_from(ours, 10, TOKEN, v6=False)  # someone else's ping
    assert not sweep.reply_from(bytes(ICMP(type=0, id=9) / bytes(8)), 9, TOKEN, v6=False)
    assert not sweep.reply_from(bytes(ICMP(type=8, id=9) / TOKEN), 9, TOKEN, v6=False)
    assert not sweep.reply_from(ours[:6], 9, TOKEN, v6=False)  # truncated
    v6 = bytes(ICMPv6EchoReply(id=9, seq=1, data=TOKEN))
    assert sweep.reply_from(v6, 9, TOKEN, v6=True)


def test_a_reply_inside_its_ip_packet_is_read_after_the_header() -> None:
    pkt = bytes(IP(src="198.18.1.10", dst="198.18.0.2") / ICMP(type=0, id=9) / TOKEN)
    assert sweep.reply_from(pkt[20:], 9, TOKEN, v6=False)
