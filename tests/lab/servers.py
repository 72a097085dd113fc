"""Small TCP (and a few UDP) servers for the lab, run inside a namespace as a program.

    python servers.py --name srv --listen http@198.18.1.10:80 --listen banner@[2001:2:0:1::10]:22

Modes:
  http      reads a request (bounded), answers ``HTTP/1.0 200 OK`` with ``Server: probe-lab``
            and ``X-Probe-Lab-Host: <name>``, then closes
  banner    sends ``SSH-2.0-probe-lab\\r\\n`` on accept, then waits (bounded) for the peer
  silent    accepts and never sends; keeps the connection open up to --hold seconds
  plain     accepts and closes at once
  tls       http inside TLS, with the certificate and key of --cert / --key (PEM files)
  servfail  UDP: answers every DNS query with SERVFAIL (the lab's broken upstream)
  sip       UDP: answers every SIP request with ``SIP/2.0 200 OK``, ``Server: probe-lab-sip``
            and the request's Via (with received/rport, RFC 3581), From, To (tagged),
            Call-ID and CSeq, to the datagram's source
  udpsilent UDP: a bound socket that reads every datagram and never answers

Prints ``READY`` on stdout once every socket listens, then closes stdout. Exits on SIGTERM,
SIGINT or SIGHUP, when its parent dies (PR_SET_PDEATHSIG plus a getppid() watch), and in any
case after --lifetime seconds. Standard library only: it runs as a plain script, not as part
of the test package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import re
import signal
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable

SSH_BANNER = b"SSH-2.0-probe-lab\r\n"
SIP_SERVER = "probe-lab-sip"  # topology.SIP_SERVER: the lab tests check the two agree
SIP_ECHOED = ("via", "from", "to", "call-id", "cseq")  # headers a response copies (RFC 3261 8.2.6)
UDP_MODES = frozenset({"servfail", "sip", "udpsilent"})
REQUEST_TIMEOUT = 5.0  # http: how long to wait for the request head
MAX_REQUEST = 16 * 1024
PR_SET_PDEATHSIG = 1

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def parse_listen(spec: str) -> tuple[str, str, int]:
    """``mode@host:port`` (IPv6 host in brackets) -> (mode, host, port)."""
    mode, sep, rest = spec.partition("@")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected mode@host:port, got {spec!r}")
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
    else:
        host, _, port = rest.rpartition(":")
    if mode not in {"http", "banner", "silent", "plain", "tls"} | UDP_MODES or not host:
        raise argparse.ArgumentTypeError(f"bad listen spec {spec!r}")
    return mode, host, int(port)


def http_response(name: str) -> bytes:
    body = f"probe-lab {name}\n".encode()
    head = (
        "HTTP/1.0 200 OK\r\n"
        "Server: probe-lab\r\n"
        f"X-Probe-Lab-Host: {name}\r\n"
        "Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def drain_until_eof(reader: asyncio.StreamReader, limit_s: float) -> None:
    """Read and discard until the peer closes or ``limit_s`` passes (bounded in bytes too)."""
    deadline = time.monotonic() + limit_s
    received = 0
    while received < 10 * 1024 * 1024:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            chunk = await asyncio.wait_for(reader.read(4096), left)
        except (TimeoutError, ConnectionError):
            return
        if not chunk:
            return
        received += len(chunk)


def make_handler(mode: str, name: str, hold: float) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if mode in ("http", "tls"):  # tls: the handshake is done before the handler runs
                try:
                    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
                except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return  # no complete request: close without answering, like a server would
                writer.write(http_response(name))
                await writer.drain()
            elif mode == "banner":
                writer.write(SSH_BANNER)
                await writer.drain()
                await drain_until_eof(reader, hold)
            elif mode == "silent":
                await drain_until_eof(reader, hold)
            # plain: close at once
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    return handle


class ServfailProtocol(asyncio.DatagramProtocol):
    """Answers each DNS query with its own header, QR set and RCODE 2 (SERVFAIL)."""

    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport here

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        end = question_end(data)
        if end is None:
            return
        flags = int.from_bytes(data[2:4], "big")
        flags = ((flags | 0x8000 | 0x0080) & ~0x000F) | 0x0002  # QR, RA, RCODE=SERVFAIL
        # the header with one question and empty sections, then the question itself (an
        # EDNS OPT record in the query is left out: ARCOUNT is 0)
        header = data[:2] + flags.to_bytes(2, "big") + b"\0\1" + b"\0" * 6
        if self.transport is not None:
            self.transport.sendto(header + data[12:end], addr)


class SipProtocol(asyncio.DatagramProtocol):
    """Answers each SIP request (OPTIONS or any other) with 200 OK; ignores responses."""

    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport here

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        answer = sip_response(data, str(addr[0]), int(addr[1]))
        if answer is not None and self.transport is not None:
            self.transport.sendto(answer, addr)


def sip_response(data: bytes, host: str, port: int) -> bytes | None:
    """The 200 OK for a SIP request from host:port, or None for anything else."""
    head = data.decode("utf-8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
    words = head[0].split(" ")
    if len(words) != 3 or words[2] != "SIP/2.0" or not words[0].isalpha():
        return None
    lines = ["SIP/2.0 200 OK"]
    top_via = True
    for line in head[1:]:
        name, sep, value = line.partition(":")
        key = name.strip().lower()
        if not sep or key not in SIP_ECHOED:
            continue
        value = value.strip()
        if key == "via" and top_via:  # the top Via: where the answer really went
            value = re.sub(r";rport(?=;|$)", f";received={host};rport={port}", value, count=1)
            top_via = False
        if key == "to" and ";tag=" not in value:
            value += ";tag=probe-lab"
        lines.append(f"{name.strip()}: {value}")
    lines += [
        f"Server: {SIP_SERVER}",
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class SilentProtocol(asyncio.DatagramProtocol):
    """Reads and drops every datagram: a UDP service that never answers this request."""


def question_end(data: bytes) -> int | None:
    """Offset just past the first question of a DNS query, or None if it is not one."""
    if len(data) < 12 or int.from_bytes(data[4:6], "big") < 1:
        return None
    pos = 12
    for _ in range(128):  # at most 127 labels in a name
        if pos >= len(data):
            return None
        length = data[pos]
        if length == 0:
            end = pos + 5  # root label, QTYPE, QCLASS
            return end if end <= len(data) else None
        if length & 0xC0:  # no compression in a query's first name
            return None
        pos += 1 + length
    return None


def listening_socket(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((host, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    sock.setblocking(False)
    return sock


def tls_context(cert: str | None, key: str | None) -> ssl.SSLContext:
    if not cert or not key:
        raise SystemExit("the tls mode needs --cert and --key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def die_with_parent() -> int:
    """Ask the kernel for SIGTERM when the parent dies; return the parent's pid to watch."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(0)
    return parent


async def serve(args: argparse.Namespace, parent: int) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)

    closers: list[Callable[[], object]] = []
    for mode, host, port in args.listen:
        if mode in UDP_MODES:
            sock = listening_socket(host, port, socket.SOCK_DGRAM)
            protocol = {"servfail": ServfailProtocol, "sip": SipProtocol}.get(mode, SilentProtocol)
            transport, _ = await loop.create_datagram_endpoint(protocol, sock=sock)
            closers.append(transport.close)
        else:
            sock = listening_socket(host, port, socket.SOCK_STREAM)
            handler = make_handler(mode, args.name, args.hold)
            tls = tls_context(args.cert, args.key) if mode == "tls" else None
            server = await asyncio.start_server(handler, sock=sock, ssl=tls)
            closers.append(server.close)

    print("READY", flush=True)
    sys.stdout.close()

    deadline = time.monotonic() + args.lifetime
    while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
    for close in closers:
        close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="lab", help="host name reported by the http mode")
    parser.add_argument(
        "--listen", action="append", type=parse_listen, required=True, help="mode@host:port"
    )
    parser.add_argument("--hold", type=float, default=60.0, help="silent/banner: max seconds")
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this long")
    parser.add_argument("--cert", help="tls: the certificate (PEM)")
    parser.add_argument("--key", help="tls: its private key (PEM)")
    args = parser.parse_args(argv)
    parent = die_with_parent()
    asyncio.run(serve(args, parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
