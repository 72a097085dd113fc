"""One raw scan: its jobs' state, and the loop that sends, matches and expires.

Loop: send what the window and the rate allow (retransmissions first), wait for answers until
the next deadline, match them by cookie, expire deadlines into retransmissions or "no
answer". Timing state lives in timing.py, packets in the transports (tcp.py), sending in
sender.py, reading the sockets in receive.py.

Per-job state lives in parallel lists indexed by job number: at 65535 ports per host an
object per probe would cost more than the packets.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from probe.engine import burst, cookies, icmp, lanes, sender, timing
from probe.engine.base import (
    CANCEL_CHECK,
    EngineConfig,
    EngineRun,
    Job,
    PacketLog,
    Progress,
    ProgressFn,
    unanswered,
)
from probe.engine.deadlines import Deadlines
from probe.engine.paths import Outlet, Path, cookies_of, index_of, paths_of
from probe.engine.receive import Seat
from probe.engine.sender import Outgoing
from probe.engine.transport import Answer
from probe.model import AnswerKind, Method, PortEvidence, Protocol

if TYPE_CHECKING:
    from probe.engine import bulk
    from probe.engine.fastpath import I64, FastPath

# Probes in a scan from which it builds and matches them in bulk (bulk.py); PROBE_PER_PACKET=1
# keeps every scan on the per-packet path (side-by-side measurements).
MIN_FAST_JOBS = 10**9 if os.environ.get("PROBE_PER_PACKET") else 1024
FEW_ROWS = 16  # probes below which a round's rows go out one by one
FAST_BATCH = 512  # probes: the smallest batch of rows sent while others are in flight
GATHER = 0.001  # seconds: the pause before reading while a big scan has many probes out
UNSENT_RECHECK = 0.01  # seconds: a deadline came while its probe still waits in the queue
SENDER_CHECK = 0.005  # seconds: how often to look at the sender's news while it is busy


class Scan:
    """The state of one scan over the engine's sockets (``Outlet``); ``run`` drives it to the
    end. Try N of a probe leaves from ``sport + N``."""

    def __init__(
        self,
        outlet: Outlet,
        jobs: Sequence[Job],
        config: EngineConfig,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.out = outlet
        self.sport = 0  # the first port of the scan's block (run() takes it from its seat)
        self.jobs = jobs
        self.cfg = config
        self.progress = progress
        self.log = packet_log
        self.cancel = cancel
        self.key = random.getrandbits(32)
        n = len(jobs)
        self.paths = paths_of(self.key, jobs, outlet, config)
        self.crowded = icmp.crowded(jobs)  # addresses whose retries are never spaced
        self.fast: FastPath | None = None
        template = getattr(outlet.transports.get(Protocol.TCP), "template", None)
        if n >= MIN_FAST_JOBS and packet_log is None and template and burst.available():
            from probe.engine.fastpath import FastPath  # numpy: only for a scan this big

            fast = FastPath(jobs, self.paths, template)
            self.cookies = fast.cookie.tolist()
            self.fast = fast if any(fast.on) else None  # no plain IPv4 SYN: nothing to gain
        else:
            self.cookies = cookies_of(self.paths, jobs)
        self.index = index_of(self.paths, jobs, self.cookies)
        self.tries = [0] * n
        self.sent_at: list[list[float]] = [[] for _ in range(n)]
        self.result: list[PortEvidence | None] = [None] * n
        self.flying = [False] * n  # a try is out and its deadline has not passed
        self.first_window = [0] * n  # the window when the first try was sent
        self.done = 0
        self.in_flight = 0
        self.sent = 0
        self.received = 0
        self.window = timing.start_window(config.window, config.rate, config.timeout)
        self.bucket = timing.TokenBucket(config.rate)
        self.deadlines = Deadlines()
        self.retry: deque[int] = deque()
        self.fresh: deque[int] = deque(timing.interleave(j.address for j in jobs))
        self.failed: deque[sender.Failure] = deque()
        # Inline until run() starts the sender thread: the unit tests drive _send directly.
        self.sender: sender.Sender = sender.InlineSender(
            outlet.send4, outlet.send6, self.sent_at, self.failed
        )

    # ------------------------------------------------------------------ main loop

    def run(self, seat: Seat) -> EngineRun:
        """Run to the end, or until ``cancel`` is set (``interrupted``). A KeyboardInterrupt
        in this thread ends the scan the same way."""
        start = time.monotonic()
        last_progress = start
        interrupted = tail = False
        cancel = self.cancel
        self.sport = seat.first_port
        try:
            make = sender.make_sender if self.fast is None else lanes.make_lanes
            self.sender = make(self.out.send4, self.out.send6, self.sent_at, self.failed)
            while True:
                now = time.monotonic()
                seat.collect()
                self._collect()
                backlog = seat.backlog()
                if not backlog:  # no deadline passes while answers wait in the socket
                    self._expire(now)
                if self.done >= len(self.jobs):
                    break
                if cancel is not None and cancel.is_set():
                    interrupted = True
                    break
                self._send(now)
                wait = self._next_wake(time.monotonic())
                if self._gathering(backlog):
                    time.sleep(min(wait, GATHER))
                seat.wait(wait if cancel is None else min(wait, CANCEL_CHECK))
                # Also at once when the last first try has left: the caller may start its next
                # scan while this one only waits for its last answers.
                tail, told = not self.fresh, tail
                if self.progress and (now - last_progress > 0.2 or (tail and not told)):
                    last_progress = now
                    done, sent, got, unsent = self.done, self.sent, self.received, len(self.fresh)
                    self.progress(Progress(len(self.jobs), done, sent, got, now - start, unsent))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.sender.close()
        evidence = tuple(r for r in self.result if r is not None)
        elapsed = time.monotonic() - start
        return EngineRun(
            evidence, interrupted, self.sent, self.received, elapsed, self.window.drops
        )

    def _next_wake(self, now: float) -> float:
        wake = 0.5
        if self.deadlines:
            wake = min(wake, self.deadlines.first() - now)
        sending = (self.retry or self.fresh) and self.in_flight < self.window.limit
        if sending and not self._holding():
            wake = min(wake, self.bucket.wait())
        if self.sender.pending() or self.failed:
            wake = min(wake, SENDER_CHECK)  # a local refusal may come back from the sender
        return max(0.0, wake)

    # ------------------------------------------------------------------ sending

    def _send(self, now: float) -> None:
        # The hot loop of a big scan: state in locals, in_flight written back at the end.
        out: list[Outgoing] = []
        retry, fresh, result, tries = self.retry, self.fresh, self.result, self.tries
        packet, deadlines, paths = self._packet, self.deadlines, self.paths
        groups: dict[float, tuple[list[int], list[int]]] = {}  # rows by wait: one deadline
        limit, in_flight = self.window.limit, self.in_flight
        bucket = self.bucket if self.bucket.rate is not None else None
        waits: dict[Path, float] = {}  # per destination, for this round
        fast = self.fast
        as_rows = fast.on if fast is not None else None
        row_jobs: list[int] = []
        row_tries: list[int] = []
        if self._holding():
            return
        while (retry or fresh) and in_flight < limit:
            if bucket is not None and not bucket.take(now):
                break
            i = retry.popleft() if retry else fresh.popleft()
            if result[i] is not None:
                continue
            try_no = tries[i] + 1
            if try_no == 1:
                self.first_window[i] = limit
            tries[i] = try_no
            self.sent_at[i].append(math.inf)  # the sender stamps it as the packet leaves
            self.flying[i] = True
            in_flight += 1
            path = paths[i]
            wait = waits.get(path)
            if wait is None:
                wait = waits[path] = path.est.timeout()
            if as_rows is not None and as_rows[i]:
                row_jobs.append(i)
                row_tries.append(try_no)
                group = groups.get(wait)
                if group is None:
                    group = groups[wait] = ([], [])
                group[0].append(i)
                group[1].append(try_no)
            else:
                out.append(packet(i, try_no))
                deadlines.add(now + wait, i, try_no, wait)
        for wait, (members, member_tries) in groups.items():
            deadlines.add_group(now + wait, members, member_tries, wait)
        self.in_flight = in_flight
        if out or row_jobs:
            self.sent += len(out) + len(row_jobs)
            if out:
                self.sender.submit(out, now)
            if fast is not None and len(row_jobs) >= FEW_ROWS:
                self.sender.submit_burst(fast.burst(row_jobs, row_tries, self.sport), now)
            elif row_jobs:  # a few (paced by --rate): numpy's fixed cost would not pay
                self.sender.submit(list(map(packet, row_jobs, row_tries)), now)
            self._collect()

    def _gathering(self, backlog: bool) -> bool:
        """Whether to let a batch's worth of answers pile up before reading, to be read and
        decoded as one (the sender threads get the interpreter meanwhile): the last read
        emptied the socket. While answers come faster than that, they are read at once."""
        fast, rate = self.fast is not None, self.bucket.rate is not None
        return fast and not rate and not backlog and self.in_flight >= FAST_BATCH

    def _holding(self) -> bool:
        """Whether the bulk path waits for a batch's worth of the window to free (answers
        free it within a round trip): rows pay numpy's fixed cost per batch, not per probe."""
        if self.fast is None or self.bucket.rate is not None:  # --rate paces: no holding
            return False
        free, limit = self.window.limit - self.in_flight, self.window.limit
        return self.in_flight > 0 and free < min(FAST_BATCH, limit // 2)

    def _packet(self, i: int, try_no: int) -> Outgoing:
        job = self.jobs[i]
        path = self.paths[i]
        payloads = job.payloads
        payload = payloads[(try_no - 1) % len(payloads)] if payloads else b""
        pkt = path.builder.build(
            self.sport + try_no, job.port, self.cookies[i] | try_no, job.ttl, payload
        )
        if self.log:
            self.log(time.time(), path.sent_packet(pkt, job.ttl), True)
        return Outgoing(
            i, try_no, pkt, job.address, path.dst, job.ttl, path.v6, job.protocol, path.pin
        )

    def _collect(self) -> None:
        """The sender's news: an unexpected failure, and probes the local kernel refused."""
        if self.sender.error is not None:
            raise self.sender.error
        while self.failed:
            i, try_no, code = self.failed.popleft()
            if sender.busy(code):
                # The kernel kept its queue full past the sender's patience: on a LAN whose
                # neighbours never answer ARP, every queued probe waits for a resolution that
                # never comes. This try was lost before it left; its deadline runs from now.
                self.sent -= 1
                self.sent_at[i][try_no - 1] = time.monotonic()
                continue
            name = sender.local_verdict(code)  # raises when it is a failure, not an answer
            # The local kernel said no (failed ARP, unreachable route, output firewall): that
            # is this port's answer, given by this machine itself. Nothing was sent.
            self.sent -= 1
            self.finish(i, unanswered(self.jobs[i], try_no, AnswerKind.ICMP, name))

    # ------------------------------------------------------------------ deadlines

    def _expire(self, now: float) -> None:
        result, tries, first_window = self.result, self.tries, self.first_window
        answered: dict[int, int] = {}  # first tries answered by their deadline, by window
        for i, try_no, wait in self.deadlines.due(now):
            done = result[i]
            if done is not None or try_no != tries[i]:
                if try_no == 1 and done is not None and done.tries == 1:
                    # First tries' outcomes, at their deadline, for timing.Window.
                    answered[first_window[i]] = answered.get(first_window[i], 0) + 1
                continue  # answered meanwhile, or an older try's deadline
            # The wait runs from when the probe left the sender's queue, not from when it
            # was put there.
            left = self.sent_at[i][try_no - 1]
            later = now + UNSENT_RECHECK if left == math.inf else left + wait
            if later > now:
                self.deadlines.add(later, i, try_no, wait)
                continue
            self.flying[i] = False
            self.in_flight -= 1
            if try_no == 1:
                self.window.first_try(self.first_window[i], answered=False)
            if try_no < self.cfg.tries:
                self.retry.append(i)
            else:
                self.finish(i, unanswered(self.jobs[i], try_no, AnswerKind.NONE))
        for size, count in answered.items():
            self.window.first_try(size, answered=True, count=count)

    def finish(self, i: int, ev: PortEvidence) -> None:
        if self.result[i] is None:
            self.done += 1
        if self.flying[i]:
            self.flying[i] = False
            self.in_flight -= 1
        self.result[i] = ev

    # ------------------------------------------------------------------ answers

    def match(self, a: Answer, now: float, raw_pkt: bytes | None, l4: bytes | None) -> None:
        """An answer read ``now``: ``raw_pkt`` the IPv4 packet, ``l4`` the IPv6 payload."""
        ck, try_no = cookies.split(a.tag)
        if not try_no or a.sport != self.sport + try_no:
            return  # not from one of our tries' source ports
        i = self.index.get((a.target, a.port, ck))
        if i is None or try_no > self.tries[i]:
            return  # not our probe: a stray packet to our ports, or a forged answer
        self._accept(i, try_no, a, now, raw_pkt, l4)

    def match_rows(self, d: bulk.Decoded, ks: I64, rows: bulk.U8, lengths: I64, now: float) -> None:
        """Answers read ``now`` as rows ``ks`` of a decoded batch (fastpath.py)."""
        from probe.engine.fastpath import accept, answers, match_each

        fast = self.fast
        if fast is None:  # a small or logged scan: rows only when another scan is big
            match_each(self.match, d, ks, rows, lengths, now)
            return
        hits, jobs, tries, exact = fast.lookup(d, ks, self.sport)
        for a, t in zip(answers(d, exact, rows), d.times(exact, now), strict=True):
            self.match(a, t, None, None)
        accept(self, d, hits, jobs, tries, rows, now)

    def _accept(
        self, i: int, try_no: int, a: Answer, now: float, raw_pkt: bytes | None, l4: bytes | None
    ) -> None:
        """Answer ``a`` to try ``try_no`` of job ``i``: its evidence, unless one stands."""
        prev = self.result[i]
        if prev is not None and prev.answer is not AnswerKind.NONE:
            return  # a duplicate: the first answer stands
        rtt = now - self.sent_at[i][try_no - 1]
        job = self.jobs[i]
        ev = PortEvidence(  # positional, in field order: this runs once per answer
            job.address,
            job.port,
            Method.RAW,
            a.kind,
            try_no,
            a.responder,
            a.ttl,
            rtt * 1000,
            a.icmp_type,
            a.icmp_code,
            a.icmp_type is not None and len(a.target) == 16,  # icmp_v6
            a.window,
            a.options,
            a.ip_id,
            None,  # errno_name
            job.ttl,
            job.protocol,
            a.payload,
        )
        self.received += 1
        if self.log:
            pkt = self.paths[i].answer_packet(a, raw_pkt, l4)
            if pkt is not None:
                self.log(time.time(), pkt, False)
        if prev is not None:
            self.result[i] = ev  # a late answer after "no answer": the truth wins
            return
        self.paths[i].est.observe(rtt)
        if (
            a.icmp_type is not None
            and job.address not in self.crowded
            and icmp.rate_limited(a, job.address, job.protocol)
        ):
            # The sender of this error rate-limits them (Linux: a burst of 6, then one a
            # second to each client): retries to this address that come sooner find its
            # bucket empty and read as silence. Space them so each finds a token.
            est = self.paths[i].est
            est.floor = max(est.floor, icmp.SPACING)
        # An answer to a retransmission whose earlier tries went unanswered shows loss on the
        # path (or ICMP rate limiting): slow down. An answer to an older try means that try
        # was merely slow. A queued retransmission of a finished job is skipped in _send.
        if try_no > 1 and try_no == self.tries[i]:
            self.window.on_drop(self.sent_at[i][try_no - 2], now)
        else:
            self.window.on_answer()
        self.finish(i, ev)
