"""Where the IP packet starts inside the layers ISP and cloud captures wrap it in (pure).

Layer 2, from an EtherType on: 802.1Q / QinQ tags, MPLS label stacks (with an Ethernet
pseudowire after a control word), PPPoE sessions, 802.3 frames with LLC/SNAP. Inside IP
(``packets.decode_ip`` asks): GRE (IP, transparent Ethernet bridging, ERSPAN type II, PPTP's
PPP), VXLAN (UDP 4789, and the Linux kernel's old 8472), GTP-U (UDP 2152) and Geneve (UDP
6081). PPP frames (link types 9 and 50, PPPoE, PPTP): IPv4, IPv6, MPLS. NFLOG (link type
239, ``tcpdump -i nflog``): the packet in its payload TLV. 802.11 data frames (105, and 127
behind radiotap), when not encrypted.

Each function returns an offset and a kind (``IP`` or ``ETHERNET``: where the EtherType of
an inner Ethernet frame sits is that offset + 12), or -1 when the layer is not one of these.
"""

from __future__ import annotations

from typing import Final

IP: Final = 0
ETHERNET: Final = 1

_ETH_IPV4: Final = 0x0800
_ETH_IPV6: Final = 0x86DD
_ETH_VLAN: Final = (0x8100, 0x88A8, 0x9100)
_ETH_MPLS: Final = (0x8847, 0x8848)
_ETH_PPPOE: Final = 0x8864  # the session stage; discovery (0x8863) carries no IP
_PPP_IPV4: Final = 0x0021
_PPP_IPV6: Final = 0x0057
_PPP_MPLS: Final = 0x0281
_MAX_8023: Final = 1500  # a "type" this small is an 802.3 frame's length
_SNAP: Final = b"\xaa\xaa\x03"  # LLC: SNAP SAPs, unnumbered information
_GRE_PPP: Final = 0x880B  # GRE version 1: PPTP
_GRE_TEB: Final = 0x6558  # transparent Ethernet bridging
_GRE_ERSPAN2: Final = 0x88BE
VXLAN_PORTS: Final = (4789, 8472)
GTPU_PORT: Final = 2152
GENEVE_PORT: Final = 6081
_NFULA_PAYLOAD: Final = 9
_MAX_LAYERS: Final = 16  # tags and labels: more than this is not a frame worth reading


def after_ethertype(data: bytes, off: int) -> int:
    """The offset of the IP header after the EtherType at ``data[off:off + 2]``; -1 when the
    frame carries no IP (ARP, LLDP...) or its layers run past its end."""
    for _ in range(_MAX_LAYERS):
        if len(data) < off + 2:
            return -1
        etype = (data[off] << 8) | data[off + 1]
        if etype in (_ETH_IPV4, _ETH_IPV6):
            return off + 2
        if etype <= _MAX_8023 and data[off + 2 : off + 5] == _SNAP:
            off += 8  # 802.3 length, then LLC/SNAP: the EtherType after its OUI
        elif etype in _ETH_VLAN:
            off += 4  # the tag: the next EtherType follows its 2 bytes of TCI
        elif etype in _ETH_MPLS:
            return _after_mpls(data, off + 2)
        elif etype == _ETH_PPPOE:
            # PPPoE: version/type, code, session id, length (6 bytes), then the PPP protocol.
            return ppp(data, off + 8)
        else:
            return -1
    return -1


def ppp(data: bytes, off: int) -> int:
    """The IP packet after the PPP protocol field at ``data[off:]`` (IPv4, IPv6, or an MPLS
    label stack); -1 for PPP's own control protocols (LCP, IPCP...)."""
    if len(data) < off + 2:
        return -1
    if data[off] & 1:  # protocol field compression (RFC 1661): one byte, 0x21 for IPv4
        proto, off = data[off], off + 1
    else:
        proto, off = (data[off] << 8) | data[off + 1], off + 2
    if proto in (_PPP_IPV4, _PPP_IPV6):
        return off
    return _after_mpls(data, off) if proto == _PPP_MPLS else -1


def ppp_frame(data: bytes, off: int = 0) -> int:
    """A PPP frame at ``off`` (link types 9 and 50, PPTP): the HDLC address and control
    bytes (0xff 0x03) when present, then the protocol."""
    return ppp(data, off + 2 if data[off : off + 2] == b"\xff\x03" else off)


def wifi(data: bytes, off: int = 0) -> int:
    """The IP packet in an 802.11 data frame at ``off`` (link type 105; 127 after its radiotap
    header): the MAC header (24 bytes, 30 with four addresses, 2 more for QoS, 4 more for HT
    control), then LLC/SNAP and the EtherType. -1 for management and control frames, and for
    protected ones (WPA): their payload is encrypted."""
    if len(data) < off + 24:
        return -1
    fc0, fc1 = data[off], data[off + 1]
    if (fc0 >> 2) & 3 != 2 or fc1 & 0x40:  # not a data frame, or protected
        return -1
    head = 30 if fc1 & 0x03 == 0x03 else 24
    if fc0 & 0x80:  # QoS data: a QoS control field, and HT control when "order" is set
        head += 6 if fc1 & 0x80 else 2
    llc = off + head
    if data[llc : llc + 3] != _SNAP:
        return -1
    return after_ethertype(data, llc + 6)


def radiotap(data: bytes) -> int:
    """The IP packet of a radiotap frame (link type 127): the 802.11 frame follows the
    radiotap header, whose length is in its bytes 2-3 (little-endian)."""
    return wifi(data, data[2] | (data[3] << 8)) if len(data) >= 8 else -1


def _after_mpls(data: bytes, off: int) -> int:
    """MPLS carries no protocol field: after the bottom-of-stack label, the first nibble says
    IPv4 (4) or IPv6 (6); 0 is a pseudowire control word before an Ethernet frame."""
    for _ in range(_MAX_LAYERS):
        if len(data) < off + 4:
            return -1
        bottom = data[off + 2] & 0x01
        off += 4
        if bottom:
            break
    else:
        return -1
    if len(data) <= off:
        return -1
    nibble = data[off] >> 4
    if nibble in (4, 6):
        return off
    if nibble == 0:  # control word (4 bytes), then the customer's Ethernet frame
        return after_ethertype(data, off + 4 + 12)
    return -1


def gre(data: bytes, l4: int, end: int) -> tuple[int, int]:
    """(kind, offset) of what a GRE packet at ``l4`` carries; offset -1 when not IP or
    Ethernet. Version 0 only (version 1 is PPTP's, carrying PPP)."""
    if end < l4 + 4:
        return IP, -1
    flags, proto = (data[l4] << 8) | data[l4 + 1], (data[l4 + 2] << 8) | data[l4 + 3]
    if flags & 0x0007 == 1 and proto == _GRE_PPP:
        # PPTP's enhanced GRE: key (payload length, call id), then sequence and
        # acknowledgment numbers when flagged; a PPP frame, or nothing (an ACK alone).
        off = l4 + 8 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
        return (IP, ppp_frame(data[:end], off)) if end > off else (IP, -1)
    if flags & 0x0007:
        return IP, -1
    off = l4 + 4
    off += 4 if flags & 0xC000 else 0  # checksum (and the reserved word with it), routing
    off += 4 if flags & 0x2000 else 0  # key
    off += 4 if flags & 0x1000 else 0  # sequence number
    if proto in (_ETH_IPV4, _ETH_IPV6):
        return IP, off
    if proto == _GRE_TEB:
        return ETHERNET, off
    if proto == _GRE_ERSPAN2:
        return ETHERNET, off + 8  # ERSPAN type II header
    return IP, -1


def udp(data: bytes, l4: int, end: int) -> tuple[int, int]:
    """(kind, offset) of the packet a VXLAN or GTP-U datagram at ``l4`` carries; offset -1
    for any other UDP."""
    if end < l4 + 16:
        return IP, -1
    sport, dport = (data[l4] << 8) | data[l4 + 1], (data[l4 + 2] << 8) | data[l4 + 3]
    if dport in VXLAN_PORTS:
        return (ETHERNET, l4 + 16) if data[l4 + 8] & 0x08 else (IP, -1)  # I flag: VNI valid
    if GTPU_PORT in (sport, dport):
        return IP, _gtpu(data, l4 + 8, end)
    if dport == GENEVE_PORT:
        # Geneve (AWS Gateway Load Balancer, OVN): version 0, options' length in 4-byte
        # units, then the EtherType of what it carries (mostly Ethernet, 0x6558).
        g = l4 + 8
        if data[g] >> 6:
            return IP, -1
        off = g + 8 + (data[g] & 0x3F) * 4
        proto = (data[g + 2] << 8) | data[g + 3]
        if proto == _GRE_TEB:
            return ETHERNET, off
        return (IP, off) if proto in (_ETH_IPV4, _ETH_IPV6) else (IP, -1)
    return IP, -1


def tunnel_port(sport: int, dport: int) -> bool:
    """The datagram is a VXLAN, GTP-U or Geneve tunnel's (``udp`` opens those that carry a
    packet)."""
    return dport in VXLAN_PORTS or dport == GENEVE_PORT or GTPU_PORT in (sport, dport)


def _gtpu(data: bytes, g: int, end: int) -> int:
    """GTP-U version 1, a G-PDU (type 255): 8 bytes; 4 more when E, S or PN is set; then
    extension headers (length in 4-byte units, the next type in their last byte)."""
    flags = data[g]
    if flags >> 5 != 1 or data[g + 1] != 255:
        return -1
    if not flags & 0x07:
        return g + 8
    if end < g + 12:
        return -1
    off, nxt = g + 12, data[g + 11] if flags & 0x04 else 0
    for _ in range(_MAX_LAYERS):
        if not nxt:
            return off
        if end < off + 4 or not data[off]:
            return -1
        off += data[off] * 4
        if end < off:
            return -1
        nxt = data[off - 1]
    return -1


def nflog(data: bytes) -> int:
    """The packet inside an NFLOG frame: a 4-byte header (family, version, resource id),
    then TLVs (length and type in the capturing host's byte order: little-endian on the
    machines that write them; each padded to 4 bytes), the packet in type 9's value."""
    off = 4
    for _ in range(64):
        if len(data) < off + 4:
            return -1
        length = data[off] | (data[off + 1] << 8)
        kind = (data[off + 2] | (data[off + 3] << 8)) & 0x7FFF
        if length < 4:
            return -1
        if kind == _NFULA_PAYLOAD:
            return off + 4
        off += (length + 3) & ~3
    return -1
