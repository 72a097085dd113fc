"""Progress of a long scan on stderr: probes sent, answered, remaining, rate.

Shown only on a terminal and only once a run has lasted about two seconds, so quick checks
and scripts never see it; it is transient (erased when the scan ends) and never touches
stdout, where the report goes.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from probe.engine.base import Progress

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

SHOW_AFTER = 2.0  # seconds


class ScanProgress:
    """A ProgressFn for the engine; use as a context manager so the display is closed."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def __call__(self, p: Progress) -> None:
        if not self.enabled or p.elapsed < SHOW_AFTER:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("scanning"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=p.total)
        assert self._task is not None
        rate = p.sent / p.elapsed if p.elapsed > 0 else 0.0
        self._bar.update(
            self._task,
            completed=p.done,
            description=f"{p.sent} sent, {p.answered} answered, "
            f"{p.total - p.done} remaining, {rate:,.0f}/s",
        )

    def __enter__(self) -> ScanProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
