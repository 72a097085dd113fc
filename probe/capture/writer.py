"""The ``--pcap FILE`` writer: every packet probe sends and every answer it matches.

``PcapWriter``: Classic pcap (the one format every tool
opens: Wireshark, tshark, tcpdump -r, Windows' Network Monitor...), link type RAW (101): each
record is a bare IP packet, IPv4 or IPv6, exactly what the engine's ``PacketLog`` hands over.
Each record goes out in one unbuffered ``write``, so the file is a valid capture after every
packet: a Ctrl-C, or a crash, leaves the packets written so far and nothing half-written.
The file has no direction field: in Wireshark, outbound packets are the ones from this
client's address.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final

from probe.capture.packets import LINKTYPE_RAW  # each record a bare IPv4 or IPv6 packet
from probe.engine.base import PacketLog
from probe.errors import BadInput, printable

SNAPLEN: Final = 65535  # the snapshot length: IP packets are never longer


class PcapWriter:
    """A pcap file being written, one IP packet at a time (link type RAW).

    ``write`` has the engine's ``PacketLog`` signature, so ``adapters.packet_log =
    writer.write`` is the whole wiring. Safe to call from several threads.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.packets = 0
        self._lock = threading.Lock()
        try:
            self._file: BinaryIO | None = open(self.path, "wb", buffering=0)  # noqa: SIM115
        except OSError as exc:
            raise BadInput(f"cannot write the capture file {self.path}: {exc.strerror}") from exc
        self._file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW))

    def write(self, ts: float, packet: bytes, outbound: bool = True) -> None:
        """Append one IP packet, captured at ``ts`` (epoch seconds). ``outbound`` is not
        stored (pcap has no field for it)."""
        data = packet[:SNAPLEN]
        sec = int(ts)
        usec = min(round((ts - sec) * 1e6), 999_999)
        record = struct.pack("<IIII", sec, usec, len(data), len(packet)) + data
        with self._lock:
            if self._file is None:
                return  # closed: a late answer after the run, dropped
            self._file.write(record)  # unbuffered: one write, on disk in the kernel's cache
            self.packets += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def recording(path: str | os.PathLike[str] | None) -> Iterator[PacketLog | None]:
    """``--pcap FILE`` for any command: the block gets the ``PacketLog`` to hand to the run,
    which then writes every packet the engine sends or matches to FILE. None when ``path`` is
    None.

    The file is created before anything is sent (a path that cannot be written is bad input,
    exit 2) and closed at the end, also on Ctrl-C. A file left without packets gets a one-line
    note on stderr: in connect() mode the kernel does the sending, so there is nothing to log.
    """
    if path is None:
        yield None
        return
    writer = PcapWriter(path)
    try:
        yield writer.write
    finally:
        writer.close()
        if writer.packets == 0:
            print(
                f"probe: note: {printable(os.fsdecode(path))} holds no packets: nothing was "
                "sent with raw sockets (the ports were probed with connect(), chosen by "
                "--connect or for want of raw-socket privilege: the kernel sends then, and "
                "probe cannot record its packets)",
                file=sys.stderr,
            )
