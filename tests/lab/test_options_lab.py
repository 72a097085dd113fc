"""TCP options read from real SYN/ACKs in the lab, and the two oddities probe points out.

srv's kernel answers port 80 with what Linux offers on a 1500-byte Ethernet path (MSS 1460,
IPv6 1440; SACK, timestamps, window scaling); scapy reads the same SYN/ACK independently,
and probe must report what scapy saw. For the oddities, the router rewrites the SYN/ACKs
of one port while these tests run (nftables: MSS set to 1360, SACK and timestamps removed),
as a firewall or load balancer in front of a single service does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from . import topology as t
from .netlab import Lab

PORT = t.OPTIONS_REWRITTEN_PORT

REWRITE_NFT = f"""\
table inet probe_lab_options {{
  chain forward {{
    type filter hook forward priority mangle; policy accept;
    tcp sport {PORT} tcp flags syn,ack tcp option maxseg size set {t.REWRITTEN_MSS}
    tcp sport {PORT} tcp flags syn,ack reset tcp option sack-perm
    tcp sport {PORT} tcp flags syn,ack reset tcp option timestamp
  }}
}}
"""

# The SYN/ACK to a SYN like probe's, read by scapy in the client namespace.
SCAPY_SYN_ACK = """\
import json, sys
from scapy.all import IP, IPv6, TCP, conf, sr1
conf.verb = 0
dst, port = sys.argv[1], int(sys.argv[2])
ip = IPv6(dst=dst) if ":" in dst else IP(dst=dst)
opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
answer = sr1(ip / TCP(sport=47001, dport=port, flags="S", options=opts), timeout=2)
tcp = answer[TCP]
seen = dict((k, v) for k, v in tcp.options)
print(json.dumps({
    "flags": str(tcp.flags), "window": tcp.window, "mss": seen.get("MSS"),
    "wscale": seen.get("WScale"), "sack_permitted": "SAckOK" in seen,
    "timestamps": "Timestamp" in seen,
}))
"""


def port_of(report: dict[str, Any], port: int) -> dict[str, Any]:
    (target,) = report["targets"]
    return next(p for p in target["ports"] if p["port"] == port)


def codes(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (target,) = report["targets"]
    return {f["code"]: f for f in target["findings"]}


@pytest.fixture(scope="module")
def rewritten(lab: Lab) -> Iterator[None]:
    """A listener on srv's PORT (v4 and v6) whose SYN/ACKs the router rewrites."""
    listen = (f"plain@{t.SRV_V4}:{PORT}", f"plain@[{t.SRV_V6}]:{PORT}")
    with lab.extra_server(t.SRV_NS, *listen):
        added = lab.exec(t.ROUTER_NS, "nft", "-f", "-", input=REWRITE_NFT)
        assert added.returncode == 0, added.stderr
        try:
            yield
        finally:
            lab.exec(t.ROUTER_NS, "nft", "delete", "table", "inet", "probe_lab_options")


@pytest.mark.parametrize(("address", "mss"), [(t.SRV_V4, 1460), (t.SRV_V6, 1440)])
def test_options_from_a_real_syn_ack(lab: Lab, address: str, mss: int) -> None:
    seen = lab.python(lab.client_ns, SCAPY_SYN_ACK, address, str(t.HTTP_PORT))
    assert seen.returncode == 0, seen.stderr
    truth = json.loads(seen.stdout)
    assert truth["flags"] == "SA" and truth["mss"] == mss

    rc, report = lab.probe_json("check", address, "-p", str(t.HTTP_PORT))
    assert rc == 0
    port = port_of(report, t.HTTP_PORT)
    assert port["tcp_options"] == {
        "mss": truth["mss"],
        "wscale": truth["wscale"],
        "sack_permitted": truth["sack_permitted"],
        "timestamps": truth["timestamps"],
    }
    assert port["tcp_options"]["sack_permitted"] and port["tcp_options"]["timestamps"]
    assert isinstance(port["window"], int) and port["window"] > 0
    assert not {"mss-clamped", "tcp-options-stripped"} & set(codes(report))


@pytest.mark.usefixtures("rewritten")
@pytest.mark.parametrize("address", [t.SRV_V4, t.SRV_V6])
def test_rewritten_syn_ack(lab: Lab, address: str) -> None:
    rc, report = lab.probe_json("check", address, "-p", f"{t.HTTP_PORT},{PORT}")
    assert rc == 0  # both ports open: the oddities are warnings, not failures
    odd = port_of(report, PORT)["tcp_options"]
    normal = port_of(report, t.HTTP_PORT)["tcp_options"]
    assert (odd["mss"], odd["sack_permitted"], odd["timestamps"]) == (t.REWRITTEN_MSS, False, False)
    assert odd["wscale"] == normal["wscale"]  # left alone by the rewrite
    found = codes(report)
    clamped = found["mss-clamped"]
    assert (clamped["ports"], clamped["severity"]) == ([PORT], "warning")
    assert any(f"MSS {t.REWRITTEN_MSS}" in e for e in clamped["evidence"])
    stripped = found["tcp-options-stripped"]
    assert (stripped["ports"], stripped["severity"]) == ([PORT], "warning")
    assert f"SYN/ACK on {PORT} without SACK and timestamps" in stripped["evidence"][0]


@pytest.mark.usefixtures("rewritten")
def test_rewritten_syn_ack_human_output(lab: Lab) -> None:
    proc = lab.run_probe("check", t.SRV_V4, "-p", f"{t.HTTP_PORT},{PORT}")
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if line.strip().startswith(str(PORT)))
    assert f"mss {t.REWRITTEN_MSS}" in row and "sack" not in row and " ts " not in row + " "
    assert "mss-clamped" in proc.stdout and "tcp-options-stripped" in proc.stdout
