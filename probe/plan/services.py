"""Service names per protocol: 443/tcp is "https", 443/udp is "quic" (pure; reads one file).

A built-in table per protocol gives the words probe prints; a name missing from it is looked
up in the local services file (/etc/services) for the same protocol, as a fallback, read
directly rather than through getservbyname(), whose name-service switch may consult
SSSD/NIS/LDAP over the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from probe.model import Protocol

__all__ = ["MAX_PORT", "MIN_PORT", "port_names", "service_name", "service_port"]

MIN_PORT = 1
MAX_PORT = 65535

Table = tuple[tuple[int, str, tuple[str, ...]], ...]

# (port, canonical name, aliases...). Canonical names are the words probe prints; they favour
# the words a helpdesk uses ("dns", "smb", "rdp") and keep the IANA / nmap names as aliases.
# Services that run over UDP alone (DHCP, TFTP, SNMP, NTP, syslog...) are in the UDP table.
_TCP_TABLE: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (7, "echo", ()),
    (9, "discard", ()),
    (13, "daytime", ()),
    (20, "ftp-data", ()),
    (21, "ftp", ()),
    (22, "ssh", ()),
    (23, "telnet", ()),
    (25, "smtp", ()),
    (37, "time", ()),
    (43, "whois", ("nicname",)),
    (49, "tacacs", ("tacacs+",)),
    (53, "dns", ("domain",)),
    (70, "gopher", ()),
    (79, "finger", ()),
    (80, "http", ("www", "www-http")),
    (88, "kerberos", ("kerberos5", "krb5", "kerberos-sec")),
    (102, "iso-tsap", ("s7comm",)),
    (110, "pop3", ("pop", "pop-3")),
    (111, "rpcbind", ("sunrpc", "portmap", "portmapper")),
    (113, "ident", ("auth",)),
    (119, "nntp", ()),
    (135, "msrpc", ("epmap", "loc-srv")),
    (139, "netbios-ssn", ("netbios",)),
    (143, "imap", ("imap2", "imap4")),
    (179, "bgp", ()),
    (389, "ldap", ()),
    (427, "svrloc", ("slp",)),
    (443, "https", ()),
    (445, "smb", ("microsoft-ds", "cifs")),
    (464, "kpasswd", ("kpasswd5",)),
    (465, "submissions", ("smtps", "ssmtp", "urd")),
    (502, "modbus", ("mbap",)),
    (512, "exec", ("rexec",)),
    (513, "login", ("rlogin",)),
    (514, "shell", ("rsh", "cmd")),
    (515, "printer", ("lpd", "spooler")),
    (548, "afp", ("afpovertcp",)),
    (554, "rtsp", ()),
    (587, "submission", ()),
    (593, "http-rpc-epmap", ()),
    (631, "ipp", ("cups",)),
    (636, "ldaps", ()),
    (853, "dns-over-tls", ("domain-s", "dot")),
    (873, "rsync", ()),
    (989, "ftps-data", ()),
    (990, "ftps", ()),
    (993, "imaps", ()),
    (995, "pop3s", ()),
    (1080, "socks", ()),
    (1194, "openvpn", ()),
    (1433, "mssql", ("ms-sql-s", "sqlserver")),
    (1494, "citrix-ica", ("ica",)),
    (1521, "oracle", ("oracle-tns",)),
    (1720, "h323", ("h323hostcall", "h323q931", "h.323")),
    (1723, "pptp", ()),
    (1883, "mqtt", ()),
    (1935, "rtmp", ("macromedia-fcs",)),
    (2000, "sccp", ("skinny", "cisco-sccp")),
    (2049, "nfs", ()),
    (2375, "docker", ()),
    (2376, "docker-tls", ("docker-s",)),
    (2379, "etcd-client", ("etcd",)),
    (2380, "etcd-server", ()),
    (2598, "citrix-cgp", ()),
    (3050, "firebird", ("gds-db", "gds_db")),
    (3128, "squid", ("squid-http", "http-proxy")),
    (3260, "iscsi", ("iscsi-target",)),
    (3268, "ldap-gc", ("msft-gc", "globalcatldap")),
    (3269, "ldap-gc-ssl", ("msft-gc-ssl", "globalcatldapssl")),
    (3283, "ard", ("net-assistant", "apple-remote-desktop")),
    (3306, "mysql", ("mariadb",)),
    (3389, "rdp", ("ms-wbt-server",)),
    (3478, "stun", ("turn",)),
    (4190, "sieve", ("managesieve",)),
    (4369, "epmd", ()),
    (4899, "radmin", ()),
    (5038, "asterisk-ami", ("ami",)),
    (5060, "sip", ()),
    (5061, "sips", ("sip-tls",)),
    (5222, "xmpp-client", ("xmpp", "jabber")),
    (5269, "xmpp-server", ()),
    (5349, "turns", ("stuns",)),
    (5432, "postgresql", ("postgres",)),
    (5601, "kibana", ()),
    (5671, "amqps", ()),
    (5672, "amqp", ()),
    (5800, "vnc-http", ()),
    (5900, "vnc", ("rfb",)),
    (5938, "teamviewer", ()),
    (5984, "couchdb", ()),
    (5985, "winrm", ("wsman",)),
    (5986, "winrm-https", ("wsmans",)),
    (6000, "x11", ()),
    (6379, "redis", ()),
    (6443, "kube-apiserver", ("kubernetes", "k8s")),
    (6514, "syslog-tls", ()),
    (6667, "irc", ()),
    (6697, "ircs", ()),
    (7070, "anydesk", ()),
    (7474, "neo4j-http", ()),
    (7687, "neo4j", ("bolt",)),
    (8009, "ajp13", ("ajp",)),
    (8080, "http-alt", ("webcache", "http-proxy-alt")),
    (8086, "influxdb", ()),
    (8123, "clickhouse-http", ()),
    (8291, "winbox", ()),
    (8443, "https-alt", ("pcsync-https",)),
    (8554, "rtsp-alt", ()),
    (8883, "mqtts", ("secure-mqtt",)),
    (9042, "cassandra", ("cql",)),
    (9092, "kafka", ()),
    (9100, "jetdirect", ("pdl-datastream", "raw-print")),
    (9200, "elasticsearch", ("opensearch",)),
    (9300, "elasticsearch-transport", ()),
    (9389, "adws", ()),
    (9418, "git", ()),
    (11211, "memcached", ()),
    (25565, "minecraft", ()),
    (26257, "cockroachdb", ()),
    (26379, "redis-sentinel", ()),
    (27017, "mongodb", ("mongo",)),
    (27018, "mongodb-shard", ()),
    (27019, "mongodb-config", ()),
    (37777, "dahua-sdk", ("dahua",)),
    (50000, "db2", ()),
)


# The UDP services a helpdesk meets. A protocol on both transports keeps its TCP word ("dns",
# "sip", "kerberos"); where UDP carries something else on the same number, the UDP word says
# what (443/udp is QUIC, 389/udp is CLDAP, the connectionless LDAP of domain controller
# discovery).
_UDP_TABLE: Table = (
    (7, "echo", ()),
    (53, "dns", ("domain",)),
    (67, "dhcp", ("bootps", "dhcps")),
    (68, "dhcp-client", ("bootpc",)),
    (69, "tftp", ()),
    (88, "kerberos", ("kerberos5", "krb5", "kerberos-sec")),
    (111, "rpcbind", ("sunrpc", "portmap", "portmapper")),
    (123, "ntp", ()),
    (137, "netbios-ns", ()),
    (138, "netbios-dgm", ()),
    (161, "snmp", ()),
    (162, "snmp-trap", ("snmptrap",)),
    (389, "cldap", ("ldap",)),
    (443, "quic", ("https", "http3", "h3")),
    (464, "kpasswd", ("kpasswd5",)),
    (500, "ike", ("isakmp",)),
    (514, "syslog", ()),
    (520, "rip", ("router",)),
    (623, "ipmi", ("asf-rmcp", "rmcp")),
    (853, "dns-over-quic", ("domain-s", "doq")),
    (1194, "openvpn", ()),
    (1434, "mssql-browser", ("ms-sql-m", "sql-browser")),
    (1701, "l2tp", ("l2f",)),
    (1719, "h225-ras", ("h323-ras", "h323gatestat", "ras")),
    (1812, "radius", ()),
    (1813, "radius-acct", ("radacct",)),
    (1900, "ssdp", ("upnp",)),
    (2049, "nfs", ()),
    (2427, "mgcp", ("mgcp-gateway",)),
    (2727, "mgcp-ca", ("mgcp-callagent",)),
    (3389, "rdp", ("ms-wbt-server",)),
    (3478, "stun", ("turn",)),
    (3702, "ws-discovery", ("onvif-discovery", "wsd")),
    (4500, "ipsec-nat-t", ("nat-t", "ike-nat-t")),
    (4569, "iax2", ("iax",)),
    (5060, "sip", ()),
    (5061, "sips", ("sip-tls",)),
    (5349, "turns", ("stuns",)),
    (5353, "mdns", ("zeroconf", "multicast-dns")),
    (5683, "coap", ()),
    (5684, "coaps", ()),
    (11211, "memcached", ()),
    (27015, "source-engine", ("steam",)),
    (51820, "wireguard", ("wg",)),
)

_TABLES: dict[Protocol, Table] = {Protocol.TCP: _TCP_TABLE, Protocol.UDP: _UDP_TABLE}
_PORT_NAMES: dict[Protocol, dict[int, str]] = {
    protocol: {port: name for port, name, _ in table} for protocol, table in _TABLES.items()
}
_NAME_PORTS: dict[Protocol, dict[str, int]] = {
    protocol: {name: port for port, canonical, aliases in table for name in (canonical, *aliases)}
    for protocol, table in _TABLES.items()
}

_SERVICES_FILE = Path("/etc/services")  # fallback only; a test points it elsewhere


@lru_cache(maxsize=4)
def _system_services(path: Path) -> dict[Protocol, dict[str, int]]:
    """Names and aliases per protocol from a services(5) file; empty when it is missing."""
    names: dict[Protocol, dict[str, int]] = {protocol: {} for protocol in Protocol}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return names
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or "/" not in fields[1]:
            continue
        number, _, transport = fields[1].partition("/")
        protocol = next((p for p in Protocol if p.value == transport.lower()), None)
        if protocol is None or not number.isascii() or not number.isdigit():
            continue
        port = int(number)
        if MIN_PORT <= port <= MAX_PORT:
            for name in (fields[0], *fields[2:]):
                names[protocol].setdefault(name.lower(), port)
    return names


def port_names(protocol: Protocol = Protocol.TCP) -> Mapping[int, str]:
    """The built-in table's names of one protocol's ports, by port."""
    return _PORT_NAMES[protocol]


def service_name(port: int, protocol: Protocol = Protocol.TCP) -> str | None:
    """The built-in table's name for a port (443 -> "https"; 443/udp -> "quic"), or None."""
    return _PORT_NAMES[protocol].get(port)


def service_port(name: str, protocol: Protocol = Protocol.TCP) -> int | None:
    """The port of a service name (case-insensitive) over ``protocol``: the built-in table,
    then the local services file. None when neither knows the name for that protocol."""
    key = name.strip().lower()
    port = _NAME_PORTS[protocol].get(key)
    if port is None:
        port = _system_services(_SERVICES_FILE)[protocol].get(key)
    return port
