"""The diagnosis in order: ``diagnose(t)`` runs the gates, then the rules, over one target.

- ``GATES`` run first. A DNS failure or a missing route means nothing was probed, so the
  first gate that fires is the whole diagnosis.
- ``RULES`` then run in order (the name as this client resolves it, host-level, then
  per-port, then the application and the handshake's options). Each returns at most one
  finding.

Every port that is not open ends up in the ``ports`` of at least one error finding, except
the ports ``outcome.aside`` sets aside (the default profile's closed ports on a host that
opens some port): they are no problem, and no rule speaks of them.

Across targets, ``attach_family_findings`` adds ``family-mismatch``; after the middlebox
proof, ``attach_confirmations`` diagnoses a target again with its confirmation probes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Final

from probe.diagnosis.context import Context, Source, context
from probe.diagnosis.rules.app import app_error, app_silent, tls_certificate
from probe.diagnosis.rules.family import diagnose_family
from probe.diagnosis.rules.gates import dns_failure, no_route
from probe.diagnosis.rules.host import (
    duplicate_ip,
    host_down_on_link,
    host_silent,
    host_unreachable,
    icmp_blocked,
)
from probe.diagnosis.rules.names import dns_hosts_override
from probe.diagnosis.rules.options import mss_clamped, tcp_options_stripped
from probe.diagnosis.rules.ports import (
    partial_reachability,
    path_loss,
    port_filtered,
    port_refused,
    port_refused_by_middlebox,
    port_rejected,
)
from probe.diagnosis.rules.udp import icmp_rate_limited, udp_no_answer
from probe.model import Finding, Method, PortEvidence, TargetReport

Rule = Callable[[TargetReport, Context], Finding | None]

GATES: Final[tuple[Rule, ...]] = (dns_failure, no_route)

RULES: Final[tuple[Rule, ...]] = (
    dns_hosts_override,
    duplicate_ip,
    host_down_on_link,
    host_unreachable,
    host_silent,
    icmp_blocked,
    port_refused_by_middlebox,
    port_refused,
    port_rejected,
    port_filtered,
    udp_no_answer,
    icmp_rate_limited,
    path_loss,
    partial_reachability,
    app_silent,
    app_error,
    tls_certificate,
    mss_clamped,
    tcp_options_stripped,
)


def diagnose(
    t: TargetReport,
    *,
    mode: Method = Method.RAW,
    timeout: float | None = None,
    source: Source = Source.PROBE,
) -> tuple[Finding, ...]:
    """The findings for one target, most fundamental first.

    ``mode`` is how the probes were sent: with ``Method.CONNECT`` no evidence claims a TTL
    or a responder. ``timeout`` (seconds per try), when given, is quoted in the evidence of
    unanswered ports. ``source`` says where the evidence comes from (a capture has no ping
    step and counts its SYNs itself). ``t.findings`` is ignored.
    """
    ctx = context(t, mode, timeout, source)
    for gate in GATES:
        stop = gate(t, ctx)
        if stop is not None:
            return (stop,)
    return tuple(f for rule in RULES if (f := rule(t, ctx)) is not None)


def attach_family_findings(reports: Sequence[TargetReport]) -> tuple[TargetReport, ...]:
    """``reports`` with their ``diagnose_family`` findings appended (new records, same order)."""
    extra = diagnose_family(reports)
    return tuple(
        replace(r, findings=r.findings + e) if e else r for r, e in zip(reports, extra, strict=True)
    )


def attach_confirmations(
    t: TargetReport,
    proofs: Mapping[str, tuple[PortEvidence, ...]],
    *,
    mode: Method,
    timeout: float | None,
) -> TargetReport:
    """``t`` with its middlebox confirmation evidence (``proofs``: address -> the TTL-limited
    SYNs' evidence, see middlebox.py) and its findings diagnosed again with it; ``t`` itself
    when none of the proofs is for its address."""
    mine = proofs.get(t.address or "")
    if not mine:
        return t
    t = replace(t, confirmations=mine)
    return replace(t, findings=diagnose(t, mode=mode, timeout=timeout))
