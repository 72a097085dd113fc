"""Target and port-spec parsing: every accepted form and every refusal, as tables."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pytest

from probe.errors import BadInput, PortSpecError, TargetError
from probe.model import PortRequest, Target
from probe.plan import services as service_names
from probe.plan import targets as target_mod
from probe.plan.inputs import MAX_INPUT_BYTES
from probe.plan.ports import parse_ports, service_name, service_port
from probe.plan.targets import (
    count_addresses,
    first_per_family,
    parse_target,
    parse_targets,
    read_targets_file,
)

# --------------------------------------------------------------------------- port specs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [(80, "http")]),
        ("443", [(443, "https")]),
        ("6036", [(6036, None)]),
        ("80,443,6036", [(80, "http"), (443, "https"), (6036, None)]),
        ("6036,443,80", [(80, "http"), (443, "https"), (6036, None)]),  # sorted
        ("80,80,http,www", [(80, "http")]),  # deduplicated, aliases canonicalised
        (" 80 , 443 ", [(80, "http"), (443, "https")]),  # spaces around commas
        ("20-23", [(20, "ftp-data"), (21, "ftp"), (22, "ssh"), (23, "telnet")]),
        ("22 - 23", [(22, "ssh"), (23, "telnet")]),
        ("1-1", [(1, None)]),
        ("65535", [(65535, None)]),
        ("65534-65535", [(65534, None), (65535, None)]),
        ("080", [(80, "http")]),
        ("http,ssh", [(22, "ssh"), (80, "http")]),
        ("HTTP,Ssh", [(22, "ssh"), (80, "http")]),  # case-insensitive
        ("dns,smb,rdp", [(53, "dns"), (445, "smb"), (3389, "rdp")]),
        ("domain,microsoft-ds,ms-wbt-server", [(53, "dns"), (445, "smb"), (3389, "rdp")]),
        ("postgres", [(5432, "postgresql")]),
        (
            "22,http,8079-8081",
            [(22, "ssh"), (80, "http"), (8079, None), (8080, "http-alt"), (8081, None)],
        ),
    ],
)
def test_parse_ports_accepts(spec: str, expected: list[tuple[int, str | None]]) -> None:
    assert parse_ports(spec) == tuple(PortRequest(port, service) for port, service in expected)


@pytest.mark.parametrize(
    ("spec", "piece"),
    [
        ("0", "port 0 is out of range 1-65535"),
        ("70000", "port 70000 is out of range 1-65535"),
        ("80,70000", "port 70000 is out of range 1-65535 in '80,70000'"),
        ("99999999999999999999", "99999999999999999999"),
        ("0-10", "port 0 is out of range"),
        ("1-70000", "port 70000 is out of range"),
        ("abc", "unknown service name 'abc'"),
        ("80,nosuchservice", "unknown service name 'nosuchservice' in '80,nosuchservice'"),
        ("90-80", "port range '90-80' runs backwards"),
        ("", "empty"),
        ("   ", "empty"),
        ("80,,443", "empty element"),
        ("80,", "empty element"),
        (",80", "empty element"),
        ("-5", "port range '-5' has no start"),
        ("1-", "port range '1-' has no end"),
        ("-", "port range '-' has no start"),
        ("1-2-3", "'1-2-3' is not a port"),
        ("80 443", "'80 443' is not a port"),
        ("80;443", "'80;443' is not a port"),
        ("+80", "'+80' is not a port"),
        ("8\u0660", "'8\u0660' is not a port"),  # a non-ASCII digit is not a digit here
        ("1.5", "'1.5' is not a port"),
    ],
)
def test_parse_ports_refuses(spec: str, piece: str) -> None:
    with pytest.raises(PortSpecError) as info:
        parse_ports(spec)
    assert piece in str(info.value)
    assert isinstance(info.value, BadInput)  # exit status 2


def test_all_is_every_port_in_order() -> None:
    ports = parse_ports("all")
    assert len(ports) == 65535
    assert ports[0] == PortRequest(1, None)
    assert ports[-1] == PortRequest(65535, None)
    assert [p.port for p in ports] == list(range(1, 65536))
    assert ports[442] == PortRequest(443, "https")  # services filled from the table
    assert parse_ports("ALL") == ports
    assert parse_ports("80,all,http") == ports


def test_wide_range_count() -> None:
    assert len(parse_ports("1-1024")) == 1024
    assert len(parse_ports("1-1024,1000-2000")) == 2000


def test_service_table() -> None:
    assert service_name(443) == "https"
    assert service_name(22) == "ssh"
    assert service_name(37777) == "dahua-sdk"
    assert service_name(6036) is None
    assert service_port("HTTPS") == 443
    assert service_port("nosuchservice") is None


def test_service_table_names_are_unique() -> None:
    seen: dict[str, int] = {}
    ports: set[int] = set()
    for table in (service_names._TCP_TABLE, service_names._UDP_TABLE):
        seen.clear()
        ports.clear()
        for port, canonical, aliases in table:
            assert port not in ports, f"port {port} listed twice"
            ports.add(port)
            for name in (canonical, *aliases):
                assert name == name.lower()
                assert name not in seen, f"{name!r} names both {seen[name]} and {port}"
                seen[name] = port


def test_services_file_is_the_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    services = tmp_path / "services"
    services.write_text(
        "# comment\n"
        "fancy-svc\t4321/tcp\tfancy  # a made-up service\n"
        "udp-only\t4322/udp\n"
        "https\t9999/tcp\n"  # the built-in table wins over the file
        "broken\tnotaport/tcp\n"
    )
    monkeypatch.setattr(service_names, "_SERVICES_FILE", services)
    assert parse_ports("Fancy-Svc,fancy") == (PortRequest(4321, "fancy-svc"),)
    assert parse_ports("https") == (PortRequest(443, "https"),)
    with pytest.raises(PortSpecError, match="'udp-only'"):
        parse_ports("udp-only")
    with pytest.raises(PortSpecError, match="'broken'"):
        parse_ports("broken")


def test_missing_services_file_is_not_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(service_names, "_SERVICES_FILE", tmp_path / "absent")
    assert parse_ports("ssh") == (PortRequest(22, "ssh"),)  # the built-in table suffices
    with pytest.raises(PortSpecError, match="'gopherx'"):
        parse_ports("gopherx")


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", Target("example.com", "name")),
        ("Camera.Example.", Target("Camera.Example.", "name")),  # trailing dot, case kept
        ("localhost", Target("localhost", "name")),
        ("_sip._tcp.example.com", Target("_sip._tcp.example.com", "name")),
        ("1e100.net", Target("1e100.net", "name")),
        ("123abc", Target("123abc", "name")),
        ("a-b.c-d", Target("a-b.c-d", "name")),
        ("x" * 63 + ".example", Target("x" * 63 + ".example", "name")),
        ("bücher.example", Target("bücher.example", "name")),
        ("  padded.example  ", Target("padded.example", "name")),
        ("192.0.2.7", Target("192.0.2.7", "ipv4", "192.0.2.7")),
        ("0.0.0.0", Target("0.0.0.0", "ipv4", "0.0.0.0")),
        ("255.255.255.255", Target("255.255.255.255", "ipv4", "255.255.255.255")),
        ("2001:2::1", Target("2001:2::1", "ipv6", "2001:2::1")),
        ("[2001:2::1]", Target("[2001:2::1]", "ipv6", "2001:2::1")),
        (
            "2001:0db8:0000:0000:0000:0000:0000:0001",
            Target("2001:0db8:0000:0000:0000:0000:0000:0001", "ipv6", "2001:db8::1"),
        ),
        ("2001:DB8::A", Target("2001:DB8::A", "ipv6", "2001:db8::a")),
        ("::1", Target("::1", "ipv6", "::1")),
        ("fe80::1%eth0", Target("fe80::1%eth0", "ipv6", "fe80::1", "eth0")),
        ("[fe80::1%2]", Target("[fe80::1%2]", "ipv6", "fe80::1", "2")),
        ("FE80:0::1%wlp2s0.100", Target("FE80:0::1%wlp2s0.100", "ipv6", "fe80::1", "wlp2s0.100")),
    ],
)
def test_parse_target_accepts(text: str, expected: Target) -> None:
    assert parse_target(text) == (expected,)


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("1.2.3", "'1.2.3' is not a valid IPv4 address"),
        ("300.1.1.1", "'300.1.1.1' is not a valid IPv4 address"),
        ("1.2.3.4.5", "'1.2.3.4.5' is not a valid IPv4 address"),
        ("1.2.3.4.", "'1.2.3.4.' is not a valid IPv4 address"),
        ("01.2.3.4", "'01.2.3.4' is not a valid IPv4 address"),
        ("1..2.3", "'1..2.3' is not a valid IPv4 address"),
        ("123", "'123' is not a valid IPv4 address"),
        ("example.123", "last label '123' is a number"),
        ("0x7f.1", "last label '1' is a number"),
        ("0x7f000001", "last label '0x7f000001' is a number"),
        ("1.2.3.4/33", "prefix /33 is too long for IPv4 (at most /32) in '1.2.3.4/33'"),
        ("2001:db8::/129", "prefix /129 is too long for IPv6"),
        ("10.0.0.0/x", "prefix length '/x' in '10.0.0.0/x' is not a number"),
        ("10.0.0.0/", "prefix length '/' in '10.0.0.0/' is not a number"),
        ("10.0.0.0/-1", "prefix length '/-1'"),
        ("/24", "'/24' has no address"),
        ("300.0.0.0/24", "'300.0.0.0' in '300.0.0.0/24' is not a valid IPv4 or IPv6 address"),
        ("host.example/24", "'host.example' in 'host.example/24'"),
        ("10.0.0.0/8", "'10.0.0.0/8' holds 16777216 addresses"),
        ("10.0.0.0/15", "'10.0.0.0/15' holds 131072 addresses"),
        ("2001:db8::/64", "'2001:db8::/64' holds 18446744073709551616 addresses"),
        ("2001:db8::/111", "'2001:db8::/111' holds 131072 addresses"),
        ("host name", "'host name' is not a valid host name: it contains a space"),
        ("host\tname", "it contains a space"),
        ("", "a target is empty"),
        ("   ", "a target is empty"),
        ("a..b", "'a..b' is not a valid host name: it has an empty label"),
        (".example", "empty label"),
        ("..", "empty label"),
        (".", "'.' is not a valid host name: it is empty"),
        ("x" * 64 + ".example", "label '" + "x" * 64 + "' is longer than 63"),
        ((("a" * 60 + ".") * 5)[:-1], "is 304 characters long, more than 253"),
        ("-x", "'-x' is not a target"),
        ("--ports", "'--ports' is not a target"),
        ("a.-b.c", "label '-b' starts or ends with a hyphen"),
        ("a-.example", "label 'a-' starts or ends with a hyphen"),
        ("host!.example", "character '!' is not allowed"),
        ("host,other", "character ',' is not allowed"),
        ("host:80", "'host:80' looks like host:port"),
        ("192.0.2.1:80", "'192.0.2.1:80' looks like host:port"),
        ("[2001:db8::1]:80", "'[2001:db8::1]:80' looks like host:port"),
        ("http://example.com/", "'http://example.com/' is a URL"),
        ("2001:db8::g", "'2001:db8::g' is not a valid IPv6 address"),
        ("2001:db8:::1", "'2001:db8:::1' is not a valid IPv6 address"),
        ("[2001:db8::1", "'[2001:db8::1' has an unbalanced"),
        ("2001:db8::1]", "'2001:db8::1]' has an unbalanced"),
        ("[192.0.2.1]", "brackets in '[192.0.2.1]' are only for IPv6"),
        ("[host]", "brackets in '[host]' are only for IPv6"),
        ("fe80::1%", "'fe80::1%' has an empty or malformed zone index"),
        ("fe80::1%eth 0", "malformed zone index"),
        ("2001:db8::1%eth0", "zone index '%eth0' in '2001:db8::1%eth0' only applies to link-local"),
        ("192.0.2.1%eth0", "'192.0.2.1%eth0' is not an address: a zone index needs an IPv6"),
    ],
)
def test_parse_target_refuses(text: str, piece: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    assert piece in str(info.value)
    assert isinstance(info.value, BadInput)


@pytest.mark.parametrize(
    ("block", "count", "first", "last"),
    [
        ("192.0.2.0/24", 254, "192.0.2.1", "192.0.2.254"),
        ("192.0.2.0/30", 2, "192.0.2.1", "192.0.2.2"),
        ("192.0.2.0/31", 2, "192.0.2.0", "192.0.2.1"),
        ("192.0.2.9/32", 1, "192.0.2.9", "192.0.2.9"),
        ("192.0.2.77/24", 254, "192.0.2.1", "192.0.2.254"),  # host bits set: nmap-style
        ("10.1.0.0/16", 65534, "10.1.0.1", "10.1.255.254"),  # the largest accepted v4 block
        ("2001:db8::/126", 3, "2001:db8::1", "2001:db8::3"),
        ("[2001:db8::]/126", 3, "2001:db8::1", "2001:db8::3"),
        ("2001:db8::/127", 2, "2001:db8::", "2001:db8::1"),
        ("2001:db8::5/128", 1, "2001:db8::5", "2001:db8::5"),
        ("2001:db8::/112", 65535, "2001:db8::1", "2001:db8::ffff"),  # the largest v6 block
    ],
)
def test_cidr_expansion(block: str, count: int, first: str, last: str) -> None:
    expanded = parse_target(block)
    assert len(expanded) == count
    assert expanded[0].address == first
    assert expanded[-1].address == last
    assert {t.input for t in expanded} == {block}
    assert {t.kind for t in expanded} == {"ipv6" if ":" in block else "ipv4"}
    assert count_addresses(expanded) == count


def test_cidr_with_zone_keeps_the_zone() -> None:
    expanded = parse_target("fe80::%eth0/126")
    assert [t.address for t in expanded] == ["fe80::1", "fe80::2", "fe80::3"]
    assert {t.zone for t in expanded} == {"eth0"}


def test_huge_block_is_refused_before_expanding() -> None:
    # Expanding ::/0 would never finish: getting the error at all proves it was not expanded.
    with pytest.raises(TargetError, match="'::/0' holds"):
        parse_target("::/0")


def test_parse_targets_keeps_order_and_drops_exact_duplicates() -> None:
    parsed = parse_targets(
        ["b.example", "192.0.2.1", "a.example", "b.example", "192.0.2.1", "192.0.2.0/30"]
    )
    assert parsed == (
        Target("b.example", "name"),
        Target("192.0.2.1", "ipv4", "192.0.2.1"),
        Target("a.example", "name"),
        Target("192.0.2.0/30", "ipv4", "192.0.2.1"),  # a different input: not an exact duplicate
        Target("192.0.2.0/30", "ipv4", "192.0.2.2"),
    )
    assert parse_targets([]) == ()


def test_parse_targets_reports_the_bad_one() -> None:
    with pytest.raises(TargetError, match=r"'300\.1\.1\.1'"):
        parse_targets(["good.example", "300.1.1.1"])


def test_count_addresses_counts_distinct_things_to_probe() -> None:
    parsed = parse_targets(
        [
            "192.0.2.1",
            "192.0.2.0/30",
            "Host.example",
            "host.example.",
            "fe80::1%eth0",
            "fe80::1%eth1",
        ]
    )
    # 192.0.2.1 twice, 192.0.2.2, one name in two spellings, fe80::1 on two interfaces
    assert count_addresses(parsed) == 5
    assert count_addresses([]) == 0
    assert count_addresses(parse_target("10.0.0.0/23")) == 510


def test_first_per_family_keeps_dns_order_within_a_family() -> None:
    addresses = ["198.18.1.10", "198.18.1.11", "2001:2::10", "2001:2::11"]
    assert first_per_family(addresses, (4, 6)) == ["198.18.1.10", "2001:2::10"]
    assert first_per_family(addresses, (6, 4)) == ["2001:2::10", "198.18.1.10"]
    assert first_per_family(addresses[:2], (6,)) == []


# --------------------------------------------------------------------------- hostile input

HOSTILE = "\x1b[31m\x07\r\n\x00\u202e"


@pytest.mark.parametrize(
    ("spec", "piece"),
    [
        ("1" * 5000, "port 1111"),  # past int()'s 4300-digit limit: still out of range
        ("80-" + "9" * 5000, "out of range"),
        ("0" * 5000 + "80", "x"),  # leading zeros: port 80
    ],
)
def test_port_numbers_of_any_length(spec: str, piece: str) -> None:
    if piece == "x":
        assert [p.port for p in parse_ports(spec)] == [80]
        return
    with pytest.raises(PortSpecError) as info:
        parse_ports(spec)
    message = str(info.value)
    assert piece in message and "(5000 characters)" in message and len(message) < 300


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("198.18.0.0/" + "1" * 5000, "is too long for IPv4"),
        ("2001:2::/" + "9" * 5000, "is too long for IPv6"),
        ("198.18.0.0/" + "0" * 5000 + "24", "x"),
    ],
)
def test_cidr_prefixes_of_any_length(text: str, piece: str) -> None:
    if piece == "x":
        assert len(parse_target(text)) == 254
        return
    with pytest.raises(TargetError, match=piece) as info:
        parse_target(text)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    "text",
    [
        f"bad{HOSTILE}name",
        f"198.18.0.1{HOSTILE}",
        f"[{HOSTILE}]",
        f"fe80::1%{HOSTILE}",
        f"http://{HOSTILE}",
        "a" * 10_000_000,
        "b." * 5_000_000,
    ],
)
def test_target_errors_quote_input_printable_and_short(text: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    message = str(info.value)
    assert message.isprintable() and len(message) < 500, message[:500]
    if HOSTILE in text:
        assert "\\x1b[31m\\x07\\r\\n\\x00\\u202e" in message


@pytest.mark.parametrize(
    ("spec", "piece"),
    [
        (f"80,{HOSTILE}", "\\x1b[31m\\x07\\r\\n\\x00\\u202e"),
        ("x" * 10_000_000, "(10000000 characters)"),
    ],
)
def test_port_spec_errors_quote_input_printable_and_short(spec: str, piece: str) -> None:
    with pytest.raises(PortSpecError) as info:
        parse_ports(spec)
    message = str(info.value)
    assert piece in message and message.isprintable() and len(message) < 500


def test_a_run_takes_a_bounded_number_of_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target_mod, "MAX_TARGETS", 1000)
    assert len(parse_targets(["198.18.0.0/23", "198.18.4.0/24"])) == 764  # not over yet
    with pytest.raises(TargetError, match="more than 1000 targets in one run"):
        parse_targets(["198.18.0.0/22"])


# --------------------------------------------------------------------------- targets files


def test_targets_file_words_comments_and_line_ends(tmp_path: Path) -> None:
    listing = tmp_path / "hosts.txt"
    listing.write_bytes(b"a.example # one\r\nb.example\rc.example d.example\n\n# end")
    assert read_targets_file(str(listing)) == ["a.example", "b.example", "c.example", "d.example"]


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_targets_file_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    # Reading /dev/zero would never end; opening a FIFO without a writer would block for ever.
    path = {"device": Path("/dev/zero"), "directory": tmp_path}.get(kind, tmp_path / "fifo")
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(TargetError, match=r"it is a (FIFO|device|directory).*or - for standard"):
        read_targets_file(str(path))


def test_targets_file_size_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(TargetError, match="is larger than 16 MiB"):
        read_targets_file(str(big))
    # standard input fed from /dev/zero: read up to the bound, then refused
    with open("/dev/zero", "rb") as zero:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(zero))
        with pytest.raises(TargetError, match="on standard input is larger than 16 MiB"):
            read_targets_file("-")


def test_targets_file_words_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target_mod, "MAX_TARGETS", 10)
    listing = tmp_path / "hosts.txt"
    listing.write_text("a.example\n" * 11)
    with pytest.raises(TargetError, match="more than 10 targets"):
        read_targets_file(str(listing))


@pytest.mark.parametrize(
    ("data", "piece"),
    [
        (b"# nothing\n", "names no target"),
        (b"caf\xe9.example\n", "is not UTF-8 text (byte 4"),
    ],
)
def test_targets_file_contents(tmp_path: Path, data: bytes, piece: str) -> None:
    listing = tmp_path / "hosts.txt"
    listing.write_bytes(data)
    with pytest.raises(TargetError, match=re.escape(piece)):
        read_targets_file(str(listing))
