"""Per-server summaries (which ports work, which do not) and the plain-language conclusion
across the servers of a capture."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Final

from probe.capture.analyze.results import (
    CODES,
    OK,
    PROBLEMS,
    RST_INJECTED,
    UDP_OK,
    UDP_UNANSWERED,
    UNANSWERED,
    Outcome,
    ServerSummary,
)
from probe.diagnosis.words import plural, port_words
from probe.model import Protocol

_MAX_LISTED: Final = 8

PortCodes = tuple[tuple[int, tuple[tuple[str, int], ...]], ...]  # port -> ((code, count), ...)


def server_summary(address: str, outcomes: Sequence[Outcome]) -> ServerSummary:
    """One server address's ports and attempts (and UDP flows), from its outcomes."""
    tcp = _ports(o for o in outcomes if o.protocol is Protocol.TCP)
    udp = _ports(o for o in outcomes if o.protocol is Protocol.UDP)
    attempts = sum(o.count for o in outcomes)
    completed = sum(o.count if o.code in (OK, UDP_OK) else o.completed for o in outcomes)
    failing = _failing_ports(tcp) + _failing_ports(udp)
    status = "ok" if not failing else "failing" if not completed else "partial"
    return ServerSummary(
        address=address,
        status=status,
        attempts=attempts,
        ports=_entries(tcp),
        ports_ok=_ok_ports(tcp, OK),
        ports_failing=_failing_ports(tcp),
        udp_ports=_entries(udp),
        udp_ports_ok=_ok_ports(udp, UDP_OK),
        udp_ports_failing=_failing_ports(udp),
    )


def _ports(outcomes: Iterable[Outcome]) -> dict[int, dict[str, int]]:
    ports: dict[int, dict[str, int]] = {}
    for o in outcomes:
        ports.setdefault(o.port, {})[o.code] = o.count
    return dict(sorted(ports.items()))


def _entries(ports: dict[int, dict[str, int]]) -> PortCodes:
    return tuple(
        (p, tuple((c, codes[c]) for c in CODES if c in codes)) for p, codes in ports.items()
    )


def _ok_ports(ports: dict[int, dict[str, int]], ok: str) -> tuple[int, ...]:
    """The ports where every attempt completed, every flow was answered (a one-way flow
    is no failure, and no sign of a working server either)."""
    return tuple(p for p, codes in ports.items() if set(codes) == {ok})


def _failing_ports(ports: dict[int, dict[str, int]]) -> tuple[int, ...]:
    return tuple(p for p, codes in ports.items() if set(codes) & PROBLEMS)


def ports_words(tcp: Sequence[int], udp: Sequence[int] = ()) -> str:
    """ "port 80", "UDP ports 53, 123", "ports 81, 82 and UDP port 9002" """
    words = [port_words(tcp)] if tcp else []
    if udp:
        words.append(f"UDP {port_words(udp)}")
    return " and ".join(words)


def _listed(items: Sequence[str]) -> str:
    if len(items) <= _MAX_LISTED:
        return ", ".join(items)
    return ", ".join(items[:_MAX_LISTED]) + f" and {len(items) - _MAX_LISTED} more"


def conclusion(
    servers: Sequence[ServerSummary],
    attempts: int,
    scope: str = "in this capture",
    flows: int = 0,
) -> tuple[str, ...]:
    """Where the problem is, across servers, in a sentence or a few; ``scope`` says which
    attempts they are ("outside the scan"); ``flows`` counts the UDP flows beside them."""
    if not servers:
        return ("No TCP connection attempt (SYN) or UDP flow in the capture: nothing to analyse.",)
    # A port whose only problem is rst-injected does not fail: something resets connections
    # to it, in its name; that is said on a line of its own.
    injected = [(s.address, _with(s.ports, {RST_INJECTED})) for s in servers]
    lines = [
        f"Something on the path sends RSTs in {address}'s name ({port_words(ports)}; "
        "rst-injected): the server answers, a device between resets."
        for address, ports in injected
        if ports
    ]
    failing = {s.address: _failing(s) for s in servers}
    affected = [s for s in servers if any(failing[s.address])]
    fine = [s for s in servers if not s.ports_failing and not s.udp_ports_failing]
    n = len(servers)
    if not affected and not lines:
        return (_all_fine(attempts, flows, n, scope),)
    where = [f"{s.address} ({ports_words(*failing[s.address])})" for s in affected]
    if not affected:
        pass  # only injected RSTs: said above
    elif fine:
        names = _listed([s.address for s in fine])
        # UDP has no connection to complete: a server seen on UDP only "answers"
        works = (
            f"Connections to {names} complete"
            if any(s.ports for s in fine)
            else f"{names} {plural(len(fine), 'answers', 'answer')}"
        )
        lines.append(f"{works}; the problem is limited to {_listed(where)}.")
    elif n > 1 and not any(s.ports_ok or s.udp_ports_ok for s in affected):
        lines.append(f"Connections to every server in the capture fail: {_listed(where)}.")
    elif n > 1:
        lines.append(f"The problem is limited to {_listed(where)}.")
    elif not (affected[0].ports_ok or affected[0].udp_ports_ok):
        lines.append(f"Connections to {where[0]} fail.")
    for s in affected:
        working = len(s.ports_ok) + len(s.udp_ports_ok)
        if working:
            there = "" if n == 1 else " there"
            lines.append(
                f"{s.address} is up ({ports_words(s.ports_ok, s.udp_ports_ok)} "
                f"{plural(working, 'works', 'work')}); the problem{there} is limited "
                f"to {ports_words(*failing[s.address])}."
            )
    silent = {UNANSWERED, UDP_UNANSWERED}
    all_silent = all(
        {c for _, codes in (*s.ports, *s.udp_ports) for c, _ in codes} <= silent for s in servers
    )
    if n > 1 and all_silent:
        lines.append(
            "No server answered at all: look at the client's side first (its own firewall or "
            "security software, its network, a proxy it should use)."
        )
    return tuple(lines)


def _all_fine(attempts: int, flows: int, n: int, scope: str) -> str:
    """No problem: the sentence that says what was seen."""
    if attempts == 1:
        tcp = "the one connection attempt completed its handshake"
    else:
        to = "" if flows else f" to {n} {plural(n, 'server')}"
        tcp = f"all {attempts} connection attempts{to} completed their handshake"
    if not flows:
        return f"{tcp[:1].upper()}{tcp[1:]}: no problem {scope}."
    if flows == 1:
        udp = "the one UDP flow was answered or is one-way by design"
    else:
        to = "" if attempts else f" to {n} {plural(n, 'server')}"
        udp = f"all {flows} UDP flows{to} were answered or are one-way by design"
    said = f"{tcp} and {udp}" if attempts else udp
    return f"{said[:1].upper()}{said[1:]}: no problem {scope}."


def _with(ports: PortCodes, codes: AbstractSet[str]) -> tuple[int, ...]:
    """The ports of ``ports`` where one of ``codes`` was seen."""
    return tuple(p for p, seen in ports if any(c in codes for c, _ in seen))


def _failing(s: ServerSummary) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The failing TCP and UDP ports of ``s``, but those whose only problem is an injected
    RST."""
    return _with(s.ports, PROBLEMS - {RST_INJECTED}), _with(s.udp_ports, PROBLEMS)
