"""payloads: the table's shape, and every request dissected as its protocol by scapy."""

from __future__ import annotations

import hashlib
import hmac
import struct
import subprocess
import sys

import pytest
from scapy.asn1.asn1 import ASN1_Codecs
from scapy.contrib.coap import CoAP
from scapy.contrib.ikev2 import IKEv2, IKEv2_KE, IKEv2_Nonce, IKEv2_SA
from scapy.contrib.stun import STUN
from scapy.layers.dns import DNS
from scapy.layers.netbios import NBNSHeader, NBNSNodeStatusRequest
from scapy.layers.ntp import NTP
from scapy.layers.quic import QUIC, QUIC_Initial
from scapy.layers.radius import Radius, RadiusAttr_Message_Authenticator
from scapy.layers.snmp import SNMP, ASN1_Class_SNMP, SNMPget
from scapy.layers.tftp import TFTP, TFTP_RRQ
from scapy.layers.tls.handshake import TLSClientHello

from probe.payloads import Expect, UdpRequest, payloads_for, request_for
from probe.payloads.table import BY_PORT, ENTRIES

WELL_KNOWN = {
    53: "dns",
    69: "tftp",
    123: "ntp",
    137: "netbios-ns",
    161: "snmp",
    443: "quic",
    500: "ike",
    514: "syslog",
    1194: "openvpn",
    1812: "radius",
    1900: "ssdp",
    3478: "stun",
    4433: "dtls",
    4500: "ike-natt",
    5060: "sip",
    5349: "dtls",
    5353: "mdns",
    5683: "coap",
    11211: "memcached",
    51820: "wireguard",
}


# ----------------------------------------------------------------------------- the table


def test_every_well_known_port_has_its_protocol() -> None:
    assert {port: entry.info.protocol for port, entry in BY_PORT.items()} == WELL_KNOWN


def test_a_port_belongs_to_one_entry_and_protocols_are_unique() -> None:
    ports = [port for entry in ENTRIES for port in entry.info.ports]
    assert len(ports) == len(set(ports))
    names = [entry.info.protocol for entry in ENTRIES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.info.protocol)
def test_every_entry_speaks_plain_words(entry: object) -> None:
    info = entry.info  # type: ignore[attr-defined]
    assert isinstance(info, UdpRequest)
    assert info.request and info.why and not info.why.endswith(".")
    assert isinstance(info.expect, Expect)
    assert entry.builders  # type: ignore[attr-defined]


def test_expectations_follow_the_protocols() -> None:
    expect = {e.info.protocol: e.info.expect for e in ENTRIES}
    for always in ("dns", "ntp", "sip", "stun", "tftp", "netbios-ns", "memcached", "coap"):
        assert expect[always] is Expect.ALWAYS, always
    for sometimes in ("snmp", "radius", "ike", "quic", "dtls"):
        assert expect[sometimes] is Expect.SOMETIMES, sometimes
    assert expect["syslog"] is expect["wireguard"] is Expect.NEVER


def test_unknown_ports_get_an_empty_datagram() -> None:
    assert request_for(9) is None
    assert payloads_for(9) == ()


def test_payloads_are_built_once() -> None:
    assert payloads_for(161) is payloads_for(161)
    assert len(payloads_for(161)) == 2 and len(payloads_for(443)) == 2


def test_importing_the_package_does_not_import_scapy() -> None:
    code = (
        "import sys, probe.payloads; sys.exit(int(any(m.startswith('scapy') for m in sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ----------------------------------------------------------------------------- dissection


def test_dns_asks_for_the_root_ns_records() -> None:
    query = DNS(payloads_for(53)[0])
    assert query.qr == 0 and query.rd == 1 and query.qdcount == 1
    assert query.qd[0].qname == b"." and query.qd[0].qtype == 2  # NS


def test_mdns_enumerates_dns_sd_services() -> None:
    query = DNS(payloads_for(5353)[0])
    assert query.qd[0].qname == b"_services._dns-sd._udp.local."
    assert query.qd[0].qtype == 12  # PTR


def test_netbios_asks_node_status() -> None:
    packet = NBNSHeader(payloads_for(137)[0])
    assert packet.QDCOUNT == 1 and packet.RESPONSE == 0
    assert packet[NBNSNodeStatusRequest].QUESTION_TYPE == 33  # NBSTAT


def test_ntp_is_a_client_request() -> None:
    raw = payloads_for(123)[0]
    packet = NTP(raw)
    assert len(raw) == 48 and packet.mode == 3 and packet.version == 4
    assert raw[40:48] != bytes(8)  # a transmit timestamp for the server to echo


def test_snmp_v2c_gets_sysdescr_with_community_public() -> None:
    packet = SNMP(payloads_for(161)[0])
    assert packet.version.val == 1  # v2c
    assert packet.community.val == b"public"
    assert isinstance(packet.PDU, SNMPget)
    assert [vb.oid.val for vb in packet.PDU.varbindlist] == ["1.3.6.1.2.1.1.1.0"]


def test_snmp_v3_discovery_is_unauthenticated_and_reportable() -> None:
    message, rest = ASN1_Codecs.BER.dec(payloads_for(161)[1], context=ASN1_Class_SNMP)
    assert rest == b""
    version, global_data, security, scoped = message.val
    assert version.val == 3
    assert global_data.val[2].val == b"\x04"  # reportable, noAuthNoPriv
    assert global_data.val[3].val == 3  # USM
    usm, _ = ASN1_Codecs.BER.dec(security.val)
    assert usm.val[0].val == b"" and usm.val[3].val == b""  # no engine ID, no user
    assert scoped.val[2].val[3].val == []  # an empty GetRequest


def test_sip_options_is_well_formed() -> None:
    text = payloads_for(5060)[0].decode()
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0].startswith("OPTIONS sip:") and lines[0].endswith(" SIP/2.0")
    headers = {line.partition(":")[0]: line.partition(":")[2].strip() for line in lines[1:]}
    for name in ("Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length"):
        assert name in headers, name
    assert ";branch=z9hG4bK" in headers["Via"] and headers["Via"].endswith(";rport")
    assert headers["CSeq"] == "1 OPTIONS" and headers["Content-Length"] == "0" and body == ""


def test_ssdp_is_an_m_search() -> None:
    text = payloads_for(1900)[0].decode()
    assert text.startswith("M-SEARCH * HTTP/1.1\r\n") and text.endswith("\r\n\r\n")
    assert 'MAN: "ssdp:discover"' in text and "ST: ssdp:all" in text


def test_syslog_is_rfc5424() -> None:
    assert payloads_for(514)[0].startswith(b"<14>1 ")


def test_ike_sa_init_and_its_nat_t_twin() -> None:
    packet = IKEv2(payloads_for(500)[0])
    assert packet.exch_type == 34 and packet.flags == 0x08  # IKE_SA_INIT, Initiator
    assert packet.haslayer(IKEv2_SA) and packet.haslayer(IKEv2_Nonce)
    assert packet[IKEv2_KE].group == 14 and len(packet[IKEv2_KE].ke) == 256
    natt = payloads_for(4500)[0]
    assert natt[:4] == bytes(4) and natt[4:] == payloads_for(500)[0]


def test_tftp_reads_a_file() -> None:
    packet = TFTP(payloads_for(69)[0])
    assert packet.op == 1 and packet[TFTP_RRQ].mode == b"octet"


def test_radius_status_server_carries_a_message_authenticator() -> None:
    raw = payloads_for(1812)[0]
    packet = Radius(raw)
    assert packet.code == 12 and packet.len == len(raw)
    attr = packet[RadiusAttr_Message_Authenticator]
    zeroed = raw[:-16] + bytes(16)
    assert attr.value == hmac.new(b"", zeroed, hashlib.md5).digest()


def test_stun_binding_request() -> None:
    packet = STUN(payloads_for(3478)[0])
    assert packet.stun_message_type == 1 and packet.magic_cookie == 0x2112A442


def test_coap_gets_well_known_core() -> None:
    packet = CoAP(payloads_for(5683)[0])
    assert packet.code == 1 and packet.type == 0  # GET, confirmable
    assert packet.options == [("Uri-Path", b".well-known"), ("Uri-Path", b"core")]


def test_memcached_version_with_its_frame_header() -> None:
    raw = payloads_for(11211)[0]
    _request_id, sequence, total, reserved = struct.unpack("!HHHH", raw[:8])
    assert (sequence, total, reserved) == (0, 1, 0) and raw[8:] == b"version\r\n"


def test_openvpn_hard_reset_client_v2() -> None:
    raw = payloads_for(1194)[0]
    assert len(raw) == 14 and raw[0] >> 3 == 7 and raw[0] & 7 == 0


def test_wireguard_initiation_shape() -> None:
    raw = payloads_for(51820)[0]
    assert len(raw) == 148 and raw[:4] == b"\x01\0\0\0"


def test_quic_initial_fills_1200_bytes() -> None:
    raw = payloads_for(443)[0]
    packet = QUIC(raw)
    assert isinstance(packet, QUIC_Initial) and len(raw) == 1200
    assert packet.Version & 0x0F0F0F0F == 0x0A0A0A0A  # reserved: forces version negotiation
    assert packet.Length == len(raw) - 26  # 26 header bytes before the packet number


@pytest.mark.parametrize("port", [443, 4433, 5349])
def test_dtls_client_hello(port: int) -> None:
    raw = payloads_for(port)[-1]
    kind, version, epoch, size = raw[0], raw[1:3], raw[3:5], struct.unpack("!H", raw[11:13])[0]
    assert (kind, version, epoch, size) == (22, b"\xfe\xff", b"\0\0", len(raw) - 13)
    assert raw[13] == 1 and raw[14:17] == raw[22:25]  # ClientHello, one fragment
    body = raw[25:]
    assert body[35] == 0  # DTLS's cookie, after version, random and an empty session ID
    # as TLS: the same body without DTLS's cookie byte
    tls_body = body[:35] + body[36:]
    hello = TLSClientHello(b"\x01" + len(tls_body).to_bytes(3, "big") + tls_body)
    assert hello.version == 0xFEFD and 0xC02B in hello.ciphers and hello.ext
