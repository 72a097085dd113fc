"""--app in the lab: a real connect() and the protocol's hello after each open port.

srv serves HTTP on 80, an SSH-style banner on 22 and a silent application on 9000 (accepts,
never speaks: the "application hung / out of memory" case). For TLS, servers of this module
listen on srv with certificates made at test time: a good one for web.probe.test, an expired
one, and one for another name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab


def ports_of(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    (target,) = report["targets"]
    return {p["port"]: p for p in target["ports"]}


def codes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (target,) = report["targets"]
    return {f["code"]: f for f in target["findings"]}


@pytest.fixture(scope="module")
def srv_apps(lab: Lab) -> tuple[int, dict[str, Any]]:
    ports = f"{t.SSH_PORT},{t.HTTP_PORT},{t.SILENT_PORT}"
    return lab.probe_json("check", t.NAME_WEB, "-4", "-p", ports, "--app")


def test_http_status_line_and_server(srv_apps: tuple[int, dict[str, Any]]) -> None:
    app = ports_of(srv_apps[1])[t.HTTP_PORT]["app"]
    assert app == {
        "status": "answered",
        "protocol": "http",
        "banner": "HTTP/1.0 200 OK",
        "detail": "server: " + t.HTTP_SERVER_HEADER.split(": ", 1)[1],
    }


def test_ssh_banner(srv_apps: tuple[int, dict[str, Any]]) -> None:
    app = ports_of(srv_apps[1])[t.SSH_PORT]["app"]
    assert (app["status"], app["protocol"], app["banner"]) == (
        "answered",
        "ssh",
        t.SSH_BANNER.strip(),
    )


def test_application_that_accepts_and_never_answers(srv_apps: tuple[int, dict[str, Any]]) -> None:
    _, report = srv_apps
    port = ports_of(report)[t.SILENT_PORT]
    assert port["state"] == "open"  # the SYN probe alone says all is well...
    assert port["app"]["status"] == "silent"  # ...the hello says otherwise
    silent = codes(report)["app-silent"]
    assert (silent["ports"], silent["severity"]) == ([t.SILENT_PORT], "error")
    assert f"SYN/ACK on {t.SILENT_PORT}" in silent["evidence"][0]
    assert set(codes(report)) == {"app-silent"}  # 22 and 80 answered: nothing else to say


def test_app_lines_in_human_output(lab: Lab) -> None:
    proc = lab.run_probe("check", t.NAME_WEB, "-4", "-p", f"{t.SSH_PORT},{t.SILENT_PORT}", "--app")
    out = proc.stdout
    assert 'ssh answered: "SSH-2.0-probe-lab"' in out, out
    assert "generic silent" in out and "app-silent (port 9000)" in out


def test_app_protocol_override(lab: Lab) -> None:
    # HTTP spoken to the SSH port: the server answers with its banner, which is not HTTP.
    _, report = lab.probe_json("check", t.SRV_V4, "-p", str(t.SSH_PORT), "--app-protocol", "http")
    app = ports_of(report)[t.SSH_PORT]["app"]
    assert (app["status"], app["protocol"], app["banner"]) == (
        "error",
        "http",
        t.SSH_BANNER.strip(),
    )
    assert codes(report)["app-error"]["ports"] == [t.SSH_PORT]


def test_unknown_app_protocol_is_bad_input(lab: Lab) -> None:
    proc = lab.run_probe("check", t.SRV_V4, "-p", "22", "--app-protocol", "gopher")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--app-protocol" in proc.stderr and "Traceback" not in proc.stderr


def test_app_in_connect_mode(lab: Lab) -> None:
    _, report = lab.probe_json("check", t.SRV_V4, "-p", str(t.HTTP_PORT), "--app", "--connect")
    assert report["mode"] == "connect"
    assert ports_of(report)[t.HTTP_PORT]["app"]["status"] == "answered"


def test_no_app_without_the_option(lab: Lab) -> None:
    _, report = lab.probe_json("check", t.SRV_V4, "-p", str(t.HTTP_PORT))
    assert "app" not in ports_of(report)[t.HTTP_PORT]


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_servers(lab: Lab, make_cert: Any) -> Iterator[None]:
    certs = {
        t.TLS_GOOD_PORT: make_cert((t.NAME_WEB,)),
        t.TLS_EXPIRED_PORT: make_cert((t.NAME_WEB,), days=(-30, -1)),
        t.TLS_MISMATCH_PORT: make_cert(("other.probe.test",)),
    }
    with ExitStack() as stack:
        for port, (cert, key) in certs.items():
            stack.enter_context(
                lab.extra_server(
                    t.SRV_NS,
                    f"tls@{t.SRV_V4}:{port}",
                    extra=("--cert", str(cert), "--key", str(key)),
                )
            )
        yield


@pytest.fixture(scope="module")
def tls_report(lab: Lab, tls_servers: None) -> dict[str, Any]:
    ports = f"{t.TLS_GOOD_PORT},{t.TLS_EXPIRED_PORT},{t.TLS_MISMATCH_PORT}"
    _, report = lab.probe_json("check", t.NAME_WEB, "-4", "-p", ports, "--app-protocol", "tls")
    return report


def test_tls_good_certificate(tls_report: dict[str, Any]) -> None:
    app = ports_of(tls_report)[t.TLS_GOOD_PORT]["app"]
    assert (app["status"], app["protocol"]) == ("answered", "tls")
    tls = app["tls"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cert_subject"] == f"CN={t.NAME_WEB}" and tls["cert_names"] == [t.NAME_WEB]
    assert tls["cert_problems"] == [] and tls["cert_not_after"].endswith("Z")


def test_tls_expired_and_mismatched_certificates(tls_report: dict[str, Any]) -> None:
    ports = ports_of(tls_report)
    assert ports[t.TLS_EXPIRED_PORT]["app"]["tls"]["cert_problems"] == ["expired"]
    mismatch = ports[t.TLS_MISMATCH_PORT]["app"]["tls"]
    assert mismatch["cert_problems"] == ["name mismatch"]
    assert mismatch["cert_names"] == ["other.probe.test"]
    found = codes(tls_report)["tls-certificate"]
    assert (found["ports"], found["severity"]) == (
        [t.TLS_EXPIRED_PORT, t.TLS_MISMATCH_PORT],
        "error",
    )
    assert (
        "has expired" in found["summary"]
        and f"does not cover the name {t.NAME_WEB}" in (found["summary"])
    )


def test_tls_by_address_checks_dates_not_names(lab: Lab, tls_servers: None) -> None:
    ports = f"{t.TLS_EXPIRED_PORT},{t.TLS_MISMATCH_PORT}"
    _, report = lab.probe_json("check", t.SRV_V4, "-p", ports, "--app-protocol", "tls")
    by_port = ports_of(report)
    assert by_port[t.TLS_EXPIRED_PORT]["app"]["tls"]["cert_problems"] == ["expired"]
    assert by_port[t.TLS_MISMATCH_PORT]["app"]["tls"]["cert_problems"] == []
    assert codes(report)["tls-certificate"]["ports"] == [t.TLS_EXPIRED_PORT]


def test_tls_spoken_to_a_server_that_is_not_tls(lab: Lab) -> None:
    # The SSH banner arrives where a TLS ServerHello should: the handshake fails.
    _, report = lab.probe_json("check", t.SRV_V4, "-p", str(t.SSH_PORT), "--app-protocol", "tls")
    app = ports_of(report)[t.SSH_PORT]["app"]
    assert (app["status"], app["protocol"]) == ("error", "tls"), app
    assert app["detail"].startswith("TLS handshake failed") and "tls" not in app
    assert codes(report)["app-error"]["ports"] == [t.SSH_PORT]
