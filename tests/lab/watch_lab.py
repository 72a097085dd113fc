"""The watch lab: intermittent problems built on top of the running ``lab`` (module-scoped
fixtures), removed when the module's tests end.

::

    client ── router ─┬─ br-server ── wb1 .1.31  http :80, TTL 64 (arrives 63)
                      │           ── wb2 .1.32  http :80, TTL 128 (arrives 127)
                      │           ── wb3 .1.33  nothing listens (kernel RST, arrives 63)
                      │
                      └─ VIP 198.18.9.1 (router lo): tcp :80 DNAT round robin over wb1..wb3
                         (nft ``numgen inc mod 3``): one attempt in three refused

    srv 198.18.1.10 with router rules a test adds for its own duration:
      flapping   every packet to srv :80/:81 dropped during timed windows (a bounded timer)
      loss       30 % of the SYNs to srv :80 dropped at random (nft ``numgen random``)

    router ── v-wslow 198.18.12.1/30 ─── wslow 198.18.12.2/30  http :80, udp :9 dropped
              tbf 1 Mbit/s, 100 KB queue       (a branch office behind a slow, bloated link)
    near ── bursts of 30 UDP datagrams (42 KB) to wslow :9, every 0.6-1.2 s: each burst
            sits in the tbf queue for about 340 ms, and a SYN sent meanwhile waits behind it

The backends are extra namespaces with the lab's prefix (so a crashed run's leftovers go
with the lab's own), plugged into the server bridge like the lab's hosts. Every address is
in 198.18.0.0/15.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import topology as t
from .links import ip as _ip
from .links import router_stub
from .netlab import Lab, LabError

VIP_V4 = "198.18.9.1"  # the load balancer's virtual address (on the router's lo)
LB_PORT = 80
BACKEND_TTL_ODD = 128  # wb2's initial TTL: a Windows-like stack among Linux ones


@dataclass(frozen=True)
class Backend:
    short: str
    v4: str
    mac: str
    listens: bool
    ttl: int = 64

    @property
    def ns(self) -> str:
        return t.ns_name(self.short)

    @property
    def router_iface(self) -> str:
        return f"v-{self.short}"


BACKENDS = (
    Backend("wb1", "198.18.1.31", "02:70:72:01:00:31", listens=True),
    Backend("wb2", "198.18.1.32", "02:70:72:01:00:32", listens=True, ttl=BACKEND_TTL_ODD),
    Backend("wb3", "198.18.1.33", "02:70:72:01:00:33", listens=False),
)

LB_NFT = f"""\
table ip probe_watch_lb {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {VIP_V4} tcp dport {LB_PORT} dnat to numgen inc mod 3 map {{ \
0 : {BACKENDS[0].v4}, 1 : {BACKENDS[1].v4}, 2 : {BACKENDS[2].v4} }}
  }}
}}
"""
LB_TABLE = "probe_watch_lb"

FLAP_TABLE = "probe_watch_flap"
FLAP_PORTS = (t.HTTP_PORT, t.CLOSED_PORT)
LOSS_TABLE = "probe_watch_loss"
LOSS_PERCENT = 30


def _nft(lab: Lab, script: str) -> None:
    done = lab.exec(lab.router_ns, "nft", "-f", "-", input=script, timeout=10)
    if done.returncode != 0:
        raise LabError(f"nft failed: {done.stderr.strip()}")


def _drop_table(lab: Lab, table: str) -> None:
    lab.exec(lab.router_ns, "nft", "delete", "table", "ip", table, timeout=10)


@contextlib.contextmanager
def load_balancer(lab: Lab) -> Iterator[None]:
    """The VIP, its three backends and the round-robin DNAT; all removed on exit."""
    made: list[Backend] = []
    try:
        for b in BACKENDS:
            _ip(["netns", "add", b.ns])
            made.append(b)
            _ip(
                [
                    "-n",
                    t.ROUTER_NS,
                    "link",
                    "add",
                    b.router_iface,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    t.HOST_IFACE,
                    "address",
                    b.mac,
                    "netns",
                    b.ns,
                ]
            )
            _ip(["-n", t.ROUTER_NS, "link", "set", b.router_iface, "master", t.SERVER_LAN.bridge])
            _ip(["-n", t.ROUTER_NS, "link", "set", b.router_iface, "up"])
            for args in (
                ["link", "set", "lo", "up"],
                ["link", "set", t.HOST_IFACE, "up"],
                ["address", "add", f"{b.v4}/24", "dev", t.HOST_IFACE],
                ["route", "add", t.LAB_NET_V4, "via", t.ROUTER_SERVER_V4],
            ):
                _ip(["-n", b.ns, *args])
            lab.exec(b.ns, "sysctl", "-q", "-w", f"net.ipv4.ip_default_ttl={b.ttl}")
        lab.exec(t.ROUTER_NS, "ip", "address", "add", f"{VIP_V4}/32", "dev", "lo")
        _nft(lab, LB_NFT)
        with contextlib.ExitStack() as servers:
            for b in BACKENDS:
                if b.listens:
                    servers.enter_context(lab.extra_server(b.ns, f"http@{b.v4}:{LB_PORT}"))
            yield
    finally:
        _drop_table(lab, LB_TABLE)
        lab.exec(t.ROUTER_NS, "ip", "address", "del", f"{VIP_V4}/32", "dev", "lo")
        for b in made:
            _ip(["netns", "del", b.ns], check=False)


@contextlib.contextmanager
def random_loss(lab: Lab, port: int = t.HTTP_PORT, percent: int = LOSS_PERCENT) -> Iterator[None]:
    """``percent`` % of the SYNs to srv's ``port`` dropped at the router, at random."""
    _nft(
        lab,
        f"table ip {LOSS_TABLE} {{\n  chain forward {{\n"
        "    type filter hook forward priority filter - 1; policy accept;\n"
        f"    ip daddr {t.SRV_V4} tcp dport {port} numgen random mod 100 < {percent} drop\n"
        "  }\n}\n",
    )
    try:
        yield
    finally:
        _drop_table(lab, LOSS_TABLE)


@contextlib.contextmanager
def flapping(lab: Lab, windows: tuple[tuple[float, float], ...]) -> Iterator[None]:
    """Every packet to srv's FLAP_PORTS dropped during ``windows`` (seconds after entry,
    start and end): a bounded timer thread adds and removes the rule; the rule is gone on
    exit whatever happened."""
    ports = ", ".join(map(str, FLAP_PORTS))
    rule = (
        f"table ip {FLAP_TABLE} {{\n  chain forward {{\n"
        "    type filter hook forward priority filter - 1; policy accept;\n"
        f"    ip daddr {t.SRV_V4} tcp dport {{ {ports} }} drop\n  }}\n}}\n"
    )
    stop = threading.Event()
    start = time.monotonic()

    def timer() -> None:
        for begin, end in windows:  # bounded: one add and one delete per window
            if stop.wait(max(0.0, start + begin - time.monotonic())):
                return
            _nft(lab, rule)
            if stop.wait(max(0.0, start + end - time.monotonic())):
                return
            _drop_table(lab, FLAP_TABLE)

    thread = threading.Thread(target=timer, name="flap-timer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        _drop_table(lab, FLAP_TABLE)


# ------------------------------------------------------------------ bufferbloat (latency spikes)
# A slow link with a deep queue: tbf lets RATE through and holds up to QUEUE_BYTES behind it,
# dropping nothing. Real bufferbloat is this, a modem's or a router's oversized buffer on a
# link slower than what feeds it: a bulk transfer fills the buffer, and every packet that
# arrives meanwhile (a SYN) waits for the whole backlog to drain. Between bursts the queue is
# empty and the link is as fast as a veth.
SLOW_SHORT = "wslow"
SLOW_IFACE = "v-wslow"  # the router's end of the slow link
SLOW_LINK_ROUTER = "198.18.12.1"
SLOW_V4 = "198.18.12.2"
SLOW_LINK_PREFIX = 30
SLOW_PORT = 80
SLOW_RATE_KBIT = 1000
SLOW_QUEUE_BYTES = 100_000  # two bursts and more: the queue delays, it never drops
SLOW_TABLE = "probe_watch_sink"
BULK_PORT = 9  # the discard port: wslow's own firewall drops the bulk datagrams
BULK_PAYLOAD = 1372  # 1400-byte IP packets, 1414 bytes with the Ethernet header tbf counts
BULK_DATAGRAMS = 30  # 42,420 bytes a burst: 339 ms to drain at 1 Mbit/s
BULK_GAPS = (0.6, 1.2)  # seconds between bursts: drawn evenly from this range (0.9 s mean)
BULK_SEED = 15  # the gaps' random sequence, the same on every run
BULK_MAX_BURSTS = 60  # the sender stops after this many (72 s at most), or when stdin closes
BULK_DRAIN_MS = BULK_DATAGRAMS * (BULK_PAYLOAD + 42) * 8 / SLOW_RATE_KBIT  # 339 ms

# The bulk sender, run in near: BULK_DATAGRAMS datagrams back to back, then a pause drawn
# from BULK_GAPS, on its own monotonic clock (never on anything probe does), at most
# BULK_MAX_BURSTS times; it stops early when its stdin closes (the context's end, or a
# crashed test process). The gaps vary because a watch locks on to a fixed period: a round
# waits for its answer, so the round caught by a burst ends when the burst has drained, and
# with evenly spaced bursts every later burst would catch a round at the same phase (the
# same spike every time, or, on a slower machine, none at all). It prints the wall-clock time
# of each burst, so a test can count the bursts during its watch.
_BULK_SENDER = """\
import random, select, socket, sys, time
dst, port, size, count, low, high, seed, bursts = sys.argv[1], *map(float, sys.argv[2:])
gaps = random.Random(seed)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = bytes(int(size))
print("READY", flush=True)
due = time.monotonic()
for k in range(int(bursts)):
    wait = due - time.monotonic()
    if wait > 0 and select.select([sys.stdin], [], [], wait)[0]:
        break  # stdin readable: closed by the parent
    due += gaps.uniform(low, high)
    for _ in range(int(count)):
        s.sendto(payload, (dst, int(port)))
    print(f"burst {time.time():.6f}", flush=True)
"""


def qdisc_stats(lab: Lab) -> dict[str, int]:
    """The slow link's tbf counters: sent bytes and packets, drops, overlimits, backlog."""
    done = lab.exec(lab.router_ns, "tc", "-s", "-j", "qdisc", "show", "dev", SLOW_IFACE)
    if done.returncode != 0:
        raise LabError(f"tc -s qdisc show failed: {done.stderr.strip()}")
    (tbf,) = [q for q in json.loads(done.stdout) if q.get("kind") == "tbf"]
    return {k: int(tbf[k]) for k in ("bytes", "packets", "drops", "overlimits", "backlog")}


@contextlib.contextmanager
def slow_link(lab: Lab) -> Iterator[str]:
    """wslow (http :80) behind the router's slow link with its deep queue; yields its
    address. Everything (namespace, link, address, route, qdisc, server) goes on exit."""
    ns = t.ns_name(SLOW_SHORT)
    # the router's end of the link goes with the stub, and its qdisc, address and route with it
    with router_stub(ns, SLOW_IFACE, SLOW_LINK_ROUTER, SLOW_V4, SLOW_LINK_PREFIX):
        # tbf's burst is its token bucket (one full-size frame at line rate, no more), its
        # limit the queue in bytes: deep enough that a whole burst waits instead of dropping.
        tbf = ["tbf", "rate", f"{SLOW_RATE_KBIT}kbit", "burst", "1600"]
        done = lab.exec(
            lab.router_ns, "tc", "qdisc", "replace", "dev", SLOW_IFACE, "root", *tbf,
            "limit", str(SLOW_QUEUE_BYTES),
        )  # fmt: skip
        if done.returncode != 0:
            raise LabError(f"tc qdisc tbf on {SLOW_IFACE} failed: {done.stderr.strip()}")
        sink = (
            f"table inet {SLOW_TABLE} {{\n  chain input {{\n"
            "    type filter hook input priority filter; policy accept;\n"
            f"    udp dport {BULK_PORT} drop\n  }}\n}}\n"
        )
        done = lab.exec(ns, "nft", "-f", "-", input=sink, timeout=10)
        if done.returncode != 0:
            raise LabError(f"nft in {ns} failed: {done.stderr.strip()}")
        with lab.extra_server(ns, f"http@{SLOW_V4}:{SLOW_PORT}"):
            yield SLOW_V4


@contextlib.contextmanager
def bulk_bursts(lab: Lab) -> Iterator[list[float]]:
    """near sending bursts of bulk UDP to wslow's discard port through the slow link (see
    slow_link); yields a list that holds, on exit, the wall-clock time of every burst sent.
    The sender is stopped on exit, whatever happened."""
    import subprocess
    import sys

    args = (SLOW_V4, BULK_PORT, BULK_PAYLOAD, BULK_DATAGRAMS, *BULK_GAPS, BULK_SEED)
    sender = subprocess.Popen(
        ["ip", "netns", "exec", t.NEAR.ns, sys.executable, "-c", _BULK_SENDER,
         *map(str, (*args, BULK_MAX_BURSTS))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    sent: list[float] = []
    try:
        assert sender.stdout is not None
        if sender.stdout.readline().strip() != "READY":
            err = sender.stderr.read() if sender.stderr else ""
            raise LabError(f"bulk sender failed: {err.strip()[-2000:]}")
        yield sent
    finally:
        if sender.stdin is not None:
            sender.stdin.close()  # the sender's cue to stop
        try:
            sender.wait(5)
        except subprocess.TimeoutExpired:
            sender.kill()
            sender.wait(5)
        out = sender.stdout.read() if sender.stdout is not None else ""  # a few KB at most
        sent += [float(x.split()[1]) for x in out.splitlines() if x.startswith("burst ")]
        for stream in (sender.stdout, sender.stderr):
            if stream is not None:
                stream.close()


def watch_json(lab: Lab, *args: str, timeout: float = 60.0) -> tuple[int, list[dict[str, Any]]]:
    """``probe watch --json ARGS`` in the client: (exit code, every JSON line parsed)."""
    proc = lab.run_probe("watch", "--json", *args, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        objects = [json.loads(line) for line in lines]
    except json.JSONDecodeError as exc:
        raise AssertionError(
            f"probe watch --json {' '.join(args)} exited {proc.returncode} with a line that is "
            f"not JSON ({exc}).\nstdout: {proc.stdout[:2000]!r}\nstderr: {proc.stderr[-2000:]}"
        ) from exc
    if not objects or objects[-1].get("type") != "summary":
        raise AssertionError(
            f"no summary line; exit {proc.returncode}\nstderr: {proc.stderr[-2000:]}"
        )
    return proc.returncode, objects
