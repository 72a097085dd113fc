"""Name -> addresses with dnspython, recording what the resolvers said.

``resolve`` asks A and AAAA at the same time (two threads, each bounded by the timeout, so
the whole lookup takes about ``timeout`` at worst) and returns a ``DnsResult``: the
addresses, the CNAME chain followed, which resolvers were asked and which one answered.
Failures are outcomes: NXDOMAIN, SERVFAIL, REFUSED, a timeout or a name without addresses
are statuses with plain words in ``detail`` (which server said what), never exceptions.

The I/O is ``_query`` (one dnspython call); the mapping of answers and dnspython exceptions
to statuses (``from_answer``, ``from_error``, ``combine``) is pure and tested on plain data.

Quirks worth knowing:
- Like the system's stub resolver, the search list of /etc/resolv.conf applies to relative
  names ("camera" may become "camera.corp.example"); with ``nameservers`` given there is no
  search list and the name is asked as typed.
- dnspython sends UDP from an unconnected socket, so an ICMP port unreachable from a resolver
  with nothing listening on 53 is not seen: that case shows up as a timeout.
- Each server's rcode is kept apart: REFUSED (the server does not serve this client or
  this name) is its own status; NOTIMP, FORMERR and the rarer rcodes say the server cannot
  do the lookup, which for the client is a SERVFAIL. A server that could not be reached at
  all (network unreachable, TCP refused) is, for the client, a resolver that does not answer.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver

from probe.errors import BadInput, TargetError
from probe.model import DnsResult, DnsStatus
from probe.plan.targets import literal_dns

_RESOLV_CONF = "/etc/resolv.conf"  # the system's resolvers (tests point this elsewhere)
_RDTYPES = {4: dns.rdatatype.A, 6: dns.rdatatype.AAAA}

# When no family gave an address: the most telling failure wins. NXDOMAIN is an answer about
# the name itself; SERVFAIL and timeouts say the lookup could not be completed; NoAnswer for
# one family only means "no address of that kind".
_PRECEDENCE = (
    DnsStatus.NXDOMAIN,
    DnsStatus.SERVFAIL,
    DnsStatus.REFUSED,
    DnsStatus.TIMEOUT,
    DnsStatus.NO_ANSWER,
)
# Rcodes other than SERVFAIL and REFUSED, in plain words: the server cannot do the lookup.
_SERVER = re.compile(r"Do[A-Za-z0-9]+:(.+)@(\d+)")  # str() of a dnspython nameserver
_RCODE_WORDS = {
    "FORMERR": "could not read the query (FORMERR)",
    "NOTIMP": "does not implement this kind of query (NOTIMP)",
    "NOTAUTH": "is not authoritative for the name and does not resolve (NOTAUTH)",
}


@dataclass(frozen=True)
class FamilyOutcome:
    """What one query (A or AAAA) came back with."""

    family: int
    status: DnsStatus
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    answered_by: str | None = None
    detail: str | None = None


def resolve(
    name: str,
    *,
    nameservers: Sequence[str] = (),
    timeout: float = 2.0,
    families: tuple[int, ...] = (4, 6),
) -> DnsResult:
    """Resolve ``name`` to its IPv4 then IPv6 addresses; every outcome is a DnsResult.

    ``nameservers``: resolver IP addresses to ask instead of the system's (port 53).
    Raises BadInput for a nameserver that is not an IP address or a name DNS cannot carry.
    """
    servers = [_check_nameserver(ns) for ns in nameservers]
    if not families or any(f not in _RDTYPES for f in families):
        raise ValueError(f"families must be 4 and/or 6, not {families}")
    if _is_address(name):
        return literal_dns(name)
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as err:
        raise TargetError(f"{name!r} is not a valid DNS name: {err}") from None

    start = time.monotonic()
    try:
        resolver = _new_resolver(servers, timeout)
    except dns.resolver.NoResolverConfiguration:
        # No /etc/resolv.conf, or one without a nameserver line: nothing to ask.
        return DnsResult(
            DnsStatus.SERVFAIL,
            elapsed_ms=_ms_since(start),
            detail=f"no system resolver to ask (no nameserver in {_RESOLV_CONF}); give one "
            "with --nameserver",
        )
    asked = tuple(str(ns) for ns in resolver.nameservers)
    with ThreadPoolExecutor(max_workers=len(families), thread_name_prefix="probe-dns") as pool:
        futures = [pool.submit(_query, resolver, name, f, timeout) for f in families]
        outcomes = [f.result() for f in futures]
    return combine(outcomes, nameservers=asked, elapsed_ms=_ms_since(start))


# --------------------------------------------------------------------------- pure mapping


def from_answer(family: int, answer: dns.resolver.Answer) -> FamilyOutcome:
    """A successful dnspython Answer -> FamilyOutcome (addresses in DNS order)."""
    rrset = answer.rrset
    addresses = tuple(str(rdata) for rdata in rrset) if rrset is not None else ()
    if not addresses:
        return FamilyOutcome(family, DnsStatus.NO_ANSWER, answered_by=answer.nameserver)
    return FamilyOutcome(
        family,
        DnsStatus.OK,
        addresses=addresses,
        cname_chain=cname_chain(answer.response),
        answered_by=answer.nameserver,
    )


def from_error(family: int, err: Exception) -> FamilyOutcome:
    """A dnspython exception -> FamilyOutcome with plain words in ``detail``. Non-DNS
    exceptions are bugs: re-raised."""
    if isinstance(err, dns.resolver.NXDOMAIN):
        asked = ", ".join(str(q).rstrip(".") for q in err.kwargs.get("qnames") or ())
        words = f"the name does not exist (NXDOMAIN for {asked})" if asked else "NXDOMAIN"
        return FamilyOutcome(family, DnsStatus.NXDOMAIN, cname_chain=_nx_chain(err), detail=words)
    if isinstance(err, dns.resolver.NoAnswer):
        response = err.kwargs.get("response")
        chain = cname_chain(response) if isinstance(response, dns.message.Message) else ()
        words = f"the name has no {_rdtype(family)} record"
        return FamilyOutcome(family, DnsStatus.NO_ANSWER, cname_chain=chain, detail=words)
    if isinstance(err, dns.resolver.LifetimeTimeout):
        servers = ", ".join(dict.fromkeys(_server(e[0]) for e in err.kwargs.get("errors") or ()))
        within = f" within {err.kwargs['timeout']:.1f} s" if "timeout" in err.kwargs else ""
        words = f"no answer{within}" + (f" from {servers}" if servers else "")
        return FamilyOutcome(family, DnsStatus.TIMEOUT, detail=words)
    if isinstance(err, dns.exception.Timeout):
        return FamilyOutcome(family, DnsStatus.TIMEOUT, detail="no answer in time")
    if isinstance(err, dns.resolver.NoNameservers):
        return from_server_errors(family, err.kwargs.get("errors") or ())
    if isinstance(err, dns.resolver.YXDOMAIN):
        words = "the name is too long once the search domain is added (YXDOMAIN)"
        return FamilyOutcome(family, DnsStatus.SERVFAIL, detail=words)
    if isinstance(err, dns.exception.DNSException):
        # A CNAME chain too long, a malformed response...: the lookup could not be completed.
        words = f"the lookup could not be completed ({type(err).__name__})"
        return FamilyOutcome(family, DnsStatus.SERVFAIL, detail=words)
    raise err


def from_server_errors(family: int, errors: Sequence[Sequence[object]]) -> FamilyOutcome:
    """Every server failed (dnspython's NoNameservers): what each one said -> one status.

    ``errors`` are dnspython's (server, tcp, port, rcode word or exception, response). Any
    SERVFAIL makes it servfail (the name's own servers are at fault); REFUSED from every
    server that answered makes it refused; other rcodes or a malformed answer are servfail;
    no answer at all (only network errors) is a timeout: no resolver could be reached.
    """
    said: list[str] = []  # what each server said, in plain words
    rcodes: dict[str, str] = {}  # rcode word -> the first server that answered it
    for entry in errors:
        server, what = _server(entry[0]), entry[3]
        if isinstance(what, str):
            rcodes.setdefault(what, server)
            said.append(f"{server} {_RCODE_WORDS.get(what, f'answered {what}')}")
        elif isinstance(what, OSError):
            said.append(f"{server}: {(what.strerror or str(what)).lower()}")
        else:  # FormError, Truncated, EOF: an answer came, but not one to read
            rcodes.setdefault("malformed", server)
            said.append(f"{server} sent an answer that could not be read")
    detail = "; ".join(dict.fromkeys(said)) or "every server failed"
    if not rcodes:
        return FamilyOutcome(family, DnsStatus.TIMEOUT, detail=detail)
    status = DnsStatus.REFUSED if set(rcodes) == {"REFUSED"} else DnsStatus.SERVFAIL
    by = rcodes.get("SERVFAIL") or next(iter(rcodes.values()))
    return FamilyOutcome(family, status, answered_by=by, detail=detail)


def combine(
    outcomes: Sequence[FamilyOutcome], *, nameservers: tuple[str, ...], elapsed_ms: float
) -> DnsResult:
    """Per-family outcomes -> one DnsResult: addresses if any family had some."""
    ordered = sorted(outcomes, key=lambda o: o.family)  # IPv4 first, then IPv6
    good = [o for o in ordered if o.status is DnsStatus.OK]
    if good:
        addresses = tuple(dict.fromkeys(a for o in good for a in o.addresses))
        # A family that failed outright (not a plain "no AAAA record") is worth a mention.
        failed = [o for o in ordered if o.status not in (DnsStatus.OK, DnsStatus.NO_ANSWER)]
        detail = "; ".join(f"{_rdtype(o.family)}: {o.detail or o.status}" for o in failed)
        return DnsResult(
            DnsStatus.OK,
            addresses=addresses,
            cname_chain=good[0].cname_chain,
            nameservers=nameservers,
            answered_by=good[0].answered_by,
            elapsed_ms=elapsed_ms,
            detail=detail or None,
        )
    if not ordered:
        return DnsResult(DnsStatus.NO_ANSWER, nameservers=nameservers, elapsed_ms=elapsed_ms)
    worst = min(ordered, key=lambda o: _PRECEDENCE.index(o.status))
    chain = next((o.cname_chain for o in ordered if o.cname_chain), ())
    return DnsResult(
        worst.status,
        cname_chain=chain,
        nameservers=nameservers,
        answered_by=worst.answered_by,
        elapsed_ms=elapsed_ms,
        detail=worst.detail,
    )


def cname_chain(response: dns.message.Message | None) -> tuple[str, ...]:
    """The CNAME targets followed in a response, in order, without trailing dots."""
    if not isinstance(response, dns.message.QueryMessage):
        return ()
    try:
        chaining = response.resolve_chaining()
    except dns.exception.DNSException:  # a chain too long, or a message that is no response
        return ()
    return tuple(rrset[0].target.to_text(omit_final_dot=True) for rrset in chaining.cnames)


def _nx_chain(err: dns.resolver.NXDOMAIN) -> tuple[str, ...]:
    # A CNAME pointing to a name that does not exist: the NXDOMAIN response still carries
    # the CNAMEs, which is the most useful evidence ("www -> old-cdn.example, gone").
    responses = err.kwargs.get("responses") or {}
    for qname in err.kwargs.get("qnames") or ():
        chain = cname_chain(responses.get(qname))
        if chain:
            return chain
    return ()


# --------------------------------------------------------------------------- I/O


def _new_resolver(servers: Sequence[str], timeout: float) -> dns.resolver.Resolver:
    """A dnspython resolver on the given servers, else on the system's configuration."""
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        try:
            resolver.nameservers = list(servers)
        except ValueError as err:  # e.g. a zone index dnspython does not take
            raise BadInput(f"unusable nameserver in {list(servers)}: {err}") from None
    else:
        resolver = dns.resolver.Resolver(filename=_RESOLV_CONF, configure=True)
    # Per-server attempt time: split the budget so every resolver gets a turn before the
    # lifetime (the hard bound of the whole query) runs out.
    resolver.timeout = timeout / max(1, len(resolver.nameservers))
    resolver.lifetime = timeout
    return resolver


def _query(
    resolver: dns.resolver.Resolver, name: str, family: int, timeout: float
) -> FamilyOutcome:
    try:
        answer = resolver.resolve(name, _RDTYPES[family], lifetime=timeout, search=True)
    except dns.exception.DNSException as err:
        return from_error(family, err)
    return from_answer(family, answer)


# --------------------------------------------------------------------------- helpers


def _check_nameserver(text: str) -> str:
    host = text.partition("%")[0]
    if not _is_address(host):
        raise BadInput(f"nameserver {text!r} is not an IP address")
    return text


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def _server(text: object) -> str:
    """dnspython's "Do53:198.18.1.53@53" -> "198.18.1.53" (the port only when not 53)."""
    m = _SERVER.fullmatch(str(text))
    if m is None:
        return str(text)
    return m[1] if m[2] == "53" else f"{m[1]} port {m[2]}"


def _rdtype(family: int) -> str:
    return "A" if family == 4 else "AAAA"


def _ms_since(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 3)
