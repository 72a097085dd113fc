"""The lab's topology: every name, address, port and DNS record the lab tests use.

Tests import these constants instead of repeating literals; netlab.py builds exactly what is
described here. Every address is in the benchmarking ranges 198.18.0.0/15 and 2001:2::/48, so
a packet sent by mistake outside the lab hits the guard routes (``unreachable``) that the
fixture installs in the root namespace, and never leaves the machine. No namespace of the lab
is connected to the root namespace at all.

::

                          client LAN 198.18.0.0/24, 2001:2::/64 (bridge br-client)
     +---------+    +------------+------------+------------+
     | client  |    | near       | dup1       | dup2       |     198.18.0.99: on-link, nobody
     | .0.2 ::2|    | .0.20 ::20 | .0.77 ::77 | .0.77 ::77 |     (no ARP answer)
     +----+----+    +-----+------+-----+------+-----+------+
          |               |            |            |   same IP, two MACs (duplicate-ip)
          +---------------+------------+------------+
                          |
                          | 198.18.0.1 / 2001:2::1
                   +------+-------------------------------------------------------------+
                   | router  (forwarding v4+v6, ICMP rate limits off)                   |
                   |  lo: 198.18.2.1  "public" NAT address, DNAT :80 -> cam:80 only     |
                   |      (:6036 -> router's own kernel RST; echo -> router answers)    |
                   |  forward: ->srv tcp/8443 reject admin-prohibited (v4 and v6)       |
                   |           ->srv tcp/8444 reject port-unreachable (v4 and v6)       |
                   |           ->srv udp/9004 reject admin-prohibited (v4 and v6)       |
                   |           ->cam LAN: only DNATed traffic, the rest dropped         |
                   |  routes: 198.18.4.0/24 unreachable  (ICMP host unreachable)        |
                   |          198.18.5.0/24 blackhole    (silence)                      |
                   |          198.18.6.0/24 prohibit     (ICMP admin prohibited)        |
                   |          198.18.7.0/24 none at all  (ICMP net unreachable)         |
                   |          (v4 errors sent by nft mirror rules: see ROUTER_NFT)      |
                   |          v6: 2001:2:0:4::/64 unreachable (ICMPv6 no route),        |
                   |          2001:2:0:5::/64 blackhole, 2001:2:0:6::/64 prohibit       |
                   +------+------------------------------------------+------------------+
                          | 198.18.1.1 / 2001:2:0:1::1               | 198.18.3.1
     server LAN 198.18.1.0/24, 2001:2:0:1::/64 (br-server)           | cam LAN 198.18.3.0/24
          +---------------+------------+------------+                | (br-cam)
          |               |            |            |                |
     +----+------+  +-----+-----+ +----+------+ +---+-------+   +----+------+
     | srv  .10  |  | noping .11| | dual  .12 | | dns  .53  |   | cam .3.10 |
     | ::10      |  | ::11      | | ::12      | | ::53      |   | default   |
     | 80 http   |  | 80 http   | | 80 http   | | dnsmasq   |   | via .3.1  |
     | 22 banner |  | drops ICMP| | v6 :80    | | probe.test|   | 80 http   |
     | 9000 silnt|  | echo      | | dropped   | | 53/udp    |   | 6036 plain|
     | 81 closed |  +-----------+ +-----------+ +-----------+   +-----------+
     | 82 dropped|
     | udp v4+v6:|
     | 123 chrony|
     | 161 snmpd |
     | 5060 sip  |
     | 9001 mute |
     | 9002 clsd |
     | 9003 drop |
     | real ICMP |
     | rate limit|
     +-----------+

DNS (dnsmasq, zone probe.test, local only): web (A+AAAA srv), www (CNAME web), noping, cam
(198.18.2.1), noaddr (TXT only), down (blackholed), unreach, v4only, dual (A+AAAA dual), near,
dup; missing.probe.test NXDOMAIN, broken.probe.test SERVFAIL, slow.probe.test times out;
names outside probe.test are REFUSED. The client's hosts file adds intranet.probe.test.

UDP services (every one on srv's IPv4 and IPv6 address, so IPv6 UDP is covered by the same
ports): chronyd on 123 (a real NTP server, local stratum 2, no outside source at all), snmpd
on 161 (community public, sysDescr SNMP_SYSDESCR, v3 discovery answered, no traps), a SIP
OPTIONS responder on 5060 (servers.py "sip": 200 OK, Server: probe-lab-sip), a bound socket
that reads and never answers on 9001, nothing on 9002 (the kernel answers ICMP port
unreachable), srv's own firewall drops 9003 (v4 and v6), and the router rejects 9004 to srv
with ICMP admin prohibited (v4 and v6). DNS over UDP is the dns host's dnsmasq on 53.

ICMP rate limits: off in every namespace (so tests that send many probes get every error and
echo reply), except on srv, which keeps a real Linux host's defaults (SRV_ICMP_LIMITS: one
ICMP error per second per peer after a burst of about six, at most 1000 a second in all):
closed UDP ports of srv are rate limited exactly as on a real server. The sysctls are per
namespace on this kernel (net.ipv4.icmp_msgs_per_sec only since Linux 6.x; before, it was
global). Echo replies are not rate limited (icmp_ratemask), nor are TCP RSTs.

From the client, one hop through the router: answers from the server LAN and from the cam
arrive with TTL/hop limit 63, answers from the router itself (its RST on 198.18.2.1:6036, its
echo replies, its ICMP errors) with 64, answers from the client LAN with 64.

The client namespace has routes to the lab only (no default route), plus one local
``unreachable`` route (198.18.255.0/24, 2001:2:0:ff::/64) for the "client has no route" case,
and its /etc/resolv.conf (via /etc/netns/<ns>/resolv.conf) names the lab DNS server.

The watch lab (watch_lab.py, for test_watch_lab.py) adds its own pieces while its tests run:
a load-balanced virtual address 198.18.9.1 on the router over three backends wb1-wb3
(198.18.1.31-33 on the server LAN), and timed or random drops toward srv; its constants
live there.

Namespace names are ``PREFIX + short name``; PREFIX is "prl-" unless PROBE_LAB_PREFIX says
otherwise. Interface names never contain the prefix: inside a host namespace the lab interface
is always ``eth0``; in the router it is ``v-<host>`` on bridge ``br-<lan>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# --------------------------------------------------------------------------- names

PREFIX: str = os.environ.get("PROBE_LAB_PREFIX", "prl-")
if not re.fullmatch(r"[a-z][a-z0-9-]{0,11}", PREFIX):
    raise ValueError(f"PROBE_LAB_PREFIX must be 1-12 chars of [a-z0-9-], got {PREFIX!r}")


def ns_name(short: str) -> str:
    """The network namespace name for a lab host's short name."""
    return PREFIX + short


HOST_IFACE = "eth0"  # the lab interface inside every host namespace

# --------------------------------------------------------------------------- address plan

LAB_NET_V4 = "198.18.0.0/15"
LAB_NET_V6 = "2001:2::/48"

CLIENT_LAN_V4 = "198.18.0.0/24"
CLIENT_LAN_V6 = "2001:2::/64"
SERVER_LAN_V4 = "198.18.1.0/24"
SERVER_LAN_V6 = "2001:2:0:1::/64"
CAM_LAN_V4 = "198.18.3.0/24"

ROUTER_CLIENT_V4 = "198.18.0.1"  # the client's gateway, and the source of the router's ICMP
ROUTER_CLIENT_V6 = "2001:2::1"
ROUTER_SERVER_V4 = "198.18.1.1"
ROUTER_SERVER_V6 = "2001:2:0:1::1"
ROUTER_CAM_V4 = "198.18.3.1"
ROUTER_CLIENT_MAC = "02:70:72:00:00:01"
ROUTER_SERVER_MAC = "02:70:72:01:00:01"
ROUTER_CAM_MAC = "02:70:72:03:00:01"

CLIENT_V4 = "198.18.0.2"
CLIENT_V6 = "2001:2::2"
CLIENT_MAC = "02:70:72:00:00:02"

NEAR_V4 = "198.18.0.20"  # on-link host that answers normally
NEAR_V6 = "2001:2::20"
NEAR_MAC = "02:70:72:00:00:20"

DUP_V4 = "198.18.0.77"  # held by both dup1 and dup2
DUP_V6 = "2001:2::77"
DUP1_MAC = "02:70:72:00:77:01"
DUP2_MAC = "02:70:72:00:77:02"

ONLINK_NOBODY_V4 = "198.18.0.99"  # on the client LAN, nobody answers ARP
ONLINK_NOBODY_V6 = "2001:2::99"

SRV_V4 = "198.18.1.10"
SRV_V6 = "2001:2:0:1::10"
SRV_MAC = "02:70:72:01:00:10"

NOPING_V4 = "198.18.1.11"  # drops ICMP echo-request (v4 and v6), serves http on 80
NOPING_V6 = "2001:2:0:1::11"
NOPING_MAC = "02:70:72:01:00:11"

DUAL_V4 = "198.18.1.12"  # http on 80; its host firewall drops tcp/80 over IPv6 only
DUAL_V6 = "2001:2:0:1::12"
DUAL_MAC = "02:70:72:01:00:12"

DNS_V4 = "198.18.1.53"  # dnsmasq, the client's resolver
DNS_V6 = "2001:2:0:1::53"
DNS_MAC = "02:70:72:01:00:53"

NAT_PUBLIC_V4 = "198.18.2.1"  # the router's "public" address (on its lo: no dummy here)
CAM_V4 = "198.18.3.10"  # the camera behind the NAT
CAM_MAC = "02:70:72:03:00:10"

UNREACHABLE_NET_V4 = "198.18.4.0/24"  # router: `unreachable` -> ICMP host unreachable
UNREACHABLE_HOST_V4 = "198.18.4.10"
UNREACHABLE_NET_V6 = "2001:2:0:4::/64"  # router: ICMPv6 no route (code 0)
UNREACHABLE_HOST_V6 = "2001:2:0:4::10"
BLACKHOLE_NET_V4 = "198.18.5.0/24"  # router: `blackhole` -> silence
BLACKHOLE_HOST_V4 = "198.18.5.10"
BLACKHOLE_NET_V6 = "2001:2:0:5::/64"
BLACKHOLE_HOST_V6 = "2001:2:0:5::10"
PROHIBIT_NET_V4 = "198.18.6.0/24"  # router: `prohibit` -> ICMP admin prohibited (code 13)
PROHIBIT_HOST_V4 = "198.18.6.10"
PROHIBIT_NET_V6 = "2001:2:0:6::/64"  # router: ICMPv6 admin prohibited (code 1)
PROHIBIT_HOST_V6 = "2001:2:0:6::10"
NO_ROUTE_AT_ROUTER_NET_V4 = "198.18.7.0/24"  # router has no route -> ICMP net unreachable
NO_ROUTE_AT_ROUTER_V4 = "198.18.7.10"

CLIENT_UNROUTABLE_NET_V4 = "198.18.255.0/24"  # client: local `unreachable` route
CLIENT_UNROUTABLE_V4 = "198.18.255.1"  # the client itself has no route here (no-route case)
CLIENT_UNROUTABLE_NET_V6 = "2001:2:0:ff::/64"
CLIENT_UNROUTABLE_V6 = "2001:2:0:ff::1"

SILENT_DNS_V4 = "198.18.5.53"  # a "nameserver" in the blackhole: queries time out

# --------------------------------------------------------------------------- TTLs at the client

TTL_DIRECT = 64  # the router itself, or an on-link host
TTL_ONE_HOP = 63  # a host behind the router (server LAN, cam)

# --------------------------------------------------------------------------- ports

HTTP_PORT = 80
SSH_PORT = 22  # srv: banner "SSH-2.0-probe-lab"
SILENT_PORT = 9000  # srv: accepts, never speaks
CLOSED_PORT = 81  # srv: nothing listens -> kernel RST
DROPPED_PORT = 82  # srv: host firewall drops silently
ADMIN_PROHIBITED_PORT = 8443  # router rejects ->srv with ICMP admin prohibited (v4 and v6)
PORT_UNREACH_PORT = 8444  # router rejects ->srv with ICMP port unreachable (v4 and v6)
CAM_HTTP_PORT = 80  # DNAT 198.18.2.1:80 -> cam:80
CAM_UNFORWARDED_PORT = 6036  # cam listens, but the router does not forward: router's RST
SPARE_PORT = 9999  # free on every host: for tests that start servers of their own
# srv ports that test_app_lab.py / test_options_lab.py open for their own servers (not
# listening otherwise): TLS with a good, an expired and a name-mismatched certificate for
# NAME_WEB; and a port whose SYN/ACKs the router rewrites (MSS 1360, SACK and timestamps
# removed) while the tests run.
TLS_GOOD_PORT = 9441
TLS_EXPIRED_PORT = 9442
TLS_MISMATCH_PORT = 9443
OPTIONS_REWRITTEN_PORT = 9445
REWRITTEN_MSS = 1360

# --------------------------------------------------------------------------- UDP services

DNS_UDP_PORT = 53  # dnsmasq on the dns host (DNS_V4, DNS_V6): the lab's UDP DNS server
NTP_PORT = 123  # srv: chronyd (-x, no clock control), local stratum NTP_STRATUM, v4 and v6
NTP_STRATUM = 2
NTP_REFID = "127.127.1.1"  # chrony's refid for its local reference (no outside source)
SNMP_PORT = 161  # srv: snmpd, v1/v2c community SNMP_COMMUNITY (read-only), v3 discovery
SNMP_COMMUNITY = "public"
SNMP_SYSDESCR = "probe-lab srv snmpd"  # srv's sysDescr.0
SIP_PORT = 5060  # srv: servers.py "sip", v4 and v6: every request -> 200 OK
SIP_SERVER = "probe-lab-sip"  # the Server header of its answers (servers.py SIP_SERVER)
UDP_SILENT_PORT = 9001  # srv: a bound socket that reads and never answers (v4 and v6)
UDP_CLOSED_PORT = 9002  # srv: nothing bound -> srv's kernel sends ICMP port unreachable
UDP_DROPPED_PORT = 9003  # srv: its own firewall drops it silently (v4 and v6)
UDP_PROHIBITED_PORT = 9004  # router rejects ->srv with ICMP admin prohibited (v4+v6)

# srv's ICMP rate limits: a real Linux host's defaults, left as they are (the other
# namespaces turn them off): net.ipv4.icmp_ratelimit is the minimum gap in ms between ICMP
# errors to one peer (a token bucket with a burst of 6), icmp_msgs_per_sec / _burst the
# limit for all peers together, net.ipv6.icmp.ratelimit the same gap for ICMPv6 errors.
SRV_ICMP_LIMITS: dict[str, str] = {
    "net.ipv4.icmp_ratelimit": "1000",
    "net.ipv4.icmp_msgs_per_sec": "1000",
    "net.ipv4.icmp_msgs_burst": "50",
    "net.ipv6.icmp.ratelimit": "100",
}

HTTP_SERVER_HEADER = "Server: probe-lab"
SSH_BANNER = "SSH-2.0-probe-lab\r\n"
HOST_HEADER = "X-Probe-Lab-Host"  # the http mode names the answering host in this header

# --------------------------------------------------------------------------- DNS

DNS_DOMAIN = "probe.test"  # local-only zone: unknown names under it are NXDOMAIN
NAME_WEB = "web.probe.test"  # A SRV_V4, AAAA SRV_V6
NAME_WWW = "www.probe.test"  # CNAME web.probe.test
NAME_NOPING = "noping.probe.test"  # A NOPING_V4
NAME_CAM = "cam.probe.test"  # A NAT_PUBLIC_V4
NAME_NOADDR = "noaddr.probe.test"  # TXT only: NOERROR, no A/AAAA
NAME_DOWN = "down.probe.test"  # A BLACKHOLE_HOST_V4
NAME_UNREACH = "unreach.probe.test"  # A UNREACHABLE_HOST_V4
NAME_V4ONLY = "v4only.probe.test"  # A SRV_V4 only (AAAA: NOERROR, no answer)
NAME_DUAL = "dual.probe.test"  # A DUAL_V4, AAAA DUAL_V6 (v6 :80 dropped)
NAME_NEAR = "near.probe.test"  # A NEAR_V4, AAAA NEAR_V6
NAME_DUP = "dup.probe.test"  # A DUP_V4
NAME_MISSING = "missing.probe.test"  # not defined: NXDOMAIN
NAME_SERVFAIL = "broken.probe.test"  # forwarded to an upstream that answers SERVFAIL
NAME_TIMEOUT = "slow.probe.test"  # forwarded into the blackhole: the client's query times out
NOADDR_TXT = "probe-lab: this name has no address"

# The fake upstream behind NAME_SERVFAIL: a UDP responder (servers.py mode "servfail") on the
# dns namespace's loopback, so the answer is a real SERVFAIL relayed by dnsmasq.
SERVFAIL_UPSTREAM = ("127.0.0.1", 5353)

# name -> (A records, AAAA records), served by dnsmasq --host-record
HOST_RECORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    NAME_WEB: ((SRV_V4,), (SRV_V6,)),
    NAME_NOPING: ((NOPING_V4,), ()),
    NAME_CAM: ((NAT_PUBLIC_V4,), ()),
    NAME_DOWN: ((BLACKHOLE_HOST_V4,), ()),
    NAME_UNREACH: ((UNREACHABLE_HOST_V4,), ()),
    NAME_V4ONLY: ((SRV_V4,), ()),
    NAME_DUAL: ((DUAL_V4,), (DUAL_V6,)),
    NAME_NEAR: ((NEAR_V4,), (NEAR_V6,)),
    NAME_DUP: ((DUP_V4,), ()),
}
CNAME_RECORDS: dict[str, str] = {NAME_WWW: NAME_WEB}
TXT_RECORDS: dict[str, str] = {NAME_NOADDR: NOADDR_TXT}

# The client's own hosts file (/etc/netns/<client>/hosts, which `ip netns exec` shows as
# /etc/hosts; getaddrinfo reads it before asking DNS): a name DNS does not know. A test that
# needs an entry disagreeing with DNS adds it for its own duration (Lab.client_hosts).
NAME_HOSTS_ONLY = "intranet.probe.test"  # NXDOMAIN in DNS; the client's hosts file: SRV_V4
CLIENT_HOSTS: dict[str, str] = {NAME_HOSTS_ONLY: SRV_V4}
# A name outside every zone of the lab's resolver: dnsmasq has no upstream for it and
# answers REFUSED.
NAME_REFUSED = "elsewhere.invalid"

# --------------------------------------------------------------------------- hosts


@dataclass(frozen=True)
class Service:
    """One listener of servers.py: TCP modes http, banner, silent, plain; UDP sip, udpsilent."""

    mode: str
    port: int


@dataclass(frozen=True)
class Lan:
    """A segment: a bridge in the router namespace with the router's addresses on it."""

    name: str
    bridge: str
    router_v4: str
    router_v6: str | None
    router_mac: str
    prefix_v4: int = 24
    prefix_v6: int = 64


@dataclass(frozen=True)
class Host:
    """A lab host: one namespace with eth0 plugged into a LAN's bridge.

    ``firewall`` holds nft rules for an inet input chain in the host (empty: none).
    ``icmp_limits``: the host's ICMP rate-limit sysctls (empty: limits off, the lab's usual).
    ``default_route``: a default route via the router (the cam) instead of routes to the lab
    prefixes only. ``extra_routes`` are ``ip route`` arguments added after the usual ones.
    """

    name: str
    lan: Lan
    v4: str
    v6: str | None
    mac: str
    services: tuple[Service, ...] = ()
    firewall: tuple[str, ...] = ()
    default_route: bool = False
    extra_routes: tuple[str, ...] = ()
    icmp_limits: tuple[tuple[str, str], ...] = ()

    @property
    def ns(self) -> str:
        return ns_name(self.name)

    @property
    def router_iface(self) -> str:
        return f"v-{self.name}"


CLIENT_LAN = Lan("client", "br-client", ROUTER_CLIENT_V4, ROUTER_CLIENT_V6, ROUTER_CLIENT_MAC)
SERVER_LAN = Lan("server", "br-server", ROUTER_SERVER_V4, ROUTER_SERVER_V6, ROUTER_SERVER_MAC)
CAM_LAN = Lan("cam", "br-cam", ROUTER_CAM_V4, None, ROUTER_CAM_MAC)
LANS: tuple[Lan, ...] = (CLIENT_LAN, SERVER_LAN, CAM_LAN)

_HTTP = Service("http", HTTP_PORT)

CLIENT = Host(
    "client",
    CLIENT_LAN,
    CLIENT_V4,
    CLIENT_V6,
    CLIENT_MAC,
    extra_routes=(
        f"unreachable {CLIENT_UNROUTABLE_NET_V4}",
        f"unreachable {CLIENT_UNROUTABLE_NET_V6}",
    ),
)
NEAR = Host("near", CLIENT_LAN, NEAR_V4, NEAR_V6, NEAR_MAC, (_HTTP,))
DUP1 = Host("dup1", CLIENT_LAN, DUP_V4, DUP_V6, DUP1_MAC, (_HTTP,))
DUP2 = Host("dup2", CLIENT_LAN, DUP_V4, DUP_V6, DUP2_MAC, (_HTTP,))
SRV = Host(
    "srv",
    SERVER_LAN,
    SRV_V4,
    SRV_V6,
    SRV_MAC,
    (
        _HTTP,
        Service("banner", SSH_PORT),
        Service("silent", SILENT_PORT),
        Service("sip", SIP_PORT),
        Service("udpsilent", UDP_SILENT_PORT),
    ),
    firewall=(f"tcp dport {DROPPED_PORT} drop", f"udp dport {UDP_DROPPED_PORT} drop"),
    icmp_limits=tuple(SRV_ICMP_LIMITS.items()),
)
NOPING = Host(
    "noping",
    SERVER_LAN,
    NOPING_V4,
    NOPING_V6,
    NOPING_MAC,
    (_HTTP,),
    firewall=("icmp type echo-request drop", "icmpv6 type echo-request drop"),
)
DUAL = Host(
    "dual",
    SERVER_LAN,
    DUAL_V4,
    DUAL_V6,
    DUAL_MAC,
    (_HTTP,),
    firewall=(f"meta nfproto ipv6 tcp dport {HTTP_PORT} drop",),
)
DNS = Host("dns", SERVER_LAN, DNS_V4, DNS_V6, DNS_MAC)
CAM = Host(
    "cam",
    CAM_LAN,
    CAM_V4,
    None,
    CAM_MAC,
    (Service("http", CAM_HTTP_PORT), Service("plain", CAM_UNFORWARDED_PORT)),
    default_route=True,
)

HOSTS: tuple[Host, ...] = (CLIENT, NEAR, DUP1, DUP2, SRV, NOPING, DUAL, DNS, CAM)

ROUTER_NAME = "router"
CLIENT_NS = CLIENT.ns
ROUTER_NS = ns_name(ROUTER_NAME)
NEAR_NS = NEAR.ns
DUP1_NS = DUP1.ns
DUP2_NS = DUP2.ns
SRV_NS = SRV.ns
NOPING_NS = NOPING.ns
DUAL_NS = DUAL.ns
DNS_NS = DNS.ns
CAM_NS = CAM.ns
ALL_NS: tuple[str, ...] = (ROUTER_NS, *(h.ns for h in HOSTS))

# Routes the router holds besides its connected LANs: `ip route add` arguments.
ROUTER_ROUTES: tuple[str, ...] = (
    f"unreachable {UNREACHABLE_NET_V4}",
    f"unreachable {UNREACHABLE_NET_V6}",
    f"blackhole {BLACKHOLE_NET_V4}",
    f"blackhole {BLACKHOLE_NET_V6}",
    f"prohibit {PROHIBIT_NET_V4}",
    f"prohibit {PROHIBIT_NET_V6}",
)

# The router's nftables ruleset: the camera's port forward and the rejecting firewall.
ROUTER_NFT = f"""\
table ip probe_lab_nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {NAT_PUBLIC_V4} tcp dport {CAM_HTTP_PORT} dnat to {CAM_V4}:{CAM_HTTP_PORT}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
  }}
}}
table ip probe_lab_route_errors {{
  # The kernel's own ICMP errors for unreachable/prohibit/missing routes (ip_error) are
  # rate limited by net.ipv4.route.error_cost/error_burst: global sysctls, not per
  # namespace, and a new peer starts with no tokens, so the first errors are dropped. These
  # rules send the same ICMP (type, code, source 198.18.0.1, TTL 64) every time; the routes
  # stay, so the router's routing table still tells the truth. IPv6 needs no such help:
  # its route errors obey net.ipv6.icmp.ratelimit, which is per namespace and set to 0.
  chain prerouting {{
    type filter hook prerouting priority filter; policy accept;
    ip daddr {UNREACHABLE_NET_V4} reject with icmp type host-unreachable
    ip daddr {PROHIBIT_NET_V4} reject with icmp type admin-prohibited
    ip daddr {NO_ROUTE_AT_ROUTER_NET_V4} reject with icmp type net-unreachable
  }}
}}
table inet probe_lab_filter {{
  chain forward {{
    type filter hook forward priority filter; policy accept;
    ip daddr {SRV_V4} tcp dport {ADMIN_PROHIBITED_PORT} reject with icmp type admin-prohibited
    ip daddr {SRV_V4} tcp dport {PORT_UNREACH_PORT} reject with icmp type port-unreachable
    ip6 daddr {SRV_V6} tcp dport {ADMIN_PROHIBITED_PORT} reject with icmpv6 type admin-prohibited
    ip6 daddr {SRV_V6} tcp dport {PORT_UNREACH_PORT} reject with icmpv6 type port-unreachable
    ip daddr {SRV_V4} udp dport {UDP_PROHIBITED_PORT} reject with icmp type admin-prohibited
    ip6 daddr {SRV_V6} udp dport {UDP_PROHIBITED_PORT} reject with icmpv6 type admin-prohibited
    # the cam's LAN is private: reachable only through the port forward
    ip daddr {CAM_LAN_V4} ct status dnat accept
    ip daddr {CAM_LAN_V4} drop
  }}
}}
"""
