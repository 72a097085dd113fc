"""``probe check`` of many addresses: run in batches, written as it goes, summarised.

A run goes this way when its text would be a checklist per address of a block (more than
SUMMARY_OVER addresses from CIDR blocks: the text is a summary, each address only with
``-v``) or when it is too large for one batch (``session.batches``): each batch's report is
written (JSON, or the text's ``-v`` / ``--open`` lines) and let go, the summary and the exit
status are counted as it goes. Other runs render one whole ``Report`` as before.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TextIO

from probe.engine.base import PacketLog, ProgressFn
from probe.model import Report, Target
from probe.output.base import FormatName, Options
from probe.session.batches import Outcome, batch_size, measure_batches
from probe.session.core import Session
from probe.session.options import CheckOptions
from probe.session.reports import Measured, build
from probe.status import ExitStatus

__all__ = ["SUMMARY_OVER", "large", "only_open", "run_large"]

SUMMARY_OVER = 16  # addresses from CIDR blocks: more than this, the text is a summary


def large(targets: Sequence[Target], ports: int, fmt: FormatName) -> bool:
    """This run is written batch by batch (and its text summarised)."""
    if fmt not in (FormatName.TEXT, FormatName.JSON):
        return False
    if len(targets) > batch_size(ports):
        return True
    blocks = sum(1 for t in targets if "/" in t.input)
    return fmt is FormatName.TEXT and blocks > SUMMARY_OVER


def only_open(report: Report) -> Report:
    """``--open`` on a whole report: the targets that opened a port."""
    from probe.output.json.stream import has_open

    return replace(report, targets=tuple(t for t in report.targets if has_open(t)))


def run_large(
    session: Session,
    targets: Sequence[Target],
    opts: CheckOptions,
    fmt: FormatName,
    *,
    verbose: bool,
    open_only: bool,
    progress: ProgressFn | None,
    packet_log: PacketLog | None,
    out: TextIO | None = None,
) -> ExitStatus:
    """The run, written onto ``out`` batch by batch; its exit status."""
    from probe.output.json.stream import JsonStream
    from probe.output.text.summary import SummaryText

    out = out or sys.stdout
    sink: JsonStream | SummaryText
    if fmt is FormatName.JSON:
        sink = JsonStream(out, only_open=open_only)
    else:
        sink = SummaryText(out, Options(verbose=verbose), only_open=open_only)
    result = Outcome()

    def write(measured: Measured) -> None:
        report = build(measured)
        result.add(report)
        sink.add(report)

    # One batch's reports are diagnosed and written in a thread of their own while the next
    # batch is measured: the scan spends much of its time waiting (for answers, for the
    # kernel's side of the sender, for silent ports' deadlines), which the writing fills.
    # One batch at a time in each, in order: memory stays two batches.
    with ThreadPoolExecutor(1, thread_name_prefix="probe-writer") as writer:
        written: Future[None] | None = None
        for measured in measure_batches(
            session.scope(), targets, opts, progress=progress, packet_log=packet_log
        ):
            if written is not None:
                written.result()
            written = writer.submit(write, measured)
        if written is not None:
            written.result()
    result.interrupted |= session.cancel.is_set()
    sink.end(result.notes, result.interrupted, result.found)
    out.flush()
    return result.status()
