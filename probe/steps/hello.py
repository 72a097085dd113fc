"""--app: after an open port, a real connect() and the protocol's hello (edge).

The SYN probe only shows that something completes the TCP handshake; a load balancer
without a backend, a hung process or a service out of memory do that too. Here the client
connects for real and speaks first the way the service expects:

- ``http``: a GET request; the status line is the banner, the Server header the detail.
- ``tls``: a TLS handshake with SNI, verification OFF so that a broken certificate can be
  read rather than refused: version, subject, issuer, names and expiry are recorded, and
  ``cert_problems`` says "expired", "not yet valid" or "name mismatch" (checked here, against
  the name the user typed, RFC 6125 wildcards included).
- banner protocols (``ssh``, ``smtp``, ``ftp``, ``pop3``, ``imap``, ``banner``): the server
  speaks first; its first line is the banner. A greeting that refuses (SMTP 421, POP3 -ERR,
  IMAP BYE) or is not the protocol at all is an ``error``.
- ``generic`` (a service we have no hello for): wait for a greeting for half the time, then
  send an HTTP request and wait the other half.

Outcomes are data: ``answered``, ``silent`` (nothing within the timeout, or the server
closed the connection without a word: the seed's "application not running / out of memory"
case) or ``error`` (connect() failed, the answer is not the protocol, the TLS handshake
failed). Every wait is bounded by one deadline per hello.
The certificate is read by ``cert``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from probe import __version__
from probe.model import AppResult
from probe.steps.cert import CertInfo, cert_problems, is_address, iso, parse_certificate

__all__ = ["PROTOCOLS", "hello", "protocol_for"]

DEFAULT_TIMEOUT: Final = 3.0
MAX_READ: Final = 16 * 1024  # bytes read from any server, at most
BANNER_MAX: Final = 200  # characters of a first line kept

# The hellos, in the order --app-protocol lists them.
PROTOCOLS: Final[tuple[str, ...]] = (
    "http",
    "tls",
    "ssh",
    "smtp",
    "ftp",
    "pop3",
    "imap",
    "banner",
    "generic",
)

# Service names (plan/ports.py's table, profiles, /etc/services) -> the hello that fits them.
_BY_SERVICE: Final[Mapping[str, str]] = {
    "http": "http",
    "www": "http",
    "www-http": "http",
    "http-alt": "http",
    "http-proxy": "http",
    "webcache": "http",
    "clickhouse-http": "http",
    "couchdb": "http",
    "elasticsearch": "http",
    "influxdb": "http",
    "https": "tls",
    "https-alt": "tls",
    "ssl": "tls",
    "imaps": "tls",
    "pop3s": "tls",
    "smtps": "tls",
    "submissions": "tls",
    "ldaps": "tls",
    "ftps": "tls",
    "oracle-tcps": "tls",
    "ssh": "ssh",
    "smtp": "smtp",
    "submission": "smtp",
    "ftp": "ftp",
    "pop3": "pop3",
    "pop": "pop3",
    "imap": "imap",
    "imap2": "imap",
    "imap4": "imap",
}

# What the first line of a banner protocol starts with when the server is happy, and what
# it starts with when the server refuses the client (too many connections, blocked...).
_GREETING: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "ssh": (("SSH-",), ()),
    "smtp": (("220",), ("421", "554", "4", "5")),
    "ftp": (("220", "120"), ("421", "4", "5")),
    "pop3": (("+OK",), ("-ERR",)),
    "imap": (("* OK", "* PREAUTH"), ("* BYE",)),
}


def protocol_for(name: str | None) -> str:
    """The hello for a service name or an --app-protocol word; "generic" when unknown."""
    if not name:
        return "generic"
    key = name.strip().lower()
    if key in PROTOCOLS:
        return key
    return _BY_SERVICE.get(key, "generic")


def hello(
    address: str,
    port: int,
    protocol: str | None,
    server_name: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    now: datetime | None = None,
) -> AppResult:
    """Connect to ``address``:``port`` and speak ``protocol`` (a hello name or a service name).

    ``server_name`` is the host name the user asked for: the HTTP Host header, the TLS SNI
    and the name the certificate must cover. Never raises for what the network does.
    """
    kind = protocol_for(protocol)
    deadline = time.monotonic() + timeout
    try:
        sock = _connect(address, port, timeout)
    except OSError as exc:
        return AppResult("error", kind, detail=f"connect() failed: {_os_error(exc)}")
    with sock:
        try:
            if kind == "http":
                return _http(sock, kind, _host_header(address, port, server_name), deadline)
            if kind == "tls":
                return _tls(sock, server_name, deadline, now or datetime.now(UTC))
            if kind == "generic":
                return _generic(sock, address, port, server_name, deadline, timeout)
            return _banner(sock, kind, deadline)
        except TimeoutError:
            return AppResult("silent", kind, detail=f"no answer within {timeout:g} s")
        except _Closed as exc:
            return AppResult("silent", kind, detail=str(exc))
        except OSError as exc:
            return AppResult("error", kind, detail=_os_error(exc))


# --------------------------------------------------------------------------- plumbing


class _Closed(Exception):
    """The server ended the connection before saying anything."""


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _os_error(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    name = os.strerror(exc.errno) if exc.errno else str(exc)
    code = errno.errorcode.get(exc.errno or 0)
    return f"{code} ({name})" if code else name


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _read(sock: socket.socket, deadline: float, done: bytes) -> bytes:
    """Read until ``done`` appears, the server closes, MAX_READ bytes or the deadline.

    Raises TimeoutError (nothing at all came) and _Closed (closed or reset without a byte);
    with some bytes in hand, returns them whatever happens next.
    """
    data = b""
    while done not in data and len(data) < MAX_READ:
        try:
            sock.settimeout(_left(deadline))
            chunk = sock.recv(MAX_READ - len(data))
        except TimeoutError:
            if data:
                return data
            raise
        except ConnectionResetError as exc:
            if data:
                return data
            raise _Closed("the server reset the connection without a word") from exc
        if not chunk:
            if data:
                return data
            raise _Closed("the server closed the connection without a word")
        data += chunk
    return data


def _first_line(data: bytes) -> str:
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    return line.decode("utf-8", "replace")[:BANNER_MAX]


def _host_header(address: str, port: int, server_name: str | None) -> str:
    host = server_name or (f"[{address}]" if ":" in address else address)
    return host if port == 80 else f"{host}:{port}"


# --------------------------------------------------------------------------- the hellos


def _request(host: str) -> bytes:
    return (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe/{__version__}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


def _http(sock: socket.socket, kind: str, host: str, deadline: float) -> AppResult:
    sock.sendall(_request(host))
    return _http_answer(_read(sock, deadline, b"\r\n\r\n"), kind)


def _http_answer(data: bytes, kind: str) -> AppResult:
    status = _first_line(data)
    if not status.startswith("HTTP/"):
        return AppResult("error", kind, status, "the answer is not HTTP")
    server = None
    for raw in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = raw.partition(b":")
        if name.strip().lower() == b"server":
            server = value.strip().decode("utf-8", "replace")[:BANNER_MAX]
            break
    return AppResult("answered", kind, status, f"server: {server}" if server else None)


def _banner(sock: socket.socket, kind: str, deadline: float) -> AppResult:
    line = _first_line(_read(sock, deadline, b"\n"))
    good, bad = _GREETING.get(kind, ((), ()))
    if not good or line.startswith(good):
        return AppResult("answered", kind, line)
    if bad and line.startswith(bad):
        return AppResult("error", kind, line, f"the {kind} server refuses the connection")
    return AppResult("error", kind, line, f"the greeting is not {kind.upper()}")


def _generic(
    sock: socket.socket,
    address: str,
    port: int,
    server_name: str | None,
    deadline: float,
    timeout: float,
) -> AppResult:
    """No hello known for the port: a greeting if the server speaks first, else HTTP."""
    try:
        data = _read(sock, time.monotonic() + timeout / 2, b"\n")
    except TimeoutError:
        pass
    else:
        return AppResult("answered", "banner", _first_line(data))
    sock.sendall(_request(_host_header(address, port, server_name)))
    try:
        data = _read(sock, deadline, b"\r\n\r\n")
    except TimeoutError:
        return AppResult(
            "silent",
            "generic",
            detail=f"no greeting within {timeout / 2:g} s and no answer to an HTTP request "
            f"within {timeout / 2:g} s more",
        )
    if data.startswith(b"HTTP/"):
        return _http_answer(data, "http")
    return AppResult("answered", "generic", _first_line(data), "answered an HTTP request")


# --------------------------------------------------------------------------- TLS


def _tls(sock: socket.socket, server_name: str | None, deadline: float, now: datetime) -> AppResult:
    import ssl

    ctx = ssl.create_default_context()
    # Read the certificate whatever it is worth: verification is done below, in words.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    sni = server_name if server_name and not is_address(server_name) else None
    sock.settimeout(_left(deadline))
    try:
        tls = ctx.wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False)
        tls.do_handshake()
    except ssl.SSLError as exc:
        reason = exc.reason or exc.strerror or str(exc)
        if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            raise _Closed("the server closed the connection during the TLS handshake") from exc
        return AppResult("error", "tls", detail=f"TLS handshake failed: {reason}")
    except ConnectionResetError as exc:
        raise _Closed("the server reset the connection during the TLS handshake") from exc
    with tls:
        version = tls.version()
        der = tls.getpeercert(binary_form=True)
    if not der:
        return AppResult(
            "answered", "tls", detail=f"{version}, no certificate", tls_version=version
        )
    cert = parse_certificate(der)
    if cert is None:
        return AppResult(
            "answered",
            "tls",
            detail=f"{version}, certificate not readable",
            tls_version=version,
        )
    problems = cert_problems(cert, sni, now)
    return AppResult(
        "answered",
        "tls",
        detail=_tls_detail(version, cert, problems, sni),
        tls_version=version,
        cert_subject=cert.subject,
        cert_issuer=cert.issuer,
        cert_not_after=iso(cert.not_after),
        cert_names=(*cert.dns_names, *cert.ip_names),
        cert_problems=problems,
    )


def _tls_detail(
    version: str | None, cert: CertInfo, problems: tuple[str, ...], sni: str | None
) -> str:
    parts = [version or "TLS", f"certificate {cert.common_name or cert.subject}"]
    if cert.not_after is not None:
        parts.append(f"valid until {cert.not_after:%Y-%m-%d}")
    if problems:
        parts.append(f"problem: {', '.join(problems)}")
    elif sni is None:
        parts.append("name not checked (target given as an address)")
    return ", ".join(parts)
