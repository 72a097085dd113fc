"""The last probes, for ``GET /`` and ``/logs?id=N``: a bounded ring (old entries fall off,
so memory stays flat however many probes run), safe from several threads."""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from dataclasses import dataclass

from probe.serve.prober import ProbeRun

KEEP = 100  # probes remembered


@dataclass(frozen=True)
class Entry:
    id: int
    run: ProbeRun
    debug: str  # the probe's log and metrics, as &debug=true shows them


class Recent:
    def __init__(self, keep: int = KEEP) -> None:
        self._lock = threading.Lock()
        self._ring: deque[Entry] = deque(maxlen=keep)
        self._next = 0

    def add(self, run: ProbeRun, debug: str) -> int:
        with self._lock:
            self._next += 1
            self._ring.append(Entry(self._next, run, debug))
            return self._next

    def get(self, id: int) -> Entry | None:
        with self._lock:
            return next((e for e in self._ring if e.id == id), None)

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(reversed(self._ring))

    def __len__(self) -> int:
        return len(self._ring)


def status_page(recent: Recent, source: str, modules: list[str], version: str) -> str:
    """A small HTML page: the config's modules and the recent probes with their logs."""
    rows = []
    for e in recent.entries():
        r = e.run
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.started))
        result = "success" if r.success else ("interrupted" if r.interrupted else "failure")
        rows.append(
            f"<tr><td>{html.escape(r.module)}</td><td>{html.escape(r.target)}</td>"
            f"<td>{when} UTC</td><td>{r.duration:.3f}s</td><td>{result}</td>"
            f'<td><a href="logs?id={e.id}">log</a></td></tr>'
        )
    table = "\n".join(rows) or '<tr><td colspan="6">no probes yet</td></tr>'
    names = ", ".join(html.escape(m) for m in modules)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>probe serve</title></head>
<body>
<h1>probe serve {html.escape(version)}</h1>
<p>Probe a target: <code>/probe?target=HOST&amp;module=NAME</code> (add <code>&amp;debug=true</code>
for the log). <a href="metrics">Exporter metrics</a>.</p>
<p>Modules ({html.escape(source)}): {names}</p>
<h2>Recent probes</h2>
<table border="1" cellpadding="3">
<tr><th>Module</th><th>Target</th><th>Started</th><th>Duration</th><th>Result</th><th>Debug</th></tr>
{table}
</table>
</body></html>
"""
