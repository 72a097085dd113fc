"""SNMP (161): a v2c get of sysDescr with community "public", then an SNMPv3 discovery.

An agent stays silent when the community is wrong (v1/v2c have no error for that), so a
second try asks the way SNMPv3 managers start (RFC 3414 4): an unauthenticated request with
an empty engine ID, which every v3 agent answers with a Report carrying its engine ID.
"""

from __future__ import annotations

from probe.payloads.base import Entry, Expect, UdpRequest, clean_text

__all__ = ["SNMP", "SYSDESCR_OID"]

SYSDESCR_OID = "1.3.6.1.2.1.1.1.0"
COMMUNITY = "public"
_REQUEST_ID = 0x7072
_MAX_MESSAGE = 65507  # the largest UDP payload: what we can take

# BER tags (X.690) and SNMP's application / context tags (RFC 3416, RFC 3412)
_INTEGER = 0x02
_OCTETS = 0x04
_OID = 0x06
_SEQUENCE = 0x30
_GET_RESPONSE = 0xA2
_REPORT = 0xA8
_NO_SUCH = {0x80: "noSuchObject", 0x81: "noSuchInstance", 0x82: "endOfMibView"}


def build_v2c_get() -> bytes:
    """GetRequest for sysDescr.0, SNMP v2c, community "public"."""
    from scapy.asn1.asn1 import ASN1_OID
    from scapy.layers.snmp import SNMP as ScapySNMP
    from scapy.layers.snmp import SNMPget, SNMPvarbind

    varbind = SNMPvarbind(oid=ASN1_OID(SYSDESCR_OID))  # value: NULL by default
    pdu = SNMPget(id=_REQUEST_ID, varbindlist=[varbind])
    return bytes(ScapySNMP(version=1, community=COMMUNITY, PDU=pdu))  # version 1 means v2c


def build_v3_discovery() -> bytes:
    """SNMPv3 engine discovery (RFC 3414 4): noAuthNoPriv, reportable, USM with an empty
    engine ID and user, an empty GetRequest. scapy has no v3 layer, so its BER objects."""
    from scapy.asn1.asn1 import ASN1_INTEGER, ASN1_SEQUENCE, ASN1_STRING
    from scapy.layers.snmp import SNMPget

    global_data = ASN1_SEQUENCE(
        [
            ASN1_INTEGER(_REQUEST_ID),  # msgID
            ASN1_INTEGER(_MAX_MESSAGE),  # msgMaxSize
            ASN1_STRING(b"\x04"),  # msgFlags: reportable, no auth, no privacy
            ASN1_INTEGER(3),  # msgSecurityModel: USM
        ]
    )
    usm = ASN1_SEQUENCE(
        [
            ASN1_STRING(b""),  # msgAuthoritativeEngineID: unknown, that is the question
            ASN1_INTEGER(0),  # engine boots
            ASN1_INTEGER(0),  # engine time
            ASN1_STRING(b""),  # user name
            ASN1_STRING(b""),  # authentication parameters
            ASN1_STRING(b""),  # privacy parameters
        ]
    )
    pdu = bytes(SNMPget(id=_REQUEST_ID, varbindlist=[]))
    scoped = _tlv(_SEQUENCE, bytes(ASN1_STRING(b"")) + bytes(ASN1_STRING(b"")) + pdu)
    body = bytes(ASN1_INTEGER(3)) + bytes(global_data) + bytes(ASN1_STRING(bytes(usm))) + scoped
    return _tlv(_SEQUENCE, body)


def _tlv(tag: int, value: bytes) -> bytes:
    """One BER element with a definite length (short or long form)."""
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def _read(data: bytes, pos: int, end: int) -> tuple[int, int, int] | None:
    """(tag, value start, value end) of the BER element at ``pos``, within ``end``."""
    if pos + 2 > end:
        return None
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:  # multi-byte tags: never in SNMP
        return None
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > end:
            return None
        size = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    else:
        size = first
    if pos + size > end:
        return None
    return tag, pos, pos + size


def _children(data: bytes, start: int, end: int, limit: int = 16) -> list[tuple[int, int, int]]:
    """The elements inside a constructed element's value (at most ``limit``)."""
    found: list[tuple[int, int, int]] = []
    pos = start
    while pos < end and len(found) < limit:
        element = _read(data, pos, end)
        if element is None:
            break
        found.append(element)
        pos = element[2]
    return found


def _integer(data: bytes, element: tuple[int, int, int]) -> int | None:
    tag, start, end = element
    if tag != _INTEGER or not 0 < end - start <= 8:
        return None
    return int.from_bytes(data[start:end], "big", signed=True)


def _oid(raw: bytes) -> str:
    if not raw:
        return ""
    parts = [min(raw[0] // 40, 2), raw[0] - 40 * min(raw[0] // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _decode_community(data: bytes, top: list[tuple[int, int, int]]) -> str | None:
    """v1/v2c: SEQUENCE { version, community, GetResponse { id, status, index, varbinds } }."""
    if len(top) < 3 or top[1][0] != _OCTETS or top[2][0] != _GET_RESPONSE:
        return None
    fields = _children(data, top[2][1], top[2][2])
    if len(fields) < 4 or fields[3][0] != _SEQUENCE:
        return None
    status = _integer(data, fields[1])
    if status is None:
        return None
    if status:
        return f"SNMP agent, error status {status}"
    for varbind in _children(data, fields[3][1], fields[3][2]):
        pair = _children(data, varbind[1], varbind[2], 2)
        if len(pair) < 2 or pair[0][0] != _OID:
            continue
        oid = _oid(data[pair[0][1] : pair[0][2]])
        tag, start, end = pair[1]
        if oid == SYSDESCR_OID and tag == _OCTETS:
            return f"SNMP: sysDescr '{clean_text(data[start:end])}'"
        if tag in _NO_SUCH:
            return f"SNMP agent: {oid} {_NO_SUCH[tag]}"
    return "SNMP agent answered"


def _decode_v3(data: bytes, top: list[tuple[int, int, int]]) -> str | None:
    """v3: the USM parameters (an OCTET STRING wrapping a SEQUENCE) give the engine ID."""
    if len(top) < 4 or top[2][0] != _OCTETS:
        return None
    usm = _read(data, top[2][1], top[2][2])
    if usm is None or usm[0] != _SEQUENCE:
        return None
    params = _children(data, usm[1], usm[2], 1)
    if not params or params[0][0] != _OCTETS:
        return None
    engine = data[params[0][1] : params[0][2]]
    words = "SNMPv3 agent"
    if engine:
        hex_id = engine.hex()
        words += f", engine ID {hex_id if len(hex_id) <= 40 else hex_id[:37] + '...'}"
    scoped = top[3]
    if scoped[0] == _SEQUENCE:
        parts = _children(data, scoped[1], scoped[2], 3)
        if len(parts) == 3 and parts[2][0] == _REPORT:
            words += " (report)"
    return words


def decode_snmp(reply: bytes) -> str | None:
    """ "SNMP: sysDescr 'Linux srv 6.1'" or "SNMPv3 agent, engine ID 80001f88..."."""
    message = _read(reply, 0, len(reply))
    if message is None or message[0] != _SEQUENCE:
        return None
    top = _children(reply, message[1], message[2], 4)
    if not top:
        return None
    version = _integer(reply, top[0])
    if version in (0, 1):
        return _decode_community(reply, top)
    if version == 3:
        return _decode_v3(reply, top)
    return None


SNMP = Entry(
    UdpRequest(
        "snmp",
        (161,),
        "an SNMP v2c get of sysDescr with community 'public' (then an SNMPv3 discovery)",
        Expect.SOMETIMES,
        "an SNMP agent ignores a wrong community without a word and answers v3 discovery only"
        " when v3 is on, so silence may be the agent's configuration as well as a firewall",
    ),
    (build_v2c_get, build_v3_discovery),
    (decode_snmp,),
)
