"""Port scans recognised among the outcomes: one client, many server ports (on one host or
many), each SYN answered and then reset by the client (half-open: ``nmap -sS``), refused,
or unanswered, and next to no completed connection. A scan is summarised (scanner, targets,
ports tried, open / closed / filtered, the open list) instead of a finding per port; the
per-port findings stay in the analysis for ``-v`` and ``--json``.

A UDP scan (``nmap -sU``) the same way, on its own: one client's datagrams to many server
ports, refused by ICMP port unreachable (closed) or unanswered (open|filtered, nmap's word:
UDP silence is a dropped datagram or a mute service alike), next to no answered flow.

Linear: one pass over the outcomes, a dictionary per client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from probe.capture.analyze.results import (
    OK,
    REFUSED,
    REJECTED,
    UDP_OK,
    UDP_REFUSED,
    UNANSWERED,
    Outcome,
    endpoint,
)
from probe.diagnosis.words import plural
from probe.model import Protocol

SCAN_MIN: Final = 20  # distinct server ports one client tried, at least
_OTHER_SHARE: Final = 0.1  # at most this share of them may be real connections

# What a port's outcomes say, best first: half-open (SYN/ACK, no handshake), a completed
# connection (open too: a connect scan, or real use), RST, silence or ICMP, anything else.
_OPEN, _CONNECTED, _CLOSED, _FILTERED, _OTHER = range(5)


@dataclass(frozen=True)
class Scan:
    """One client's scan: what it tried and what answered."""

    scanner: str
    targets: tuple[str, ...]  # server addresses, in the outcomes' order
    ports_tried: int  # distinct port numbers
    open: tuple[str, ...]  # "ip:port" answered SYN/ACK
    closed: int  # server ports answered RST
    filtered: int  # server ports silent or rejected by ICMP
    members: frozenset[tuple[str, int]]  # (server, port) of the scan
    protocol: Protocol = Protocol.TCP

    def holds(self, o: Outcome) -> bool:
        """``o`` is one of the scan's server ports (its finding is shown with -v only)."""
        return o.protocol is self.protocol and (o.server, o.port) in self.members

    @property
    def words(self) -> str:
        """ "198.18.0.2 scanned 198.18.1.10: 1000 ports tried, 3 open, 990 closed, 7
        filtered (open: 198.18.1.10:22, ...)." """
        n = len(self.targets)
        hosts = ", ".join(self.targets[:4]) + (f" and {n - 4} more" if n > 4 else "")
        shown = ", ".join(self.open[:20]) + (
            f" and {len(self.open) - 20} more" if len(self.open) > 20 else ""
        )
        opened = f" (open: {shown})" if self.open else ""
        udp = self.protocol is Protocol.UDP
        how, silent = ("UDP datagrams", "open|filtered") if udp else ("SYNs", "filtered")
        return (
            f"{self.scanner} scanned {n} {plural(n, 'host')} ({hosts}) with {how}: "
            f"{self.ports_tried} {plural(self.ports_tried, 'port')} tried, {len(self.open)} "
            f"open, {self.closed} closed, {self.filtered} {silent}{opened}. Per-port findings: "
            "-v or --json."
        )


def find_scans(outcomes: Sequence[Outcome]) -> tuple[Scan, ...]:
    """The scans among ``outcomes`` (sorted by server and port, as ``explain`` sorts them),
    TCP's then UDP's."""
    return tuple(
        scan
        for protocol in (Protocol.TCP, Protocol.UDP)
        for scan in _scans([o for o in outcomes if o.protocol is protocol], protocol)
    )


def _scans(outcomes: Sequence[Outcome], protocol: Protocol) -> list[Scan]:
    """The scans among the ``outcomes`` of one protocol."""
    by_client: dict[str, dict[tuple[str, int], int]] = {}
    shared: set[tuple[str, int]] = set()
    for o in outcomes:
        key = (o.server, o.port)
        if len(o.clients) != 1 or o.more_clients:
            shared.add(key)
            continue
        kinds = by_client.setdefault(o.clients[0], {})
        kinds[key] = min(kinds.get(key, _OTHER), _kind(o))
    owner: dict[tuple[str, int], int] = {}
    for kinds in by_client.values():
        for key in kinds:
            owner[key] = owner.get(key, 0) + 1
    scans: list[Scan] = []
    for client, kinds in by_client.items():
        mine = {k: v for k, v in kinds.items() if owner[k] == 1 and k not in shared}
        other = sum(1 for v in mine.values() if v in (_CONNECTED, _OTHER))
        if len(mine) < SCAN_MIN or other > _OTHER_SHARE * len(mine):
            continue
        targets = tuple(dict.fromkeys(server for server, _ in mine))
        scans.append(
            Scan(
                scanner=client,
                targets=targets,
                ports_tried=len({port for _, port in mine}),
                open=tuple(
                    endpoint(s, p) for (s, p), v in mine.items() if v in (_OPEN, _CONNECTED)
                ),
                closed=sum(1 for v in mine.values() if v == _CLOSED),
                filtered=sum(1 for v in mine.values() if v == _FILTERED),
                members=frozenset(k for k, v in mine.items() if v not in (_CONNECTED, _OTHER)),
                protocol=protocol,
            )
        )
    return scans


def _kind(o: Outcome) -> int:
    """What one outcome says of its port, for a scan (the lowest of a port's outcomes wins:
    open before closed before filtered)."""
    if o.protocol is Protocol.UDP:
        # An answered flow is real use as much as a scanner's hit: it weighs as a connection.
        if o.code == UDP_OK:
            return _CONNECTED
        return _CLOSED if o.code == UDP_REFUSED else _FILTERED
    if o.code == OK:
        return _OPEN if o.half_open == o.count else _CONNECTED
    if o.code == REFUSED:
        return _CLOSED
    if o.code in (UNANSWERED, REJECTED):
        return _FILTERED
    return _OTHER
