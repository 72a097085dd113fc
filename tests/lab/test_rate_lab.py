"""``--rate`` on the wire: the client's own transmit counter over a few seconds of a scan
into a blackholed /24, where nothing answers and every probe holds its place in the window
for the whole timeout (issue 13 asks for 5 % over 10 s; a lab test keeps to 4 s)."""

from __future__ import annotations

import subprocess
import time

from . import topology as t
from .netlab import Lab

RATE = 2000


def transmitted(lab: Lab) -> int:
    path = f"/sys/class/net/{t.HOST_IFACE}/statistics/tx_packets"
    return int(lab.exec(lab.client_ns, "cat", path).stdout)


def test_rate_is_honoured_where_nothing_answers(lab: Lab) -> None:
    argv = [
        *("ip", "netns", "exec", lab.client_ns, *lab.probe_command()),
        *("check", t.BLACKHOLE_NET_V4, "-p", "1-100", "--all-hosts", "--yes", "--no-ping"),
        *("--rate", str(RATE), "--tries", "1", "--json"),
    ]
    scan = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)  # past start-up, route lookups and the first burst
        before, start = transmitted(lab), time.monotonic()
        time.sleep(4.0)
        after, end = transmitted(lab), time.monotonic()
        assert scan.poll() is None, "the scan ended before the measurement did"
    finally:
        scan.kill()
        scan.wait()
    rate = (after - before) / (end - start)
    assert abs(rate - RATE) <= 0.05 * RATE, f"{rate:.0f} packets/s for --rate {RATE}"
