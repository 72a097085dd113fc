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


def _ip(args: list[str], *, check: bool = True) -> None:
    import subprocess

    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if check and done.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


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
