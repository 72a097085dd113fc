"""Kernel filters (classic BPF) for the engine's receive sockets.

A raw socket gets a copy of every packet of its protocol on the machine; these programs let
through only answers to the engine's source ports — its whole range of port blocks, so every
scan that runs on the engine shares one socket per protocol — and the kernel drops the rest
before Python ever sees it. They read ports at bytes 0-3 of the transport header, where TCP
and UDP (and SCTP, DCCP) keep them.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterable

SO_ATTACH_FILTER = 26

# Classic BPF opcodes used below.
LDX_MSH = 0xB1  # X = 4 * (P[k] & 0xf)      (IPv4 header length)
LD_B_IND = 0x50  # A = P[X + k]   (byte)
LD_H_IND = 0x48  # A = P[X + k]   (half word)
LD_B_ABS = 0x30
LD_H_ABS = 0x28
AND_K = 0x54
LSH_K = 0x64
ADD_X = 0x0C
TAX = 0x07
JEQ_K = 0x15
JGT_K = 0x25
JGE_K = 0x35
RET_K = 0x06

Insn = tuple[int, int, int, int]
ACCEPT: Insn = (RET_K, 0, 0, 0x40000)
DROP: Insn = (RET_K, 0, 0, 0)


def attach(sock: socket.socket, prog: list[Insn]) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # the kernel copies the program; keep the buffer alive anyway, cheaply


def _in_ports(first: int, span: int) -> list[Insn]:
    """A = a port: accept when first <= A < first + span, else drop (the two last insns)."""
    return [(JGE_K, 0, 2, first), (JGT_K, 1, 0, first + span - 1), ACCEPT, DROP]


def _one_of(values: tuple[int, ...], skip_on_miss: int) -> list[Insn]:
    """A in ``values``: fall through to the instruction after these; else jump forward
    ``skip_on_miss`` instructions past them."""
    n = len(values)
    return [(JEQ_K, n - 1 - k, skip_on_miss if k == n - 1 else 0, v) for k, v in enumerate(values)]


def to_ports_v4(first: int, span: int) -> list[Insn]:
    """Raw IPv4 socket of a transport: its destination port in our range (data starts at
    the IP header)."""
    return [(LDX_MSH, 0, 0, 0), (LD_H_IND, 0, 0, 2), *_in_ports(first, span)]


def to_ports_v6(first: int, span: int) -> list[Insn]:
    """Raw IPv6 socket of a transport: data starts at the transport header."""
    return [(LD_H_ABS, 0, 0, 2), *_in_ports(first, span)]


def icmp_v4(numbers: Iterable[int], first: int, span: int) -> list[Insn]:
    """Raw ICMP socket: unreachable (3) / time exceeded (11) quoting a probe of one of the
    protocols ``numbers`` sent from our range."""
    protos = tuple(numbers)
    rest: list[Insn] = [
        (LD_B_IND, 0, 0, 8),  # quoted version/IHL
        (AND_K, 0, 0, 0x0F),
        (LSH_K, 0, 0, 2),
        (ADD_X, 0, 0, 0),
        (TAX, 0, 0, 0),  # X = outer + quoted header lengths
        (LD_H_IND, 0, 0, 8),  # quoted source port
        *_in_ports(first, span),
    ]
    to_drop = len(rest) - 1  # from just past a test to the final DROP
    check = _one_of(protos, to_drop)
    return [
        (LDX_MSH, 0, 0, 0),  # X = outer header length
        (LD_B_IND, 0, 0, 0),  # A = ICMP type
        (JEQ_K, 1, 0, 3),
        (JEQ_K, 0, 1 + len(check) + to_drop, 11),
        (LD_B_IND, 0, 0, 8 + 9),  # quoted protocol
        *check,
        *rest,
    ]


def icmp_v6(numbers: Iterable[int], first: int, span: int) -> list[Insn]:
    """Raw ICMPv6 socket: type 1 (unreachable) / 3 (time exceeded) quoting a probe of one of
    ``numbers`` (the quoted next header: our probes carry no extension headers) from our range."""
    protos = tuple(numbers)
    rest: list[Insn] = [(LD_H_ABS, 0, 0, 8 + 40), *_in_ports(first, span)]
    to_drop = len(rest) - 1
    check = _one_of(protos, to_drop)
    return [
        (LD_B_ABS, 0, 0, 0),
        (JEQ_K, 1, 0, 1),
        (JEQ_K, 0, 1 + len(check) + to_drop, 3),
        (LD_B_ABS, 0, 0, 8 + 6),
        *check,
        *rest,
    ]
