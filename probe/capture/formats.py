"""Which kind of file a capture is, from its first bytes, and opening it: pcap (both byte
orders, micro- and nanosecond), pcapng, either of them gzip-compressed (Wireshark and
tcpdump read ``.pcap.gz`` as they are; so does probe, streaming), or something else that
people attach to a ticket as "the capture", named in the error."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Final

from probe.capture import pcapng
from probe.errors import CaptureError

PCAP_MAGIC: Final = {  # the first four bytes, as read -> (byte order, seconds per tick)
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}

GZIP: Final = b"\x1f\x8b"

# A damaged or cut gzip stream, as the gzip module reports it.
GZIP_ERRORS: Final = (OSError, EOFError, zlib.error)

_OTHER_FORMATS: Final = (
    (b"PK\x03\x04", "a zip archive: extract the capture from it first"),
    (b"snoop\x00\x00\x00", "a Solaris snoop capture: save it as pcap (Wireshark, editcap)"),
    (b"GMBU", "a Microsoft Network Monitor capture: save it as pcap (Wireshark, editcap)"),
    (b"XCP\x00", "a NetXray / Sniffer capture: save it as pcap (Wireshark, editcap)"),
)


def gunzip(path: str, first: int) -> tuple[io.BufferedIOBase, bytes]:
    """The gzip-compressed file at ``path`` opened for streaming, and its first ``first``
    decompressed bytes; a CaptureError when it is no gzip stream."""
    stream = gzip.open(path, "rb")  # noqa: SIM115 - the Capture closes it
    head = b""
    try:
        while len(head) < first:
            piece = stream.read1(first - len(head))
            if not piece:
                break
            head += piece
    except GZIP_ERRORS as exc:
        # A cut stream: what came before the cut is read (the next read fails again, and
        # the reader says where the capture ends); nothing at all is no capture.
        if not head:
            stream.close()
            raise CaptureError(f"{path} is a damaged gzip-compressed file ({exc})") from None
    return stream, head


def detect(path: str, head: bytes) -> str:
    """ "pcap" or "pcapng" from the first bytes, or a CaptureError saying what the file is."""
    if not head:
        raise CaptureError(f"{path} is empty: no capture was written to it")
    if head[:4] in PCAP_MAGIC:
        if len(head) < 24:
            raise CaptureError(f"{path} is cut off inside its pcap header (truncated file)")
        return "pcap"
    if head[:4] == pcapng.SHB:
        if len(head) < 28:
            raise CaptureError(f"{path} is cut off inside its pcapng header (truncated file)")
        if head[8:12] not in pcapng.BOM:
            raise CaptureError(f"{path} starts like pcapng but its section header is damaged")
        return "pcapng"
    for magic, what in _OTHER_FORMATS:
        if head.startswith(magic):
            raise CaptureError(f"{path} is {what}")
    raise CaptureError(
        f"{path} is not a capture file (expected pcap or pcapng, as Wireshark or tcpdump -w "
        "write them)"
    )
