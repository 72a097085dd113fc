"""The raw-socket engine: sockets opened once, shared by every scan that runs on it.

Sockets, per engine:
- IPv4: an IPPROTO_RAW socket to send (we write the IP header: TTL and DF are ours); per
  transport a raw socket of its protocol to receive, and one raw ICMP socket for errors.
- IPv6: per transport one raw socket sends and receives (the kernel writes the IPv6 header
  and, with IPV6_CHECKSUM, the checksum; the hop limit of answers comes as ancillary data),
  and a raw ICMPv6 socket receives errors.

Every receive socket has a BPF filter (bpf.py) that passes only answers to the engine's
source ports: ``BLOCKS`` blocks of 16 (cookies.py), one per scan while it runs, so that many
scans run at once on one engine (a further one waits for a block) and receive.py routes each
answer to its own scan. Opening needs root or CAP_NET_RAW; the open engine needs neither, so
a server can open it once and then drop the privilege.

Adding a transport is one entry in ``TRANSPORTS`` (its module implements
``transport.Transport``); nothing here or in the scan loop knows TCP.
"""

from __future__ import annotations

import contextlib
import ctypes
import random
import socket
import threading
from collections.abc import Callable, Mapping, Sequence

from probe.engine import bpf, tcp, udp
from probe.engine.base import EngineConfig, EngineRun, Job, PacketLog, ProgressFn
from probe.engine.cookies import BLOCK, block_of
from probe.engine.icmp import IcmpDecoder
from probe.engine.paths import Outlet
from probe.engine.receive import Receiver, Seat, Source
from probe.engine.scan import Scan
from probe.engine.transport import Transport
from probe.errors import NoPermission
from probe.model import Method, Protocol

TRANSPORTS: dict[Protocol, Callable[[], Transport]] = {Protocol.TCP: tcp.Tcp, Protocol.UDP: udp.Udp}

BLOCKS = 64  # scans at once per engine (16 source ports each)
PORTS = (33008, 60999)  # where the engine's source ports lie (random, aligned to a block)
SO_RCVBUFFORCE = 33
IPV6_CHECKSUM = 7
RCVBUF = 8 * 1024 * 1024


def _big_rcvbuf(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


class RawEngine:
    """Crafted probes on raw sockets; ``scan`` is safe from several threads at once."""

    method = Method.RAW

    def __init__(self, *, blocks: int = BLOCKS) -> None:
        span = blocks * BLOCK
        first = BLOCK * random.randrange(PORTS[0] // BLOCK, (PORTS[1] - span) // BLOCK)
        self._sockets: list[socket.socket] = []
        self._filters: list[ctypes.Array[ctypes.c_char]] = []
        self._lock = threading.Lock()
        self._closed = False
        try:
            send4 = self._open(socket.AF_INET, socket.IPPROTO_RAW)
        except PermissionError as exc:
            raise NoPermission("raw sockets need root or CAP_NET_RAW") from exc
        # Only now, with the privilege known: each transport builds its probe template.
        transports = {proto: make() for proto, make in TRANSPORTS.items()}
        icmp = IcmpDecoder({t.number: t for t in transports.values()})
        sources = self._receivers(False, transports, icmp, first, span)
        send6: dict[Protocol, socket.socket] = {}
        try:
            v6 = self._receivers(True, transports, icmp, first, span)
        except OSError:  # no IPv6 in this kernel / namespace
            for sock in [s for s in self._sockets if s.family == socket.AF_INET6]:
                self._sockets.remove(sock)
                sock.close()
        else:
            sources += v6
            send6 = {proto: v6[k].sock for k, proto in enumerate(transports)}
        for sock in self._sockets:
            sock.setblocking(False)
        for source in sources:
            _big_rcvbuf(source.sock)
        self._outlet = Outlet(send4, send6, transports)
        self._receiver = Receiver(sources, block_of(first), blocks)

    def _receivers(
        self,
        v6: bool,
        transports: Mapping[Protocol, Transport],
        icmp: IcmpDecoder,
        first: int,
        span: int,
    ) -> list[Source]:
        """One family's receive sockets: each transport's (in table order), then ICMP's.
        IPv6 ones also send: the kernel fills in the checksum and reports the hop limit."""
        family = socket.AF_INET6 if v6 else socket.AF_INET
        numbers = [t.number for t in transports.values()]
        sources = []
        for t in transports.values():
            sock = self._open(family, t.number, t.answer_filter(v6, first, span))
            if v6:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, t.checksum_at)
            rows = not v6 and t.protocol is Protocol.TCP
            sources.append(Source(sock, v6, t.parse_v6 if v6 else t.parse_v4, rows))
        if v6:
            prog = bpf.icmp_v6(numbers, first, span)
            sources.append(
                Source(self._open(family, socket.IPPROTO_ICMPV6, prog), True, icmp.parse_v6)
            )
            for source in sources:
                source.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        else:
            prog = bpf.icmp_v4(numbers, first, span)
            sources.append(
                Source(self._open(family, socket.IPPROTO_ICMP, prog), False, icmp.parse_v4)
            )
        return sources

    def _open(self, family: int, proto: int, prog: list[bpf.Insn] | None = None) -> socket.socket:
        """A raw socket, kept for close(); with a receive filter when ``prog`` is given."""
        sock = socket.socket(family, socket.SOCK_RAW, proto)
        self._sockets.append(sock)
        if prog is not None:
            self._filters.append(bpf.attach(sock, prog))
        return sock

    def close(self) -> None:
        """Close the sockets; again is harmless. Call it when no scan runs any more."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
        cancel: threading.Event | None = None,
    ) -> EngineRun:
        if self._closed:
            raise RuntimeError("scan() on a closed engine")
        if not jobs:
            return EngineRun(())
        scan = Scan(self._outlet, jobs, config, progress, packet_log, cancel)
        seat: Seat | None = None
        try:
            if scan.fast is not None:
                self._receiver.read_rows()
            seat = self._receiver.join(
                scan.match, cancel, scan.match_rows, logs=packet_log is not None
            )
            if seat is None:  # cancelled while every block was busy
                return EngineRun((), interrupted=True)
            return scan.run(seat)
        finally:
            if seat is not None:
                self._receiver.leave(seat)
