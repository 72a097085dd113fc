"""payloads.decode: servers' answers (crafted with scapy, or as the daemons send them) in a
few words; None for bytes that are not the port's protocol; never an exception."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.asn1.asn1 import ASN1_INTEGER, ASN1_OID, ASN1_SEQUENCE, ASN1_STRING
from scapy.contrib.coap import CoAP
from scapy.contrib.ikev2 import IKEv2, IKEv2_Notify
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.netbios import NBNSHeader, NBNSNodeStatusResponse, NBNSNodeStatusResponseService
from scapy.layers.ntp import NTPHeader
from scapy.layers.snmp import SNMP, SNMPresponse, SNMPvarbind
from scapy.layers.tftp import TFTP, TFTP_ERROR

from probe.payloads import decode, payloads_for
from probe.payloads.table import BY_PORT, ENTRIES

TXID = 0x7072  # the id every request of the table carries


# Answers of the lab's real daemons to the table's requests (tests/lab: chronyd, snmpd,
# dnsmasq), recorded once: decode reads what real servers send, not only what scapy builds.
RECORDED = [
    (
        123,
        "240200e600000000000000007f7f0101eeb79cb45491697ce875470000000000"
        "eeb79cb64750180beeb79cb6487e94e4",
        "NTP server, stratum 2, refid 127.127.1.1",
    ),
    (
        161,
        "303a02010104067075626c6963a22d020270720201000201003021301f06082b06010201010100"
        "041370726f62652d6c61622073727620736e6d7064",
        "SNMP: sysDescr 'probe-lab srv snmpd'",
    ),
    (
        161,
        "306d020103300f02027072020300ffe30401000201030421301f041180001f8880e4166537361e0d"
        "6b000000000201010201000400040004003034041180001f8880e4166537361e0d6b000000000400"
        "a81d020270720201000201003011300f060a2b060106030f01010400410101",
        "SNMPv3 agent, engine ID 80001f8880e4166537361e0d6b00000000 (report)",
    ),
    (53, "7072818500010000000000000000020001", "DNS: REFUSED, 0 answers"),
]


@pytest.mark.parametrize(("port", "reply", "words"), RECORDED)
def test_recorded_answers_of_real_daemons(port: int, reply: str, words: str) -> None:
    assert decode(port, bytes.fromhex(reply)) == words


def test_dns_answer() -> None:
    answer = DNS(
        id=TXID,
        qr=1,
        ra=1,
        qd=DNSQR(qname=".", qtype="NS"),
        an=[DNSRR(rrname=".", type="NS", rdata="a.root.test."), DNSRR(rrname=".", type="NS")],
    )
    assert decode(53, bytes(answer)) == "DNS: NOERROR, 2 answers"
    refused = DNS(id=TXID, qr=1, rcode=5, qd=DNSQR(qname="."))
    assert decode(53, bytes(refused)) == "DNS: REFUSED, 0 answers"
    assert decode(53, payloads_for(53)[0]) is None  # a query is not an answer


def test_mdns_answer() -> None:
    answer = DNS(id=TXID, qr=1, aa=1, an=DNSRR(rrname="_services._dns-sd._udp.local."))
    assert decode(5353, bytes(answer)) == "mDNS: NOERROR, 1 answer"


def test_ntp_answers() -> None:
    secondary = NTPHeader(version=4, mode=4, stratum=2, id="198.18.1.1")
    assert decode(123, bytes(secondary)) == "NTP server, stratum 2, refid 198.18.1.1"
    primary = NTPHeader(version=4, mode=4, stratum=1, ref_id=b"GPS\0")
    assert decode(123, bytes(primary)) == "NTP server, stratum 1, refid GPS"
    kiss = NTPHeader(version=4, mode=4, stratum=0, ref_id=b"RATE")
    assert decode(123, bytes(kiss)) == "NTP server, kiss-o'-death RATE"
    unsynced = NTPHeader(version=4, mode=4, leap=3, stratum=16)
    assert decode(123, bytes(unsynced)) == "NTP server, not synchronised"
    assert decode(123, payloads_for(123)[0]) is None  # mode 3: a client


def test_snmp_sysdescr() -> None:
    varbind = SNMPvarbind(oid=ASN1_OID("1.3.6.1.2.1.1.1.0"), value=ASN1_STRING(b"Linux srv 6.1"))
    response = SNMP(version=1, community="public", PDU=SNMPresponse(id=TXID, varbindlist=[varbind]))
    assert decode(161, bytes(response)) == "SNMP: sysDescr 'Linux srv 6.1'"
    failed = SNMP(version=0, community="public", PDU=SNMPresponse(id=TXID, error=2))
    assert decode(161, bytes(failed)) == "SNMP agent, error status 2"
    assert decode(161, payloads_for(161)[0]) is None  # a GetRequest is not an answer


def test_snmp_v3_report() -> None:
    engine = bytes.fromhex("80001f8880b1c2d3e4f5a6b7c8")
    usm = ASN1_SEQUENCE(
        [
            ASN1_STRING(engine),
            ASN1_INTEGER(3),
            ASN1_INTEGER(1200),
            *(ASN1_STRING(b"") for _ in range(3)),
        ]
    )
    global_data = ASN1_SEQUENCE(
        [ASN1_INTEGER(TXID), ASN1_INTEGER(65507), ASN1_STRING(b"\x00"), ASN1_INTEGER(3)]
    )
    # Report-PDU [8] { request-id, 0, 0, varbinds: usmStatsUnknownEngineIDs.0 = 1 }
    varbind = b"\x30\x11\x06\x0a\x2b\x06\x01\x06\x03\x0f\x01\x01\x04\x00\x41\x01\x01"
    pdu = b"\xa8\x1b\x02\x02\x70\x72\x02\x01\x00\x02\x01\x00\x30" + bytes([len(varbind)]) + varbind
    scoped = bytes(ASN1_STRING(engine)) + bytes(ASN1_STRING(b"")) + pdu
    body = (
        bytes(ASN1_INTEGER(3))
        + bytes(global_data)
        + bytes(ASN1_STRING(bytes(usm)))
        + b"\x30"
        + bytes([len(scoped)])
        + scoped
    )
    report = b"\x30\x81" + bytes([len(body)]) + body
    assert decode(161, report) == "SNMPv3 agent, engine ID 80001f8880b1c2d3e4f5a6b7c8 (report)"


SIP_OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 0.0.0.0:5060;branch=z9hG4bK-probe-7072;rport=40000;received=198.18.0.2\r\n"
    b"From: <sip:probe@0.0.0.0>;tag=probe7072\r\n"
    b"To: <sip:0.0.0.0>;tag=as1234\r\n"
    b"Call-ID: probe-7072@0.0.0.0\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Server: Asterisk PBX 20.5.0\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_sip_answers() -> None:
    assert decode(5060, SIP_OK) == "SIP/2.0 200 OK, Server: Asterisk PBX 20.5.0"
    forbidden = b"SIP/2.0 403 Forbidden\r\nUser-Agent: phone\x1b[31m\r\n\r\n"
    assert decode(5060, forbidden) == "SIP/2.0 403 Forbidden, Server: phone [31m"
    assert decode(5060, payloads_for(5060)[0]) is None


def test_ssdp_answer() -> None:
    reply = (
        b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nSERVER: Linux UPnP/1.0 MiniUPnPd/2.3\r\n\r\n"
    )
    assert decode(1900, reply) == "SSDP: HTTP/1.1 200 OK, Server: Linux UPnP/1.0 MiniUPnPd/2.3"


def test_netbios_node_status() -> None:
    names = [
        NBNSNodeStatusResponseService(NETBIOS_NAME="SRV", SUFFIX="workstation", NAME_FLAGS=0x04),
        NBNSNodeStatusResponseService(
            NETBIOS_NAME="LABGROUP", SUFFIX="workstation", NAME_FLAGS=0x84
        ),
        NBNSNodeStatusResponseService(NETBIOS_NAME="SRV", SUFFIX="file server service"),
    ]
    reply = NBNSHeader(NAME_TRN_ID=TXID, RESPONSE=1, ANCOUNT=1) / NBNSNodeStatusResponse(
        NUM_NAMES=3, NODE_NAME=names
    )
    assert decode(137, bytes(reply)) == "NetBIOS node status: SRV, group LABGROUP (3 names)"


def test_ike_answers() -> None:
    notify = IKEv2(
        init_SPI=b"probepr\x01", exch_type=34, flags="Response", next_payload=41
    ) / IKEv2_Notify(type=14)
    assert decode(500, bytes(notify)) == "IKEv2 responder: NO_PROPOSAL_CHOSEN"
    assert decode(4500, bytes(4) + bytes(notify)) == "IKEv2 responder: NO_PROPOSAL_CHOSEN"
    assert decode(4500, bytes(notify)) is None  # on 4500 IKE follows the non-ESP marker
    assert decode(500, payloads_for(500)[0]) is None  # our own request: not a response


def test_tftp_error() -> None:
    reply = TFTP() / TFTP_ERROR(errorcode=1, errormsg="File not found")
    assert decode(69, bytes(reply)) == "TFTP error 1: File not found"


def test_radius_reject() -> None:
    reply = struct.pack("!BBH16s", 3, 0x70, 20, bytes(16))
    assert decode(1812, reply) == "RADIUS server: Access-Reject"
    assert decode(1812, payloads_for(1812)[0]) is None  # Status-Server is a request


def _xor_mapped(address: str, port: int) -> bytes:
    magic = 0x2112A442
    raw = bytes(
        a ^ b
        for a, b in zip(
            ipaddress.IPv4Address(address).packed, magic.to_bytes(4, "big"), strict=True
        )
    )
    return struct.pack("!HHBBH", 0x0020, 8, 0, 1, port ^ (magic >> 16)) + raw


def test_stun_success_names_the_mapped_address() -> None:
    request = payloads_for(3478)[0]
    attr = _xor_mapped("198.18.0.2", 40000)
    reply = struct.pack("!HH", 0x0101, len(attr)) + request[4:20] + attr
    assert decode(3478, reply) == "STUN binding success, mapped 198.18.0.2:40000"
    error_attr = struct.pack("!HHHBB", 0x0009, 4, 0, 4, 1)
    error = struct.pack("!HH", 0x0111, len(error_attr)) + request[4:20] + error_attr
    assert decode(3478, error) == "STUN binding error 401"
    assert decode(3478, request) is None


def test_coap_content() -> None:
    reply = bytes(CoAP(ver=1, type=2, code=69, msg_id=TXID)) + b"\xff</sensors>"
    assert decode(5683, reply) == "CoAP 2.05"
    assert decode(5683, bytes(CoAP(ver=1, type=3, code=0, msg_id=TXID))) == "CoAP reset"


def test_memcached_version() -> None:
    reply = struct.pack("!HHHH", TXID, 0, 1, 0) + b"VERSION 1.6.21\r\n"
    assert decode(11211, reply) == "memcached VERSION 1.6.21"


def test_openvpn_hard_reset_answer() -> None:
    session = payloads_for(1194)[0][1:9]
    reply = struct.pack("!B8sBI8sI", 8 << 3, b"serverid", 1, 0, session, 0)
    assert decode(1194, reply) == "OpenVPN server, hard reset answered"
    assert decode(1194, payloads_for(1194)[0]) is None


def test_quic_version_negotiation() -> None:
    request = payloads_for(443)[0]
    dcid, scid = request[6:14], request[15:23]
    versions = struct.pack("!III", 1, 0x6B3343CF, 0x3A4A5A6A)  # a grease version is left out
    reply = b"\xc5" + bytes(4) + b"\x08" + scid + b"\x08" + dcid + versions
    assert decode(443, reply) == "QUIC: version negotiation, versions 1, 2"


def test_dtls_answers() -> None:
    cookie = b"\x14" + bytes(20)
    body = b"\xfe\xff" + cookie
    handshake = b"\x03" + len(body).to_bytes(3, "big") + bytes(5) + len(body).to_bytes(3, "big")
    record = struct.pack("!BHH6sH", 22, 0xFEFF, 0, bytes(6), len(handshake + body))
    verify = record + handshake + body
    assert decode(4433, verify) == "DTLS server, HelloVerifyRequest"
    assert decode(443, verify) == "DTLS server, HelloVerifyRequest"  # 443's second try
    alert = struct.pack("!BHH6sHBB", 21, 0xFEFD, 0, bytes(6), 2, 2, 40)
    assert decode(5349, alert) == "DTLS alert: handshake_failure"


def test_wireguard_and_syslog_stay_unread() -> None:
    assert decode(51820, payloads_for(51820)[0]) is None
    assert decode(514, b"anything") is None


def test_unknown_ports_and_empty_replies() -> None:
    assert decode(9, b"\x00\x01") is None
    for port in BY_PORT:
        assert decode(port, b"") is None


# ----------------------------------------------------------------------------- never raises

# derandomized: the same examples every run, like tests/fuzz
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)
DECODERS = [read for entry in ENTRIES for read in entry.decoders]
# Real requests and answers, cut and flipped, reach deeper than random bytes alone.
SEEDS = [p for port in sorted(BY_PORT) for p in payloads_for(port)] + [SIP_OK]
SEEDS += [bytes.fromhex(reply) for _, reply, _ in RECORDED]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    seed = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        if not seed:
            break
        seed[draw(st.integers(0, len(seed) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(seed)))
    return bytes(seed[:cut]) + draw(st.binary(max_size=8))


@pytest.mark.parametrize("read", DECODERS, ids=lambda r: r.__name__)
@FUZZ
@given(data=st.one_of(st.binary(max_size=300), mutated()))
def test_decoders_never_raise(read: object, data: bytes) -> None:
    words = read(data)  # type: ignore[operator]  # the decoder itself, without decode's guard
    assert words is None or (isinstance(words, str) and words and words.isprintable())


@FUZZ
@given(port=st.sampled_from([*sorted(BY_PORT), 9]), data=st.binary(max_size=64))
def test_decode_never_raises(port: int, data: bytes) -> None:
    assert decode(port, data) is None or isinstance(decode(port, data), str)
