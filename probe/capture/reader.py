"""Capture files read back fast, for ``probe analyze``.

``open_capture``, behind ``probe analyze``. Streaming: the file is read in chunks of
``CHUNK`` bytes and never held whole, so memory stays at about one chunk plus one packet,
whatever the size of the file. Formats:

- pcap: both byte orders, microsecond and nanosecond timestamps;
- pcapng: Section Header, Interface Description, Enhanced / Simple / (obsolete) Packet blocks;
  several sections (each with its own byte order) and several interfaces (each with its own
  link type and timestamp resolution, ``if_tsresol`` and ``if_tsoffset``). Other blocks
  (name resolution, statistics, comments, custom) are skipped.

Either format may be gzip-compressed (``formats``: read as a stream, as Wireshark does).

``Capture.records()`` yields, for the packets the analysis needs, one plain record each
(decoded by ``packets``); frames of other link types and other packets are counted and
skipped (those of link types probe cannot decode per link type, for a note), and a last
packet that is skipped still yields a ``Tick``: the capture ends there.

Damaged files: a file that is empty, not a capture, or cut before its first packet raises
``CaptureError`` (exit 2). A file cut after valid packets (a capture copied while tcpdump was
still writing, a download broken off) is read up to the cut; ``CaptureInfo.truncated`` says so
and the report repeats it. Timestamps that are no date of the years 1-9999 (pcapng's
per-interface resolution and offset allow them) are counted in ``CaptureInfo.bad_times``.

Stopping early: a ``cancel`` event (set by Ctrl-C) is looked at before each chunk is read;
once set, reading ends there, as if the file ended, and ``CaptureInfo.interrupted`` says so.
"""

from __future__ import annotations

import io
import os
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from probe.capture import formats, pcapng
from probe.capture.packets import (
    LINK_NAMES,
    LINKTYPE_ETHERNET,
    Record,
    TcpSegment,
    Tick,
    UdpDatagram,
    decode_ip,
    ip_offset,
)
from probe.capture.times import END, START
from probe.errors import CaptureError

CHUNK: Final = 1 << 20  # bytes read at a time
MAX_RECORD: Final = 1 << 24  # a pcap record or pcapng block larger than this is corruption


@dataclass(frozen=True)
class CaptureInfo:
    """What was read: the file, its format, and the counts the report quotes."""

    path: str
    format: str  # "pcap" | "pcapng"
    link_types: tuple[int, ...]
    packets: int  # packets (frames) read
    tcp: int  # TCP segments decoded
    icmp_errors: int  # ICMP errors quoting TCP or UDP
    skipped: int  # other packets: not IP, not TCP or UDP, undecodable link type, fragments
    first_ts: float | None
    last_ts: float | None
    truncated: bool = False
    problem: str | None = None  # why reading stopped early, in words, when it did
    interrupted: bool = False  # reading stopped by the cancel event (Ctrl-C)
    bad_times: int = 0  # packets whose timestamp is no date of the years 1-9999
    compressed: bool = False  # the file was gzip-compressed
    unknown_links: tuple[tuple[int, int], ...] = ()  # (link type, packets) not decodable
    udp: int = 0  # UDP datagrams decoded (tunnels' outer datagrams are opened, not counted)

    @property
    def remarks(self) -> tuple[str, ...]:
        """What was skipped without a word otherwise: packets of link types probe cannot
        decode ("2,310 packets skipped: link type 147 unknown")."""
        return tuple(
            f"{n:,} {'packet' if n == 1 else 'packets'} skipped: link type {link} unknown "
            "(not analysed; Wireshark's Statistics > Capture File Properties names it)"
            for link, n in self.unknown_links
        )

    @property
    def link_names(self) -> tuple[str, ...]:
        return tuple(LINK_NAMES.get(lt, f"link type {lt}") for lt in self.link_types)


# --------------------------------------------------------------------------- reader


def open_capture(path: str | os.PathLike[str], cancel: threading.Event | None = None) -> Capture:
    """Open a pcap or pcapng file for streaming; raises ``CaptureError`` when it is none.
    Reading stops at the next chunk once ``cancel`` is set."""
    return Capture(path, cancel)


class Capture:
    """A capture file opened for one pass: ``frames()`` or ``records()``, then ``info``.

    Use as a context manager (the file is closed at the end). The counts in ``info`` grow as
    the iteration goes; read it when the iteration is over.
    """

    def __init__(self, path: str | os.PathLike[str], cancel: threading.Event | None = None) -> None:
        self.path = str(path)
        self._cancel = cancel
        try:
            self._file: io.BufferedIOBase = open(path, "rb")  # noqa: SIM115
        except IsADirectoryError:
            raise CaptureError(f"{self.path} is a directory, not a capture file") from None
        except OSError as exc:
            raise CaptureError(f"cannot read {self.path}: {exc.strerror}") from exc
        try:
            head = self._file.read(CHUNK)
        except OSError as exc:
            self._file.close()
            raise CaptureError(f"cannot read {self.path}: {exc.strerror}") from exc
        self.compressed = head[:2] == formats.GZIP
        if self.compressed:
            self._file.close()
            self._file, head = formats.gunzip(self.path, CHUNK)
        self._head = head
        self.format = formats.detect(self.path, head)
        self._links: list[int] = []
        self._packets = 0
        self._tcp = 0
        self._udp = 0
        self._icmp = 0
        self._skipped = 0
        self._first: float | None = None
        self._last: float | None = None
        self._truncated = False
        self._problem: str | None = None
        self._interrupted = False
        self._bad_times = 0
        self._unknown: dict[int, int] = {}  # link type -> packets, for those not decoded
        self._used = False
        self._consumed = 0  # bytes of the file before the current buffer (error positions)

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def info(self) -> CaptureInfo:
        return CaptureInfo(
            path=self.path,
            format=self.format,
            link_types=tuple(self._links),
            packets=self._packets,
            tcp=self._tcp,
            icmp_errors=self._icmp,
            skipped=self._skipped,
            first_ts=self._first,
            last_ts=self._last,
            truncated=self._truncated,
            problem=self._problem,
            interrupted=self._interrupted,
            bad_times=self._bad_times,
            compressed=self.compressed,
            unknown_links=tuple(sorted(self._unknown.items())),
            udp=self._udp,
        )

    # ------------------------------------------------------------------ frames

    def frames(self) -> Iterator[tuple[float, int, bytes]]:
        """(timestamp, link type, frame bytes) for every packet, in file order.

        Raises ``CaptureError`` when the file ends or breaks before its first packet; a break
        after that ends the iteration and sets ``info.truncated``.
        """
        count = 0
        first = ts = 0.0
        try:
            for ts, link, data in self._inner():
                count += 1
                if count == 1:
                    first = ts
                yield ts, link, data
        finally:
            self._counted(count, first, ts)
        self._require_packets()

    def _inner(self) -> Iterator[tuple[float, int, bytes]]:
        if self._used:
            raise RuntimeError("a Capture is read once")
        self._used = True
        return self._pcap_frames() if self.format == "pcap" else self._pcapng_frames()

    def _counted(self, count: int, first: float, last: float) -> None:
        self._packets = count
        self._first = first if count else None
        self._last = last if count else None

    def _require_packets(self) -> None:
        """At the end of the file: one without a single packet is no capture to analyse
        (unless reading was cancelled: then nothing was read, which the report says)."""
        if self._packets == 0 and not self._interrupted:
            if self._problem is not None:
                raise CaptureError(f"{self.path}: {self._problem}, before its first packet")
            raise CaptureError(f"{self.path} is a capture without any packet in it")

    def _stop(self, problem: str) -> None:
        self._truncated = True
        self._problem = problem

    def _note_link(self, link: int) -> None:
        if link not in self._links:
            self._links.append(link)

    def _read(self) -> bytes | None:
        """The next chunk of the file (b"" at its end); None when reading must stop here."""
        if self._cancel is not None and self._cancel.is_set():
            self._interrupted = True
            return None
        try:
            return self._file.read(CHUNK)
        except OSError as exc:  # a disk or network file system failing mid-file
            self._stop(f"a read error: {exc.strerror or exc}")
        except formats.GZIP_ERRORS as exc:  # a compressed file cut or damaged
            self._stop(f"the compressed data ends early or is damaged ({exc})")
        return None

    def _pcap_frames(self) -> Iterator[tuple[float, int, bytes]]:
        buf = self._head
        order, scale = formats.PCAP_MAGIC[buf[:4]]
        if len(buf) < 24:
            self._stop("the file ends inside its 24-byte pcap header")
            return
        link = struct.unpack_from(order + "I", buf, 20)[0] & 0x0FFFFFFF  # upper bits: FCS info
        self._note_link(link)
        record = struct.Struct(order + "IIII").unpack_from
        pos = 24
        while True:
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, incl, _orig = record(buf, pos)
                stop = pos + 16 + incl
                if stop > end:
                    break
                yield sec + frac * scale, link, buf[pos + 16 : stop]
                pos = stop
            if pos + 16 <= len(buf) and record(buf, pos)[2] > MAX_RECORD:
                self._stop(f"a damaged record at byte {self._offset(buf, pos)}")
                return
            chunk = self._read()
            if chunk is None:
                return
            if not chunk:
                if pos < len(buf):
                    self._stop("the file ends in the middle of a packet")
                return
            buf = buf[pos:] + chunk
            self._consumed += pos
            pos = 0

    def _offset(self, buf: bytes, pos: int) -> int:
        return self._consumed + pos

    def _pcapng_frames(self) -> Iterator[tuple[float, int, bytes]]:
        buf = self._head
        pos = 0
        order = "<"
        block = struct.Struct("<II").unpack_from
        ifaces: list[pcapng.Interface] = []
        last_ts = 0.0
        first_block = True
        while True:
            end = len(buf)
            while pos + 12 <= end:
                if buf[pos : pos + 4] == pcapng.SHB:
                    bom = buf[pos + 8 : pos + 12]
                    if bom not in pcapng.BOM:
                        self._stop(f"a damaged section header at byte {self._offset(buf, pos)}")
                        return
                    order = pcapng.BOM[bom]
                    block = struct.Struct(order + "II").unpack_from
                    ifaces = []  # interface numbers start again in every section
                elif first_block:
                    self._stop("the file does not start with a pcapng section header")
                    return
                btype, blen = block(buf, pos)
                if blen < pcapng.MIN_LENGTH.get(btype, 12) or blen % 4 or blen > MAX_RECORD:
                    self._stop(f"a damaged block at byte {self._offset(buf, pos)}")
                    return
                stop = pos + blen
                if stop > end:
                    break
                first_block = False
                if btype == pcapng.EPB or btype == pcapng.PB:
                    if btype == pcapng.EPB:
                        iface, tsh, tsl, caplen = struct.unpack_from(order + "IIII", buf, pos + 8)
                    else:
                        iface, _drops, tsh, tsl, caplen = struct.unpack_from(
                            order + "HHIII", buf, pos + 8
                        )
                    if iface >= len(ifaces) or 28 + caplen > blen - 4:
                        self._stop(f"a damaged packet block at byte {self._offset(buf, pos)}")
                        return
                    i = ifaces[iface]
                    last_ts = ((tsh << 32) | tsl) * i.scale + i.offset
                    if not START <= last_ts < END:
                        self._bad_times += 1
                    yield last_ts, i.link, buf[pos + 28 : pos + 28 + caplen]
                elif btype == pcapng.SPB:  # interface 0, no timestamp: the last one stands
                    if not ifaces:
                        where = self._offset(buf, pos)
                        self._stop(f"a packet block before any interface at byte {where}")
                        return
                    i = ifaces[0]
                    caplen = min(struct.unpack_from(order + "I", buf, pos + 8)[0], blen - 16)
                    if i.snaplen:
                        caplen = min(caplen, i.snaplen)
                    if not START <= last_ts < END:
                        self._bad_times += 1
                    yield last_ts, i.link, buf[pos + 12 : pos + 12 + caplen]
                elif btype == pcapng.IDB:
                    ifaces.append(pcapng.interface(buf, pos, blen, order))
                    self._note_link(ifaces[-1].link)
                pos = stop
            chunk = self._read()
            if chunk is None:
                return
            if not chunk:
                if pos < len(buf):
                    self._stop("the file ends in the middle of a block")
                elif first_block:
                    self._stop("the file ends inside its section header")
                return
            buf = buf[pos:] + chunk
            self._consumed += pos
            pos = 0

    # ------------------------------------------------------------------ records

    def records(self) -> Iterator[Record]:
        """The decoded TCP segments, UDP datagrams and ICMP errors quoting either, in file
        order.

        One loop over the frames, counting as it goes: this is the hot path of probe analyze
        (a generator layer less is a fifth of the time).
        """
        count = tcp = udp = icmp = skipped = 0
        first = ts = 0.0
        rec: Record | None = None
        try:
            for ts, link, data in self._inner():
                count += 1
                if count == 1:
                    first = ts
                if link == LINKTYPE_ETHERNET and data[12:14] == b"\x08\x00":
                    off = 14  # IPv4 over Ethernet: most packets of most captures
                else:
                    off = ip_offset(link, data)
                if off >= 0:
                    rec = decode_ip(ts, data, off)
                else:
                    rec = None
                    if link not in LINK_NAMES:
                        self._unknown[link] = self._unknown.get(link, 0) + 1
                if rec is None:
                    skipped += 1
                elif type(rec) is TcpSegment:
                    tcp += 1
                    yield rec
                elif type(rec) is UdpDatagram:
                    udp += 1
                    yield rec
                else:
                    icmp += 1
                    yield rec
            if count and rec is None:
                yield Tick(ts)  # the capture ends at its last packet, whatever it holds
        finally:
            self._tcp, self._udp, self._icmp, self._skipped = tcp, udp, icmp, skipped
            self._counted(count, first, ts)
        self._require_packets()
