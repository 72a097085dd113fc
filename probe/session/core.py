"""The Session: built once per process, it owns what runs share — the engines (opened on
first use, at most one per method), a worker pool for the background steps, the network
edge and a cancel event — and runs checks, traces and audits over them.

``check``, ``trace``, ``watch`` and ``audit`` may be called from several threads at once (watch and
serve do): each call keeps its own state, and the engines route every answer to the scan
that sent its probe. ``cancel`` stops every run in progress (the CLI sets it on Ctrl-C);
each stops at its next look, and still returns what it measured, marked interrupted. A check
may also get a cancel event and a deadline of its own (serve: the scrape's timeout), which
stop that run alone (``cancel.RunCancel``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

from probe.engine.base import Engine, PacketLog, ProgressFn
from probe.model import Method, PortRequest, Report, Target, TraceReport
from probe.session import edge as edges
from probe.session.cancel import RunCancel
from probe.session.check import Allow, Scope, run_check
from probe.session.edge import Edge, EngineChoice, choose_engine
from probe.session.options import CheckOptions, TraceOptions

if TYPE_CHECKING:  # typing only: watch's modules load when a watch runs
    from probe.diagnosis.watch.report import WatchResult
    from probe.session.watch import LookupFn, RoundFn, StartFn, WatchOptions

WORKERS = 8  # background steps at once: pings, the ARP/ND window, protocol hellos


class Session:
    def __init__(self, edge: Edge | None = None, *, workers: int = WORKERS) -> None:
        self.edge = edge if edge is not None else edges.default_edge()
        self.cancel = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe-step")
        self._lock = threading.Lock()
        self._choices: dict[bool, EngineChoice] = {}  # connect forced? -> the engine chosen
        self._raw: Engine | None = None

    # ------------------------------------------------------------------ engines

    def engine_for(self, connect: bool) -> EngineChoice:
        """The engine for check runs: raw packets when allowed, connect() otherwise (or when
        ``connect`` forces it). Opened once and shared by every run of the session."""
        with self._lock:
            choice = self._choices.get(connect)
            if choice is None:
                choice = self._choices[connect] = choose_engine(self._open, connect)
            return choice

    def raw_engine(self) -> Engine:
        """The raw engine, without fallback (trace needs TTL-limited SYNs); raises
        NoPermission without the privilege."""
        with self._lock:
            return self._open(Method.RAW)

    def _open(self, method: Method) -> Engine:
        # Both choices may land on the same method: one engine per method, not per choice.
        if method is Method.RAW:
            if self._raw is None:
                self._raw = self.edge.open_engine(Method.RAW)
            return self._raw
        for choice in self._choices.values():
            if choice.engine.method is Method.CONNECT:
                return choice.engine
        return self.edge.open_engine(Method.CONNECT)

    # ------------------------------------------------------------------ runs

    def scope(
        self,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        allow: Allow | None = None,
    ) -> Scope:
        """What one run may use. ``cancel`` and ``deadline`` stop this run alone (besides the
        session's own event); ``allow`` refuses addresses before any packet goes to them."""
        stop: threading.Event = self.cancel
        if cancel is not None or deadline is not None:
            stop = RunCancel(self.cancel, cancel, deadline=deadline)
        return Scope(self.edge, self.engine_for, self._pool, stop, allow)

    def check(
        self,
        targets: Sequence[Target],
        opts: CheckOptions,
        *,
        ports_by_input: Mapping[str, tuple[PortRequest, ...]] | None = None,
        progress: ProgressFn | None = None,
        packet_log: PacketLog | None = None,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
        allow: Allow | None = None,
    ) -> Report:
        """The checklist for ``targets``. ``cancel`` (an event of the caller's) and
        ``deadline`` (a ``time.monotonic()`` time) stop this run only, like the session's
        cancel stops every run: what was measured is returned, marked interrupted.
        ``allow(address)`` False: that address is neither pinged nor probed (serve's guard
        against requests for addresses outside its allowed networks)."""
        return run_check(
            self.scope(cancel, deadline, allow),
            targets,
            opts,
            ports_by_input=ports_by_input,
            progress=progress,
            packet_log=packet_log,
        )

    def trace(
        self, target: Target, opts: TraceOptions, *, packet_log: PacketLog | None = None
    ) -> TraceReport:
        from probe.session.trace import run_trace  # a check never loads the trace's modules

        return run_trace(
            self.edge, self.raw_engine, self.cancel, target, opts, packet_log=packet_log
        )

    def watch(
        self,
        targets: Sequence[Target],
        opts: WatchOptions,
        *,
        on_start: StartFn | None = None,
        on_round: RoundFn | None = None,
        on_lookup: LookupFn | None = None,
        on_tick: Callable[[], None] | None = None,
        packet_log: PacketLog | None = None,
    ) -> WatchResult:
        from probe.session.watch import run_watch  # a check never loads the watch's modules

        return run_watch(
            self.scope(),
            targets,
            opts,
            on_start=on_start,
            on_round=on_round,
            on_lookup=on_lookup,
            on_tick=on_tick,
            packet_log=packet_log,
        )

    # ------------------------------------------------------------------ life

    def close(self) -> None:
        """Stop the background steps that have not started and close the engines."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            engines = {id(c.engine): c.engine for c in self._choices.values()}
            if self._raw is not None:
                engines[id(self._raw)] = self._raw
            self._choices.clear()
            self._raw = None
        for engine in engines.values():
            engine.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
