"""family-mismatch, across targets: one name whose IPv4 and IPv6 addresses answer a port
differently. The finding goes to the report of the family that did worse."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from probe.diagnosis.words import cap, port_list, port_words, verb
from probe.model import Finding, PortState, Severity, TargetReport

# How far the SYN got: a lower rank is a better answer. Differences between the families are
# reported on the family that did worse.
_RANK: Final[Mapping[PortState, int]] = {
    PortState.OPEN: 0,
    PortState.REFUSED: 1,
    PortState.REJECTED: 2,
    PortState.UNREACHABLE: 3,
    PortState.FILTERED: 4,
}

_HINT: Final[Mapping[PortState, str]] = {
    PortState.FILTERED: "an {fam} firewall rule is missing (the {fam} path drops the SYNs)",
    PortState.REFUSED: "the service does not listen on {fam} (bound to the {other} address only?)",
    PortState.REJECTED: "a firewall rejects the port on {fam} only",
    PortState.UNREACHABLE: "{fam} routing to the host is broken",
}

_OTHER_FAMILY: Final[Mapping[int, int]] = {4: 6, 6: 4}

Best = dict[int, tuple[str, PortState]]  # port -> (address, state) of the best answer


def best_answers(reports: Sequence[TargetReport]) -> Best:
    """Each port's best answer among ``reports`` (the first address to give it, in report
    order), for comparing the other family with."""
    best: Best = {}
    for o in reports:
        if not o.address:
            continue
        for op in o.ports:
            seen = best.get(op.port)
            if seen is None or _RANK[op.state] < _RANK[seen[1]]:
                best[op.port] = (o.address, op.state)
    return best


def family_finding(r: TargetReport, best: Best) -> Finding | None:
    """family-mismatch for ``r``: its ports that answer worse than ``best``, the other
    family's best answers for the same name."""
    fam, other = ("IPv6", "IPv4") if r.family == 6 else ("IPv4", "IPv6")
    worse: list[tuple[int, PortState, str, PortState]] = []  # (port, mine, their address, theirs)
    for p in sorted(r.ports, key=lambda p: p.port):
        answer = best.get(p.port)
        # A port not asked for (the default profile's) matters only when a family opens it.
        if answer is None or (not p.asked and answer[1] is not PortState.OPEN):
            continue
        if _RANK[answer[1]] < _RANK[p.state]:
            worse.append((p.port, p.state, *answer))
    if not worse:
        return None
    ports = tuple(w[0] for w in worse)
    kinds = {(w[1], w[3]) for w in worse}
    if len(kinds) == 1:
        mine, theirs = next(iter(kinds))
        other_addrs = ", ".join(dict.fromkeys(w[2] for w in worse))
        hint = _HINT[mine].format(fam=fam, other=other)
        summary = (
            f"{cap(port_words(ports))} on {r.input} {verb(ports, 'is', 'are')} {theirs} on "
            f"{other} ({other_addrs}) but {mine} on {fam} ({r.address}): {hint}."
        )
    else:
        summary = (
            f"{cap(port_words(ports))} on {r.input} answer worse on {fam} ({r.address}) than on "
            f"{other}: the {fam} firewall rules or service bindings differ from the {other} ones."
        )
    groups: dict[tuple[PortState, str, PortState], list[int]] = {}  # same facts, one line
    for port, mine, addr, theirs in worse:
        groups.setdefault((mine, addr, theirs), []).append(port)
    record = "AAAA" if fam == "IPv6" else "A"
    other_record = "A" if fam == "IPv6" else "AAAA"
    return Finding(
        code="family-mismatch",
        severity=Severity.WARNING,
        ports=ports,
        summary=summary,
        evidence=tuple(
            f"{port_list(nums)}: {theirs} on {addr} ({other}), {mine} on {r.address} ({fam})"
            for (mine, addr, theirs), nums in groups.items()
        ),
        next_steps=(
            f"compare the {fam} and {other} firewall rules for {port_list(ports)} (ip6tables and "
            "iptables, nftables, cloud security groups: IPv6 rules are often kept separately)",
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
