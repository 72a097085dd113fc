"""bpf.py's kernel filters, run on packets scapy builds through a small interpreter of the
opcodes they use (the contract test runs them in the kernel, on real sockets)."""

from __future__ import annotations

import socket
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded, IPv6

from probe.engine import bpf

SRC = "198.18.0.2"
DST = "198.18.1.10"
SPORT = 45008
TCP_ONLY = (socket.IPPROTO_TCP,)


def run_bpf(prog: list[bpf.Insn], pkt: bytes) -> bool:
    """Whether the kernel would pass ``pkt``: a packet a load runs past is dropped."""
    a = x = 0
    pc = 0
    for _ in range(256):
        code, jt, jf, k = prog[pc]
        pc += 1
        try:
            if code == bpf.LDX_MSH:
                x = 4 * (pkt[k] & 0x0F)
            elif code == bpf.LD_B_IND:
                a = pkt[x + k]
            elif code == bpf.LD_H_IND:
                a = struct.unpack_from("!H", pkt, x + k)[0]
            elif code == bpf.LD_B_ABS:
                a = pkt[k]
            elif code == bpf.LD_H_ABS:
                a = struct.unpack_from("!H", pkt, k)[0]
            elif code == bpf.AND_K:
                a &= k
            elif code == bpf.LSH_K:
                a = (a << k) & 0xFFFFFFFF
            elif code == bpf.ADD_X:
                a = (a + x) & 0xFFFFFFFF
            elif code == bpf.TAX:
                x = a
            elif code == bpf.JEQ_K:
                pc += jt if a == k else jf
            elif code == bpf.JGT_K:
                pc += jt if a > k else jf
            elif code == bpf.JGE_K:
                pc += jt if a >= k else jf
            elif code == bpf.RET_K:
                return k != 0
            else:
                raise AssertionError(f"opcode {code:#x} not interpreted")
        except (IndexError, struct.error):
            return False
    return False


def err4(icmp_type: int, sport: int, quoted_ip_opts: bytes = b"", udp: bool = False) -> bytes:
    layer = UDP(sport=sport, dport=53) if udp else TCP(sport=sport, dport=80)
    probe = IP(src=SRC, dst=DST, options=quoted_ip_opts) / layer
    return bytes(IP(src="198.18.0.1") / ICMP(type=icmp_type, code=1) / bytes(probe)[:48])


def err6(sport: int, udp: bool = False, exceeded: bool = False) -> bytes:
    layer = UDP(sport=sport, dport=53) if udp else TCP(sport=sport, dport=80)
    probe = IPv6(src="2001:2::2", dst="2001:2::10") / layer
    icmp = ICMPv6TimeExceeded() if exceeded else ICMPv6DestUnreach()
    return bytes(icmp / bytes(probe))


def test_transport_filter_passes_only_our_ports() -> None:
    prog = bpf.to_ports_v4(SPORT, 1)
    assert run_bpf(prog, bytes(IP(src=DST) / TCP(sport=80, dport=SPORT, flags="SA")))
    assert not run_bpf(prog, bytes(IP(src=DST) / TCP(sport=80, dport=SPORT + 1, flags="SA")))
    with_options = IP(src=DST, options=b"\x01\x01\x01\x00") / TCP(sport=80, dport=SPORT)
    assert run_bpf(prog, bytes(with_options))  # IP options move the TCP header
    assert run_bpf(bpf.to_ports_v6(SPORT, 1), bytes(TCP(sport=80, dport=SPORT)))
    assert not run_bpf(bpf.to_ports_v6(SPORT, 1), bytes(TCP(sport=80, dport=1)))


def test_icmp_filter_passes_errors_quoting_our_probes() -> None:
    prog = bpf.icmp_v4(TCP_ONLY, SPORT, 1)
    assert run_bpf(prog, err4(3, SPORT))
    assert run_bpf(prog, err4(11, SPORT))  # time exceeded, for trace
    assert run_bpf(prog, err4(3, SPORT, b"\x01\x01\x01\x00"))
    assert not run_bpf(prog, err4(3, SPORT + 1))
    assert not run_bpf(prog, err4(5, SPORT))  # redirect
    assert not run_bpf(prog, err4(3, SPORT, udp=True))  # a protocol the engine does not send
    assert not run_bpf(prog, bytes(IP(src=DST) / ICMP(type=0) / (b"x" * 40)))
    prog6 = bpf.icmp_v6(TCP_ONLY, SPORT, 1)
    assert run_bpf(prog6, err6(SPORT)) and run_bpf(prog6, err6(SPORT, exceeded=True))
    assert not run_bpf(prog6, err6(1))
    assert not run_bpf(prog6, err6(SPORT, udp=True))


def test_icmp_filters_take_every_protocol_they_are_given() -> None:
    both = (socket.IPPROTO_TCP, socket.IPPROTO_UDP)
    prog, prog6 = bpf.icmp_v4(both, SPORT, 16), bpf.icmp_v6(both, SPORT, 16)
    for udp in (False, True):
        assert run_bpf(prog, err4(3, SPORT + 3, udp=udp))
        assert not run_bpf(prog, err4(3, SPORT + 16, udp=udp))
        assert run_bpf(prog6, err6(SPORT + 3, udp=udp))
        assert not run_bpf(prog6, err6(SPORT - 1, udp=udp))
    assert not run_bpf(prog, err4(5, SPORT))


def test_filters_accept_the_whole_range_and_nothing_else() -> None:
    span = 64 * 16  # an engine's blocks
    tcp4, icmp4 = bpf.to_ports_v4(SPORT, span), bpf.icmp_v4(TCP_ONLY, SPORT, span)
    tcp6, icmp6 = bpf.to_ports_v6(SPORT, span), bpf.icmp_v6(TCP_ONLY, SPORT, span)
    edges = ((SPORT - 1, False), (SPORT, True), (SPORT + span - 1, True), (SPORT + span, False))
    for port, ok in edges:
        assert run_bpf(tcp4, bytes(IP(src=DST) / TCP(sport=80, dport=port))) is ok
        assert run_bpf(icmp4, err4(3, port)) is ok
        assert run_bpf(tcp6, bytes(TCP(sport=80, dport=port))) is ok
        assert run_bpf(icmp6, err6(port)) is ok


def test_a_program_attaches_to_a_socket() -> None:
    # The kernel checks a program when it is attached (jumps inside it, a return at the end).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for prog in (
            bpf.to_ports_v4(SPORT, 16),
            bpf.to_ports_v6(SPORT, 16),
            bpf.icmp_v4((6, 17), SPORT, 16),
            bpf.icmp_v6((6, 17), SPORT, 16),
        ):
            bpf.attach(s, prog)
