"""Every per-target step grows linearly with targets x ports: the figures that would show a
quadratic one.

Part 1, the pure steps, on recorded-looking targets built from plain data (no network):
classification of every (address, port) evidence, diagnosis of every target, the family
comparison (names with an IPv4 and an IPv6 address), and the JSON and text output of the
report — for 16,384 and 65,536 targets x 5 ports. Each step's time ratio between the two
sizes is printed: ~4 is linear, ~16 would be quadratic. A ratio above 8 fails the benchmark.

Part 2, the route step, for 4,096 addresses inside a network namespace of its own (root
only; 198.18.0.0/15 addresses, nothing is sent — a route lookup sends no packet): the old
path (one ``ip route get`` subprocess per address) against the in-process netlink lookup
with its route cache, with how many times the kernel was asked. Their answers must agree.

    sudo .venv/bin/python benchmarks/steps_scale.py [--sizes 16384,65536] [--no-route]

Any failed run (an exception, a child that fails, answers that disagree) ends the benchmark
with a non-zero status before figures are printed as if it had worked.
"""

from __future__ import annotations

import argparse
import gc
import io
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import fail  # noqa: E402
from probe.model import (  # noqa: E402
    AnswerKind,
    DnsResult,
    DnsStatus,
    Method,
    PingResult,
    PingStatus,
    PortEvidence,
    PortResult,
    Report,
    RouteResult,
    RouteStatus,
    TargetReport,
    TcpOptions,
)

_T = TypeVar("_T")
PORTS = (22, 80, 443, 6036, 8080)
RATIO_LIMIT = 8.0  # 4 is linear in the targets; 16 would be quadratic
ROUTE_ADDRESSES = 4096


def _evidence(address: str, i: int) -> list[PortEvidence]:
    """Five ports with a mix of what real scans see: open, refused by the host, refused by
    a middlebox (other TTL), filtered, rejected by a firewall."""
    v6 = ":" in address
    kinds = (
        PortEvidence(address, 22, Method.RAW, AnswerKind.SYN_ACK, 1, address, 60, 1.2,
                     window=64240, tcp_options=TcpOptions(1460, 7, True, True)),
        # IPv6 answers on 80, IPv4 refuses: a family-mismatch for the names with both
        PortEvidence(address, 80, Method.RAW, AnswerKind.SYN_ACK if v6 else AnswerKind.RST,
                     1, address, 60, 1.1),
        PortEvidence(address, 443, Method.RAW, AnswerKind.RST, 1, address, 61 + i % 2, 0.9),
        PortEvidence(address, 6036, Method.RAW, AnswerKind.NONE, 3),
        PortEvidence(address, 8080, Method.RAW, AnswerKind.ICMP, 1, "198.18.0.1", 63, 0.5,
                     icmp_type=1 if v6 else 3, icmp_code=1 if v6 else 13, icmp_v6=v6),
    )  # fmt: skip
    return list(kinds)


def _targets(n: int) -> tuple[list[tuple[str, str, DnsResult]], list[PortEvidence]]:
    """``n`` (input, address, dns): pairs of one name's IPv4 and IPv6 address (the family
    comparison's work) and address literals, and every address's evidence."""
    works: list[tuple[str, str, DnsResult]] = []
    evidence: list[PortEvidence] = []
    base4 = int(ipaddress.ip_address("198.18.0.0"))  # the lab ranges, even for plain data
    base6 = int(ipaddress.ip_address("2001:2::"))
    for i in range(n):
        if i % 4 < 2:  # a name with both families
            name = f"host{i // 4}.example"
            v4 = str(ipaddress.ip_address(base4 + i))
            v6 = str(ipaddress.ip_address(base6 + i))
            address = v4 if i % 4 == 0 else v6
            dns = DnsResult(DnsStatus.OK, addresses=(v4, v6), nameservers=("198.18.0.53",))
            works.append((name, address, dns))
        else:
            address = str(ipaddress.ip_address(base4 + i))
            works.append((address, address, DnsResult(DnsStatus.LITERAL, addresses=(address,))))
        evidence += _evidence(address, i)
    return works, evidence


def _timed(fn: Callable[[], _T]) -> tuple[float, _T]:
    # What the earlier steps built is frozen out of the cyclic GC's reach first: its full
    # collections walk every live object, so with 65,536 targets' records alive they grow
    # with the heap (family comparison: x7.9 for x4 targets with them, x4.2 without) and
    # would hide what the step's own algorithm does. A real run pays them too, unfrozen.
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    try:
        got = fn()
    except Exception as exc:  # a failed run is no measurement
        fail(f"{getattr(fn, '__name__', fn)}: {type(exc).__name__}: {exc}")
    return time.perf_counter() - start, got


def pure_steps(n: int) -> dict[str, float]:
    """Seconds per pure step for ``n`` targets x 5 ports."""
    from probe.diagnosis import classify, middlebox, registry
    from probe.output.registry import render

    works, evidence = _targets(n)
    route = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")
    ping = PingResult(PingStatus.OK, 3, 3, 1.0, 1.1, 1.3, ttl=60)

    def classified() -> dict[str, tuple[PortResult, ...]]:
        return {
            a: tuple(classify.classify(e) for e in mine)
            for a, mine in middlebox.by_address(evidence).items()
        }

    t_classify, ports = _timed(classified)

    def diagnosed() -> list[TargetReport]:
        out = []
        for name, address, dns in works:
            t = TargetReport(name, address, dns, route, ping, ports=ports[address])
            out.append(TargetReport(name, address, dns, route, ping, ports=ports[address],
                                    findings=registry.diagnose(t, timeout=1.0)))  # fmt: skip
        return out

    t_diagnose, reports = _timed(diagnosed)
    t_family, final = _timed(lambda: registry.attach_family_findings(reports))
    report = Report(targets=tuple(final))
    if not any(f.code == "family-mismatch" for t in final for f in t.findings):
        fail("the family comparison found no family-mismatch: the data did not exercise it")

    def output(fmt: str) -> Callable[[], int]:
        def run() -> int:
            out = io.StringIO()
            render(report, fmt, out, color=False)  # type: ignore[arg-type]
            return len(out.getvalue())

        run.__name__ = f"{fmt} output"
        return run

    t_json, size_json = _timed(output("json"))
    t_text, size_text = _timed(output("text"))
    if size_json < n * 100 or size_text == 0:
        fail(f"output too small for {n} targets: json {size_json}, text {size_text} chars")
    return {
        "classify": t_classify,
        "diagnose": t_diagnose,
        "family comparison": t_family,
        "json output": t_json,
        "text output": t_text,
    }


# --------------------------------------------------------------------------- route step

_NS_SETUP = (
    "link add {ns}-a type veth peer name {ns}-b",
    "link set lo up",
    "link set {ns}-a up",
    "link set {ns}-b up",
    "addr add 198.18.240.1/24 dev {ns}-a",
    "route add 198.18.64.0/20 via 198.18.240.2",
    "route add 198.18.66.0/24 via 198.18.240.3",  # more specific, inside the /20
    "route add unreachable 198.18.67.0/26",
    "route add default via 198.18.240.254",
    "-6 addr add 2001:2:0:240::1/64 dev {ns}-a nodad",
    "-6 route add 2001:2:0:96::/60 via 2001:2:0:240::2",
    "-6 route add 2001:2:0:96::100/120 via 2001:2:0:240::3",  # more specific, inside
)
_ROUTE_BLOCKS = (
    ("198.18.64.0/20", "one /20: a gateway route, a /24 inside it, an unreachable /26"),
    ("2001:2:0:96::/116", "IPv6: a /60 gateway route, a /120 inside it; source per address"),
)


def route_step() -> str:
    """Old vs new route lookups for 4,096 addresses, inside a namespace made for it."""
    if os.geteuid() != 0:
        fail("the route part needs root (a network namespace of its own); or pass --no-route")
    ns = f"probe-bench-{os.getpid()}"
    _ip("netns", "add", ns)
    try:
        for line in _NS_SETUP:
            _ip("-n", ns, *line.format(ns=ns[-10:]).split())
        child = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, "--route-child"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        _ip("netns", "delete", ns)
    if child.returncode != 0:
        fail(f"the route lookups failed: {(child.stderr or child.stdout).strip()[-500:]}")
    return child.stdout


def route_child() -> None:
    """Inside the namespace: both paths over the same addresses, answers compared."""
    from probe.steps import route

    for block, words in _ROUTE_BLOCKS:
        addresses = [str(a) for a in ipaddress.ip_network(block)][:ROUTE_ADDRESSES]
        t_old, old = _timed(partial(_each, route.lookup_by_ip, addresses))
        t_new, new = _timed(partial(_each, route.lookup, addresses))
        cache = route._shared[0] if route._shared else None
        if cache is None:
            fail("netlink could not be opened in the namespace: the new path did not run")
        asked, cache.asked = cache.asked, 0
        t_again, _ = _timed(partial(_each, route.lookup, addresses))
        cache.asked = 0
        wrong = [(a, o, n) for a, o, n in zip(addresses, old, new, strict=True) if o != n]
        if wrong:
            fail(f"{len(wrong)} answers differ from `ip route get`, first: {wrong[0]}")
        per = 1e6 / len(addresses)
        print(f"route, {len(addresses)} addresses ({words})")
        print(f"  ip route get per address   {t_old:8.3f} s  {t_old * per:8.1f} µs/address")
        print(f"  netlink + route cache      {t_new:8.3f} s  {t_new * per:8.1f} µs/address  "
              f"(kernel asked {asked} times; speed-up {t_old / t_new:.0f}x)")  # fmt: skip
        print(f"  again, cache warm          {t_again:8.3f} s  {t_again * per:8.1f} µs/address")


def _each(fn: Callable[[str], _T], items: Sequence[str]) -> list[_T]:
    return [fn(x) for x in items]


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        fail(f"ip {' '.join(args)}: {done.stderr.strip()}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16384,65536", help="two target counts, small first")
    parser.add_argument("--no-route", action="store_true", help="skip the route part")
    parser.add_argument("--route-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.route_child:
        route_child()
        return 0
    small, large = (int(s) for s in args.sizes.split(","))
    figures = {n: pure_steps(n) for n in (small, large)}
    print(
        f"pure steps, targets x {len(PORTS)} ports (seconds; ratio ~{large / small:.0f} is linear)"
    )
    print(f"  {'step':<20}{small:>10}{large:>10}   ratio")
    slow = []
    for step in figures[small]:
        a, b = figures[small][step], figures[large][step]
        ratio = b / a if a > 0 else float("inf")
        print(f"  {step:<20}{a:>10.3f}{b:>10.3f}   {ratio:5.1f}")
        if ratio > RATIO_LIMIT * large / small / 4:
            slow.append(step)
    if not args.no_route:
        print(route_step(), end="")
    if slow:
        fail(f"grows faster than linear: {', '.join(slow)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
