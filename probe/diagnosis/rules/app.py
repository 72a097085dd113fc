"""Rules about the application behind an open port (``--app``): app-silent, app-error,
tls-certificate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from probe.diagnosis.context import Context
from probe.diagnosis.words import cap, numbers, port_words, verb
from probe.model import Finding, PortState, Severity, TargetReport


def app_silent(t: TargetReport, ctx: Context) -> Finding | None:
    """app-silent: the handshake completes but the application says nothing."""
    ps = tuple(
        p for p in ctx.state(PortState.OPEN) if p.app is not None and p.app.status == "silent"
    )
    if not ps:
        return None
    ports = numbers(ps)
    evidence = []
    for p in ps:
        assert p.app is not None
        shake = f"connect() to {p.port} succeeded" if ctx.connect else f"SYN/ACK on {p.port}"
        line = f"{shake}, then no answer to the {p.app.protocol} hello"
        evidence.append(f"{line} ({p.app.detail})" if p.app.detail else line)
    named = [p.app.protocol for p in ps if p.app is not None and p.app.protocol != "generic"]
    protocols = ", ".join(dict.fromkeys(named))
    speaks = (
        f"check that {port_words(ports)} really speaks {protocols} (for example TLS versus "
        "plain HTTP)"
        if protocols
        else f"find out which protocol {port_words(ports)} should speak and try its hello with "
        "--app-protocol (probe waited for a greeting, then tried HTTP)"
    )
    return Finding(
        code="app-silent",
        severity=Severity.ERROR,
        ports=ports,
        summary=f"The TCP handshake completes on {port_words(ports)} but the application sends "
        "nothing: it is hung, overloaded or out of resources, or it speaks another protocol.",
        evidence=tuple(evidence),
        next_steps=(
            f"check the application on {ctx.host}: is the process alive but stuck (its logs, "
            "CPU, memory, connection limits)?",
            speaks,
            "if a load balancer or proxy is in front, check that it has a healthy backend: it "
            "accepts connections even when it has nowhere to send them",
        ),
    )


def app_error(t: TargetReport, ctx: Context) -> Finding | None:
    """app-error: the handshake completes but the protocol hello fails: the service refuses
    the client, speaks another protocol, or a TLS handshake fails."""
    ps = tuple(
        p for p in ctx.state(PortState.OPEN) if p.app is not None and p.app.status == "error"
    )
    if not ps:
        return None
    ports = numbers(ps)
    evidence = []
    for p in ps:
        assert p.app is not None
        line = f"the {p.app.protocol} hello on {p.port}: {p.app.detail or 'failed'}"
        evidence.append(f'{line}; it said "{p.app.banner}"' if p.app.banner else line)
    protocols = ", ".join(dict.fromkeys(p.app.protocol for p in ps if p.app is not None))
    return Finding(
        code="app-error",
        severity=Severity.ERROR,
        ports=ports,
        summary=f"{cap(port_words(ports))} on {ctx.host} {verb(ports, 'accepts', 'accept')} the "
        f"connection but the {protocols} hello fails: the service refuses this client, or "
        "speaks another protocol than expected.",
        evidence=tuple(evidence),
        next_steps=(
            f"check which service really listens on {port_words(ports)} (ss -ltnp on "
            f"{ctx.host}); try another hello with --app-protocol",
            "if the server refused the client (too many connections, access denied), check "
            "the service's connection limits and access lists",
        ),
    )


_CERT_WORDS: Final[Mapping[str, str]] = {
    "expired": "has expired",
    "not yet valid": "is not valid yet",
    "name mismatch": "does not cover the name {name}",
}


def tls_certificate(t: TargetReport, ctx: Context) -> Finding | None:
    """tls-certificate: the certificate has expired, is not valid yet, or does not cover
    the name the client asked for (read with verification off, judged here)."""
    ps = tuple(p for p in ctx.state(PortState.OPEN) if p.app is not None and p.app.cert_problems)
    if not ps:
        return None
    ports = numbers(ps)
    problems = list(dict.fromkeys(c for p in ps if p.app is not None for c in p.app.cert_problems))
    evidence: list[str] = []
    for p in ps:
        a = p.app
        assert a is not None
        line = f"TLS on {p.port}: certificate {a.cert_subject or '(no subject)'}"
        if a.cert_issuer:
            line += f", issued by {a.cert_issuer}"
        if a.cert_not_after:
            line += f", valid until {a.cert_not_after}"
        if a.cert_names:
            line += f", names {', '.join(a.cert_names)}"
        evidence.append(f"{line}: {', '.join(a.cert_problems)}")
    clauses = [_CERT_WORDS.get(c, c).format(name=t.input) for c in problems]
    steps: list[str] = []
    if "expired" in problems:
        steps.append(f"renew the certificate on {ctx.host} and reload the service")
    if "name mismatch" in problems:
        steps.append(
            f"install a certificate whose subjectAltName covers {t.input}, or connect with a "
            "name the certificate covers"
        )
        steps.append(
            "if the server hosts several sites, check that it picks the right certificate for "
            "this name (SNI, virtual host configuration)"
        )
    if "expired" in problems or "not yet valid" in problems:
        steps.append("check the date and time of this computer and of the server")
    return Finding(
        code="tls-certificate",
        severity=Severity.ERROR,
        ports=ports,
        summary=f"The TLS certificate on {port_words(ports)} of {ctx.host} "
        f"{' and '.join(clauses)}: browsers and other clients that verify it refuse the "
        "connection.",
        evidence=tuple(evidence),
        next_steps=tuple(steps),
    )
