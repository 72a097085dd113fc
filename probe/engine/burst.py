"""sendmmsg(2) straight from a numpy array of packets, recvmmsg(2) straight into one.

The message headers themselves are numpy records laid out as the C structures (their offsets
are taken from mmsg.py's ctypes definitions, so the layout is the platform's): pointing
message k at row k of the packets and at its socket address is a vector operation over the
whole batch, not a ctypes field per packet. The arrays live as long as the object that holds
them, and the kernel is only handed their addresses during a call.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from probe.engine import mmsg

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]

_HDR = mmsg.MsgHdr
_MMSG = np.dtype(
    {
        "names": ["name", "namelen", "iov", "iovlen", "control", "controllen", "len"],
        "formats": [np.uint64, np.uint32, np.uint64, np.uint64, np.uint64, np.uint64, np.uint32],
        "offsets": [
            _HDR.name.offset,
            _HDR.namelen.offset,
            _HDR.iov.offset,
            _HDR.iovlen.offset,
            _HDR.control.offset,
            _HDR.controllen.offset,
            mmsg.MMsgHdr.len.offset,
        ],
        "itemsize": mmsg.STRIDE,
    }
)
# The kernel's receive time of a packet (SO_TIMESTAMPNS): one control message, a cmsghdr
# (length, level, type) and a struct timespec.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_STAMP = np.dtype(
    {
        "names": ["len", "level", "type", "sec", "nsec"],
        "formats": [np.uint64, np.int32, np.int32, np.int64, np.int64],
        "offsets": [0, 8, 12, 16, 24],
        "itemsize": 32,
    }
)
_CONTROL = 64  # bytes of control data room per message (a timestamp takes 32)
_IOV = np.dtype(
    {
        "names": ["base", "len"],
        "formats": [np.uint64, np.uint64],
        "offsets": [mmsg.IoVec.base.offset, mmsg.IoVec.len.offset],
        "itemsize": ctypes.sizeof(mmsg.IoVec),
    }
)
# struct sockaddr_in: family (host order), port, address (network order), 8 bytes of zeros.
_SOCKADDR_IN = np.dtype(
    {"names": ["family", "port", "addr"], "formats": ["=u2", ">u2", ">u4"], "itemsize": 16}
)
MSG_DONTWAIT = socket.MSG_DONTWAIT


def _messages(rows: U8, lengths: npt.NDArray[np.integer]) -> tuple[np.ndarray, np.ndarray]:
    """Message headers (and their iovecs) with one iovec each over ``rows[k, :lengths[k]]``."""
    n = rows.shape[0]
    iov = np.zeros(n, _IOV)
    iov["base"] = rows.ctypes.data + np.arange(n, dtype=np.uint64) * np.uint64(rows.strides[0])
    iov["len"] = lengths
    msgs = np.zeros(n, _MMSG)
    msgs["iov"] = iov.ctypes.data + np.arange(n, dtype=np.uint64) * np.uint64(_IOV.itemsize)
    msgs["iovlen"] = 1
    return msgs, iov


@dataclass(eq=False)
class SendRows:
    """One sendmmsg() batch: row k of ``rows`` (whole) to IPv4 address ``dst[k]``."""

    rows: U8
    dst: U32
    msgs: np.ndarray = field(init=False, repr=False)
    _keep: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rows = np.ascontiguousarray(self.rows)
        n, width = self.rows.shape
        names = np.zeros(n, _SOCKADDR_IN)
        names["family"] = socket.AF_INET
        names["addr"] = self.dst
        self.msgs, iov = _messages(self.rows, np.full(n, width, np.uint64))
        self.msgs["name"] = names.ctypes.data + np.arange(n, dtype=np.uint64) * np.uint64(16)
        self.msgs["namelen"] = 16
        self._keep = (names, iov)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def address(self, k: int) -> int:
        """The address of message ``k``, for a call that starts there."""
        return int(self.msgs.ctypes.data) + mmsg.STRIDE * k

    def packet(self, k: int) -> bytes:
        return bytes(self.rows[k])


class RecvRows:
    """A buffer for recvmmsg(): up to ``capacity`` packets, ``slot`` bytes of each kept
    (enough for every header an answer has; the rest of a longer packet is cut off)."""

    def __init__(self, capacity: int = 256, slot: int = 128) -> None:
        self.rows: U8 = np.zeros((capacity, slot), np.uint8)
        self.msgs, self._iov = _messages(self.rows, np.full(capacity, slot, np.uint64))
        self.control: U8 = np.zeros((capacity, _CONTROL), np.uint8)
        self.msgs["control"] = self.control.ctypes.data + np.arange(
            capacity, dtype=np.uint64
        ) * np.uint64(_CONTROL)
        self._call = mmsg.recvmmsg()
        self.capacity = capacity

    def read(self, fd: int) -> int:
        """Read what the socket holds now, without waiting: the number of packets (0 when
        none), whose lengths are ``lengths()``."""
        if self._call is None:
            raise OSError("recvmmsg is not available")
        self.msgs["controllen"] = _CONTROL  # the kernel leaves there what it wrote
        count = self._call(fd, int(self.msgs.ctypes.data), self.capacity, MSG_DONTWAIT, 0)
        if count < 0:
            code = ctypes.get_errno()
            if code in (errno.EAGAIN, errno.EINTR):  # nothing more for now
                return 0
            raise OSError(code, os.strerror(code))
        return count

    def lengths(self, count: int) -> npt.NDArray[np.uint32]:
        return self.msgs["len"][:count].copy()

    def arrivals(self, count: int, now: float) -> npt.NDArray[np.float64]:
        """When each of the last read's ``count`` packets reached the socket, on
        time.monotonic()'s clock: the kernel's stamp where the socket has SO_TIMESTAMPNS on,
        else ``now`` (the read's own time). An answer can wait in the socket for milliseconds
        while a big scan's reader works through the ones before it: its RTT is its stamp's."""
        stamp = self.control[:count, :32].copy().view(_STAMP)[:, 0]
        wrote = self.msgs["controllen"][:count]
        ok = (wrote >= 32) & (stamp["level"] == socket.SOL_SOCKET)
        ok &= stamp["type"] == SO_TIMESTAMPNS
        # The stamp is the wall clock's; the scan's send times are monotonic.
        offset = time.time() - time.monotonic()
        when = stamp["sec"] + stamp["nsec"] * 1e-9 - offset
        arrived: npt.NDArray[np.float64] = np.where(ok, np.minimum(when, now), now)
        return arrived


def available() -> bool:
    """Both calls exist, and pointers are the 64 bits the records above lay out."""
    wide = ctypes.sizeof(ctypes.c_void_p) == 8 and ctypes.sizeof(ctypes.c_size_t) == 8
    return wide and mmsg.sendmmsg() is not None and mmsg.recvmmsg() is not None
