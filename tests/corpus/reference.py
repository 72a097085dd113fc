"""The corpus test's reference: what each server port saw, read from tshark's dissection.

One ``tshark -T fields`` pass per capture gives every TCP segment, UDP datagram and ICMP error
(with the IP and transport headers it quotes, as tshark decodes them). From those fields alone,
without probe's reader or tracker, each TCP connection attempt (a client's SYN, keyed by its
4-tuple and ISN) gets what the capture shows of it:

- ``open``: the server's SYN/ACK acknowledging the ISN, or an ACK from the client past its
  ISN (it had a SYN/ACK, captured or not; a TCP Fast Open SYN's data moves it further)
- ``refused``: a RST from the server, and no SYN/ACK
- ``icmp``: an ICMP destination unreachable quoting the SYN (or time exceeded, for a SYN sent
  with a TTL of 32 or more), and nothing else
- ``silent``: nothing (also when the client resets its own SYN: it gave up)

and each UDP flow (the datagrams between two endpoints; the server side is chosen by probe's
own naming rule, ``services.rank``: a naming policy, not an observation) is ``answered``,
``icmp`` or ``silent``. The per-port sets of these words are what the test compares with
``probe analyze``'s outcomes (``probe_view``).

The reference applies probe's documented policies on what is left out, since they are choices
and not readings: a lone SYN or datagram in the capture's last second, a low-TTL probe answered
by time exceeded (a traceroute), datagrams to multicast and broadcast addresses, ICMP
"fragmentation needed". Anything else it disagrees on is a named exception in the manifest.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from probe.capture.analyze import Analysis
from probe.capture.analyze.services import rank
from probe.model import Protocol

FIELDS = (
    "frame.time_epoch",
    "frame.protocols",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "udp.srcport",
    "udp.dstport",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
)
SYN, RST, ACK = 0x02, 0x04, 0x10
TOO_LATE = 1.0  # probe's documented "lone SYN in the last second" rule
TRACE_TTL = 32
UDP_EXPIRE = 70.0
TFTP = 69
TUNNELS = frozenset({"vxlan", "gtp", "geneve"})
TRACEROUTE = range(33434, 33535)

# What probe's outcome codes say was seen, in the reference's words.
TCP_WORDS = {
    "ok": "open",
    "handshake-incomplete": "open",
    "rst-injected": "open",
    "syn-refused": "refused",
    "syn-rejected": "icmp",
    "syn-unanswered": "silent",
}
UDP_WORDS = {
    "udp-ok": "answered",
    "udp-refused": "icmp",
    "udp-rejected": "icmp",
    "udp-unreachable": "icmp",
    "udp-unanswered": "silent",
    "udp-one-way": "silent",
}

Port = tuple[str, str, int]  # protocol ("tcp" / "udp"), server address, port
View = dict[Port, frozenset[str]]


def tshark_rows(path: Path, timeout: float = 60.0) -> list[list[str]]:
    """One fields pass: a row of ``FIELDS`` per frame (multiple occurrences comma-joined)."""
    # 8472 is the Linux kernel's old VXLAN port: probe opens it, tshark only when told to.
    # Fragments: probe reads the first one's transport header; so does tshark, not reassembling.
    args = ["tshark", "-n", "-r", str(path), "-d", "udp.port==8472,vxlan"]
    args += ["-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"]
    args += ["-T", "fields", "-E", "separator=\t"]
    for f in FIELDS:
        args += ["-e", f]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    return [line.split("\t") for line in done.stdout.splitlines()]


@dataclass
class _Attempt:
    first: float
    ttl: int
    syns: int = 0
    ended: bool = False  # the client reset its own SYN: it gave up, not the capture's end
    synack: bool = False
    rst: bool = False
    unreachable: bool = False
    exceeded: bool = False

    def word(self) -> str | None:
        if self.synack:
            return "open"
        if self.rst:
            return "refused"
        if self.unreachable or (self.exceeded and self.ttl >= TRACE_TTL):
            return "icmp"
        if self.exceeded:
            return None  # a traceroute probe
        return "silent"


@dataclass
class _Flow:
    first: float
    last: float
    ttl: int  # the first request's
    requests: int = 0
    replies: int = 0
    icmp: bool = False


@dataclass
class _Reference:
    attempts: dict[tuple[str, int, str, int, int], _Attempt] = field(default_factory=dict)
    latest: dict[tuple[str, int, str, int], int] = field(default_factory=dict)  # 4-tuple -> ISN
    quoted: set[Port] = field(default_factory=set)  # ICMP quoting a SYN the capture lacks
    flows: list[tuple[Port, _Flow]] = field(default_factory=list)
    open_flows: dict[tuple[str, int, str, int], _Flow] = field(default_factory=dict)
    tftp: dict[tuple[str, int, str], _Flow] = field(default_factory=dict)  # client, port, server
    end: float = 0.0


def _int(s: str) -> int:
    return int(s, 0) if s else -1


class _Frame:
    """One frame's fields, split by occurrence, and the layers of frame.protocols with the
    occurrence index of each (a tunnel or an ICMP quote repeats ip, ipv6, tcp, udp)."""

    def __init__(self, row: dict[str, str]) -> None:
        self.fields = {k: v.split(",") if v else [] for k, v in row.items()}
        self.layers: list[tuple[str, int]] = []
        seen: dict[str, int] = {}
        for name in row["frame.protocols"].split(":"):
            self.layers.append((name, seen.get(name, 0)))
            seen[name] = seen.get(name, 0) + 1

    def get(self, name: str, i: int) -> str:
        values = self.fields[name]
        return values[i] if i < len(values) else ""

    def ip(self, before: int) -> tuple[str, str, int] | None:
        """(src, dst, TTL or hop limit) of the last IP header before layer ``before``."""
        for name, i in reversed(self.layers[:before]):
            if name in ("ip", "ipv6"):
                pre, hops = ("ip", "ip.ttl") if name == "ip" else ("ipv6", "ipv6.hlim")
                src, dst = self.get(f"{pre}.src", i), self.get(f"{pre}.dst", i)
                ttl = self.get(hops, i)
                return (src, dst, int(ttl) if ttl.isdigit() else 0) if src and dst else None
        return None


def _group(address: str) -> bool:
    a = ipaddress.ip_address(address)
    return a.is_multicast or (a.version == 4 and a.packed[3] == 255)  # as probe: a .255 address


def reference(rows: Iterable[list[str]]) -> View:
    """The per-port words the capture shows (see the module's docstring)."""
    ref = _Reference()
    for values in rows:
        row = dict(zip(FIELDS, values + [""] * (len(FIELDS) - len(values)), strict=False))
        ts = float(row["frame.time_epoch"] or 0)
        ref.end = max(ref.end, ts)
        f = _Frame(row)
        t = _transport(f)
        if t < 0:
            continue
        ip = f.ip(t)
        if ip is None:
            continue
        kind = _icmp(f, t)
        if kind is not None:
            _quote(ref, kind, ip, f, t, ts)
        elif not any(name.startswith("icmp") for name, _ in f.layers[:t]):
            if f.layers[t][0] == "tcp":
                _segment(ref, ip, f, f.layers[t][1], ts)
            else:
                _datagram(ref, ip, f, f.layers[t][1], ts)
    return _view(ref)


def _transport(f: _Frame) -> int:
    """The layer of the TCP or UDP header the frame is about: the first one, or the one
    inside a tunnel probe opens (VXLAN, GTP-U, Geneve; GRE has no transport of its own).
    tshark also dissects packets carried in application payloads (OpenFlow's PACKET_IN, L2TP,
    Teredo): those are payload, as for probe. -1 for none (a tunnel carrying ICMP echo)."""
    n = 0
    while n < len(f.layers):
        name = f.layers[n][0]
        if name in ("tcp", "udp"):
            after = f.layers[n + 1][0] if n + 1 < len(f.layers) else ""
            inner = {"ip", "ipv6", "eth"} & {layer for layer, _ in f.layers[n + 2 :]}
            if name == "udp" and after in TUNNELS and inner:
                n += 1
                continue
            return n
        n += 1
    return -1


def _icmp(f: _Frame, t: int) -> tuple[int, bool] | None:
    """(kind, v6) for an ICMP error quoting the transport header at layer ``t``: kind 3
    unreachable, 11 time exceeded."""
    for name, i in reversed(f.layers[:t]):
        if name == "icmp":
            kind, code = _int(f.get("icmp.type", i)), _int(f.get("icmp.code", i))
            if kind == 3 and code == 4:
                return None  # fragmentation needed: the path's MTU, not an answer
            return (kind, False) if kind in (3, 11) else None
        if name == "icmpv6":
            return {1: (3, True), 3: (11, True)}.get(_int(f.get("icmpv6.type", i)))
    return None


def _quote(
    ref: _Reference, icmp: tuple[int, bool], ip: tuple[str, str, int], f: _Frame, t: int, ts: float
) -> None:
    client, server, _ = ip
    name, i = f.layers[t]
    cport, sport = _int(f.get(f"{name}.srcport", i)), _int(f.get(f"{name}.dstport", i))
    if name == "tcp":
        isn = _int(f.get("tcp.seq_raw", i))
        a = ref.attempts.get((client, cport, server, sport, isn))
        if a is None:
            flags = _int(f.get("tcp.flags", i))
            if icmp[0] == 3 and (flags < 0 or flags & (SYN | ACK) == SYN):
                ref.quoted.add(("tcp", server, sport))
        elif icmp[0] == 3:
            a.unreachable = True
        else:
            a.exceeded = True
        return
    if _group(server):
        return
    fl = _flow(ref, (client, cport, server, sport), ts)
    if fl is None:
        if _flow(ref, (server, sport, client, cport), ts) is not None or icmp[0] == 11:
            return  # quotes a reply (a late answer), or time exceeded for no request
        if cport != sport and rank(cport) < rank(sport):
            return
        fl = _new_flow(ref, ("udp", server, sport), (client, cport, server, sport), ts, 0)
    fl.icmp = True
    fl.last = ts


def _segment(ref: _Reference, ip: tuple[str, str, int], f: _Frame, i: int, ts: float) -> None:
    src, dst, ttl = ip
    sport, dport = _int(f.get("tcp.srcport", i)), _int(f.get("tcp.dstport", i))
    flags = _int(f.get("tcp.flags", i))
    seq, ack = _int(f.get("tcp.seq_raw", i)), _int(f.get("tcp.ack_raw", i))
    if flags < 0:
        return
    if flags & (SYN | ACK | RST) == SYN:
        key = (src, sport, dst, dport)
        ref.latest[key] = seq
        ref.attempts.setdefault((*key, seq), _Attempt(ts, ttl)).syns += 1
        return
    back = (dst, dport, src, sport)  # a segment from the server
    if flags & (SYN | ACK) == SYN | ACK:
        a = ref.attempts.get((*back, (ack - 1) % 2**32))
        if a is not None:
            a.synack = True
        return
    key = (src, sport, dst, dport)
    if flags & RST and key in ref.latest:  # the client gives up: RST with its SYN's seq
        a = ref.attempts.get((*key, ref.latest[key]))
        if a is not None and seq == ref.latest[key]:
            a.ended = True
        return
    if flags & RST and back in ref.latest:
        isn = (ack - 1) % 2**32 if flags & ACK else ref.latest[back]
        a = ref.attempts.get((*back, isn))
        if a is not None and not a.synack:
            a.rst = True
        return
    if flags & ACK and not flags & RST and key in ref.latest:
        # The client's ACK (of the handshake, or later, past the data a TFO SYN carried): it
        # got a SYN/ACK, whether the capture holds it or not.
        isn = ref.latest[key]
        a = ref.attempts.get((*key, isn))
        if a is not None and 0 <= (seq - isn - 1) % 2**32 < 65536:
            a.synack = True


def _flow(ref: _Reference, key: tuple[str, int, str, int], ts: float) -> _Flow | None:
    fl = ref.open_flows.get(key)
    return fl if fl is not None and ts - fl.last < UDP_EXPIRE else None


def _datagram(ref: _Reference, ip: tuple[str, str, int], f: _Frame, i: int, ts: float) -> None:
    src, dst, ttl = ip
    sport, dport = _int(f.get("udp.srcport", i)), _int(f.get("udp.dstport", i))
    if sport <= 0 or dport <= 0:
        return
    key, back = (src, sport, dst, dport), (dst, dport, src, sport)
    for k, reply in ((key, False), (back, True)):
        fl = _flow(ref, k, ts)
        if fl is not None:
            if reply:
                fl.replies += 1
            else:
                fl.requests += 1
            fl.last = ts
            return
    if _group(dst) or _group(src):
        return
    fl = ref.tftp.get((dst, dport, src))  # TFTP answers from a new port of the server
    if fl is not None and ts - fl.last < UDP_EXPIRE:
        ref.open_flows[back] = fl
        fl.replies += 1
        fl.last = ts
        return
    if sport == dport or rank(dport) <= rank(sport):
        fl = _new_flow(ref, ("udp", dst, dport), key, ts, ttl)
        fl.requests = 1
    else:
        fl = _new_flow(ref, ("udp", src, sport), back, ts, 0)
        fl.replies = 1


def _new_flow(
    ref: _Reference, port: Port, key: tuple[str, int, str, int], ts: float, ttl: int
) -> _Flow:
    fl = ref.open_flows[key] = _Flow(ts, ts, ttl)
    if key[3] == TFTP:
        ref.tftp[key[:3]] = fl
    ref.flows.append((port, fl))
    return fl


def _view(ref: _Reference) -> View:
    words: dict[Port, set[str]] = {}
    for (_, _, server, sport, _), a in ref.attempts.items():
        word = a.word()
        if word == "silent" and a.syns == 1 and not a.ended and ref.end - a.first < TOO_LATE:
            continue  # no time for an answer
        if word is not None:
            words.setdefault(("tcp", server, sport), set()).add(word)
    for port in ref.quoted:
        words.setdefault(port, set()).add("icmp")
    for port, f in ref.flows:
        lone = f.requests == 1 and not f.replies and not f.icmp
        if lone and ref.end - f.last < TOO_LATE:
            continue
        low = 0 < f.ttl < TRACE_TTL
        if not f.replies and low and (f.icmp or port[2] in TRACEROUTE):
            continue  # a traceroute probe
        word = "answered" if f.replies else "icmp" if f.icmp else "silent"
        words.setdefault(port, set()).add(word)
    return {p: frozenset(w) for p, w in words.items()}


def probe_view(analysis: Analysis) -> View:
    """The same words from probe's outcomes."""
    words: dict[Port, set[str]] = {}
    for o in analysis.outcomes:
        udp = o.protocol is Protocol.UDP
        port = ("udp" if udp else "tcp", o.server, o.port)
        words.setdefault(port, set()).add((UDP_WORDS if udp else TCP_WORDS)[o.code])
    return {p: frozenset(w) for p, w in words.items()}
