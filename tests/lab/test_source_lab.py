"""``--source`` in the lab: the client gets a second address on its LAN for this module's
duration (198.18.0.3 and 2001:2::3, free in topology.py), and every probe of a check — the
ping, the SYNs, IPv4 and IPv6 — leaves from it: an nft counter in the router sees them come
from the new address and nothing from the client's usual one. The route step reports the
source; the ports read as usual; an address of another computer is refused before anything
is sent; and a serve module's ``source_address`` is used by the exporter's probes."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import serve_lab as s
from . import topology as t
from .netlab import Lab

SOURCE_V4 = "198.18.0.3"
SOURCE_V6 = "2001:2::3"
COUNTER_TABLE = "probe_source_count"  # in the router: who the client's probes come from

Counts = Callable[[], dict[str, int]]


@pytest.fixture(scope="module")
def second_address(lab: Lab) -> Iterator[None]:
    added: list[str] = []
    try:
        for address in (f"{SOURCE_V4}/24", f"{SOURCE_V6}/64"):
            # nodad: usable at once (IPv6 duplicate address detection would hold it back
            # for a second or more, and the address is ours alone on the lab's LAN).
            got = lab.exec(
                lab.client_ns, "ip", "addr", "add", address, "dev", t.HOST_IFACE, "nodad"
            )
            assert got.returncode == 0, got.stderr
            added.append(address)
        yield
    finally:
        for address in added:
            lab.exec(lab.client_ns, "ip", "addr", "del", address, "dev", t.HOST_IFACE)


@pytest.fixture
def counts(lab: Lab, second_address: None) -> Iterator[Counts]:
    """Probes (SYNs, UDP, echo requests) through the router, by source: the new address's
    and the client's usual one's. What the client's kernel sends by itself (its RST to a
    SYN/ACK) is left out."""
    rules = []
    for name, v4, v6 in (("new", SOURCE_V4, SOURCE_V6), ("old", t.CLIENT_V4, t.CLIENT_V6)):
        for family, address, echo in (("ip", v4, "icmp"), ("ip6", v6, "icmpv6")):
            rules += [
                f'{family} saddr {address} tcp flags & (syn | ack) == syn counter name "{name}"',
                f'{family} saddr {address} meta l4proto udp counter name "{name}"',
                f'{family} saddr {address} {echo} type echo-request counter name "{name}"',
            ]
    ruleset = (
        f"table inet {COUNTER_TABLE} {{\n  counter new {{ }}\n  counter old {{ }}\n"
        "  chain pre {\n    type filter hook prerouting priority -300; policy accept;\n"
        + "".join(f"    {rule}\n" for rule in rules)
        + "  }\n}\n"
    )
    added = lab.exec(lab.router_ns, "nft", "-f", "-", input=ruleset)
    assert added.returncode == 0, added.stderr

    def read() -> dict[str, int]:
        proc = lab.exec(lab.router_ns, "nft", "-j", "list", "table", "inet", COUNTER_TABLE)
        assert proc.returncode == 0, proc.stderr
        items = json.loads(proc.stdout)["nftables"]
        return {x["counter"]["name"]: int(x["counter"]["packets"]) for x in items if "counter" in x}

    try:
        yield read
    finally:
        lab.exec(lab.router_ns, "nft", "delete", "table", "inet", COUNTER_TABLE)


@pytest.mark.parametrize(
    ("target", "source"), [(t.SRV_V4, SOURCE_V4), (t.SRV_V6, SOURCE_V6)], ids=["ipv4", "ipv6"]
)
def test_every_probe_leaves_from_the_source(
    lab: Lab, counts: Counts, target: str, source: str
) -> None:
    before = counts()
    rc, report = lab.probe_json(
        "check", target, "-p", f"{t.HTTP_PORT},{t.CLOSED_PORT}", "--source", source
    )
    after = counts()
    assert rc == 1, report  # 81 refused
    (found,) = report["targets"]
    assert found["route"]["status"] == "ok" and found["route"]["source"] == source
    assert found["route"]["interface"] == t.HOST_IFACE
    states = {p["port"]: (p["state"], p["responder"]) for p in found["ports"]}
    assert states == {t.HTTP_PORT: ("open", target), t.CLOSED_PORT: ("refused", target)}
    assert found["ping"]["status"] == "ok" and found["ping"]["received"] == 3
    # Two SYNs (each answered at once) and three echo requests, all from the source.
    assert after["new"] - before["new"] == 5, (before, after)
    assert after["old"] == before["old"], (before, after)


def test_trace_leaves_from_the_source(lab: Lab, counts: Counts) -> None:
    before = counts()
    rc, report = lab.probe_json("trace", t.SRV_V4, "--port", str(t.HTTP_PORT), "-S", SOURCE_V4)
    after = counts()
    assert rc == 0, report
    assert [h["kind"] for h in report["hops"]][-1] == "syn-ack"
    assert after["new"] > before["new"] and after["old"] == before["old"], (before, after)


ENGINE_FROM_SOURCE = """
import sys
from probe.engine.base import EngineConfig, Job
from probe.engine.raw import RawEngine

engine = RawEngine()
run = engine.scan([Job(sys.argv[1], 80, source=sys.argv[2])], EngineConfig(tries=1, timeout=0.5))
engine.close()
print(run.evidence[0].answer, run.evidence[0].errno_name)
"""


def test_a_rule_for_the_source_routes_its_ipv4_probes(lab: Lab, counts: Counts) -> None:
    # The kernel looks up an IPv4 raw socket's route before it reads the header we wrote;
    # IP_PKTINFO gives the lookup our source, so a rule for it holds: here its table
    # prohibits everything, and the probe is refused by this machine, never sent.
    rule = ("from", SOURCE_V4, "lookup", "77", "priority", "77")
    added = lab.exec(lab.client_ns, "ip", "route", "add", "prohibit", "default", "table", "77")
    assert added.returncode == 0, added.stderr
    try:
        added = lab.exec(lab.client_ns, "ip", "rule", "add", *rule)
        assert added.returncode == 0, added.stderr
        before = counts()
        ran = lab.python(lab.client_ns, ENGINE_FROM_SOURCE, t.SRV_V4, SOURCE_V4)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == ["icmp", "EACCES"]
        rc, report = lab.probe_json("check", t.SRV_V4, "-p", "80", "--source", SOURCE_V4)
        assert rc == 3 and report["targets"][0]["route"]["route_type"] == "prohibit"
        assert counts() == before
        rc, report = lab.probe_json("check", t.SRV_V4, "-p", "80", "--no-ping")
        assert rc == 0  # the rule is for that source alone
    finally:
        lab.exec(lab.client_ns, "ip", "rule", "del", *rule)
        lab.exec(lab.client_ns, "ip", "route", "flush", "table", "77")


def test_without_source_the_usual_address(lab: Lab, counts: Counts) -> None:
    """The control: the same check without --source comes from the client's own address."""
    before = counts()
    rc, report = lab.probe_json("check", t.SRV_V4, "-p", str(t.HTTP_PORT), "--no-ping")
    after = counts()
    assert rc == 0 and report["targets"][0]["route"]["source"] == t.CLIENT_V4
    assert (after["new"] - before["new"], after["old"] - before["old"]) == (0, 1)


def test_the_other_family_has_no_route(lab: Lab, counts: Counts) -> None:
    before = counts()
    rc, report = lab.probe_json("check", t.SRV_V6, "-p", "80", "--source", SOURCE_V4)
    assert rc == 3, report
    (found,) = report["targets"]
    assert found["route"]["status"] == "no_route"
    assert "is IPv4: it has no route to an IPv6 address" in found["route"]["detail"]
    assert [f["code"] for f in found["findings"]] == ["no-route"]
    assert counts() == before  # not a packet


def test_an_address_of_another_computer_is_refused(lab: Lab, counts: Counts) -> None:
    before = counts()
    # 198.18.0.20 is near's, on the same LAN: not this computer's.
    proc = lab.run_probe("check", t.SRV_V4, "-p", "80", "--source", t.NEAR_V4)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"probe: --source {t.NEAR_V4} is not an address of this computer\n"
    assert counts() == before


SERVE_CONFIG = f"""\
[modules.from-3]
ports = [{t.HTTP_PORT}]
refused = [{t.CLOSED_PORT}]
ping = false
source_address = "{SOURCE_V4}"
"""


def test_serve_probes_from_the_modules_source_address(lab: Lab, counts: Counts) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"{t.PREFIX}serve-source-"))
    try:
        os.chmod(workdir, 0o755)
        config = workdir / "probe.toml"
        config.write_text(SERVE_CONFIG)
        os.chmod(config, 0o644)
        with s.serving(lab, workdir, config) as served:
            before = counts()
            query = urllib.parse.urlencode(
                {"target": t.SRV_V4, "module": "from-3", "debug": "true"}
            )
            status, body = s.http_get(lab, f"http://{s.SERVE}/probe?{query}")
            after = counts()
            assert status == 200, served.log_text()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert "probe_success 1" in body, body
    assert f"source {SOURCE_V4}" in body  # the debug log's route line
    assert after["new"] - before["new"] == 2 and after["old"] == before["old"], (before, after)
