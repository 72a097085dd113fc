"""Words for findings: port lists, counts, TTLs and the ping line, shared by every rule,
``probe analyze`` and the report writers, so that one fact reads the same everywhere.

Pure string building from plain values and records; no rule logic here.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Callable, Iterable, Sequence

from probe.diagnosis.classify import hops_from_ttl
from probe.model import PingResult, PingStatus, PortResult, Protocol

_port = operator.attrgetter("port")
_protocol = operator.attrgetter("protocol")


_LISTED = 12  # runs of ports written out before "..., and 310 more"


def port_list(ports: Iterable[int], limit: int = _LISTED) -> str:
    """Ports in words, runs as ranges: "82, 8443", "1-21, 23-79", "..., and 310 more"."""
    return _runs(sorted(set(ports)), limit)


def _runs(ordered: Sequence[int], limit: int) -> str:
    """``port_list`` of ports sorted and each once already."""

    # Port minus its index is the same along a run of consecutive ports and grows between
    # runs, so each run's end is one bisection away (a full-range scan has 65535 ports here).
    def key(at: int) -> int:
        return ordered[at] - at

    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(ordered) and len(runs) < limit:
        end = bisect.bisect_right(range(len(ordered)), key(i), lo=i, key=key)
        runs.append((ordered[i], ordered[end - 1]))
        i = end
    words = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if i < len(ordered):
        return ", ".join(words) + f", and {len(ordered) - i} more"
    return ", ".join(words)


def port_spec(ports: Sequence[int]) -> str:
    """Ports as a --ports argument to copy: "82,8443", "1-21,23-79"."""
    return port_list(ports, limit=len(ports)).replace(", ", ",")


def port_words(ports: Sequence[int]) -> str:
    """ "port 80" / "ports 82, 8443" """
    return f"{plural(len(ports), 'port')} {port_list(ports)}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """``one`` for 1, else ``many`` (default: ``one`` + "s")."""
    return one if n == 1 else (many if many is not None else one + "s")


def verb(ports: Sequence[int], one: str, many: str) -> str:
    """The word that agrees with the number of ``ports``: "is" / "are"."""
    return plural(len(ports), one, many)


def probed_words(ports: Sequence[int], how: str = "probed") -> str:
    """ "port 80" / "any of the 3 probed ports" ("attempted" for a capture: nothing there
    was probed by probe)"""
    return f"port {ports[0]}" if len(ports) == 1 else f"any of the {len(ports)} {how} ports"


def hops(n: int) -> str:
    return f"{n} hop" if n == 1 else f"{n} hops"


def ttl_words(ttl: int) -> str:
    """ "TTL 63 (≈ 1 hop)": the hop count is a guess from the nearest initial TTL."""
    return f"TTL {ttl} (≈ {hops(hops_from_ttl(ttl))})"


def hop_gap(n: int, word: str) -> str:
    """ "one hop closer", "2 hops farther" """
    return f"one hop {word}" if n == 1 else f"{n} hops {word}"


def numbers(ps: Iterable[PortResult]) -> tuple[int, ...]:
    """The port numbers of ``ps``, sorted, each once."""
    return tuple(sorted(set(map(_port, ps))))  # C speed: a full-range scan has 65535


def cap(s: str) -> str:
    """``s`` with its first letter upper-case (the rest untouched: "TCP", addresses)."""
    return s[:1].upper() + s[1:]


def and_list(words: Sequence[str]) -> str:
    """ "SACK", "SACK and timestamps", "SACK, timestamps and window scaling" """
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def ping_line(ping: PingResult | None) -> str:
    """What the ping step saw, as one evidence line."""
    if ping is None:
        return "ping was not run"
    if ping.status is PingStatus.OK:
        line = f"{ping.received}/{ping.sent} echo replies"
        if ping.ttl is not None:
            line += f" with {ttl_words(ping.ttl)}"
        if ping.rtt_avg_ms is not None:
            line += f", {ping.rtt_avg_ms:.2f} ms on average"
        return line
    if ping.status is PingStatus.NO_REPLY:
        return f"{ping.sent} echo requests, no reply"
    if ping.status is PingStatus.UNREACHABLE:
        who = f" from {ping.responder}" if ping.responder else ""
        detail = f" ({ping.detail})" if ping.detail else ""
        return f"echo requests answered by ICMP unreachable{who}{detail}"
    return f"ping skipped ({ping.detail})" if ping.detail else "ping skipped"


def udp_list(ports: Iterable[int], limit: int = 12) -> str:
    """UDP ports in words, each marked: "53/udp, 5060-5070/udp"."""
    return ", ".join(
        f"{w}/udp" if w[:1].isdigit() else w for w in port_list(ports, limit).split(", ")
    )


Split = tuple[tuple[int, ...], tuple[int, ...]]  # (TCP port numbers, UDP port numbers)


def split(ps: Iterable[PortResult]) -> Split:
    """(TCP port numbers, UDP port numbers) of ``ps``, each sorted and once. One pass for
    the usual all-TCP list: a full-range scan's findings hold 65535 ports."""
    ps = ps if isinstance(ps, Sequence) else list(ps)
    if Protocol.UDP not in map(_protocol, ps):
        return numbers(ps), ()
    udp = {p.port for p in ps if p.protocol is Protocol.UDP}
    tcp = {p.port for p in ps if p.protocol is not Protocol.UDP}
    return tuple(sorted(tcp)), tuple(sorted(udp))


def ports_of(ps: Sequence[PortResult]) -> str:
    """The ports of ``ps`` in words, UDP ones marked: "80, 443 and 53/udp"."""
    return split_list(split(ps))


def split_list(ports: Split) -> str:
    """``ports_of`` of ports already ``split`` (a rule that words 65535 ports several ways
    splits them once)."""
    tcp, udp = ports
    parts = ([_runs(tcp, _LISTED)] if tcp else []) + ([udp_list(udp)] if udp else [])
    return " and ".join(parts)


def ports_words(ps: Sequence[PortResult]) -> str:
    """ "port 80" / "ports 80 and 53/udp": ``port_words`` with UDP ports marked."""
    return split_words(split(ps))


def split_words(ports: Split) -> str:
    """``ports_words`` of ports already ``split``."""
    tcp, udp = ports
    return f"{plural(len(tcp) + len(udp), 'port')} {split_list(ports)}"


def sent_word(p: PortResult) -> str:
    """What one probe of ``p`` was: "the SYN" or "the datagram"."""
    return "the datagram" if p.protocol is Protocol.UDP else "the SYN"


def endpoints(ps: Iterable[PortResult]) -> tuple[tuple[int, ...], tuple[Protocol, ...]]:
    """A finding's ``ports`` and ``protocols`` for ``ps``: TCP ports first, then UDP, each
    sorted and once; no protocols at all when every port is TCP (the Finding's "all TCP")."""
    return split_endpoints(split(ps))


def split_endpoints(ports: Split) -> tuple[tuple[int, ...], tuple[Protocol, ...]]:
    """``endpoints`` of ports already ``split``."""
    tcp, udp = ports
    if not udp:
        return tcp, ()
    return tcp + udp, (Protocol.TCP,) * len(tcp) + (Protocol.UDP,) * len(udp)


def syn_lines(ps: Sequence[PortResult], *, connect: bool, timeout: float | None) -> list[str]:
    """ "3 SYNs to 82, 8443, no answer within 2 s each" — one line per try count (and
    protocol: "3 datagrams to 53/udp"); the connect() fallback's words when ``connect``."""
    lines = []
    for g in group(ps, lambda p: (p.tries, p.protocol)):
        n, nums = g[0].tries, numbers(g)
        each = " each" if len(nums) > 1 or n > 1 else ""
        if g[0].protocol is Protocol.UDP:
            sent = "datagram" if n == 1 else "datagrams"
            within = f" within {timeout:g} s{each}" if timeout else ""
            to = "to each of" if len(nums) > 1 else "to"
            lines.append(f"{n} {sent} {to} {udp_list(nums)}, no answer{within}")
        elif connect:
            attempts = "connection attempt" if n == 1 else "connection attempts"
            within = f" after {timeout:g} s{each}" if timeout else ""
            lines.append(f"{n} {attempts} to {port_list(nums)} timed out{within}")
        else:
            syns = "SYN" if n == 1 else "SYNs"
            within = f" within {timeout:g} s{each}" if timeout else ""
            to = "to each of" if len(nums) > 1 else "to"
            lines.append(f"{n} {syns} {to} {port_list(nums)}, no answer{within}")
    return lines


def answers_line(
    opened: Sequence[int], refused: Sequence[int], rejected: Sequence[int], *, connect: bool
) -> str:
    """The host's own answers, as evidence that it is up: "SYN/ACK on 80; RST from the host
    on 22" (connect mode: "connected to 80; refused on 22"). Empty if it gave none."""
    said: list[str] = []
    if opened:
        said.append(f"{'connected to' if connect else 'SYN/ACK on'} {port_list(opened)}")
    if refused:
        said.append(f"{'refused on' if connect else 'RST from the host on'} {port_list(refused)}")
    if rejected:
        said.append(f"ICMP reject from the host itself on {port_list(rejected)}")
    return "; ".join(said)


def group(ps: Iterable[PortResult], key: Callable[[PortResult], object]) -> list[list[PortResult]]:
    """Ports sharing the same facts (same TTL, responder, reason...), in port order: one
    evidence line per group keeps a full-range scan readable (an ``operator.attrgetter``
    key reads a full-range scan's 65535 at C speed, and most of them share their facts)."""
    ordered = sorted(ps, key=_port)
    keys = list(map(key, ordered))
    if not keys:
        return []
    # Run by run: neighbours in port order mostly share their facts.
    groups: dict[object, list[PortResult]] = {}
    start = 0
    for end in itertools.compress(itertools.count(1), map(operator.ne, keys, keys[1:])):
        groups.setdefault(keys[start], []).extend(ordered[start:end])
        start = end
    groups.setdefault(keys[start], []).extend(ordered[start:])
    return list(groups.values())
