"""masscan in the lab's client namespace, for the farm benchmark (benchmarks/farm.py).

masscan sends at layer 2 through libpcap, so it is told the client's interface, address and
the router's MAC. The client's kernel answers the farm's SYN/ACKs with RST (masscan's source
port has no socket): that empties the farm's SYN queue, and masscan still counts the port open.

In a namespace masscan can hang after its final wait: its receive thread blocks in libpcap
until a packet arrives. So its time is the time of its last result: its progress line (about
four a second on stderr) that first shows the final count of results, its own --wait not
counted. Once the progress says the wait is over, one datagram to the router's discard port
makes the router answer (ICMP port unreachable), which wakes the receive thread: masscan then
writes its list and exits. Its peak RSS comes from GNU time around it.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import check_status, fail

_PROGRESS = re.compile(rb"waiting (-?\d+)-secs, found=(\d+)|found=(\d+)")
_NUDGE = (
    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    "s.sendto(b'wake', ({!r}, 9))"
)
NUDGES = 20  # datagrams at most, half a second apart, before masscan counts as hung


@dataclass
class Masscan:
    """How masscan runs in the lab's client namespace."""

    ns: str
    adapter: str
    adapter_ip: str
    router_ip: str
    router_mac: str
    rate: int
    retries: int = 0
    wait: int = 1

    def argv(self, timer: str, figures: Path, targets: Path, ports: str, out: Path) -> list[str]:
        return [
            *("ip", "netns", "exec", self.ns, timer, "-o", str(figures), "-f", "%e %M"),
            *("masscan", "--adapter", self.adapter, "--adapter-ip", self.adapter_ip),
            *("--router-mac", self.router_mac, "--rate", str(self.rate)),
            *("--retries", str(self.retries)),
            *("--wait", str(self.wait), "-p", ports, "-iL", str(targets), "-oL", str(out)),
        ]

    def nudge(self) -> None:
        code = _NUDGE.format(self.router_ip)
        argv = ["ip", "netns", "exec", self.ns, sys.executable, "-c", code]
        subprocess.run(argv, capture_output=True, timeout=10, check=False)


def run(masscan: Masscan, argv: list[str], limit: float) -> float:
    """Seconds from start to masscan's last result; fails the benchmark if it fails or
    hangs for good. ``argv`` is ``masscan.argv(...)``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    found, last, over, nudges, said = -1, start, False, 0, b""
    try:
        while proc.poll() is None:
            if time.perf_counter() - start > limit or nudges > NUDGES:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                fail(f"masscan did not end within {limit:.0f} s ({nudges} nudges)")
            if over:
                masscan.nudge()
                nudges += 1
            if select.select([fd], [], [], 0.5)[0]:
                chunk = os.read(fd, 65536)
                said = (said + chunk)[-4096:]
                for line in chunk.split(b"\r"):
                    match = _PROGRESS.search(line)
                    if match is None:
                        continue
                    count = int(match.group(2) or match.group(3))
                    if count != found:
                        found, last = count, time.perf_counter()
                    over = over or (match.group(1) is not None and int(match.group(1)) < 0)
        said += proc.stderr.read()
    finally:
        proc.stderr.close()
    check_status(argv, proc.returncode, (0,), said.decode(errors="replace").replace("\r", "\n"))
    return last - start


def opened(path: Path) -> set[tuple[str, int]]:
    """(address, port) of every ``open tcp PORT ADDRESS TIME`` line of masscan's list."""
    out: set[tuple[str, int]] = set()
    with path.open() as lines:
        for line in lines:
            if line.startswith("open tcp "):
                _, _, port, address, _ = line.split()
                out.add((address, int(port)))
    return out
