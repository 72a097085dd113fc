"""The farm: one namespace answering a whole /16 of the lab range, for scale tests and
benchmarks (``with farm(lab): ...`` on a running lab).

::

    client ── router ── v-farm 198.18.10.1/30 ─── farm 198.18.10.2/30 (eth0)
                        route 198.19.0.0/16         lo: local route 198.19.0.0/16
                        via 198.18.10.2             (every address of it is the farm's own)

Every address of FARM_NET answers as one host would: FARM_OPEN ports listen (one socket
each, bound to 0.0.0.0: a local route makes the kernel deliver any address of the block to
it), FARM_DROPPED is dropped by the farm's own nft input rule, every other TCP port answers
RST, and echo requests are answered. From the client an answer arrives with TTL 63 (one hop
through the router). The router does not track the farm's traffic (a ``notrack`` rule): a
/16 x 5 ports is 327,680 flows, more than the conntrack table holds, and a full table drops
packets.

Names: the namespace is ``PREFIX + "farm"``, so a crashed run's leftovers go with the lab's.
Every address is in 198.18.0.0/15.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from . import topology as t
from .links import ip as _ip
from .links import router_stub
from .netlab import Lab, LabError

FARM_SHORT = "farm"
FARM_NET = "198.19.0.0/16"
FARM_LINK_ROUTER = "198.18.10.1"
FARM_LINK_FARM = "198.18.10.2"
FARM_LINK_PREFIX = 30
FARM_IFACE = "v-farm"  # the router's end of the link
FARM_OPEN = (80, 443)
FARM_DROPPED = 8443
FARM_CLOSED = (22, 3389)
FARM_PORTS = (22, 80, 443, 3389, FARM_DROPPED)  # the site audit: 2 open, 1 dropped
FARM_TABLE = "probe_farm"

_ROUTER_NFT = f"""\
table ip {FARM_TABLE} {{
  chain raw {{
    type filter hook prerouting priority raw; policy accept;
    ip daddr {FARM_NET} notrack
    ip saddr {FARM_NET} notrack
  }}
}}
"""
_FARM_NFT = f"""\
table inet {FARM_TABLE} {{
  chain input {{
    type filter hook input priority filter; policy accept;
    tcp dport {FARM_DROPPED} drop
  }}
}}
"""
# One listening socket per open port; the SYNs it gets are answered by the kernel (raw
# probes never complete the handshake: the client's kernel resets the SYN/ACK), so it never
# accepts. It exits when its stdin closes (the context's end or a crashed parent).
_LISTENER = """\
import socket, sys
socks = []
for port in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(port)))
    s.listen(4096)
    socks.append(s)
print("READY", flush=True)
sys.stdin.read()
"""


def farm_ns() -> str:
    return t.ns_name(FARM_SHORT)


def farm_address(index: int) -> str:
    """The ``index``-th address of the farm's block (0 is 198.19.0.0)."""
    if not 0 <= index < 65536:
        raise ValueError(f"the farm has 65536 addresses, not {index}")
    return f"198.19.{index >> 8}.{index & 255}"


def _nft(lab: Lab, ns: str, script: str) -> None:
    done = lab.exec(ns, "nft", "-f", "-", input=script, timeout=10)
    if done.returncode != 0:
        raise LabError(f"nft in {ns} failed: {done.stderr.strip()}")


@contextlib.contextmanager
def farm(lab: Lab) -> Iterator[str]:
    """The farm on the running ``lab``; yields FARM_NET. Everything is removed on exit."""
    ns = farm_ns()
    listener: subprocess.Popen[str] | None = None
    stub = router_stub(ns, FARM_IFACE, FARM_LINK_ROUTER, FARM_LINK_FARM, FARM_LINK_PREFIX)
    with stub:
        try:
            _ip(["-n", ns, "route", "add", "local", FARM_NET, "dev", "lo"])
            # Many half-open connections at once: no SYN cookies, a backlog that holds them.
            lab.exec(ns, "sysctl", "-q", "-w", "net.ipv4.tcp_syncookies=0",
                     "net.ipv4.tcp_max_syn_backlog=65536", "net.core.somaxconn=65536",
                     "net.ipv4.icmp_ratelimit=0")  # fmt: skip
            _ip(["-n", t.ROUTER_NS, "route", "add", FARM_NET, "via", FARM_LINK_FARM])
            _nft(lab, t.ROUTER_NS, _ROUTER_NFT)
            _nft(lab, ns, _FARM_NFT)
            argv = ["ip", "netns", "exec", ns, sys.executable, "-c", _LISTENER]
            listener = subprocess.Popen(
                [*argv, *map(str, FARM_OPEN)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert listener.stdout is not None
            if listener.stdout.readline().strip() != "READY":
                err = listener.stderr.read() if listener.stderr else ""
                raise LabError(f"farm listener failed: {err.strip()[-2000:]}")
            yield FARM_NET
        finally:
            if listener is not None:
                if listener.stdin is not None:
                    listener.stdin.close()
                try:
                    listener.wait(5)
                except subprocess.TimeoutExpired:
                    listener.kill()
                    listener.wait(5)
                for stream in (listener.stdout, listener.stderr):
                    if stream is not None:
                        stream.close()
            lab.exec(t.ROUTER_NS, "nft", "delete", "table", "ip", FARM_TABLE, timeout=10)
            _ip(["-n", t.ROUTER_NS, "route", "del", FARM_NET], check=False)
