"""The lab's UDP services, checked with plain sockets and probe's payload table.

From the client namespace, one script sends each request of ``probe.payloads`` that has a
real server in the lab (dnsmasq, chronyd, snmpd, the SIP responder) over a connected UDP
socket, together with the silent, closed, dropped and rejected ports, all at once, and
reports for each one the answer's bytes or the socket error; it waits one second at most.
The tests then decode the answers with ``probe.payloads.decode``: the table's requests are
what real daemons answer, and the words are the ones the findings will print.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR

from probe.payloads import decode, payloads_for

from . import topology as t
from .netlab import Lab

pytestmark = pytest.mark.lab

SILENCE = 1.0  # seconds: a port with nothing back by then is silent

# One pass: send everything, then read until every socket answered, failed or SILENCE ran out.
SCRIPT = """
import errno, json, selectors, socket, sys, time
cases = json.loads(sys.argv[1])
results, sel = {}, selectors.DefaultSelector()
for label, (address, port, payload) in cases.items():
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect((address, port))
    sock.send(bytes.fromhex(payload))
    sel.register(sock, selectors.EVENT_READ, label)
deadline = time.monotonic() + float(sys.argv[2])
while len(results) < len(cases) and time.monotonic() < deadline:
    for key, _ in sel.select(max(0.0, deadline - time.monotonic())):
        try:
            results[key.data] = {"reply": key.fileobj.recv(65535).hex()}
        except OSError as exc:
            results[key.data] = {"errno": errno.errorcode.get(exc.errno, str(exc.errno))}
        sel.unregister(key.fileobj)
        key.fileobj.close()
print(json.dumps(results))
"""


def _dns_query(name: str) -> bytes:
    return bytes(DNS(id=0x7072, rd=1, qd=DNSQR(qname=name, qtype="A")))


def _wrong_community() -> bytes:
    """The table's v2c get with another community of the same length ("public" -> "nobody")."""
    return payloads_for(t.SNMP_PORT)[0].replace(b"public", b"nobody", 1)


def _cases() -> dict[str, tuple[str, int, bytes]]:
    cases: dict[str, tuple[str, int, bytes]] = {
        "dns root": (t.DNS_V4, t.DNS_UDP_PORT, payloads_for(t.DNS_UDP_PORT)[0]),
        "dns root v6": (t.DNS_V6, t.DNS_UDP_PORT, payloads_for(t.DNS_UDP_PORT)[0]),
        "dns lab zone": (t.DNS_V4, t.DNS_UDP_PORT, _dns_query(t.NAME_WEB)),
        "snmp wrong community": (t.SRV_V4, t.SNMP_PORT, _wrong_community()),
    }
    for suffix, address in (("", t.SRV_V4), (" v6", t.SRV_V6)):
        cases |= {
            f"ntp{suffix}": (address, t.NTP_PORT, payloads_for(t.NTP_PORT)[0]),
            f"snmp v2c{suffix}": (address, t.SNMP_PORT, payloads_for(t.SNMP_PORT)[0]),
            f"snmp v3{suffix}": (address, t.SNMP_PORT, payloads_for(t.SNMP_PORT)[1]),
            f"sip{suffix}": (address, t.SIP_PORT, payloads_for(t.SIP_PORT)[0]),
            f"silent{suffix}": (address, t.UDP_SILENT_PORT, b"probe"),
            f"closed{suffix}": (address, t.UDP_CLOSED_PORT, b"probe"),
            f"dropped{suffix}": (address, t.UDP_DROPPED_PORT, b"probe"),
            f"prohibited{suffix}": (address, t.UDP_PROHIBITED_PORT, b"probe"),
        }
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def answers(lab: Lab) -> dict[str, dict[str, Any]]:
    wire = {label: (a, p, payload.hex()) for label, (a, p, payload) in CASES.items()}
    proc = lab.python(lab.client_ns, SCRIPT, json.dumps(wire), str(SILENCE), timeout=20)
    assert proc.returncode == 0, proc.stderr
    results: dict[str, dict[str, Any]] = json.loads(proc.stdout)
    return results


def _decoded(answers: dict[str, dict[str, Any]], label: str) -> str | None:
    result = answers.get(label)
    assert result is not None and "reply" in result, f"{label}: no answer ({result})"
    return decode(CASES[label][1], bytes.fromhex(result["reply"]))


EXPECTED_WORDS = {
    # dnsmasq serves probe.test only and has no upstream for the root: a REFUSED answer,
    # which still proves a DNS server (the table's request is for every resolver)
    "dns root": "DNS: REFUSED, 0 answers",
    "dns root v6": "DNS: REFUSED, 0 answers",
    "dns lab zone": "DNS: NOERROR, 1 answer",
    "ntp": f"NTP server, stratum {t.NTP_STRATUM}, refid {t.NTP_REFID}",
    "ntp v6": f"NTP server, stratum {t.NTP_STRATUM}, refid {t.NTP_REFID}",
    "snmp v2c": f"SNMP: sysDescr '{t.SNMP_SYSDESCR}'",
    "snmp v2c v6": f"SNMP: sysDescr '{t.SNMP_SYSDESCR}'",
    "sip": f"SIP/2.0 200 OK, Server: {t.SIP_SERVER}",
    "sip v6": f"SIP/2.0 200 OK, Server: {t.SIP_SERVER}",
}


@pytest.mark.parametrize("label", sorted(EXPECTED_WORDS))
def test_real_daemon_answers_the_table_request(
    answers: dict[str, dict[str, Any]], label: str
) -> None:
    assert _decoded(answers, label) == EXPECTED_WORDS[label]


@pytest.mark.parametrize("label", ["snmp v3", "snmp v3 v6"])
def test_snmpd_answers_v3_discovery_with_its_engine_id(
    answers: dict[str, dict[str, Any]], label: str
) -> None:
    words = _decoded(answers, label)
    assert words is not None
    assert words.startswith("SNMPv3 agent, engine ID 80001f88")  # net-snmp's enterprise
    assert words.endswith("(report)")


def test_sip_answer_echoes_the_dialog_headers(answers: dict[str, dict[str, Any]]) -> None:
    reply = bytes.fromhex(answers["sip"]["reply"]).decode()
    request = payloads_for(t.SIP_PORT)[0].decode()
    for name in ("From", "Call-ID", "CSeq"):
        line = next(x for x in request.split("\r\n") if x.startswith(f"{name}:"))
        assert line in reply.split("\r\n")
    assert f";received={t.CLIENT_V4};rport=" in reply  # RFC 3581: where it really came from


@pytest.mark.parametrize("suffix", ["", " v6"])
def test_ports_without_an_answer(answers: dict[str, dict[str, Any]], suffix: str) -> None:
    # 9001 reads and never answers, 9003 is dropped by srv's firewall: both silent
    assert f"silent{suffix}" not in answers
    assert f"dropped{suffix}" not in answers
    # 9002: srv's kernel answers ICMP port unreachable -> ECONNREFUSED on a connected socket
    assert answers[f"closed{suffix}"] == {"errno": "ECONNREFUSED"}


def test_router_rejects_with_admin_prohibited(answers: dict[str, dict[str, Any]]) -> None:
    # Linux maps ICMP "communication administratively prohibited" (type 3 code 13) to
    # EHOSTUNREACH, and ICMPv6 "administratively prohibited" (type 1 code 1) to EACCES
    assert answers["prohibited"] == {"errno": "EHOSTUNREACH"}
    assert answers["prohibited v6"] == {"errno": "EACCES"}


def test_snmpd_ignores_a_wrong_community(answers: dict[str, dict[str, Any]]) -> None:
    assert "snmp wrong community" not in answers  # why SNMP is Expect.SOMETIMES


def test_the_answers_come_from_the_real_daemons(lab: Lab) -> None:
    listening = lab.exec(t.SRV_NS, "ss", "-Hlunp").stdout
    for port, program in ((t.NTP_PORT, "chronyd"), (t.SNMP_PORT, "snmpd")):
        lines = [line for line in listening.splitlines() if f":{port} " in line]
        assert len(lines) == 2 and all(f'"{program}"' in line for line in lines), listening


def test_srv_keeps_a_real_hosts_icmp_rate_limits(lab: Lab) -> None:
    for key, value in t.SRV_ICMP_LIMITS.items():
        assert lab.exec(t.SRV_NS, "sysctl", "-n", key).stdout.strip() == value, key
    assert lab.exec(t.ROUTER_NS, "sysctl", "-n", "net.ipv4.icmp_ratelimit").stdout.strip() == "0"
