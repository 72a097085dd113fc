"""Batched sending with sendmmsg(2), through ctypes.

Python's socket module has no wrapper for it. It moves many datagrams in one system call,
and ctypes releases the GIL for the call, so the sender pays one system call and one GIL
hand-over per batch instead of per packet. The buffers are plain bytearrays that ctypes
structures point into: filling a slot is two slice assignments and one field, with no
ctypes object per packet.

(recvmmsg(2) on its own measured no faster on the receiving side of a full-range scan, where
the time went to decoding and matching packet by packet; burst.py uses both calls for the
numpy path of big scans, which decodes and matches a batch at a time.)

A probe from a source asked for (--source) carries IP_PKTINFO with it: the source is in
the IP header probe writes, but an IPv4 raw socket's route is looked up before that header
is read, by the destination alone; ``ipi_spec_dst`` gives the lookup the source, so a
policy rule for it (``ip rule from ...``) routes the probe as it routes that source's
traffic.

Linux only (glibc and musl both have the call); ``available()`` tells, and the engine sends
one packet per call without it.
"""

from __future__ import annotations

import ctypes
import functools
import socket
import struct
from collections.abc import Callable


class MsgHdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", MsgHdr), ("len", ctypes.c_uint)]


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


STRIDE = ctypes.sizeof(MMsgHdr)
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Python's socket module lacks it before 3.12
_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
_CONTROL = socket.CMSG_SPACE(_PKTINFO.size)  # one cmsghdr with an in_pktinfo, aligned
# struct cmsghdr (length, level, type) with an in_pktinfo after it, ready for a source.
_CMSG = struct.pack("@Nii", socket.CMSG_LEN(_PKTINFO.size), socket.IPPROTO_IP, IP_PKTINFO)


def in_pktinfo(src: bytes) -> bytes:
    """IP_PKTINFO's data for a send from ``src`` (packed): any interface, ``src``'s route."""
    return _PKTINFO.pack(0, src, bytes(4))


@functools.cache  # one lookup per process: every scan's sender asks
def sendmmsg() -> Callable[[int, int, int, int], int] | None:
    """libc's sendmmsg(fd, messages, count, flags), or None where libc has none."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).sendmmsg
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


@functools.cache
def recvmmsg() -> Callable[[int, int, int, int, int], int] | None:
    """libc's recvmmsg(fd, messages, count, flags, timeout), or None where libc has none."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (AttributeError, OSError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


def available() -> bool:
    return sendmmsg() is not None


class SendBatch:
    """Buffers for one sendmmsg() call to IPv4 addresses: ``size`` messages of one iovec
    each, pointing into ``slot``-byte pieces of ``data``, each with a sockaddr_in name."""

    def __init__(self, size: int, slot: int = 128, port: int = 0) -> None:
        self.size, self.slot = size, slot
        self.data = bytearray(size * slot)
        self.names = bytearray(size * 16)
        self.control = bytearray(_CMSG.ljust(_CONTROL, b"\0") * size)
        self._data_c = (ctypes.c_char * len(self.data)).from_buffer(self.data)
        self._names_c = (ctypes.c_char * len(self.names)).from_buffer(self.names)
        self._control_c = (ctypes.c_char * len(self.control)).from_buffer(self.control)
        self._control_at = ctypes.addressof(self._control_c)
        self._pinned = [False] * size  # which messages carry a control message now
        self.iovs = (IoVec * size)()
        self.msgs = (MMsgHdr * size)()
        data_at = ctypes.addressof(self._data_c)
        names_at = ctypes.addressof(self._names_c)
        for k in range(size):
            struct.pack_into("=H2s", self.names, 16 * k, socket.AF_INET, port.to_bytes(2, "big"))
            self.iovs[k].base = data_at + slot * k
            hdr = self.msgs[k].hdr
            hdr.name = names_at + 16 * k
            hdr.namelen = 16
            hdr.iov = ctypes.addressof(self.iovs[k])
            hdr.iovlen = 1
        self.address = ctypes.addressof(self.msgs)

    def fill(self, k: int, packet: bytes, dst: bytes, src: bytes | None = None) -> None:
        """Message ``k``: ``packet`` to ``dst``; with ``src``, IP_PKTINFO for it."""
        at = self.slot * k
        self.data[at : at + len(packet)] = packet
        self.names[16 * k + 4 : 16 * k + 8] = dst
        self.iovs[k].len = len(packet)
        if src is None and not self._pinned[k]:
            return  # the usual case: the slot carries no control message, and still none
        hdr = self.msgs[k].hdr
        self._pinned[k] = src is not None
        if src is None:
            hdr.control, hdr.controllen = None, 0
            return
        info = _CONTROL * k + socket.CMSG_LEN(0)
        self.control[info : info + _PKTINFO.size] = in_pktinfo(src)
        hdr.control, hdr.controllen = self._control_at + _CONTROL * k, _CONTROL

    def message(self, k: int) -> int:
        """The address of message ``k``, for a call that starts there."""
        return self.address + STRIDE * k
