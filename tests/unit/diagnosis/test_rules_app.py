"""rules/app.py: app-silent, app-error, tls-certificate."""

from __future__ import annotations

from typing import Any

from diagnosis_cases import SCENARIOS, build, by_code

from probe.diagnosis.outcome import has_problem
from probe.diagnosis.registry import diagnose
from probe.model import AppResult, Severity


def test_app_silent_wording(mk: Any) -> None:
    t = build(mk, SCENARIOS["application silent"][0])
    f = by_code(diagnose(t))["app-silent"]
    assert "handshake completes on port 80" in f.summary
    assert any("no answer to the http hello" in e for e in f.evidence)


# --------------------------------------------------------------------------- TLS and app errors


def tls(problems: tuple[str, ...]) -> AppResult:
    return AppResult(
        "answered",
        "tls",
        detail="TLSv1.3, certificate web.example",
        tls_version="TLSv1.3",
        cert_subject="CN=other.example",
        cert_issuer="CN=Lab CA",
        cert_not_after="2020-01-01T00:00:00Z",
        cert_names=("other.example", "*.other.example"),
        cert_problems=problems,
    )


def test_tls_certificate_expired_and_mismatched(mk: Any) -> None:
    t = mk.target(
        mk.port(443, app=tls(("expired", "name mismatch"))),
        mk.port(80, app=AppResult("answered", "http", "HTTP/1.1 200 OK")),
        input="web.example",
    )
    findings = diagnose(t)
    f = by_code(findings)["tls-certificate"]
    assert (f.severity, f.ports) == (Severity.ERROR, (443,))
    assert f.summary == (
        "The TLS certificate on port 443 of 198.18.2.1 has expired and does not cover the name "
        "web.example: browsers and other clients that verify it refuse the connection."
    )
    assert f.evidence == (
        "TLS on 443: certificate CN=other.example, issued by CN=Lab CA, valid until "
        "2020-01-01T00:00:00Z, names other.example, *.other.example: expired, name mismatch",
    )
    steps = " ".join(f.next_steps)
    assert "renew" in steps and "subjectAltName covers web.example" in steps
    assert "date and time" in steps
    assert has_problem(findings)


def test_tls_certificate_not_yet_valid_suggests_the_clock(mk: Any) -> None:
    t = mk.target(mk.port(443, app=tls(("not yet valid",))))
    f = by_code(diagnose(t))["tls-certificate"]
    assert "is not valid yet" in f.summary
    assert f.next_steps == ("check the date and time of this computer and of the server",)


def test_good_certificate_is_no_finding(mk: Any) -> None:
    assert diagnose(mk.target(mk.port(443, app=tls(())))) == ()


def test_app_error_quotes_what_the_server_said(mk: Any) -> None:
    refused = AppResult("error", "smtp", "421 too busy", "the smtp server refuses the connection")
    t = mk.target(mk.port(25, app=refused), mk.port(80, app="answered"))
    f = by_code(diagnose(t))["app-error"]
    # an application that fails its hello is a problem (exit 1), not a remark
    assert (f.severity, f.ports) == (Severity.ERROR, (25,))
    assert "smtp hello fails" in f.summary
    assert f.evidence == (
        'the smtp hello on 25: the smtp server refuses the connection; it said "421 too busy"',
    )
    assert any("--app-protocol" in s for s in f.next_steps)


def test_app_answered_is_no_finding(mk: Any) -> None:
    assert diagnose(mk.target(mk.port(22, app="answered"))) == ()


def test_app_silent_on_an_unknown_service_suggests_a_hello(mk: Any) -> None:
    generic = AppResult("silent", "generic", detail="no greeting within 1.5 s")
    t = mk.target(mk.port(9000, app=generic))
    f = by_code(diagnose(t))["app-silent"]
    assert any("--app-protocol" in s for s in f.next_steps)
    assert not any("speaks generic" in s for s in f.next_steps)
