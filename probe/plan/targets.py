"""Target and port-spec parsing: what the user typed -> Target and PortRequest records (pure).

Nothing here touches the network. Port service names come from a built-in table of common TCP
services; a name missing from it is looked up in the local services file (/etc/services) as a
fallback, read directly rather than through getservbyname(), whose name-service switch may
consult SSSD/NIS/LDAP over the network.

Port spec: comma-separated elements, spaces around commas tolerated::

    80    80,443,6036    1-1024    all    http,ssh    22,http,8000-8100

Targets: a host name, an IPv4 address, an IPv6 address (bracketed or not, with a zone index
such as ``fe80::1%eth0`` for link-local addresses), or a CIDR block (v4 or v6) that is expanded
to one Target per address to probe:

* IPv4: every address for /31 and /32, otherwise all but the network and broadcast addresses;
* IPv6: every address but the Subnet-Router anycast (all-zeros) one, all of them for /127 and
  /128 (IPv6 has no broadcast address);
* host bits may be set (``192.0.2.7/24`` means 192.0.2.0/24, as in nmap);
* blocks of more than 65536 addresses are refused before anything is expanded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import compress
from pathlib import Path

from probe.errors import PortSpecError, TargetError
from probe.model import DnsResult, DnsStatus, PortRequest, Target

__all__ = [
    "MAX_BLOCK_ADDRESSES",
    "count_addresses",
    "parse_ports",
    "parse_target",
    "parse_targets",
    "service_name",
    "service_port",
]

MIN_PORT = 1
MAX_PORT = 65535
MAX_BLOCK_ADDRESSES = 65536  # a v4 /16 or a v6 /112; larger blocks are refused outright

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


def _where(element: str, spec: str) -> str:
    """The "in '80,70000'" tail of an error, when the element is not the whole spec."""
    return "" if element == spec.strip() else f" in '{spec}'"


def _port_number(text: str, element: str, spec: str) -> int:
    port = int(text)
    if not MIN_PORT <= port <= MAX_PORT:
        raise PortSpecError(
            f"port {text} is out of range {MIN_PORT}-{MAX_PORT}{_where(element, spec)}"
        )
    return port


def parse_ports(spec: str) -> tuple[PortRequest, ...]:
    """Parse a port spec into PortRequests, deduplicated and sorted by port.

    Each request carries its service name: the built-in table's name for the port when it has
    one, otherwise the name the user typed when it was found in the local services file.
    Raises PortSpecError naming the bad piece.
    """
    if not spec.strip():
        raise PortSpecError("the port spec is empty: give ports like 80,443, 1-1024 or all")
    covered = bytearray(MAX_PORT + 1)  # covered[p] == 1: port p is asked for
    typed_names: dict[int, str] = {}  # services-file names for ports the table cannot name
    for raw in spec.split(","):
        element = raw.strip()
        if not element:
            raise PortSpecError(f"the port spec '{spec}' has an empty element")
        if element.lower() == "all":
            covered[MIN_PORT:] = b"\x01" * MAX_PORT
        elif _NUMBER.fullmatch(element):
            covered[_port_number(element, element, spec)] = 1
        elif match := _RANGE.fullmatch(element):
            low_text, high_text = match.groups()
            if not low_text or not high_text:
                missing = "start" if not low_text else "end"
                raise PortSpecError(
                    f"port range '{element}' has no {missing}{_where(element, spec)}"
                )
            low = _port_number(low_text, element, spec)
            high = _port_number(high_text, element, spec)
            if low > high:
                raise PortSpecError(
                    f"port range '{element}' runs backwards (write {high}-{low})"
                    f"{_where(element, spec)}"
                )
            covered[low : high + 1] = b"\x01" * (high - low + 1)
        elif _SERVICE_WORD.fullmatch(element) and any(ch.isalpha() for ch in element):
            port = service_port(element)
            if port is None:
                raise PortSpecError(
                    f"unknown service name '{element}'{_where(element, spec)}: "
                    "give its port number instead"
                )
            covered[port] = 1
            if port not in _PORT_NAMES:
                typed_names.setdefault(port, element.lower())
        else:
            raise PortSpecError(
                f"'{element}' is not a port, a range like 1-1024, 'all' or a service name"
                f"{_where(element, spec)}"
            )
    ports = list(compress(range(MAX_PORT + 1), covered))
    names = _PORT_NAMES | typed_names if typed_names else _PORT_NAMES
    # map() over the class: ~65535 frozen-dataclass constructions for "all" stay well under
    # the 50 ms budget; a per-port lookup through the resolver libraries would not.
    return tuple(map(PortRequest, ports, map(names.get, ports)))


# --------------------------------------------------------------------------- targets

_LABEL_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_DOTTED_DIGITS = re.compile(r"[0-9.]*[0-9][0-9.]*")
# A last label that the C library's inet_aton() would read as a number ("10", "0x7f"): such
# "names" are never looked up in DNS, getaddrinfo() turns them into addresses of its own.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)
_HOST_PORT = re.compile(r"[^:\[\]]+:[0-9]+|\[[^\]]*\]:[0-9]+")
_ZONE = re.compile(r"[A-Za-z0-9_.-]+")
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63


def _host_name_problem(name: str) -> str | None:
    """Why ``name`` is not an RFC 1123 host name (underscores tolerated), or None if it is."""
    if any(ch.isspace() for ch in name):
        return "it contains a space"
    ascii_name = name
    if not name.isascii():
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return "it is not a valid internationalised domain name"
    bare = ascii_name[:-1] if ascii_name.endswith(".") else ascii_name
    if not bare:
        return "it is empty"
    if len(bare) > MAX_NAME_LENGTH:
        return f"it is {len(bare)} characters long, more than {MAX_NAME_LENGTH}"
    for label in bare.split("."):
        if not label:
            return "it has an empty label (two dots in a row, or a leading dot)"
        if len(label) > MAX_LABEL_LENGTH:
            return f"label '{label}' is longer than {MAX_LABEL_LENGTH} characters"
        if not _LABEL_CHARS.fullmatch(label):
            bad = next(ch for ch in label if not _LABEL_CHARS.fullmatch(ch))
            return f"character '{bad}' is not allowed"
        if label.startswith("-") or label.endswith("-"):
            return f"label '{label}' starts or ends with a hyphen"
    last = bare.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last):
        return f"its last label '{last}' is a number, so it would be read as an IPv4 address"
    return None


def _ipv6(text: str, original: str) -> tuple[ipaddress.IPv6Address, str | None]:
    """An IPv6 literal (no brackets) and its zone index, or TargetError."""
    address_text, percent, zone = text.partition("%")
    try:
        address = ipaddress.IPv6Address(address_text)
    except ValueError:
        raise TargetError(f"'{original}' is not a valid IPv6 address") from None
    if not percent:
        return address, None
    if not _ZONE.fullmatch(zone):
        raise TargetError(f"'{original}' has an empty or malformed zone index after '%'")
    if not address.is_link_local:
        raise TargetError(
            f"zone index '%{zone}' in '{original}' only applies to link-local (fe80::/10) addresses"
        )
    return address, zone


def _unbracket(text: str, original: str) -> tuple[str, bool]:
    """Strip one pair of IPv6 brackets; tell whether there were any."""
    if not text.startswith("[") and not text.endswith("]"):
        return text, False
    if not (text.startswith("[") and text.endswith("]")):
        raise TargetError(f"'{original}' has an unbalanced '[' or ']'")
    inner = text[1:-1]
    if ":" not in inner:
        raise TargetError(f"brackets in '{original}' are only for IPv6 addresses")
    return inner, True


def _parse_block(text: str) -> tuple[Target, ...]:
    address_text, _, prefix_text = text.rpartition("/")
    address_text, _ = _unbracket(address_text, text)
    if not address_text:
        raise TargetError(f"CIDR block '{text}' has no address before the '/'")
    if not prefix_text.isascii() or not prefix_text.isdigit():
        raise TargetError(f"prefix length '/{prefix_text}' in '{text}' is not a number")
    zone: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    if ":" in address_text:
        address6, zone = _ipv6(address_text, text)
        kind, limit = "ipv6", 128
        if int(prefix_text) > limit:
            raise TargetError(
                f"prefix /{prefix_text} is too long for IPv6 (at most /128) in '{text}'"
            )
        network = ipaddress.IPv6Network((address6, int(prefix_text)), strict=False)
    else:
        try:
            address4 = ipaddress.IPv4Address(address_text)
        except ValueError:
            raise TargetError(
                f"'{address_text}' in '{text}' is not a valid IPv4 or IPv6 address"
            ) from None
        kind, limit = "ipv4", 32
        if int(prefix_text) > limit:
            raise TargetError(
                f"prefix /{prefix_text} is too long for IPv4 (at most /32) in '{text}'"
            )
        network = ipaddress.IPv4Network((address4, int(prefix_text)), strict=False)
    if network.num_addresses > MAX_BLOCK_ADDRESSES:
        raise TargetError(
            f"CIDR block '{text}' holds {network.num_addresses} addresses; probe expands at most "
            f"{MAX_BLOCK_ADDRESSES} (an IPv4 /16 or an IPv6 /112)"
        )
    # hosts(): v4 drops network and broadcast except in /31 and /32; v6 drops only the
    # Subnet-Router anycast address except in /127 and /128.
    return tuple(
        Target(input=text, kind=kind, address=address.compressed, zone=zone)
        for address in network.hosts()
    )


def parse_target(text: str) -> tuple[Target, ...]:
    """Parse one target: a name, an IPv4/IPv6 literal or a CIDR block (expanded).

    Leading and trailing whitespace is ignored; ``input`` keeps the rest as typed. Addresses
    are normalised (IPv6 in compressed form, the zone index in ``zone``). Raises TargetError.
    """
    original = text.strip()
    if not original:
        raise TargetError("a target is empty: give a host name, an address or a CIDR block")
    if original.startswith("-"):
        raise TargetError(
            f"'{original}' is not a target: host names cannot start with '-' "
            "(is it a misplaced option?)"
        )
    if "://" in original:
        raise TargetError(f"'{original}' is a URL: give only the host name or address")
    if "/" in original:
        return _parse_block(original)
    if _HOST_PORT.fullmatch(original):
        raise TargetError(
            f"'{original}' looks like host:port: give the port with -p/--ports instead"
        )
    body, bracketed = _unbracket(original, original)
    if bracketed or ":" in body or "%" in body:
        if ":" not in body:
            raise TargetError(f"'{original}' is not an address: a zone index needs an IPv6 address")
        address6, zone = _ipv6(body, original)
        return (Target(input=original, kind="ipv6", address=address6.compressed, zone=zone),)
    if _DOTTED_DIGITS.fullmatch(body):
        try:
            address4 = ipaddress.IPv4Address(body)
        except ValueError:
            raise TargetError(
                f"'{original}' is not a valid IPv4 address (four numbers 0-255, no leading zeros)"
            ) from None
        return (Target(input=original, kind="ipv4", address=address4.compressed),)
    problem = _host_name_problem(body)
    if problem is not None:
        raise TargetError(f"'{original}' is not a valid host name: {problem}")
    return (Target(input=original, kind="name"),)


def parse_targets(texts: Sequence[str]) -> tuple[Target, ...]:
    """Parse every target in order, expanding blocks and dropping exact duplicates."""
    seen: dict[Target, None] = {}
    for text in texts:
        for target in parse_target(text):
            seen.setdefault(target, None)
    return tuple(seen)


def count_addresses(targets: Iterable[Target]) -> int:
    """How many distinct things will be probed: literal addresses (with their zone) counted
    once each, host names counted once each (case and a trailing dot ignored) since their
    DNS answers are not known yet. For the "more than 256 addresses needs --yes" guard."""
    keys: set[tuple[str, str | None]] = set()
    for target in targets:
        if target.address is None:
            keys.add(("name:" + target.input.lower().rstrip("."), None))
        else:
            keys.add((target.address, target.zone))
    return len(keys)


def read_targets_file(path: str) -> list[str]:
    """Targets from a file (``--targets-file``): one per line or separated by spaces, ``#``
    starts a comment. ``-`` reads standard input."""
    import sys

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"cannot read targets file {path!r}: {exc}") from None
    found = [word for line in text.splitlines() for word in line.split("#", 1)[0].split()]
    if not found:
        raise TargetError(f"targets file {path!r} names no target")
    return found


def literal_dns(address: str) -> DnsResult:
    """The DNS step's result for a target given as an address: no DNS involved (so a run
    over address literals never loads the resolver library)."""
    host, sep, zone = address.partition("%")
    try:
        normal = str(ipaddress.ip_address(host))
    except ValueError:
        raise TargetError(f"{address!r} is not an IPv4 or IPv6 address") from None
    return DnsResult(DnsStatus.LITERAL, addresses=(normal + sep + zone,))


def first_per_family(addresses: Sequence[str], families: Sequence[int]) -> list[str]:
    """The first address of each wanted family (4, 6), in the order of ``families``: the
    address a client would try first for each."""
    firsts = []
    for family in families:
        mine = [a for a in addresses if (":" in a) == (family == 6)]
        if mine:
            firsts.append(mine[0])
    return firsts
