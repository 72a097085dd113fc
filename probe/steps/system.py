"""What this client's applications get for a name: the system resolver, beside DNS.

Applications do not ask the DNS servers themselves: they call getaddrinfo, which walks the
sources of /etc/nsswitch.conf — usually the hosts file first, then DNS with the search list
of resolv.conf, sometimes mDNS, LDAP or systemd-resolved. probe asks it too, so that it
probes the address the client really uses, and reads the hosts file itself to tell a
hosts-file answer from the others (getaddrinfo does not say where an answer came from).

``lookup`` starts getaddrinfo in a worker thread; ``beside`` waits for it within the time
left and puts its answer into the DNS result, with where it came from. getaddrinfo cannot be
cancelled: a lookup that overruns is left to finish in its daemon thread and reported as a
timeout. The parsing and comparing (``hosts_entries``, ``source_of``, ``from_gaierror``) are
pure.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace

from probe.model import DnsResult, DnsStatus, SystemAnswer, SystemSource, SystemStatus

HOSTS_FILE = "/etc/hosts"  # `ip netns exec` bind-mounts /etc/netns/<ns>/hosts over it
_HOSTS_MAX = 1 << 20  # bytes of the hosts file read: an ad-blocking list is a few MB at most
_FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
# getaddrinfo's "no such name" answers; EAI_NODATA and EAI_ADDRFAMILY are glibc's own.
_NOT_FOUND = {
    getattr(socket, code)
    for code in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY")
    if hasattr(socket, code)
}
_ERROR_WORDS = {
    socket.EAI_AGAIN: "its DNS servers did not answer or failed for now (EAI_AGAIN)",
    socket.EAI_FAIL: "its DNS servers failed for good (EAI_FAIL)",
}


@dataclass(frozen=True)
class Pending:
    """A getaddrinfo under way in its worker thread."""

    future: Future[SystemAnswer]
    started: float  # time.monotonic() when it started


def lookup(name: str, families: tuple[int, ...], hosts_file: str = HOSTS_FILE) -> Pending:
    """Start getaddrinfo for ``name`` (only the ``families`` asked) in a daemon thread."""
    future: Future[SystemAnswer] = Future()

    def work() -> None:
        try:
            future.set_result(ask(name, families, hosts_file))
        except Exception as exc:  # a bug: handed to the waiting thread, which raises it
            future.set_exception(exc)

    started = time.monotonic()
    threading.Thread(target=work, name="probe-getaddrinfo", daemon=True).start()
    return Pending(future, started)


def beside(dns: DnsResult, pending: Pending, timeout: float) -> DnsResult:
    """``dns`` with the system resolver's answer, waited for until ``timeout`` seconds after
    it started; its source decided against the addresses DNS gave."""
    if dns.status is DnsStatus.LITERAL:
        return dns
    left = max(0.0, pending.started + timeout - time.monotonic())
    try:
        got = pending.future.result(timeout=left)
    except TimeoutError:
        got = SystemAnswer(
            SystemStatus.TIMEOUT,
            elapsed_ms=round(timeout * 1000.0, 3),
            detail=f"no result from getaddrinfo within {timeout:g} s",
        )
    if got.status is SystemStatus.OK and got.source is None:
        got = replace(got, source=source_of(got.addresses, (), dns.addresses))
    return replace(dns, system=got)


def ask(name: str, families: tuple[int, ...], hosts_file: str = HOSTS_FILE) -> SystemAnswer:
    """getaddrinfo for ``name``, and the hosts file's lines that name it (the worker's job).
    ``source`` is HOSTS when the hosts file gave the answer, else None: DNS's answer decides."""
    start = time.monotonic()
    family = _FAMILIES[families[0]] if len(families) == 1 else socket.AF_UNSPEC
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
    except socket.gaierror as err:
        return from_gaierror(err, _ms_since(start))
    except (OSError, UnicodeError) as err:  # e.g. a label the IDNA codec refuses
        return SystemAnswer(SystemStatus.ERROR, elapsed_ms=_ms_since(start), detail=str(err))
    elapsed = _ms_since(start)
    wanted = {_FAMILIES[f] for f in families}
    addresses = tuple(dict.fromkeys(str(i[4][0]) for i in infos if i[0] in wanted))
    if not addresses:
        return SystemAnswer(SystemStatus.NOT_FOUND, elapsed_ms=elapsed, detail="no address")
    entries = hosts_entries(_read(hosts_file), name)
    source = source_of(addresses, (a for _, a in entries), ())
    return SystemAnswer(
        SystemStatus.OK,
        addresses,
        source if source is SystemSource.HOSTS else None,
        hosts_file=hosts_file if entries else None,
        hosts_lines=tuple(dict.fromkeys(n for n, _ in entries)),
        elapsed_ms=elapsed,
    )


# --------------------------------------------------------------------------- pure


def from_gaierror(err: socket.gaierror, elapsed_ms: float) -> SystemAnswer:
    """getaddrinfo's error -> SystemAnswer: "not found" or "could not complete"."""
    words = (err.strerror or str(err)).lower()
    if err.errno in _NOT_FOUND:
        return SystemAnswer(SystemStatus.NOT_FOUND, elapsed_ms=elapsed_ms, detail=words)
    said = _ERROR_WORDS.get(err.errno, words) if err.errno is not None else words
    return SystemAnswer(SystemStatus.ERROR, elapsed_ms=elapsed_ms, detail=said)


def hosts_entries(text: str, name: str) -> tuple[tuple[int, str], ...]:
    """(line number, address) of every line of a hosts file that names ``name`` (any case, a
    trailing dot ignored), in file order; addresses normalised."""
    wanted = name.rstrip(".").casefold()
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.partition("#")[0].split()
        if len(words) < 2 or not any(w.rstrip(".").casefold() == wanted for w in words[1:]):
            continue
        address = normal(words[0])
        if address is not None:
            found.append((number, address))
    return tuple(found)


def source_of(system: Sequence[str], hosts: Iterable[str], dns: Sequence[str]) -> SystemSource:
    """Where the system resolver's addresses came from: the hosts file when it names one of
    them (the files source comes first in nsswitch.conf), DNS when DNS gave one of them,
    else another source."""
    mine = {normal(a) for a in system} - {None}
    if mine & set(hosts):
        return SystemSource.HOSTS
    if mine & {normal(a) for a in dns}:
        return SystemSource.DNS
    return SystemSource.OTHER


def normal(text: str) -> str | None:
    """An address in its one canonical spelling (2001:2:0:0::1 -> 2001:2::1), zone kept;
    None when ``text`` is no address."""
    host, sep, zone = text.partition("%")
    try:
        return str(ipaddress.ip_address(host)) + sep + zone
    except ValueError:
        return None


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(_HOSTS_MAX).decode("utf-8", "replace")
    except OSError:  # no hosts file, or not readable: nothing from it
        return ""


def _ms_since(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 3)
