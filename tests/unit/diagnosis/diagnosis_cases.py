"""Scenarios for the diagnosis tests, as plain data: the target's ports as ``mk.port()``
arguments plus ping/route/arp overrides, the mode, and the finding codes (in order) with the
ports each one names; ``build`` turns a scenario into a TargetReport.
"""

from __future__ import annotations

from typing import Any

from probe.model import Finding, Method, TargetReport
from probe.payloads import request_for

# UDP ports: the request the table sends is part of what the rules read.
U: dict[str, Any] = {"protocol": "udp"}


def udp(port: int, state: str, **kw: Any) -> dict[str, Any]:
    known = request_for(port)
    return {"port": port, "state": state, **U, "request": known and known.request, **kw}


ROUTER = "198.18.0.1"
V6 = "2001:db8::7"

# id -> (target spec for mk.target, mode, {code: ports} in finding order)
Spec = dict[str, Any]
SCENARIOS: dict[str, tuple[Spec, Method, dict[str, tuple[int, ...]]]] = {
    "all open, ping ok": (
        {"ports": [(80, "open"), (443, "open")]},
        Method.RAW,
        {},
    ),
    "all open, ping filtered": (
        {"ports": [(80, "open")], "ping": ("no_reply",)},
        Method.RAW,
        {"icmp-blocked": ()},
    ),
    "all open, ping skipped": (
        {"ports": [(80, "open")], "ping": ("skipped",)},
        Method.RAW,
        {},
    ),
    "udp: NTP answers, 9002 closed, 9003 dropped": (
        {
            "ports": [
                (80, "open"),
                udp(123, "open"),
                udp(9002, "refused"),
                udp(9003, "open|filtered"),
            ]
        },
        Method.RAW,
        {
            "port-refused": (9002,),
            "udp-no-answer": (9003,),
            "partial-reachability": (9002, 9003),
        },
    ),
    "udp: the router rejects 9004 with admin prohibited": (
        {"ports": [udp(123, "open"), udp(9004, "rejected", responder=ROUTER)]},
        Method.RAW,
        {"port-rejected": (9004,), "partial-reachability": (9004,)},
    ),
    "udp: NTP silent, a server that always answers": (
        {"ports": [(22, "open"), udp(123, "open|filtered")]},
        Method.RAW,
        {"udp-no-answer": (123,), "partial-reachability": (123,)},
    ),
    "udp: syslog silent, as it always is": (
        {"ports": [udp(514, "open|filtered")], "ping": ("ok", 63)},
        Method.RAW,
        {"udp-no-answer": (514,)},
    ),
    "udp: a burst of port unreachables, then silence": (
        {
            "ports": [
                (80, "open"),
                udp(1, "refused"),
                udp(2, "refused"),
                *[udp(p, "open|filtered") for p in range(3, 9)],
            ]
        },
        Method.RAW,
        {
            "port-refused": (1, 2),
            "udp-no-answer": (3, 4, 5, 6, 7, 8),
            "icmp-rate-limited": (3, 4, 5, 6, 7, 8),
            "partial-reachability": (1, 2, 3, 4, 5, 6, 7, 8),
        },
    ),
    "udp: 53 refused on both transports": (
        {"ports": [(80, "open"), (53, "refused"), udp(53, "refused")]},
        Method.RAW,
        {"port-refused": (53, 53), "partial-reachability": (53, 53)},
    ),
    "udp: 443/tcp open, 443/udp silent (QUIC)": (
        {"ports": [(443, "open"), udp(443, "open|filtered")]},
        Method.RAW,
        {"udp-no-answer": (443,), "partial-reachability": (443,)},
    ),
    "udp: nothing answers, ping neither": (
        {"ports": [udp(123, "open|filtered"), (80, "filtered")], "ping": ("no_reply",)},
        Method.RAW,
        {"host-silent": (80, 123)},
    ),
    "udp: a router says host unreachable": (
        {"ports": [udp(123, "unreachable")], "ping": ("no_reply",)},
        Method.RAW,
        {"host-unreachable": (123,)},
    ),
    "udp connect: refused": (
        {
            "ports": [
                {
                    "port": 9002,
                    "state": "refused",
                    **U,
                    "reason": "conn-refused",
                    "responder": None,
                },
                udp(9003, "open|filtered"),
            ],
            "ping": ("skipped",),
        },
        Method.CONNECT,
        {"port-refused": (9002,), "udp-no-answer": (9003,)},
    ),
    "camera: NAT forwards 80, router resets 6036": (
        {"ports": [(80, "open", 63), (6036, "refused", 64)], "ping": ("ok", 64)},
        Method.RAW,
        {"port-refused-by-middlebox": (6036,), "partial-reachability": (6036,)},
    ),
    "RST with the same TTL as the SYN/ACK": (
        {"ports": [(80, "open", 63), (22, "refused", 63)]},
        Method.RAW,
        {"port-refused": (22,), "partial-reachability": (22,)},
    ),
    "RST from another address, same TTL": (
        {
            "ports": [
                (80, "open", 63),
                {"port": 22, "state": "refused", "ttl": 63, "responder": ROUTER},
            ]
        },
        Method.RAW,
        {"port-refused-by-middlebox": (22,), "partial-reachability": (22,)},
    ),
    "RST from another address, no reference at all": (
        {
            "ports": [{"port": 22, "state": "refused", "ttl": 64, "responder": ROUTER}],
            "ping": ("no_reply",),
        },
        Method.RAW,
        {"port-refused-by-middlebox": (22,)},
    ),
    "RST closer than the echo reply, no SYN/ACK": (
        {"ports": [(6036, "refused", 64)], "ping": ("ok", 63)},
        Method.RAW,
        {"port-refused-by-middlebox": (6036,)},
    ),
    "RST as far as the echo reply": (
        {"ports": [(22, "refused", 63)], "ping": ("ok", 63)},
        Method.RAW,
        {"port-refused": (22,)},
    ),
    "RST, nothing to compare with": (
        {"ports": [(22, "refused", 64)], "ping": ("no_reply",)},
        Method.RAW,
        {"icmp-blocked": (), "port-refused": (22,)},
    ),
    "RST farther than the SYN/ACK": (
        {"ports": [(80, "open", 63), (22, "refused", 62)]},
        Method.RAW,
        {"port-refused": (22,), "partial-reachability": (22,)},
    ),
    "RST vs Windows host at the same distance": (
        {"ports": [(3389, "open", 127), (445, "refused", 127)], "ping": ("ok", 127)},
        Method.RAW,
        {"port-refused": (445,), "partial-reachability": (445,)},
    ),
    "NAT router answers ping itself, forwarded port farther": (
        {
            "ports": [(80, "open", 62), (6036, "refused", 64), (22, "refused", 62)],
            "ping": ("ok", 64),
        },
        Method.RAW,
        {
            "port-refused-by-middlebox": (6036,),
            "port-refused": (22,),
            "partial-reachability": (22, 6036),
        },
    ),
    "connect mode: refused is plain port-refused": (
        {
            "ports": [
                {"port": 80, "ttl": None, "responder": None},
                {
                    "port": 6036,
                    "state": "refused",
                    "ttl": None,
                    "responder": None,
                    "reason": "conn-refused",
                },
            ],
            "ping": ("ok", 64),
        },
        Method.CONNECT,
        {"port-refused": (6036,), "partial-reachability": (6036,)},
    ),
    "filtered ports are grouped": (
        {"ports": [(80, "open"), (82, "filtered"), (8443, "filtered")]},
        Method.RAW,
        {"port-filtered": (82, 8443), "partial-reachability": (82, 8443)},
    ),
    "all filtered, ping answers": (
        {"ports": [(80, "filtered"), (443, "filtered")]},
        Method.RAW,
        {"port-filtered": (80, 443)},
    ),
    "all filtered, no ping reply: host silent": (
        {"ports": [(80, "filtered"), (443, "filtered")], "ping": ("no_reply",)},
        Method.RAW,
        {"host-silent": (80, 443)},
    ),
    "all filtered, ping skipped: host silent": (
        {"ports": [(80, "filtered")], "ping": ("skipped",)},
        Method.RAW,
        {"host-silent": (80,)},
    ),
    "rejected by a firewall": (
        {"ports": [(80, "open"), {"port": 8443, "state": "rejected", "ttl": 254}]},
        Method.RAW,
        {"port-rejected": (8443,), "partial-reachability": (8443,)},
    ),
    "rejected by the host's own firewall": (
        {
            "ports": [
                {
                    "port": 8443,
                    "state": "rejected",
                    "reason": "port-unreach",
                    "responder": "198.18.2.1",
                }
            ],
            "ping": ("no_reply",),
        },
        Method.RAW,
        {"icmp-blocked": (), "port-rejected": (8443,)},
    ),
    "rejected locally (connect, EPERM)": (
        {
            "ports": [
                {
                    "port": 25,
                    "state": "rejected",
                    "reason": "local-reject",
                    "ttl": None,
                    "responder": None,
                }
            ]
        },
        Method.CONNECT,
        {"port-rejected": (25,)},
    ),
    "all ports and ping unreachable": (
        {
            "ports": [(80, "unreachable", 254), (443, "unreachable", 254)],
            "ping": ("unreachable", None, {"responder": ROUTER}),
        },
        Method.RAW,
        {"host-unreachable": (80, 443)},
    ),
    "unreachable, ICMP rate-limited on one port": (
        {"ports": [(80, "unreachable", 254), (443, "filtered")], "ping": ("no_reply",)},
        Method.RAW,
        {"host-unreachable": (80, 443)},
    ),
    "ping unreachable, ports silent": (
        {"ports": [(80, "filtered")], "ping": ("unreachable", None, {"responder": ROUTER})},
        Method.RAW,
        {"host-unreachable": (80,)},
    ),
    "one port unreachable while another is open": (
        {"ports": [(80, "open"), (22, "unreachable", 254)]},
        Method.RAW,
        {"host-unreachable": (22,), "partial-reachability": (22,)},
    ),
    "ping unreachable but ports answer": (
        {"ports": [(80, "open")], "ping": ("unreachable", None, {"responder": ROUTER})},
        Method.RAW,
        {"icmp-blocked": ()},
    ),
    "connect mode: EHOSTUNREACH": (
        {
            "ports": [{"port": 80, "state": "unreachable", "ttl": None, "responder": None}],
            "ping": ("skipped",),
        },
        Method.CONNECT,
        {"host-unreachable": (80,)},
    ),
    "application silent": (
        {"ports": [{"port": 80, "app": "silent"}, {"port": 443, "app": "answered"}]},
        Method.RAW,
        {"app-silent": (80,)},
    ),
    "duplicate IP": (
        {
            "ports": [(80, "open")],
            "route": {"gateway": None},
            "arp": ("00:11:22:33:44:55", "66:77:88:99:aa:bb"),
        },
        Method.RAW,
        {"duplicate-ip": ()},
    ),
    "one MAC is no duplicate": (
        {"ports": [(80, "open")], "route": {"gateway": None}, "arp": ("00:11:22:33:44:55",)},
        Method.RAW,
        {},
    ),
    "on-link, no ARP answer": (
        {
            "ports": [(80, "filtered"), (22, "filtered")],
            "route": {"gateway": None},
            "arp": (),
            "ping": ("no_reply",),
        },
        Method.RAW,
        {"host-down-on-link": (22, 80)},
    ),
    "on-link, no ARP answer, connect mode EHOSTUNREACH": (
        {
            "ports": [{"port": 80, "state": "unreachable", "ttl": None, "responder": None}],
            "route": {"gateway": None},
            "arp": (),
            "ping": ("no_reply",),
        },
        Method.CONNECT,
        {"host-down-on-link": (80,)},
    ),
    "on-link, ARP answered, nothing else": (
        {
            "ports": [(80, "filtered")],
            "route": {"gateway": None},
            "arp": ("00:11:22:33:44:55",),
            "ping": ("no_reply",),
        },
        Method.RAW,
        {"host-silent": (80,)},
    ),
    "on-link, ARP not recorded": (
        {"ports": [(80, "filtered")], "route": {"gateway": None}, "ping": ("no_reply",)},
        Method.RAW,
        {"host-silent": (80,)},
    ),
    "off-link, empty ARP": (
        {"ports": [(80, "filtered")], "arp": (), "ping": ("no_reply",)},
        Method.RAW,
        {"host-silent": (80,)},
    ),
    "on-link, empty ARP but a port answers": (
        {
            "ports": [(80, "open", 64), (82, "filtered")],
            "route": {"gateway": None},
            "arp": (),
            "ping": ("no_reply",),
        },
        Method.RAW,
        {"icmp-blocked": (), "port-filtered": (82,), "partial-reachability": (82,)},
    ),
    "everything at once, in rule order": (
        {
            "ports": [
                (80, "open", 63, {"app": "silent"}),
                (6036, "refused", 64),
                (22, "refused", 63),
                {"port": 8443, "state": "rejected"},
                (82, "filtered"),
            ],
            "ping": ("no_reply",),
        },
        Method.RAW,
        {
            "icmp-blocked": (),
            "port-refused-by-middlebox": (6036,),
            "port-refused": (22,),
            "port-rejected": (8443,),
            "port-filtered": (82,),
            "partial-reachability": (22, 82, 6036, 8443),
            "app-silent": (80,),
        },
    ),
}


def build(mk: Any, spec: Spec) -> TargetReport:
    ports = []
    for p in spec.get("ports", ()):
        if isinstance(p, tuple) and p and isinstance(p[-1], dict):
            p = {**dict(zip(("port", "state", "ttl"), p[:-1], strict=False)), **p[-1]}
        ports.append(p)
    kw: dict[str, Any] = {}
    if "ping" in spec:
        status, *rest = spec["ping"]
        ttl = rest[0] if rest else 63
        extra = rest[1] if len(rest) > 1 else {}
        kw["ping"] = mk.ping(status, ttl, **extra)
    if "route" in spec:
        kw["route"] = mk.route(**spec["route"])
    if "arp" in spec:
        kw["arp"] = mk.arp(*spec["arp"])
    return mk.target(*ports, **kw)


def by_code(findings: tuple[Finding, ...]) -> dict[str, Finding]:
    return {f.code: f for f in findings}


def text(f: Finding) -> str:
    return "\n".join((f.summary, *f.evidence, *f.next_steps))
