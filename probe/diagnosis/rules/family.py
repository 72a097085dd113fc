"""family-mismatch, across targets: one name whose IPv4 and IPv6 addresses answer a port
differently. The finding goes to the report of the family that did worse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from probe.diagnosis.words import cap, endpoints, ports_of, ports_words, verb
from probe.model import Finding, PortResult, PortState, Protocol, Severity, TargetReport

# How far the SYN got: a lower rank is a better answer. Differences between the families are
# reported on the family that did worse.
_RANK: Final[Mapping[PortState, int]] = {
    PortState.OPEN: 0,
    PortState.REFUSED: 1,
    PortState.REJECTED: 2,
    PortState.UNREACHABLE: 3,
    PortState.FILTERED: 4,
    PortState.OPEN_FILTERED: 4,  # UDP's silence: as far as the other family can tell, a drop
}

_HINT: Final[Mapping[PortState, str]] = {
    PortState.FILTERED: "an {fam} firewall rule is missing (the {fam} path drops the SYNs)",
    PortState.REFUSED: "the service does not listen on {fam} (bound to the {other} address only?)",
    PortState.REJECTED: "a firewall rejects the port on {fam} only",
    PortState.UNREACHABLE: "{fam} routing to the host is broken",
    PortState.OPEN_FILTERED: "an {fam} firewall rule is missing (the {fam} path drops the "
    "datagrams), or the service does not listen on {fam}",
}

_OTHER_FAMILY: Final[Mapping[int, int]] = {4: 6, 6: 4}

# (port, protocol) -> (address, state) of the best answer: 53/tcp and 53/udp are two ports
Best = dict[tuple[int, Protocol], tuple[str, PortState]]


def best_answers(reports: Sequence[TargetReport]) -> Best:
    """Each port's best answer among ``reports`` (the first address to give it, in report
    order), for comparing the other family with."""
    best: Best = {}
    for o in reports:
        if not o.address:
            continue
        for op in o.ports:
            key = (op.port, op.protocol)
            seen = best.get(key)
            if seen is None or _RANK[op.state] < _RANK[seen[1]]:
                best[key] = (o.address, op.state)
    return best


def family_finding(r: TargetReport, best: Best) -> Finding | None:
    """family-mismatch for ``r``: its ports that answer worse than ``best``, the other
    family's best answers for the same name."""
    fam, other = ("IPv6", "IPv4") if r.family == 6 else ("IPv4", "IPv6")
    # (port result, mine, their address, theirs)
    worse: list[tuple[PortResult, PortState, str, PortState]] = []
    for p in sorted(r.ports, key=lambda p: (p.port, p.protocol)):
        answer = best.get((p.port, p.protocol))
        # A port not asked for (the default profile's) matters only when a family opens it.
        if answer is None or (not p.asked and answer[1] is not PortState.OPEN):
            continue
        if _RANK[answer[1]] < _RANK[p.state]:
            worse.append((p, p.state, *answer))
    if not worse:
        return None
    results = [w[0] for w in worse]
    ports, protocols = endpoints(results)
    named = ports_words(results)
    kinds = {(w[1], w[3]) for w in worse}
    if len(kinds) == 1:
        mine, theirs = next(iter(kinds))
        other_addrs = ", ".join(dict.fromkeys(w[2] for w in worse))
        hint = _HINT[mine].format(fam=fam, other=other)
        summary = (
            f"{cap(named)} on {r.input} {verb(ports, 'is', 'are')} {theirs} on "
            f"{other} ({other_addrs}) but {mine} on {fam} ({r.address}): {hint}."
        )
    else:
        summary = (
            f"{cap(named)} on {r.input} answer worse on {fam} ({r.address}) than on "
            f"{other}: the {fam} firewall rules or service bindings differ from the {other} ones."
        )
    groups: dict[tuple[PortState, str, PortState], list[PortResult]] = {}  # same facts, one line
    for result, mine, addr, theirs in worse:
        groups.setdefault((mine, addr, theirs), []).append(result)
    record = "AAAA" if fam == "IPv6" else "A"
    other_record = "A" if fam == "IPv6" else "AAAA"
    return Finding(
        code="family-mismatch",
        severity=Severity.WARNING,
        ports=ports,
        protocols=protocols,
        summary=summary,
        evidence=tuple(
            f"{ports_of(some)}: {theirs} on {addr} ({other}), {mine} on {r.address} ({fam})"
            for (mine, addr, theirs), some in groups.items()
        ),
        next_steps=(
            f"compare the {fam} and {other} firewall rules for {ports_of(results)} (ip6tables "
            "and iptables, nftables, cloud security groups: IPv6 rules are often kept separately)",
            f"check that the service listens on both families ([::]:{ports[0]} as well as "
            f"0.0.0.0:{ports[0]})",
            f"check that the {record} record of {r.input} points to the same server as its "
            f"{other_record} record",
        ),
    )


def diagnose_family(reports: Sequence[TargetReport]) -> tuple[tuple[Finding, ...], ...]:
    """``family-mismatch`` across reports: one tuple of extra findings per report, parallel to
    ``reports`` (``result[i]`` belongs to ``reports[i]``; mostly empty).

    Reports with the same ``input`` and an address of the other family are compared port by
    port; where the states differ, the finding goes to the report of the family that did
    worse (open beats refused beats rejected beats unreachable beats filtered): IPv4 80 open
    and IPv6 80 filtered puts "IPv6 firewall rule missing?" on the IPv6 report. Reports
    without an address (DNS failed) are skipped.

    Linear: the reports are grouped by (input, family) once, and each group's best answers
    are computed once; a CIDR block's thousands of addresses share one input and one family.
    """
    groups: dict[tuple[str, int], list[TargetReport]] = {}
    for r in reports:
        if r.family is not None:
            groups.setdefault((r.input, r.family), []).append(r)
    # Only a group whose name also has addresses of the other family is ever compared.
    best = {
        key: best_answers(mine)
        for key, mine in groups.items()
        if (key[0], _OTHER_FAMILY[key[1]]) in groups
    }
    out: list[tuple[Finding, ...]] = []
    for r in reports:
        theirs = None if r.family is None else best.get((r.input, _OTHER_FAMILY[r.family]))
        f = family_finding(r, theirs) if theirs is not None else None
        out.append((f,) if f is not None else ())
    return tuple(out)
