"""dns-changed: the name a watch follows gave other addresses from one lookup to the next."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from probe.diagnosis.watch.host import clock
from probe.model import Finding, Severity


@dataclass(frozen=True, slots=True)
class Resolution:
    """One lookup of a name during a watch: when, and the addresses it gave."""

    time: float
    round: int
    target: str
    addresses: tuple[str, ...]


def dns_changed(lookups: Sequence[Resolution]) -> Finding | None:
    """The name's lookups (one name, in time order) gave more than one set of addresses."""
    if len(lookups) < 2:
        return None
    answers = {frozenset(r.addresses) for r in lookups}
    if len(answers) < 2:
        return None
    changes = [
        f"{clock(b.time)} (round {b.round}): {', '.join(b.addresses) or 'no address'}, "
        f"before: {', '.join(a.addresses) or 'no address'}"
        for a, b in itertools.pairwise(lookups)
        if set(a.addresses) != set(b.addresses)
    ]
    name = lookups[0].target
    return Finding(
        code="dns-changed",
        severity=Severity.WARNING,
        summary=f"{name} resolved to different addresses during the watch: "
        f"{len(answers)} different answers in {len(lookups)} lookups, so clients connect to "
        "whichever they looked up last.",
        evidence=(
            f"first lookup at {clock(lookups[0].time)}: "
            f"{', '.join(lookups[0].addresses) or 'no address'}",
            *changes[:8],
        ),
        next_steps=(
            f"check the records of {name} and their TTL (dig {name}): a DNS round robin, a "
            "failover or a record being edited",
            "clients that cached the old address keep using it until its TTL runs out: watch "
            "each address on its own to compare them",
        ),
    )
