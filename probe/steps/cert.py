"""Server certificates read for ``--app``'s TLS hello (pure): the parts probe shows (names,
issuer, validity) and the problems it names — "expired", "not yet valid", "name mismatch"
against the name the user typed (RFC 6125 wildcards included).

Certificates are parsed with the ``cryptography`` package when it is installed, else with
the standard library's own decoder (the one behind ``ssl.getpeercert()``), so nothing here
needs more than Python itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CertInfo:
    """What probe reads from a certificate: names in words, the expiry as a UTC datetime."""

    subject: str
    issuer: str
    not_before: datetime | None
    not_after: datetime | None
    dns_names: tuple[str, ...] = ()
    ip_names: tuple[str, ...] = ()
    common_name: str | None = None


def iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def cert_problems(cert: CertInfo, server_name: str | None, now: datetime) -> tuple[str, ...]:
    """ "expired", "not yet valid", "name mismatch" — what a client would refuse the
    certificate for, except trust (verification is off). The name is checked only when
    the user typed one (``server_name``)."""
    out: list[str] = []
    if cert.not_after is not None and now > cert.not_after:
        out.append("expired")
    if cert.not_before is not None and now < cert.not_before:
        out.append("not yet valid")
    if server_name is not None and not _covers(cert, server_name):
        out.append("name mismatch")
    return tuple(out)


def _covers(cert: CertInfo, name: str) -> bool:
    if is_address(name):
        want = ipaddress.ip_address(name)
        return any(_same_ip(want, ip) for ip in cert.ip_names)
    # RFC 6125: the subject's CN counts only when the certificate has no DNS names at all.
    patterns = cert.dns_names or ((cert.common_name,) if cert.common_name else ())
    return any(name_matches(p, name) for p in patterns)


def _same_ip(want: ipaddress.IPv4Address | ipaddress.IPv6Address, have: str) -> bool:
    try:
        return ipaddress.ip_address(have) == want
    except ValueError:
        return False


def name_matches(pattern: str, name: str) -> bool:
    """RFC 6125 host name matching: case-insensitive, a trailing dot ignored, and a "*"
    only as the whole leftmost label, matching exactly one label ("*.example.com" covers
    "www.example.com", not "example.com" nor "a.b.example.com")."""
    p = pattern.strip().rstrip(".").lower()
    n = name.strip().rstrip(".").lower()
    if not p or not n:
        return False
    if not p.startswith("*."):
        return p == n
    first, _, rest = n.partition(".")
    return bool(first) and rest == p[2:] and "*" not in rest


def parse_certificate(der: bytes) -> CertInfo | None:
    """A DER certificate in words; None when neither parser can read it."""
    try:
        return _parse_with_cryptography(der)
    except (ImportError, AttributeError):  # not installed, or older than 42
        pass
    except ValueError:
        return None
    return _parse_with_ssl(der)


def _parse_with_cryptography(der: bytes) -> CertInfo:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=dns,
        ip_names=ips,
        common_name=cn if isinstance(cn, str) else None,
    )


def _parse_with_ssl(der: bytes) -> CertInfo | None:
    """The standard library's decoder: the one getpeercert() uses, reached through the
    ssl module's test hook because it takes a PEM file only."""
    import ssl

    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return None
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        info: dict[str, Any] = decode(path)
    except (ssl.SSLError, OSError, ValueError):
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return _cert_from_dict(info)


def _cert_from_dict(info: Mapping[str, Any]) -> CertInfo:
    """getpeercert()'s dict -> CertInfo."""
    import ssl

    def name(rdns: Any) -> tuple[str, str | None]:
        pairs = [(k, v) for rdn in rdns or () for k, v in rdn]
        short = {"commonName": "CN", "organizationName": "O", "countryName": "C"}
        words = ",".join(f"{short.get(k, k)}={v}" for k, v in reversed(pairs))
        cn = next((v for k, v in pairs if k == "commonName"), None)
        return words, cn

    def when(key: str) -> datetime | None:
        value = info.get(key)
        if not value:
            return None
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(value), UTC)

    subject, cn = name(info.get("subject"))
    issuer, _ = name(info.get("issuer"))
    sans = info.get("subjectAltName") or ()
    return CertInfo(
        subject=subject,
        issuer=issuer,
        not_before=when("notBefore"),
        not_after=when("notAfter"),
        dns_names=tuple(v for k, v in sans if k == "DNS"),
        ip_names=tuple(v.strip() for k, v in sans if k == "IP Address"),
        common_name=cn,
    )
