"""app.py: the protocol hellos against small servers on the loopback interface, and the
certificate checks (names, dates) as plain data. Nothing leaves this machine."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probe.steps import cert as certs
from probe.steps import hello as app
from probe.steps.cert import CertInfo, cert_problems, name_matches
from probe.steps.hello import hello, protocol_for

LOCAL = "127.0.0.1"
Handler = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def serve(handler: Handler) -> Iterator[int]:
    """One connection on a loopback port, handled in a thread; yields the port."""
    listener = socket.create_server((LOCAL, 0))
    listener.settimeout(5)
    stop = threading.Event()

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                handler(conn, stop)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def say(data: bytes, *, then_wait: bool = True) -> Handler:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)
        if then_wait:
            stop.wait(5)

    return handler


def http_server(answer: bytes, requests: list[bytes] | None = None) -> Handler:
    """Reads a request head, answers ``answer``; keeps the request in ``requests``."""

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = conn.recv(4096)
            if not chunk:
                return
            got += chunk
        if requests is not None:
            requests.append(got)
        conn.sendall(answer)

    return handler


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(5)


def close_at_once(conn: socket.socket, stop: threading.Event) -> None:
    pass


# --------------------------------------------------------------------------- choosing a hello


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("http", "http"),
        ("http-alt", "http"),
        ("HTTPS", "tls"),
        ("https-alt", "tls"),
        ("imaps", "tls"),
        ("submissions", "tls"),
        ("ssh", "ssh"),
        ("submission", "smtp"),
        ("pop3", "pop3"),
        ("imap", "imap"),
        ("ftp", "ftp"),
        ("banner", "banner"),
        ("rtsp", "generic"),
        (None, "generic"),
        ("", "generic"),
    ],
)
def test_protocol_for(name: str | None, kind: str) -> None:
    assert protocol_for(name) == kind


def test_every_protocol_is_its_own_hello() -> None:
    assert all(protocol_for(p) == p for p in app.PROTOCOLS)


# --------------------------------------------------------------------------- HTTP


def test_http_status_line_and_server() -> None:
    answer = b"HTTP/1.1 503 Service Unavailable\r\nServer: nginx/1.25\r\n\r\nbusy"
    requests: list[bytes] = []
    with serve(http_server(answer, requests)) as port:
        r = hello(LOCAL, port, "http-alt", "web.example", timeout=2)
    assert (r.status, r.protocol, r.banner, r.detail) == (
        "answered",
        "http",
        "HTTP/1.1 503 Service Unavailable",
        "server: nginx/1.25",
    )
    (request,) = requests
    assert request.startswith(b"GET / HTTP/1.1\r\n")
    assert f"Host: web.example:{port}\r\n".encode() in request


def test_http_answered_by_something_else_is_an_error() -> None:
    with serve(say(b"SSH-2.0-OpenSSH_9.6\r\n")) as port:
        r = hello(LOCAL, port, "http", timeout=2)
    assert (r.status, r.banner, r.detail) == (
        "error",
        "SSH-2.0-OpenSSH_9.6",
        "the answer is not HTTP",
    )


# --------------------------------------------------------------------------- banners


@pytest.mark.parametrize(
    ("protocol", "greeting", "status"),
    [
        ("ssh", b"SSH-2.0-probe-lab\r\n", "answered"),
        ("smtp", b"220 mail.example ESMTP\r\n", "answered"),
        ("smtp", b"421 mail.example too busy\r\n", "error"),
        ("ftp", b"220 (vsFTPd 3.0.5)\r\n", "answered"),
        ("pop3", b"+OK Dovecot ready.\r\n", "answered"),
        ("pop3", b"-ERR go away\r\n", "error"),
        ("imap", b"* OK [CAPABILITY IMAP4rev1] ready\r\n", "answered"),
        ("imap", b"* BYE too many connections\r\n", "error"),
        ("ssh", b"220 not ssh at all\r\n", "error"),
        ("banner", b"anything at all\n", "answered"),
    ],
)
def test_banner_first_line(protocol: str, greeting: bytes, status: str) -> None:
    with serve(say(greeting)) as port:
        r = hello(LOCAL, port, protocol, timeout=2)
    assert (r.status, r.protocol, r.banner) == (status, protocol, greeting.decode().strip())


def test_banner_is_the_first_line_only_and_bounded() -> None:
    with serve(say(b"SSH-2.0-x" + b"y" * 1000 + b"\r\nsecond line\r\n")) as port:
        r = hello(LOCAL, port, "ssh", timeout=2)
    assert r.banner is not None and len(r.banner) == app.BANNER_MAX and "second" not in r.banner


def test_silent_application() -> None:
    with serve(silent) as port:
        r = hello(LOCAL, port, "ssh", timeout=0.3)
    assert (r.status, r.protocol, r.detail) == ("silent", "ssh", "no answer within 0.3 s")


def test_closed_without_a_word_is_silent() -> None:
    with serve(close_at_once) as port:
        r = hello(LOCAL, port, "smtp", timeout=2)
    assert (r.status, r.detail) == ("silent", "the server closed the connection without a word")


def test_connect_refused_is_an_error() -> None:
    with socket.create_server((LOCAL, 0)) as s:
        port = s.getsockname()[1]  # closed again before the hello: nothing listens
    r = hello(LOCAL, port, "http", timeout=1)
    assert r.status == "error" and r.detail is not None
    assert r.detail.startswith("connect() failed: ECONNREFUSED")


# --------------------------------------------------------------------------- generic


def test_generic_takes_a_greeting() -> None:
    with serve(say(b"RFB 003.008\n")) as port:
        r = hello(LOCAL, port, "vnc", timeout=2)
    assert (r.status, r.protocol, r.banner) == ("answered", "banner", "RFB 003.008")


def test_generic_falls_back_to_http() -> None:
    with serve(http_server(b"HTTP/1.0 200 OK\r\nServer: cam\r\n\r\n")) as port:
        r = hello(LOCAL, port, None, timeout=0.6)
    assert (r.status, r.protocol, r.banner, r.detail) == (
        "answered",
        "http",
        "HTTP/1.0 200 OK",
        "server: cam",
    )


def test_generic_silent() -> None:
    with serve(silent) as port:
        r = hello(LOCAL, port, None, timeout=0.4)
    assert (r.status, r.protocol) == ("silent", "generic")
    assert r.detail == (
        "no greeting within 0.2 s and no answer to an HTTP request within 0.2 s more"
    )


# --------------------------------------------------------------------------- TLS


def tls_server(cert: Path, key: Path, seen_sni: list[str | None]) -> Handler:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def sni(sock: Any, name: str | None, _: Any) -> None:
        seen_sni.append(name)

    ctx.sni_callback = sni

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls, contextlib.suppress(OSError):
            tls.recv(1)

    return handler


def run_tls(make_cert: Any, server_name: str | None, **cert: Any) -> tuple[Any, list[str | None]]:
    seen: list[str | None] = []
    with serve(tls_server(*make_cert(**cert), seen)) as port:
        return hello(LOCAL, port, "https", server_name, timeout=3), seen


def test_tls_good_certificate(make_cert: Any) -> None:
    r, sni = run_tls(make_cert, "web.probe.test", names=("web.probe.test",))
    assert (r.status, r.protocol, r.cert_problems) == ("answered", "tls", ())
    assert sni == ["web.probe.test"]
    assert r.tls_version in ("TLSv1.2", "TLSv1.3")
    assert r.cert_subject == r.cert_issuer == "CN=web.probe.test"
    assert r.cert_names == ("web.probe.test",)
    assert r.cert_not_after is not None and r.cert_not_after.endswith("Z")
    assert r.detail is not None and "certificate web.probe.test, valid until" in r.detail


def test_tls_expired_certificate(make_cert: Any) -> None:
    r, _ = run_tls(make_cert, "web.probe.test", names=("web.probe.test",), days=(-30, -1))
    assert r.status == "answered" and r.cert_problems == ("expired",)
    assert r.detail is not None and "problem: expired" in r.detail


def test_tls_name_mismatch(make_cert: Any) -> None:
    r, sni = run_tls(make_cert, "web.probe.test", names=("other.probe.test",))
    assert r.cert_problems == ("name mismatch",)
    assert sni == ["web.probe.test"]  # the server was asked for our name


def test_tls_by_address_sends_no_sni_and_checks_no_name(make_cert: Any) -> None:
    r, sni = run_tls(make_cert, None, names=("other.probe.test",))
    assert r.cert_problems == () and sni == [None]
    assert r.detail is not None and "name not checked" in r.detail


def test_tls_to_a_plain_server_is_an_error() -> None:
    with serve(say(b"HTTP/1.0 400 Bad Request\r\n\r\n")) as port:
        r = hello(LOCAL, port, "tls", timeout=2)
    assert r.status == "error" and r.detail is not None
    assert r.detail.startswith("TLS handshake failed")


def test_tls_silent_server() -> None:
    with serve(silent) as port:
        r = hello(LOCAL, port, "tls", timeout=0.3)
    assert r.status == "silent"


def test_certificate_parsers_agree(make_cert: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, _ = make_cert(("a.example", "*.b.example"), ips=("198.18.1.10",), days=(-2, 3))
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    with_crypto = certs.parse_certificate(der)

    def missing(der: bytes) -> CertInfo:
        raise ImportError("no cryptography")

    monkeypatch.setattr(certs, "_parse_with_cryptography", missing)
    with_ssl = certs.parse_certificate(der)
    assert with_crypto is not None and with_ssl is not None
    assert with_crypto == with_ssl
    assert with_ssl.dns_names == ("a.example", "*.b.example")
    assert with_ssl.ip_names == ("198.18.1.10",)
    assert with_ssl.common_name == "a.example"


def test_unreadable_certificate() -> None:
    assert certs.parse_certificate(b"not a certificate") is None


# --------------------------------------------------------------------------- names and dates


@pytest.mark.parametrize(
    ("pattern", "name", "match"),
    [
        ("web.example", "web.example", True),
        ("WEB.example.", "web.EXAMPLE", True),
        ("*.example", "web.example", True),
        ("*.example", "example", False),
        ("*.example", "a.b.example", False),
        ("w*.example", "www.example", False),  # partial wildcards: not accepted
        ("web.example", "www.example", False),
        ("", "web.example", False),
    ],
)
def test_name_matches(pattern: str, name: str, match: bool) -> None:
    assert name_matches(pattern, name) is match


NOW = datetime(2030, 6, 1, tzinfo=UTC)


def cert(**kw: Any) -> CertInfo:
    base: dict[str, Any] = {
        "subject": "CN=web.example",
        "issuer": "CN=CA",
        "not_before": NOW - timedelta(days=10),
        "not_after": NOW + timedelta(days=10),
        "dns_names": ("web.example",),
        "common_name": "web.example",
    }
    return CertInfo(**{**base, **kw})


@pytest.mark.parametrize(
    ("info", "name", "problems"),
    [
        (cert(), "web.example", ()),
        (cert(), None, ()),
        (cert(not_after=NOW - timedelta(seconds=1)), "web.example", ("expired",)),
        (cert(not_before=NOW + timedelta(days=1)), "web.example", ("not yet valid",)),
        (cert(), "www.example", ("name mismatch",)),
        # a certificate with DNS names ignores its CN (RFC 6125)
        (cert(dns_names=("a.example",)), "web.example", ("name mismatch",)),
        # without any DNS name, the CN is the name
        (cert(dns_names=()), "web.example", ()),
        (cert(ip_names=("198.18.1.10",)), "198.18.1.10", ()),
        (cert(ip_names=("2001:2:0:1::10",)), "2001:2:0:1:0:0:0:10", ()),
        (cert(), "198.18.1.10", ("name mismatch",)),
        (
            cert(not_after=NOW - timedelta(days=1), dns_names=("x.example",)),
            "web.example",
            ("expired", "name mismatch"),
        ),
    ],
)
def test_cert_problems(info: CertInfo, name: str | None, problems: tuple[str, ...]) -> None:
    assert cert_problems(info, name, NOW) == problems
