"""Port specs and service names: what the user typed after -p -> PortRequest records (pure).

Nothing here touches the network. Port service names come from a built-in table of common TCP
services; a name missing from it is looked up in the local services file (/etc/services) as a
fallback, read directly rather than through getservbyname(), whose name-service switch may
consult SSSD/NIS/LDAP over the network.

Port spec: comma-separated elements, spaces around commas tolerated::

    80    80,443,6036    1-1024    all    http,ssh    22,http,8000-8100
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from probe.errors import QUOTE_LIMIT, PortSpecError, printable, quoted
from probe.model import PortRequest

MIN_PORT = 1
MAX_PORT = 65535

# --------------------------------------------------------------------------- services

# (port, canonical name, aliases...). Canonical names are the words probe prints; they favour
# the words a helpdesk uses ("dns", "smb", "rdp") and keep the IANA / nmap names as aliases.
# TCP only: services that run over UDP alone (DHCP, TFTP, SNMP, NTP, syslog...) are absent.
_SERVICE_TABLE: tuple[tuple[int, str, tuple[str, ...]], ...] = (
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

_PORT_NAMES: dict[int, str] = {port: name for port, name, _ in _SERVICE_TABLE}
_NAME_PORTS: dict[str, int] = {
    name: port for port, canonical, aliases in _SERVICE_TABLE for name in (canonical, *aliases)
}

_SERVICES_FILE = Path("/etc/services")  # fallback only; a test points it elsewhere


@lru_cache(maxsize=4)
def _system_services(path: Path) -> dict[str, int]:
    """TCP names and aliases from a services(5) file; empty when the file is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    names: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or not fields[1].endswith("/tcp"):
            continue
        number = fields[1][: -len("/tcp")]
        if not number.isascii() or not number.isdigit():
            continue
        port = int(number)
        if MIN_PORT <= port <= MAX_PORT:
            for name in (fields[0], *fields[2:]):
                names.setdefault(name.lower(), port)
    return names


def service_name(port: int) -> str | None:
    """The built-in table's name for a TCP port (443 -> "https"), or None when unknown."""
    return _PORT_NAMES.get(port)


def service_port(name: str) -> int | None:
    """The TCP port of a service name (case-insensitive): the built-in table, then the local
    services file. None when neither knows the name."""
    key = name.strip().lower()
    port = _NAME_PORTS.get(key)
    if port is None:
        port = _system_services(_SERVICES_FILE).get(key)
    return port


# --------------------------------------------------------------------------- port specs

_NUMBER = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]*)\s*-\s*([0-9]*)")
_SERVICE_WORD = re.compile(r"[a-z0-9][a-z0-9_.+-]*", re.IGNORECASE)

Ranges = tuple[tuple[int, int], ...]  # (first, last) port, inclusive


@dataclass(frozen=True)
class PortSet:
    """A port spec before it is expanded: ``ranges`` merged and sorted; ``names`` the services
    file's names typed for ports the built-in table cannot name."""

    ranges: Ranges
    names: Mapping[int, str]

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)

    def ports(self) -> list[int]:
        return [port for first, last in self.ranges for port in range(first, last + 1)]

    def has(self, port: int) -> bool:
        at = bisect_right(self.ranges, (port, MAX_PORT)) - 1
        return at >= 0 and self.ranges[at][0] <= port <= self.ranges[at][1]


def merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Ranges sorted, with overlapping and adjacent ones joined."""
    out: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return tuple(out)


def _where(element: str, spec: str) -> str:
    """The "in '80,70000'" tail of an error, when the element is not the whole spec."""
    return "" if element == spec.strip() else f" in {quoted(spec)}"


def _port_number(text: str, element: str, spec: str) -> int:
    # int() of a long digit string is slow, and refused past 4300 digits: look at the length.
    digits = text.lstrip("0") or "0"
    port = int(digits) if len(digits) <= len(str(MAX_PORT)) else MAX_PORT + 1
    if not MIN_PORT <= port <= MAX_PORT:
        raise PortSpecError(
            f"port {printable(text, QUOTE_LIMIT)} is out of range {MIN_PORT}-{MAX_PORT}"
            f"{_where(element, spec)}"
        )
    return port


def port_set(spec: str) -> PortSet:
    """Parse a port spec into merged ranges, without expanding them (an audit file may list
    "all" for many hosts: it is counted before it is expanded). Raises PortSpecError naming
    the bad piece."""
    if not spec.strip():
        raise PortSpecError("the port spec is empty: give ports like 80,443, 1-1024 or all")
    ranges: list[tuple[int, int]] = []
    typed_names: dict[int, str] = {}  # services-file names for ports the table cannot name
    for raw in spec.split(","):
        element = raw.strip()
        if not element:
            raise PortSpecError(f"the port spec {quoted(spec)} has an empty element")
        if element.lower() == "all":
            ranges.append((MIN_PORT, MAX_PORT))
        elif _NUMBER.fullmatch(element):
            port = _port_number(element, element, spec)
            ranges.append((port, port))
        elif match := _RANGE.fullmatch(element):
            low_text, high_text = match.groups()
            if not low_text or not high_text:
                missing = "start" if not low_text else "end"
                raise PortSpecError(
                    f"port range {quoted(element)} has no {missing}{_where(element, spec)}"
                )
            low = _port_number(low_text, element, spec)
            high = _port_number(high_text, element, spec)
            if low > high:
                raise PortSpecError(
                    f"port range {quoted(element)} runs backwards (write {high}-{low})"
                    f"{_where(element, spec)}"
                )
            ranges.append((low, high))
        elif _SERVICE_WORD.fullmatch(element) and any(ch.isalpha() for ch in element):
            named = service_port(element)
            if named is None:
                raise PortSpecError(
                    f"unknown service name {quoted(element)}{_where(element, spec)}: "
                    "give its port number instead"
                )
            ranges.append((named, named))
            if named not in _PORT_NAMES:
                typed_names.setdefault(named, element.lower())
        else:
            raise PortSpecError(
                f"{quoted(element)} is not a port, a range like 1-1024, 'all' or a service name"
                f"{_where(element, spec)}"
            )
    return PortSet(merge(ranges), typed_names)


def parse_ports(spec: str) -> tuple[PortRequest, ...]:
    """Parse a port spec into PortRequests, deduplicated and sorted by port.

    Each request carries its service name: the built-in table's name for the port when it has
    one, otherwise the name the user typed when it was found in the local services file.
    Raises PortSpecError naming the bad piece.
    """
    found = port_set(spec)
    ports = found.ports()
    names = _PORT_NAMES | dict(found.names) if found.names else _PORT_NAMES
    # map() over the class: ~65535 frozen-dataclass constructions for "all" stay well under
    # the 50 ms budget; a per-port lookup through the resolver libraries would not.
    return tuple(map(PortRequest, ports, map(names.get, ports)))
