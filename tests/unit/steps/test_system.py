"""steps/system.py and session/resolve.py: what this client's applications get for a name
(getaddrinfo, the hosts file) beside DNS, and which address is probed.

getaddrinfo is always replaced by a fake here: no name is ever resolved by the system
resolver of the machine running the tests.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from probe.model import (
    DnsResult,
    DnsStatus,
    RouteResult,
    RouteStatus,
    SystemAnswer,
    SystemSource,
    SystemStatus,
    Target,
)
from probe.session.edge import Edge
from probe.session.resolve import client_addresses, resolve_target
from probe.steps import system

HOSTS = """\
127.0.0.1   localhost
::1         localhost ip6-localhost
# 198.18.1.99 web.probe.test   (a comment, not an entry)
198.18.1.12 Web.Probe.Test. web   # pinned while the new server is tested
2001:2:0:1:0:0:0:12 web.probe.test
not-an-address web.probe.test
198.18.1.13 webby.probe.test
"""

# --------------------------------------------------------------------------- pure


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        # any case, a trailing dot ignored, addresses normalised, file order
        ("web.probe.test", ((4, "198.18.1.12"), (5, "2001:2:0:1::12"))),
        ("WEB.probe.test.", ((4, "198.18.1.12"), (5, "2001:2:0:1::12"))),
        ("web", ((4, "198.18.1.12"),)),  # an alias on the line
        ("localhost", ((1, "127.0.0.1"), (2, "::1"))),
        ("probe.test", ()),  # no partial matches
        ("pinned", ()),  # words of a comment are no names
        ("198.18.1.12", ()),
    ],
)
def test_hosts_entries(name: str, entries: tuple[tuple[int, str], ...]) -> None:
    assert system.hosts_entries(HOSTS, name) == entries


@pytest.mark.parametrize(
    ("mine", "hosts", "dns", "source"),
    [
        (["198.18.1.12"], ["198.18.1.12"], ["198.18.1.10"], SystemSource.HOSTS),
        # the hosts file wins even when DNS agrees: the files source is asked first
        (["198.18.1.10"], ["198.18.1.10"], ["198.18.1.10"], SystemSource.HOSTS),
        (["198.18.1.10"], [], ["198.18.1.11", "198.18.1.10"], SystemSource.DNS),
        (["2001:2:0:1:0::10"], [], ["2001:2:0:1::10"], SystemSource.DNS),
        (["10.0.0.5"], [], ["198.18.1.10"], SystemSource.OTHER),
        (["10.0.0.5"], [], [], SystemSource.OTHER),
    ],
)
def test_source_of(mine: list[str], hosts: list[str], dns: list[str], source: str) -> None:
    assert system.source_of(mine, hosts, dns) is source


@pytest.mark.parametrize(
    ("errno", "words", "status", "detail"),
    [
        (socket.EAI_NONAME, "Name or service not known", "not_found", "name or service not known"),
        (
            socket.EAI_AGAIN,
            "Temporary failure in name resolution",
            "error",
            "its DNS servers did not answer or failed for now (EAI_AGAIN)",
        ),
        (
            socket.EAI_FAIL,
            "Non-recoverable failure in name resolution",
            "error",
            "its DNS servers failed for good (EAI_FAIL)",
        ),
        (socket.EAI_MEMORY, "Memory allocation failure", "error", "memory allocation failure"),
    ],
)
def test_from_gaierror(errno: int, words: str, status: str, detail: str) -> None:
    got = system.from_gaierror(socket.gaierror(errno, words), 4.0)
    assert (got.status, got.detail, got.elapsed_ms) == (status, detail, 4.0)


# --------------------------------------------------------------------------- getaddrinfo


GaiFn = Callable[..., list[tuple[Any, ...]]]


def fake_gai(*addresses: str) -> GaiFn:
    """getaddrinfo answering ``addresses`` (both families, each twice as a real one may),
    recording the family asked."""

    def gai(name: str, port: object, family: int = 0, type: int = 0) -> list[tuple[Any, ...]]:
        gai.asked.append((name, family))  # type: ignore[attr-defined]
        out = []
        for a in addresses:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            if family in (socket.AF_UNSPEC, fam):
                sockaddr = (a, 0, 0, 0) if fam == socket.AF_INET6 else (a, 0)
                out += [(fam, type, 6, "", sockaddr)] * 2
        return out

    gai.asked = []  # type: ignore[attr-defined]
    return gai


@pytest.fixture
def hosts_file(tmp_path: Path) -> str:
    path = tmp_path / "hosts"
    path.write_text(HOSTS)
    return str(path)


def test_ask_a_hosts_file_answer(monkeypatch: pytest.MonkeyPatch, hosts_file: str) -> None:
    gai = fake_gai("198.18.1.12", "2001:2:0:1::12")
    monkeypatch.setattr(system.socket, "getaddrinfo", gai)
    got = system.ask("web.probe.test", (4, 6), hosts_file)
    assert got.status is SystemStatus.OK
    assert got.addresses == ("198.18.1.12", "2001:2:0:1::12")  # each once
    assert got.source is SystemSource.HOSTS
    assert (got.hosts_file, got.hosts_lines) == (hosts_file, (4, 5))
    assert gai.asked == [("web.probe.test", socket.AF_UNSPEC)]  # type: ignore[attr-defined]


def test_ask_leaves_the_source_to_dns_when_the_hosts_file_is_silent(
    monkeypatch: pytest.MonkeyPatch, hosts_file: str
) -> None:
    gai = fake_gai("198.18.1.10", "2001:2:0:1::10")
    monkeypatch.setattr(system.socket, "getaddrinfo", gai)
    got = system.ask("other.probe.test", (6,), hosts_file)
    assert (got.status, got.addresses, got.source) == (
        SystemStatus.OK,
        ("2001:2:0:1::10",),
        None,
    )
    assert got.hosts_file is None
    assert gai.asked == [("other.probe.test", socket.AF_INET6)]  # type: ignore[attr-defined]


def test_ask_failures_are_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def gai(*_: object, **__: object) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(system.socket, "getaddrinfo", gai)
    got = system.ask("missing.probe.test", (4, 6), str(tmp_path / "no-hosts-file"))
    assert got.status is SystemStatus.NOT_FOUND and got.addresses == ()
    monkeypatch.setattr(system.socket, "getaddrinfo", fake_gai("2001:2::9"))
    assert system.ask("v6only.probe.test", (4,)).status is SystemStatus.NOT_FOUND


def dns_ok(*addresses: str) -> DnsResult:
    return DnsResult(DnsStatus.OK, addresses, nameservers=("198.18.1.53",))


def pending(answer: SystemAnswer | None) -> system.Pending:
    future: Future[SystemAnswer] = Future()
    if answer is not None:
        future.set_result(answer)
    return system.Pending(future, started=time.monotonic())


@pytest.mark.parametrize(
    ("mine", "dns", "source"),
    [
        (("198.18.1.10",), ("198.18.1.10", "2001:2:0:1::10"), SystemSource.DNS),
        (("10.0.0.5",), ("198.18.1.10",), SystemSource.OTHER),
    ],
)
def test_beside_decides_the_source_against_dns(
    mine: tuple[str, ...], dns: tuple[str, ...], source: SystemSource
) -> None:
    got = system.beside(dns_ok(*dns), pending(SystemAnswer(SystemStatus.OK, mine)), 1.0)
    assert got.addresses == dns and got.system is not None
    assert (got.system.addresses, got.system.source) == (mine, source)


def test_beside_keeps_a_hosts_file_answer() -> None:
    mine = SystemAnswer(SystemStatus.OK, ("198.18.1.12",), SystemSource.HOSTS)
    got = system.beside(dns_ok("198.18.1.12"), pending(mine), 1.0)
    assert got.system == mine


def test_beside_does_not_wait_past_the_timeout() -> None:
    got = system.beside(DnsResult(DnsStatus.TIMEOUT), pending(None), 0.05)
    assert got.status is DnsStatus.TIMEOUT and got.system is not None
    assert got.system.status is SystemStatus.TIMEOUT
    assert got.system.detail == "no result from getaddrinfo within 0.05 s"


def test_lookup_runs_in_a_daemon_thread(monkeypatch: pytest.MonkeyPatch, hosts_file: str) -> None:
    seen: list[tuple[str, bool]] = []
    gai = fake_gai("198.18.1.12")

    def recording(*args: Any) -> list[tuple[Any, ...]]:
        me = threading.current_thread()
        seen.append((me.name, me.daemon))
        return gai(*args)

    monkeypatch.setattr(system.socket, "getaddrinfo", recording)
    got = system.beside(dns_ok("198.18.1.10"), system.lookup("web", (4,), hosts_file), 5.0)
    assert seen == [("probe-getaddrinfo", True)]
    assert got.system is not None and got.system.source is SystemSource.HOSTS


# --------------------------------------------------------------------------- which address


SYS_HOSTS = SystemAnswer(SystemStatus.OK, ("198.18.1.12",), SystemSource.HOSTS)
SYS_MISSING = SystemAnswer(SystemStatus.NOT_FOUND, detail="name or service not known")


@pytest.mark.parametrize(
    ("dns", "probed"),
    [
        # the hosts file's address, not DNS's
        (DnsResult(DnsStatus.OK, ("198.18.1.10",), system=SYS_HOSTS), ("198.18.1.12",)),
        # a name DNS does not know, found in the hosts file
        (DnsResult(DnsStatus.NXDOMAIN, system=SYS_HOSTS), ("198.18.1.12",)),
        # the system resolver found nothing: DNS's answer is still worth probing
        (DnsResult(DnsStatus.OK, ("198.18.1.10",), system=SYS_MISSING), ("198.18.1.10",)),
        # --nameserver: the system resolver was not asked
        (DnsResult(DnsStatus.OK, ("198.18.1.10",)), ("198.18.1.10",)),
        (DnsResult(DnsStatus.NXDOMAIN, system=SYS_MISSING), ()),
    ],
)
def test_the_address_the_client_uses_is_probed(dns: DnsResult, probed: tuple[str, ...]) -> None:
    assert client_addresses(dns) == probed
    ok = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")
    edge = Edge(
        resolve=lambda *_: dns,
        literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
        route=lambda _: ok,
        ping=lambda *_: None,  # type: ignore[arg-type,return-value]
        open_engine=lambda _: None,  # type: ignore[arg-type,return-value]
    )
    found = resolve_target(Target("web.probe.test", "name"), (), 1.0, (4, 6), edge)
    assert found.dns == dns  # what DNS said is kept as it was
    assert tuple(a for a, _ in found.addresses) == probed
