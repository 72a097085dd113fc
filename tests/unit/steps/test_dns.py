"""dns.py: answers and dnspython exceptions -> DnsResult, with fake resolvers; one real run.

The real run (root only) starts dnsmasq in a throwaway namespace pair ``hx-dns-a`` /
``hx-dns-b`` joined by a veth (198.19.200.1/30 - .2/30) and resolves from ``hx-dns-a``;
nothing can leave the pair. Everything else uses dnspython's own message and exception
classes fed from text, and no packet is sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver
import pytest

from probe.errors import BadInput, TargetError
from probe.model import DnsResult, DnsStatus
from probe.plan.targets import literal_dns
from probe.steps import dns as pdns

CHAIN_A = """id 1
opcode QUERY
rcode NOERROR
flags QR RD RA
;QUESTION
c.probe.test. IN A
;ANSWER
c.probe.test. 300 IN CNAME b.probe.test.
b.probe.test. 300 IN CNAME a.probe.test.
a.probe.test. 300 IN A 198.19.200.2
a.probe.test. 300 IN A 198.19.200.3
"""
PLAIN_AAAA = """id 2
opcode QUERY
rcode NOERROR
flags QR RD RA
;QUESTION
a.probe.test. IN AAAA
;ANSWER
a.probe.test. 300 IN AAAA 2001:2:0:200::2
"""
NODATA_AAAA = """id 3
opcode QUERY
rcode NOERROR
flags QR AA RD RA
;QUESTION
v4.probe.test. IN AAAA
;AUTHORITY
probe.test. 600 IN SOA ns.probe.test. hostmaster.probe.test. 1 1200 180 1209600 600
"""
NX_VIA_CNAME = """id 4
opcode QUERY
rcode NXDOMAIN
flags QR RD RA
;QUESTION
www.probe.test. IN A
;ANSWER
www.probe.test. 300 IN CNAME gone.probe.test.
"""


def answer(text: str, nameserver: str = "198.19.200.2") -> dns.resolver.Answer:
    msg = dns.message.from_text(text)
    assert isinstance(msg, dns.message.QueryMessage)
    question = msg.question[0]
    return dns.resolver.Answer(
        question.name, question.rdtype, question.rdclass, msg, nameserver, 53
    )


def nxdomain(text: str) -> dns.resolver.NXDOMAIN:
    msg = dns.message.from_text(text)
    qname = msg.question[0].name
    return dns.resolver.NXDOMAIN(qnames=[qname], responses={qname: msg})


def no_answer(text: str) -> dns.resolver.NoAnswer:
    return dns.resolver.NoAnswer(response=dns.message.from_text(text))


def servfail() -> dns.resolver.NoNameservers:
    return failed(("198.19.200.2", "SERVFAIL"))


def failed(*said: tuple[str, object]) -> dns.resolver.NoNameservers:
    """Every server failed: (server as dnspython names it, rcode word or exception) each."""
    request = dns.message.make_query("a.probe.test", "A")
    errors = [(server, False, 53, what, None) for server, what in said]
    return dns.resolver.NoNameservers(request=request, errors=errors)


def lifetime() -> dns.resolver.LifetimeTimeout:
    errors = [("198.19.201.1", False, 53, dns.exception.Timeout(), None)]
    return dns.resolver.LifetimeTimeout(timeout=2.0, errors=errors)


# --------------------------------------------------------------------------- pure pieces


def test_from_answer_follows_the_cname_chain() -> None:
    got = pdns.from_answer(4, answer(CHAIN_A))
    assert got.status is DnsStatus.OK
    assert got.addresses == ("198.19.200.2", "198.19.200.3")
    assert got.cname_chain == ("b.probe.test", "a.probe.test")
    assert got.answered_by == "198.19.200.2"


def test_cname_chain_of_a_plain_answer_is_empty() -> None:
    assert pdns.cname_chain(dns.message.from_text(PLAIN_AAAA)) == ()
    assert pdns.cname_chain(None) == ()


@pytest.mark.parametrize(
    ("err", "status", "words"),
    [
        (
            nxdomain(NX_VIA_CNAME),
            DnsStatus.NXDOMAIN,
            "the name does not exist (NXDOMAIN for www.probe.test)",
        ),
        (no_answer(NODATA_AAAA), DnsStatus.NO_ANSWER, "the name has no AAAA record"),
        (servfail(), DnsStatus.SERVFAIL, "198.19.200.2 answered SERVFAIL"),
        (lifetime(), DnsStatus.TIMEOUT, "no answer within 2.0 s from 198.19.201.1"),
        (dns.exception.Timeout(), DnsStatus.TIMEOUT, "no answer in time"),
        (
            dns.resolver.YXDOMAIN(),
            DnsStatus.SERVFAIL,
            "the name is too long once the search domain is added (YXDOMAIN)",
        ),
    ],
)
def test_from_error(err: Exception, status: DnsStatus, words: str) -> None:
    got = pdns.from_error(6, err)
    assert got.status is status
    assert got.detail == words
    assert got.family == 6


# Each server's rcode in plain words; dnspython names servers "Do53:ADDRESS@PORT".
SERVER_ERRORS = [
    # REFUSED is its own status, with the server that refused
    (
        [("Do53:198.19.200.2@53", "REFUSED")],
        "refused",
        "198.19.200.2",
        "198.19.200.2 answered REFUSED",
    ),
    (
        [("Do53:198.19.200.2@53", "REFUSED"), ("Do53:2001:2:0:200::2@5353", "REFUSED")],
        "refused",
        "198.19.200.2",
        "198.19.200.2 answered REFUSED; 2001:2:0:200::2 port 5353 answered REFUSED",
    ),
    # a SERVFAIL anywhere is about the name: it wins over a REFUSED elsewhere
    (
        [("Do53:198.19.200.2@53", "REFUSED"), ("Do53:198.19.200.3@53", "SERVFAIL")],
        "servfail",
        "198.19.200.3",
        "198.19.200.2 answered REFUSED; 198.19.200.3 answered SERVFAIL",
    ),
    # the same answer on every retry is said once
    (
        [("Do53:198.19.200.2@53", "SERVFAIL"), ("Do53:198.19.200.2@53", "SERVFAIL")],
        "servfail",
        "198.19.200.2",
        "198.19.200.2 answered SERVFAIL",
    ),
    # the rarer rcodes: the server cannot do the lookup, which for the client is a SERVFAIL
    (
        [("Do53:198.19.200.2@53", "NOTIMP")],
        "servfail",
        "198.19.200.2",
        "198.19.200.2 does not implement this kind of query (NOTIMP)",
    ),
    (
        [("Do53:198.19.200.2@53", "FORMERR")],
        "servfail",
        "198.19.200.2",
        "198.19.200.2 could not read the query (FORMERR)",
    ),
    (
        [("Do53:198.19.200.2@53", "NOTZONE")],
        "servfail",
        "198.19.200.2",
        "198.19.200.2 answered NOTZONE",
    ),
    (
        [("Do53:198.19.200.2@53", dns.exception.FormError("bad"))],
        "servfail",
        "198.19.200.2",
        "198.19.200.2 sent an answer that could not be read",
    ),
    # REFUSED from one, nothing from the other (unreachable): still refused
    (
        [
            ("Do53:198.19.200.2@53", "REFUSED"),
            ("Do53:198.19.201.1@53", OSError(101, "Network is unreachable")),
        ],
        "refused",
        "198.19.200.2",
        "198.19.200.2 answered REFUSED; 198.19.201.1: network is unreachable",
    ),
    # no server could be reached at all: for the client, no resolver answers
    (
        [("Do53:198.19.201.1@53", OSError(111, "Connection refused"))],
        "timeout",
        None,
        "198.19.201.1: connection refused",
    ),
]


@pytest.mark.parametrize(("said", "status", "by", "detail"), SERVER_ERRORS)
def test_each_servers_rcode_in_plain_words(
    said: list[tuple[str, object]], status: str, by: str | None, detail: str
) -> None:
    got = pdns.from_error(4, failed(*said))
    assert (got.status, got.answered_by, got.detail) == (status, by, detail)
    assert "Do53" not in (got.detail or "")  # no library spelling in what users read


def test_nxdomain_keeps_the_dangling_cname() -> None:
    assert pdns.from_error(4, nxdomain(NX_VIA_CNAME)).cname_chain == ("gone.probe.test",)


def test_from_error_reraises_bugs() -> None:
    with pytest.raises(KeyError):
        pdns.from_error(4, KeyError("not a DNS outcome"))


def ok(family: int, *addresses: str, chain: tuple[str, ...] = ()) -> pdns.FamilyOutcome:
    return pdns.FamilyOutcome(family, DnsStatus.OK, addresses, chain, "198.19.200.2")


def bad(family: int, status: DnsStatus) -> pdns.FamilyOutcome:
    return pdns.FamilyOutcome(family, status, detail=f"{status} words")


@pytest.mark.parametrize(
    ("outcomes", "status", "addresses", "detail"),
    [
        ([ok(4, "198.19.200.2"), ok(6, "2001:2::2")], "ok", ("198.19.200.2", "2001:2::2"), None),
        # IPv4 first even when AAAA came back first
        ([ok(6, "2001:2::2"), ok(4, "198.19.200.2")], "ok", ("198.19.200.2", "2001:2::2"), None),
        # no AAAA record: still ok, nothing to report
        ([ok(4, "198.19.200.2"), bad(6, DnsStatus.NO_ANSWER)], "ok", ("198.19.200.2",), None),
        # the AAAA query failed outright: ok, with a word about it
        (
            [ok(4, "198.19.200.2"), bad(6, DnsStatus.TIMEOUT)],
            "ok",
            ("198.19.200.2",),
            "AAAA: timeout words",
        ),
        ([bad(4, DnsStatus.NO_ANSWER), bad(6, DnsStatus.NO_ANSWER)], "no_answer", (), None),
        ([bad(4, DnsStatus.NXDOMAIN), bad(6, DnsStatus.NXDOMAIN)], "nxdomain", (), None),
        ([bad(4, DnsStatus.TIMEOUT), bad(6, DnsStatus.SERVFAIL)], "servfail", (), None),
        ([bad(4, DnsStatus.NO_ANSWER), bad(6, DnsStatus.TIMEOUT)], "timeout", (), None),
        ([bad(4, DnsStatus.SERVFAIL), bad(6, DnsStatus.NXDOMAIN)], "nxdomain", (), None),
        ([bad(4, DnsStatus.REFUSED), bad(6, DnsStatus.REFUSED)], "refused", (), None),
        ([bad(4, DnsStatus.REFUSED), bad(6, DnsStatus.TIMEOUT)], "refused", (), None),
        ([bad(4, DnsStatus.REFUSED), bad(6, DnsStatus.SERVFAIL)], "servfail", (), None),
    ],
)
def test_combine(
    outcomes: list[pdns.FamilyOutcome],
    status: str,
    addresses: tuple[str, ...],
    detail: str | None,
) -> None:
    got = pdns.combine(outcomes, nameservers=("198.19.200.2",), elapsed_ms=1.5)
    assert got.status == status
    assert got.addresses == addresses
    assert got.nameservers == ("198.19.200.2",)
    assert got.elapsed_ms == 1.5
    if status == "ok":
        assert got.detail == detail
        assert got.answered_by == "198.19.200.2"
    else:
        assert got.detail == f"{status} words"


def test_combine_keeps_the_chain() -> None:
    got = pdns.combine(
        [ok(4, "198.19.200.2", chain=("b.probe.test",)), ok(6, "2001:2::2", chain=("x",))],
        nameservers=(),
        elapsed_ms=0.0,
    )
    assert got.cname_chain == ("b.probe.test",)


def test_literal() -> None:
    assert literal_dns("2001:0002:0::0001") == DnsResult(
        DnsStatus.LITERAL, addresses=("2001:2::1",)
    )
    assert literal_dns("fe80::1%eth0").addresses == ("fe80::1%eth0",)
    with pytest.raises(TargetError):
        literal_dns("camera.example")


# --------------------------------------------------------------------------- resolve() seams


class FakeResolver:
    """dnspython's Resolver as resolve() uses it: answers or raises per record type."""

    def __init__(self, by_type: dict[str, dns.resolver.Answer | Exception]) -> None:
        self.by_type = by_type
        self.nameservers = ["198.19.200.2"]
        self.asked: list[tuple[str, str, bool | None]] = []

    def resolve(
        self, name: str, rdtype: Any, lifetime: float | None = None, search: bool | None = None
    ) -> dns.resolver.Answer:
        text = dns.rdatatype.to_text(rdtype)
        self.asked.append((name, text, search))
        result = self.by_type[text]
        if isinstance(result, Exception):
            raise result
        return result


def use(monkeypatch: pytest.MonkeyPatch, fake: FakeResolver) -> list[tuple[Any, ...]]:
    made: list[tuple[Any, ...]] = []

    def new_resolver(servers: Any, timeout: float) -> FakeResolver:
        made.append((list(servers), timeout))
        return fake

    monkeypatch.setattr(pdns, "_new_resolver", new_resolver)
    return made


def test_resolve_both_families(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeResolver({"A": answer(CHAIN_A), "AAAA": answer(PLAIN_AAAA)})
    made = use(monkeypatch, fake)
    got = pdns.resolve("c.probe.test", nameservers=["198.19.200.2"], timeout=1.5)
    assert got.status is DnsStatus.OK
    assert got.addresses == ("198.19.200.2", "198.19.200.3", "2001:2:0:200::2")
    assert got.cname_chain == ("b.probe.test", "a.probe.test")
    assert got.nameservers == ("198.19.200.2",)
    assert got.answered_by == "198.19.200.2"
    assert made == [(["198.19.200.2"], 1.5)]
    assert sorted(fake.asked) == [("c.probe.test", "A", True), ("c.probe.test", "AAAA", True)]


def test_resolve_v4_only_with_aaaa_nodata_is_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, FakeResolver({"A": answer(CHAIN_A), "AAAA": no_answer(NODATA_AAAA)}))
    assert pdns.resolve("c.probe.test").status is DnsStatus.OK


def test_resolve_one_family(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeResolver({"AAAA": answer(PLAIN_AAAA)})
    use(monkeypatch, fake)
    got = pdns.resolve("a.probe.test", families=(6,))
    assert got.addresses == ("2001:2:0:200::2",)
    assert [t for _n, t, _s in fake.asked] == ["AAAA"]


def test_resolve_failures_are_data(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, FakeResolver({"A": servfail(), "AAAA": lifetime()}))
    got = pdns.resolve("a.probe.test")
    assert got.status is DnsStatus.SERVFAIL
    assert "SERVFAIL" in (got.detail or "")


def test_resolve_an_address_is_a_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    made = use(monkeypatch, FakeResolver({}))
    assert pdns.resolve("198.19.200.2").status is DnsStatus.LITERAL
    assert made == []


@pytest.mark.parametrize("bad_ns", ["dns.example", "198.19.200.300", ""])
def test_resolve_rejects_nameservers_that_are_not_addresses(bad_ns: str) -> None:
    with pytest.raises(BadInput, match="not an IP address"):
        pdns.resolve("a.probe.test", nameservers=[bad_ns])


def test_resolve_rejects_names_dns_cannot_carry() -> None:
    with pytest.raises(TargetError):
        pdns.resolve("a..probe.test", nameservers=["198.19.200.2"])


def test_no_resolv_conf_is_an_outcome(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(pdns, "_RESOLV_CONF", str(tmp_path / "missing.conf"))
    got = pdns.resolve("a.probe.test")
    assert got.status is DnsStatus.SERVFAIL
    assert "no system resolver" in (got.detail or "")


def test_resolv_conf_without_nameservers_is_an_outcome(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search probe.test\n")
    monkeypatch.setattr(pdns, "_RESOLV_CONF", str(conf))
    assert pdns.resolve("a.probe.test").status is DnsStatus.SERVFAIL


def test_system_resolvers_are_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 198.19.200.2\nnameserver 2001:2:0:200::2\n")
    monkeypatch.setattr(pdns, "_RESOLV_CONF", str(conf))
    # the real resolver object, but no query leaves: _query is replaced
    monkeypatch.setattr(
        pdns, "_query", lambda _r, _n, family, _t: pdns.from_error(family, lifetime())
    )
    got = pdns.resolve("a.probe.test", timeout=1.0)
    assert got.status is DnsStatus.TIMEOUT
    assert got.nameservers == ("198.19.200.2", "2001:2:0:200::2")


# --------------------------------------------------------------------------- real dnsmasq

NS_A, NS_B = "hx-dns-a", "hx-dns-b"
DNSMASQ_ARGS = [
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--pid-file=",  # no pid file: several may run at once
    "--log-facility=-",
    "--listen-address=198.19.200.2",
    "--bind-interfaces",
    "--local=/probe.test/",  # answer NXDOMAIN for unknown names here, never forward
    "--host-record=a.probe.test,198.19.200.2,2001:2:0:200::2",
    "--host-record=v4.probe.test,198.19.200.2",
    "--cname=c.probe.test,b.probe.test",
    "--cname=b.probe.test,a.probe.test",
    "--txt-record=t.probe.test,no-address-here",
]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _listening(ns: str) -> bool:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, "ss", "-Hlnu"], capture_output=True, text=True, timeout=5
    )
    return "198.19.200.2:53" in out.stdout


@pytest.fixture(scope="module")
def dnsmasq_pair() -> Iterator[str]:
    """hx-dns-a <-> hx-dns-b with dnsmasq on 198.19.200.2; yields the client namespace."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "dnsmasq", "ss")):
        pytest.skip("needs root, ip, ss and dnsmasq")
    proc: subprocess.Popen[bytes] | None = None
    try:
        _ip("netns", "add", NS_A)
        _ip("netns", "add", NS_B)
        _ip(
            "link",
            "add",
            "hx-dns-a0",
            "netns",
            NS_A,
            "type",
            "veth",
            "peer",
            "name",
            "hx-dns-b0",
            "netns",
            NS_B,
        )
        for ns, dev, addr in (
            (NS_A, "hx-dns-a0", "198.19.200.1/30"),
            (NS_B, "hx-dns-b0", "198.19.200.2/30"),
        ):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_B, "dnsmasq", *DNSMASQ_ARGS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(50):  # at most ~2.5 s for dnsmasq to bind
            if _listening(NS_B) or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not _listening(NS_B):
            pytest.fail("dnsmasq did not start in the hx-dns-b namespace")
        yield NS_A
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for ns in (NS_A, NS_B):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


RESOLVE_IN_NS = """
import dataclasses, json, sys
from probe.steps.dns import resolve
out = {n: dataclasses.asdict(resolve(n, nameservers=["198.19.200.2"], timeout=1.0))
       for n in sys.argv[1:]}
print(json.dumps(out))
"""


def test_real_dnsmasq(dnsmasq_pair: str) -> None:
    names = ["a.probe.test", "c.probe.test", "v4.probe.test", "t.probe.test", "nope.probe.test"]
    env = dict(os.environ, PYTHONPATH=str(Path(pdns.__file__).resolve().parents[2]))
    done = subprocess.run(
        ["ip", "netns", "exec", dnsmasq_pair, sys.executable, "-c", RESOLVE_IN_NS, *names],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=True,
    )
    got = json.loads(done.stdout)
    assert got["a.probe.test"]["status"] == "ok"
    assert got["a.probe.test"]["addresses"] == ["198.19.200.2", "2001:2:0:200::2"]
    assert got["a.probe.test"]["answered_by"] == "198.19.200.2"
    assert got["a.probe.test"]["nameservers"] == ["198.19.200.2"]
    assert got["c.probe.test"]["cname_chain"] == ["b.probe.test", "a.probe.test"]
    assert got["v4.probe.test"]["status"] == "ok"  # A only, AAAA NODATA
    assert got["v4.probe.test"]["addresses"] == ["198.19.200.2"]
    assert got["t.probe.test"]["status"] == "no_answer"
    assert got["nope.probe.test"]["status"] == "nxdomain"
    assert all(r["elapsed_ms"] < 1000 for r in got.values())
