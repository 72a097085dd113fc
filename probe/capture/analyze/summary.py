"""Per-server summaries (which ports work, which do not) and the plain-language conclusion
across the servers of a capture."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Final

from probe.capture.analyze.results import (
    CODES,
    OK,
    PROBLEMS,
    RST_INJECTED,
    UNANSWERED,
    Outcome,
    ServerSummary,
)
from probe.diagnosis.words import plural, port_words

_MAX_LISTED: Final = 8


def server_summary(address: str, outcomes: Sequence[Outcome]) -> ServerSummary:
    """One server address's ports and attempts, from its outcomes."""
    ports: dict[int, dict[str, int]] = {}
    for o in outcomes:
        ports.setdefault(o.port, {})[o.code] = o.count
    ok = tuple(p for p, codes in sorted(ports.items()) if set(codes) == {OK})
    failing = tuple(p for p, codes in sorted(ports.items()) if set(codes) & PROBLEMS)
    attempts = sum(o.count for o in outcomes)
    completed = sum(o.count if o.code == OK else o.completed for o in outcomes)
    status = "ok" if not failing else "failing" if not completed else "partial"
    return ServerSummary(
        address=address,
        status=status,
        attempts=attempts,
        ports=tuple(
            (p, tuple((c, codes[c]) for c in CODES if c in codes))
            for p, codes in sorted(ports.items())
        ),
        ports_ok=ok,
        ports_failing=failing,
    )


def _listed(items: Sequence[str]) -> str:
    if len(items) <= _MAX_LISTED:
        return ", ".join(items)
    return ", ".join(items[:_MAX_LISTED]) + f" and {len(items) - _MAX_LISTED} more"


def conclusion(
    servers: Sequence[ServerSummary], attempts: int, scope: str = "in this capture"
) -> tuple[str, ...]:
    """Where the problem is, across servers, in a sentence or a few; ``scope`` says which
    attempts they are ("outside the scan")."""
    if not servers:
        return ("No TCP connection attempt (SYN) in the capture: nothing to analyse.",)
    # A port whose only problem is rst-injected does not fail: something resets connections
    # to it, in its name; that is said on a line of its own.
    injected = [(s.address, _with(s, {RST_INJECTED})) for s in servers]
    lines = [
        f"Something on the path sends RSTs in {address}'s name ({port_words(ports)}; "
        "rst-injected): the server answers, a device between resets."
        for address, ports in injected
        if ports
    ]
    failing = {s.address: _failing(s) for s in servers}
    affected = [s for s in servers if failing[s.address]]
    fine = [s for s in servers if not s.ports_failing]
    n = len(servers)
    if not affected and not lines:
        if attempts == 1:
            return (f"The one connection attempt completed its handshake: no problem {scope}.",)
        return (
            f"All {attempts} connection attempts to {n} {plural(n, 'server')} completed their "
            f"handshake: no problem {scope}.",
        )
    where = [f"{s.address} ({port_words(failing[s.address])})" for s in affected]
    if not affected:
        pass  # only injected RSTs: said above
    elif fine:
        lines.append(
            f"Connections to {_listed([s.address for s in fine])} complete; the problem is "
            f"limited to {_listed(where)}."
        )
    elif n > 1 and not any(s.ports_ok for s in affected):
        lines.append(f"Connections to every server in the capture fail: {_listed(where)}.")
    elif n > 1:
        lines.append(f"The problem is limited to {_listed(where)}.")
    elif not affected[0].ports_ok:
        lines.append(f"Connections to {where[0]} fail.")
    for s in affected:
        if s.ports_ok:
            there = "" if n == 1 else " there"
            lines.append(
                f"{s.address} is up ({port_words(s.ports_ok)} "
                f"{plural(len(s.ports_ok), 'works', 'work')}); the problem{there} is limited "
                f"to {port_words(failing[s.address])}."
            )
    all_silent = all({c for _, codes in s.ports for c, _ in codes} == {UNANSWERED} for s in servers)
    if n > 1 and all_silent:
        lines.append(
            "No server answered at all: look at the client's side first (its own firewall or "
            "security software, its network, a proxy it should use)."
        )
    return tuple(lines)


def _with(s: ServerSummary, codes: AbstractSet[str]) -> tuple[int, ...]:
    """The ports of ``s`` where one of ``codes`` was seen."""
    return tuple(p for p, seen in s.ports if any(c in codes for c, _ in seen))


def _failing(s: ServerSummary) -> tuple[int, ...]:
    """The failing ports of ``s`` but those whose only problem is an injected RST."""
    return _with(s, PROBLEMS - {RST_INJECTED})
