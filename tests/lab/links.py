"""Pieces the lab's extra parts build on top of the running lab: ``ip`` as a checked call, and
``router_stub`` — a namespace of its own on a /30 link from the router (the farm, the watch's
slow link). Everything is removed on exit, also after a failure half-way."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

from . import topology as t
from .netlab import LabError


def ip(args: list[str], *, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    if check and done.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


@contextlib.contextmanager
def router_stub(ns: str, iface: str, router: str, address: str, prefix: int) -> Iterator[None]:
    """Namespace ``ns`` whose eth0 (``address``/``prefix``) is the far end of the router's
    ``iface`` (``router``/``prefix``), with a route to the lab through it. On exit the router's
    end of the link goes first (its addresses, routes and qdisc with it), then the namespace."""
    made = False
    try:
        ip(["netns", "add", ns])
        made = True
        veth = ["type", "veth", "peer", "name", t.HOST_IFACE, "netns", ns]
        ip(["-n", t.ROUTER_NS, "link", "add", iface, *veth])
        ip(["-n", t.ROUTER_NS, "address", "add", f"{router}/{prefix}", "dev", iface])
        ip(["-n", t.ROUTER_NS, "link", "set", iface, "up"])
        for args in (
            ["link", "set", "lo", "up"],
            ["link", "set", t.HOST_IFACE, "up"],
            ["address", "add", f"{address}/{prefix}", "dev", t.HOST_IFACE],
            ["route", "add", t.LAB_NET_V4, "via", router],
        ):
            ip(["-n", ns, *args])
        yield
    finally:
        ip(["-n", t.ROUTER_NS, "link", "del", iface], check=False)
        if made:
            ip(["netns", "del", ns], check=False)
