"""Targets: what the user typed -> Target records (pure), and the guard on a run's size.

Nothing here touches the network. A target is a host name, an IPv4 address, an IPv6 address
(bracketed or not, with a zone index such as ``fe80::1%eth0`` for link-local addresses), or a
CIDR block (v4 or v6) that is expanded to one Target per address to probe:

* IPv4: every address for /31 and /32, otherwise all but the network and broadcast addresses;
* IPv6: every address but the Subnet-Router anycast (all-zeros) one, all of them for /127 and
  /128 (IPv6 has no broadcast address);
* host bits may be set (``192.0.2.7/24`` means 192.0.2.0/24, as in nmap);
* blocks of more than 65536 addresses are refused before anything is expanded.
"""

from __future__ import annotations

import io
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence

from probe.errors import QUOTE_LIMIT, TargetError, printable, quoted
from probe.model import DnsResult, DnsStatus, Target
from probe.plan.inputs import read_text

__all__ = [
    "MAX_BLOCK_ADDRESSES",
    "count_addresses",
    "oversized",
    "oversized_plan",
    "parse_target",
    "parse_targets",
]

MAX_BLOCK_ADDRESSES = 65536  # a v4 /16 or a v6 /112; larger blocks are refused outright
MAX_TARGETS = 16 * MAX_BLOCK_ADDRESSES  # in one run, however given: past it, split the list

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
            return f"label {quoted(label)} is longer than {MAX_LABEL_LENGTH} characters"
        if not _LABEL_CHARS.fullmatch(label):
            bad = next(ch for ch in label if not _LABEL_CHARS.fullmatch(ch))
            return f"character {quoted(bad)} is not allowed"
        if label.startswith("-") or label.endswith("-"):
            return f"label {quoted(label)} starts or ends with a hyphen"
    last = bare.rsplit(".", 1)[-1]
    if _NUMERIC_LABEL.fullmatch(last):
        return f"its last label {quoted(last)} is a number, so it would be read as an IPv4 address"
    return None


def _ipv6(text: str, original: str) -> tuple[ipaddress.IPv6Address, str | None]:
    """An IPv6 literal (no brackets) and its zone index, or TargetError."""
    address_text, percent, zone = text.partition("%")
    try:
        address = ipaddress.IPv6Address(address_text)
    except ValueError:
        raise TargetError(f"{quoted(original)} is not a valid IPv6 address") from None
    if not percent:
        return address, None
    if not _ZONE.fullmatch(zone):
        raise TargetError(f"{quoted(original)} has an empty or malformed zone index after '%'")
    if not address.is_link_local:
        raise TargetError(
            f"zone index {quoted('%' + zone)} in {quoted(original)} only applies to link-local "
            "(fe80::/10) addresses"
        )
    return address, zone


def _unbracket(text: str, original: str) -> tuple[str, bool]:
    """Strip one pair of IPv6 brackets; tell whether there were any."""
    if not text.startswith("[") and not text.endswith("]"):
        return text, False
    if not (text.startswith("[") and text.endswith("]")):
        raise TargetError(f"{quoted(original)} has an unbalanced '[' or ']'")
    inner = text[1:-1]
    if ":" not in inner:
        raise TargetError(f"brackets in {quoted(original)} are only for IPv6 addresses")
    return inner, True


def _parse_block(text: str) -> tuple[Target, ...]:
    address_text, _, prefix_text = text.rpartition("/")
    address_text, _ = _unbracket(address_text, text)
    if not address_text:
        raise TargetError(f"CIDR block {quoted(text)} has no address before the '/'")
    if not prefix_text.isascii() or not prefix_text.isdigit():
        raise TargetError(
            f"prefix length {quoted('/' + prefix_text)} in {quoted(text)} is not a number"
        )
    zone: str | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    if ":" in address_text:
        address6, zone = _ipv6(address_text, text)
        kind, family = "ipv6", 6
    else:
        try:
            address4 = ipaddress.IPv4Address(address_text)
        except ValueError:
            raise TargetError(
                f"{quoted(address_text)} in {quoted(text)} is not a valid IPv4 or IPv6 address"
            ) from None
        kind, family = "ipv4", 4
    limit = 128 if family == 6 else 32
    # int() of a long digit string is slow, and refused past 4300 digits: look at the length.
    digits = prefix_text.lstrip("0") or "0"
    prefix = int(digits) if len(digits) <= 3 else limit + 1
    if prefix > limit:
        raise TargetError(
            f"prefix /{printable(prefix_text, QUOTE_LIMIT)} is too long for IPv{family} "
            f"(at most /{limit}) in {quoted(text)}"
        )
    if family == 6:
        network = ipaddress.IPv6Network((address6, prefix), strict=False)
    else:
        network = ipaddress.IPv4Network((address4, prefix), strict=False)
    if network.num_addresses > MAX_BLOCK_ADDRESSES:
        raise TargetError(
            f"CIDR block {quoted(text)} holds {network.num_addresses} addresses; probe expands "
            f"at most {MAX_BLOCK_ADDRESSES} (an IPv4 /16 or an IPv6 /112)"
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
            f"{quoted(original)} is not a target: host names cannot start with '-' "
            "(is it a misplaced option?)"
        )
    if "://" in original:
        raise TargetError(f"{quoted(original)} is a URL: give only the host name or address")
    if "/" in original:
        return _parse_block(original)
    if _HOST_PORT.fullmatch(original):
        raise TargetError(
            f"{quoted(original)} looks like host:port: give the port with -p/--ports instead"
        )
    body, bracketed = _unbracket(original, original)
    if bracketed or ":" in body or "%" in body:
        if ":" not in body:
            raise TargetError(
                f"{quoted(original)} is not an address: a zone index needs an IPv6 address"
            )
        address6, zone = _ipv6(body, original)
        return (Target(input=original, kind="ipv6", address=address6.compressed, zone=zone),)
    if _DOTTED_DIGITS.fullmatch(body):
        try:
            address4 = ipaddress.IPv4Address(body)
        except ValueError:
            raise TargetError(
                f"{quoted(original)} is not a valid IPv4 address (four numbers 0-255, no leading "
                "zeros)"
            ) from None
        return (Target(input=original, kind="ipv4", address=address4.compressed),)
    problem = _host_name_problem(body)
    if problem is not None:
        raise TargetError(f"{quoted(original)} is not a valid host name: {problem}")
    return (Target(input=original, kind="name"),)


def parse_targets(texts: Sequence[str]) -> tuple[Target, ...]:
    """Parse every target in order, expanding blocks and dropping exact duplicates; more
    than ``MAX_TARGETS`` are refused (before memory fills up, not after)."""
    seen: dict[Target, None] = {}
    for text in texts:
        for target in parse_target(text):
            seen.setdefault(target, None)
        if len(seen) > MAX_TARGETS:
            raise TargetError(_too_many())
    return tuple(seen)


def _too_many() -> str:
    return f"more than {MAX_TARGETS} targets in one run: split them into several runs"


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
    starts a comment. ``-`` reads standard input. At most ``MAX_INPUT_BYTES``, from a regular
    file (see ``probe.plan.inputs``)."""
    text = read_text(path, "targets file", TargetError, stdin=True)
    found: list[str] = []
    # A line at a time (universal newlines): a list of every line would be as large as the text.
    for line in io.StringIO(text, newline=None):
        found += line.split("#", 1)[0].split()
        if len(found) > MAX_TARGETS:
            raise TargetError(_too_many())
    if not found:
        where = "on standard input" if path == "-" else os.fsdecode(path)
        raise TargetError(f"the targets file {where} names no target")
    return found


def literal_dns(address: str) -> DnsResult:
    """The DNS step's result for a target given as an address: no DNS involved (so a run
    over address literals never loads the resolver library)."""
    host, sep, zone = address.partition("%")
    try:
        normal = str(ipaddress.ip_address(host))
    except ValueError:
        raise TargetError(f"{quoted(address)} is not an IPv4 or IPv6 address") from None
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


# Past these, a run needs --yes: nobody scans a /16 by typo.
MAX_ADDRESSES = 256
MAX_PROBES = 100_000


def oversized(addresses: int, ports: int) -> str | None:
    """Why a run of every port on every address (check) is too large to start unconfirmed,
    or None when it is not."""
    shape = f"{_count(addresses, 'address', 'addresses')} x {_count(ports, 'port', 'ports')} ="
    return _too_large(addresses, addresses * ports, shape)


def oversized_plan(addresses: int, probes: int) -> str | None:
    """The same for a run where each address has its own ports (audit)."""
    return _too_large(addresses, probes, f"{_count(addresses, 'address', 'addresses')}:")


def _too_large(addresses: int, probes: int, shape: str) -> str | None:
    if addresses > MAX_ADDRESSES or probes > MAX_PROBES:
        return (
            f"this run would probe {shape} {probes} probes "
            f"(more than {MAX_ADDRESSES} addresses or {MAX_PROBES} probes)"
        )
    return None


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
