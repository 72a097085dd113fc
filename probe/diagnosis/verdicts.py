"""A whole scan's evidence classified at once: ``classify.classify`` for every port, with
the raw engine's plain answers (SYN/ACK, RST, silence) read without a call per port.

A full-range scan hands 65535 evidence records to this step, nearly all of them RSTs; the
per-port cost here is most of the time between the scan's end and the report. The results
are the very records ``classify.classify`` makes (equal, field for field), and they keep
the engine's order, which is port order: ``in_endpoint_order`` then only checks it.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence

from probe.diagnosis.classify import TABLES, classify, raw_result
from probe.model import (
    AnswerKind,
    Method,
    PortEvidence,
    PortResult,
    Protocol,
)


def classify_each(
    evidence: Iterable[PortEvidence], services: Mapping[tuple[int, Protocol], str | None]
) -> list[PortResult]:
    """``classify(e, services.get((e.port, e.protocol)))`` for each evidence, in order.

    The raw engine's SYN/ACK, RST or silence (no errno, no ICMP) reads straight from its
    transport's answers table, as ``classify.reading`` does first; any other evidence goes
    through ``classify`` itself."""
    out: list[PortResult] = []
    append, service = out.append, services.get
    raw, icmp = Method.RAW, AnswerKind.ICMP
    for e in evidence:
        t = TABLES.get(e.protocol)
        if e.errno_name is None and e.method is raw and e.answer is not icmp and t is not None:
            state, reason = t.answers[e.answer]
            append(raw_result(e, state, reason, service((e.port, e.protocol))))
        else:
            append(classify(e, service((e.port, e.protocol))))
    return out


# 53/tcp before 53/udp, as nmap lists them ("tcp" < "udp")
_endpoint = operator.attrgetter("port", "protocol")
_number = operator.attrgetter("port")


def in_endpoint_order(ps: Sequence[PortResult]) -> tuple[PortResult, ...]:
    """``ps`` sorted by (port, protocol). The engine answers in the order it was asked, which
    is port order: when the numbers already rise strictly, nothing is sorted."""
    numbers = list(map(_number, ps))
    if all(map(operator.lt, numbers, numbers[1:])):
        return tuple(ps)
    return tuple(sorted(ps, key=_endpoint))
