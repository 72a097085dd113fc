"""A scripted engine for tests: answers from a script, no packet sent.

The script says what each job gets back: a mapping keyed by ``(address, port)`` or by
``port`` (the former wins), or a function of the ``Job``. A script's answer is an
``AnswerKind`` (expanded into evidence as a healthy host one hop away would give it), a full
``PortEvidence`` (returned as it is), or None: the job does not finish, as if the scan had
been interrupted before it did (the run is then ``interrupted``). The engine records every
scan's jobs and configs and is safe from several threads at once.

Without ``delay`` a scan takes no time (a ``cancel`` already set gives an empty, interrupted
run). With it, time passes as on a real engine, all jobs at once: an answer comes back after
``delay`` seconds, silence is known after every try's timeout, and ``cancel`` returns what
had finished by then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from probe.engine.base import EngineConfig, EngineRun, Job, PacketLog, ProgressFn
from probe.model import AnswerKind, Method, PortEvidence

Scripted = AnswerKind | PortEvidence | None
Script = Mapping[tuple[str, int], Scripted] | Mapping[int, Scripted] | Callable[[Job], Scripted]


class FakeEngine:
    def __init__(
        self,
        script: Script | None = None,
        *,
        default: AnswerKind = AnswerKind.NONE,
        method: Method = Method.RAW,
        ttl: int = 63,
        delay: float = 0.0,
    ) -> None:
        self.script: Script = {} if script is None else script
        self.default = default  # what a job the mapping does not name gets
        self.method = method
        self.ttl = ttl  # the TTL answers arrive with
        self.delay = delay  # seconds an answer takes (0: no time passes)
        self.closed = False
        self._asked: list[tuple[list[Job], EngineConfig]] = []
        self._lock = threading.Lock()

    @property
    def scans(self) -> list[list[Job]]:
        """Each scan's jobs, in the order the scans were asked for."""
        with self._lock:
            return [jobs for jobs, _ in self._asked]

    @property
    def configs(self) -> list[EngineConfig]:
        with self._lock:
            return [config for _, config in self._asked]

    @property
    def jobs(self) -> list[Job]:
        """Every job asked, in order, over all scans."""
        return [job for scan in self.scans for job in scan]

    def scan(
        self,
        jobs: Sequence[Job],
        config: EngineConfig,
        *,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
        cancel: threading.Event | None = None,
    ) -> EngineRun:
        with self._lock:
            self._asked.append((list(jobs), config))
        start = time.monotonic()
        scripted = [self.evidence(job, config) for job in jobs]
        finished = [ev for ev in scripted if ev is not None]
        interrupted = len(finished) < len(scripted)
        if cancel is not None and cancel.is_set():
            finished, interrupted = [], True
        elif self.delay:
            silence = self.delay + config.tries * config.timeout
            due = sorted(
                (self.delay if ev.answer is not AnswerKind.NONE else silence, k)
                for k, ev in enumerate(finished)
            )
            done: set[int] = set()
            for at, k in due:
                wait = start + at - time.monotonic()
                if cancel is not None and wait > 0 and cancel.wait(wait):
                    interrupted = True
                    break
                if cancel is None and wait > 0:
                    time.sleep(wait)
                done.add(k)
            finished = [ev for k, ev in enumerate(finished) if k in done]
        answered = sum(1 for e in finished if e.answer is not AnswerKind.NONE)
        return EngineRun(
            tuple(finished), interrupted, len(jobs), answered, time.monotonic() - start
        )

    def evidence(self, job: Job, config: EngineConfig) -> PortEvidence | None:
        """What the script gives ``job``, as evidence."""
        script = self.script
        if callable(script):
            got = script(job)
        else:
            lookup = cast("Mapping[object, Scripted]", script)
            got = lookup.get((job.address, job.port), lookup.get(job.port, self.default))
        if got is None or isinstance(got, PortEvidence):
            return got
        raw = self.method is Method.RAW  # connect() sees neither who answered nor the TTL
        answered = got is not AnswerKind.NONE
        return PortEvidence(
            job.address,
            job.port,
            self.method,
            got,
            1 if answered else config.tries,
            responder=job.address if raw and answered else None,
            ttl=self.ttl if raw and answered else None,
            probe_ttl=job.ttl if raw else None,
            protocol=job.protocol,
        )

    def close(self) -> None:
        self.closed = True
