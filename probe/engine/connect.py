"""The connect() fallback: what an unprivileged client can learn about each port.

Non-blocking connect() per (address, port), many at once, each try bounded by the timeout.
The kernel's verdict is all there is: connected (open), ECONNREFUSED (a RST came back — or an
ICMP port unreachable, which the kernel reports the same way), EHOSTUNREACH/ENETUNREACH (an
ICMP unreachable or a failed ARP; Linux maps ICMP "administratively prohibited" here too),
EACCES/EPERM (an output firewall on this machine), or nothing within the timeout. Who
answered and with which TTL is invisible from a connect() socket.

Connections that complete are reset at once (SO_LINGER 0), so a full-range fallback scan
leaves no TIME_WAIT sockets behind and no half-served requests on the server.

UDP the same way: a connected datagram socket per try sends the port's request and waits
to read. A reply is the answer (and its payload the evidence); an ICMP error comes back as
the socket's error — ECONNREFUSED for port unreachable, EHOSTUNREACH for host unreachable and
for "administratively prohibited" alike — with no word of who sent it, so a firewall's reject
and a closed port look the same; silence after every try is all the rest.

Each scan has its own sockets and selector, so scans from several threads at once share
nothing.
"""

from __future__ import annotations

import errno
import heapq
import resource
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Sequence

from probe.engine.base import (
    CANCEL_CHECK,
    EngineConfig,
    EngineRun,
    Job,
    PacketLog,
    Progress,
    ProgressFn,
)
from probe.model import REPLY_KEEP, AnswerKind, Method, PortEvidence, Protocol

_LINGER_RESET = struct.pack("ii", 1, 0)

# errno -> (answer, evidence word). ECONNREFUSED stands for a RST (or ICMP port unreachable).
_VERDICTS: dict[int, AnswerKind] = {
    errno.ECONNREFUSED: AnswerKind.RST,
    errno.EHOSTUNREACH: AnswerKind.ICMP,
    errno.ENETUNREACH: AnswerKind.ICMP,
    errno.EHOSTDOWN: AnswerKind.ICMP,
    errno.EACCES: AnswerKind.ICMP,
    errno.EPERM: AnswerKind.ICMP,
}


def _send(sock: socket.socket, job: Job, try_no: int) -> int:
    """Send try ``try_no``'s datagram on a connected UDP socket: 0, or the kernel's errno."""
    payloads = job.payloads
    try:
        sock.send(payloads[(try_no - 1) % len(payloads)] if payloads else b"")
    except OSError as exc:
        return exc.errno or errno.EIO
    return 0


def _concurrency() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(1024, soft - 64))


class ConnectEngine:
    """connect() per port; ``scan`` is safe from several threads at once."""

    method = Method.CONNECT

    def close(self) -> None:
        pass

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,  # nothing to log: the kernel sends the packets
        cancel: threading.Event | None = None,
    ) -> EngineRun:
        start = time.monotonic()
        results: list[PortEvidence | None] = [None] * len(jobs)
        tries = [0] * len(jobs)
        queue: deque[int] = deque(range(len(jobs)))
        active: dict[int, tuple[socket.socket, int, float]] = {}  # fd -> (sock, job, started)
        deadlines: list[tuple[float, int]] = []
        sel = selectors.DefaultSelector()
        limit = _concurrency()
        done = sent = answered = 0
        last_progress = start
        interrupted = False

        def finish(i: int, ev: PortEvidence) -> None:
            nonlocal done
            results[i] = ev
            done += 1

        def release(fd: int) -> tuple[socket.socket, int, float]:
            sock, i, started = active.pop(fd)
            sel.unregister(sock)
            if sock.type == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sock.close()
            return sock, i, started

        def settle(i: int, err: int, rtt: float, reply: bytes | None = None) -> None:
            nonlocal answered
            job = jobs[i]
            udp = job.protocol is Protocol.UDP
            if err == 0:
                answer, name = (AnswerKind.UDP if udp else AnswerKind.SYN_ACK), None
            elif udp and err == errno.ECONNREFUSED:  # ICMP port unreachable, not a RST
                answer, name = AnswerKind.ICMP, "ECONNREFUSED"
            elif err in _VERDICTS:
                answer, name = _VERDICTS[err], errno.errorcode[err]
            elif err == errno.ETIMEDOUT:
                retry_or_give_up(i)
                return
            else:
                answer, name = AnswerKind.ICMP, errno.errorcode.get(err, str(err))
            answered += 1
            finish(
                i,
                PortEvidence(
                    job.address,
                    job.port,
                    Method.CONNECT,
                    answer,
                    tries[i],
                    rtt_ms=rtt * 1000,
                    errno_name=name,
                    protocol=job.protocol,
                    reply=reply,
                ),
            )

        def retry_or_give_up(i: int) -> None:
            if tries[i] < config.tries:
                queue.append(i)
            else:
                job = jobs[i]
                none = PortEvidence(
                    job.address,
                    job.port,
                    Method.CONNECT,
                    AnswerKind.NONE,
                    tries[i],
                    protocol=job.protocol,
                )
                finish(i, none)

        try:
            while done < len(jobs):
                if cancel is not None and cancel.is_set():
                    interrupted = True
                    break
                now = time.monotonic()
                while deadlines and deadlines[0][0] <= now:
                    _, fd = heapq.heappop(deadlines)
                    entry = active.get(fd)
                    if entry is None or entry[2] + config.timeout > now:
                        continue  # already settled, or the fd was reused by a newer attempt
                    _, i, _ = release(fd)
                    retry_or_give_up(i)
                while queue and len(active) < limit:
                    i = queue.popleft()
                    job = jobs[i]
                    family = socket.AF_INET6 if ":" in job.address else socket.AF_INET
                    udp = job.protocol is Protocol.UDP
                    sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
                    sock.setblocking(False)
                    if job.source is not None:  # --source: the kernel picks no other
                        sock.bind((job.source, 0))
                    tries[i] += 1
                    sent += 1
                    started = time.monotonic()
                    err = sock.connect_ex((job.address, job.port))
                    if udp and err == 0:
                        err = _send(sock, job, tries[i])
                    if err not in (0, errno.EINPROGRESS):
                        sock.close()  # refused or unreachable at once (local verdict)
                        settle(i, err, time.monotonic() - started)
                        continue
                    active[sock.fileno()] = (sock, i, started)
                    sel.register(sock, selectors.EVENT_READ if udp else selectors.EVENT_WRITE)
                    heapq.heappush(deadlines, (started + config.timeout, sock.fileno()))
                wait = max(0.0, deadlines[0][0] - time.monotonic()) if deadlines else 0.05
                for key, _ in sel.select(min(wait, 0.5 if cancel is None else CANCEL_CHECK)):
                    ready = key.fileobj
                    assert isinstance(ready, socket.socket)
                    reply = None
                    if ready.type == socket.SOCK_DGRAM:
                        try:
                            reply, err = ready.recv(REPLY_KEEP), 0
                        except OSError as exc:  # the ICMP error the kernel queued
                            err = exc.errno or errno.EIO
                    else:
                        err = ready.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    _, i, started = release(key.fd)
                    settle(i, err, time.monotonic() - started, reply)
                if progress and now - last_progress > 0.2:
                    last_progress = now
                    progress(Progress(len(jobs), done, sent, answered, now - start))
        except KeyboardInterrupt:  # in this thread: the scan ends as if cancelled
            interrupted = True
        finally:
            for fd in list(active):
                release(fd)
            sel.close()
        evidence = tuple(r for r in results if r is not None)
        return EngineRun(evidence, interrupted, sent, answered, time.monotonic() - start)
