"""Property tests (hypothesis) of what the user types and hands over: port specs, targets,
target lists, audit and profile files, and the numeric options. Whatever the input, the
parser gives a clean result or a ``BadInput`` whose message is one printable line of
reasonable length; never another exception. Derandomized and bounded: the same few hundred
examples every run, in a few seconds.

Inputs are drawn three ways: any text (control characters, surrogates, bidirectional
overrides included), text from the alphabet the parser cares about (so that the deeper
branches are reached), and valid documents mutated (a character inserted, a slice cut or
repeated, a value replaced by a hostile one).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.cli.options import whole
from probe.errors import BadInput, ProfileError, quoted
from probe.model import PortRequest, Protocol
from probe.plan.audit import check_audit
from probe.plan.ports import parse_ports, port_set
from probe.plan.profiles import PortProfile, ProfilePort, parse_profile
from probe.plan.targets import parse_target, parse_targets, read_targets_file

T = TypeVar("T")

FUZZ = settings(
    max_examples=300,
    deadline=None,  # a CIDR block of 65536 addresses takes a while; the bound is the count
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
MESSAGE_LIMIT = 1200  # characters: quoted inputs are cut at 100, a line at 1000

HOSTILE = st.sampled_from(
    ["\x1b[2J", "\x07", "\r\n", "\x00", "\u202e", "\udcff", "\u2028", "\x9b", "'", '"', "\\"]
)
CAMERA = PortProfile(
    "camera", "test cameras", (ProfilePort(80, "http"), ProfilePort(554, "rtsp")), "built-in"
)


def clean_or_bad_input(parse: Callable[..., T], *args: Any) -> T | None:
    """The parser's result, or None after a BadInput that passes for one line of stderr."""
    try:
        return parse(*args)
    except BadInput as exc:
        message = str(exc)
        assert message, "an empty message"
        assert message.isprintable(), repr(message[:300])
        assert len(message) <= MESSAGE_LIMIT, (len(message), message[:300])
        return None


def mutated(seeds: list[str], extra: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A seed with one edit: ``extra`` text inserted, a slice cut, or a slice repeated."""

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(seeds))
        at = draw(st.integers(0, len(text)))
        end = draw(st.integers(at, min(len(text), at + 40)))
        how = draw(st.sampled_from(["insert", "cut", "repeat", "replace"]))
        if how == "insert":
            return text[:at] + draw(extra) + text[at:]
        if how == "cut":
            return text[:at] + text[end:]
        if how == "repeat":
            return text[:end] + text[at:end] * draw(st.integers(1, 50)) + text[end:]
        return text[:at] + draw(extra) + text[end:]

    return edit()


# --------------------------------------------------------------------------- port specs

PORT_WORDS = st.sampled_from(
    ["80", "0", "65535", "65536", "1-1024", "1024-1", "-80", "80-", "all", "ALL", "http",
     "ssh", "https", "nosuchservice", "", " ", "00080", "9" * 5000, "1" * 20, "http,",
     "53/udp", "53/UDP", "80/tcp", "5060-5070/udp", "dns/udp", "sip/udp", "all/udp", "ntp",
     "U:53", "T:80", "u:ntp", "U:", "T:", "S:80", "U:T:53", "/udp", "udp", "tcp", "53/",
     "53/sctp", "53/udp/tcp", "U:53/tcp", "T:53/tcp", "ssh/udp", "70000/udp", " 53 / udp "]
)  # fmt: skip
PORT_SPECS = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789,- allhtps\t", max_size=60),
    st.text(alphabet="0123456789,-/:UTudpcs ", max_size=40),
    st.lists(st.one_of(PORT_WORDS, HOSTILE), min_size=1, max_size=8).map(",".join),
)


def spec_of(requests: tuple[PortRequest, ...]) -> str:
    """The requests written back as a spec, one explicit element per port."""
    return ",".join(f"{r.port}/{r.protocol}" for r in requests)


@FUZZ
@given(PORT_SPECS)
def test_port_specs(spec: str) -> None:
    found = clean_or_bad_input(parse_ports, spec)
    if found is not None:
        keys = [(p.port, p.protocol is Protocol.UDP) for p in found]
        assert keys == sorted(set(keys)) and all(1 <= p <= 65535 for p, _ in keys)
        if len(found) <= 2000:  # round trip: written back, the same ports and protocols
            again = parse_ports(spec_of(found))
            assert [(p.port, p.protocol) for p in again] == [(p.port, p.protocol) for p in found]


@FUZZ
@given(PORT_SPECS)
def test_port_specs_under_udp(spec: str) -> None:
    found = clean_or_bad_input(parse_ports, spec, Protocol.UDP)
    if found is not None:
        assert all(p.protocol is Protocol.UDP for p in found)


@FUZZ
@given(PORT_SPECS)
def test_port_sets_round_trip(spec: str) -> None:
    found = clean_or_bad_input(port_set, spec)
    if found is not None:
        written = ",".join(
            f"{first}-{last}/{s.protocol}"
            for s in (found.tcp, found.udp)
            for first, last in s.ranges
        )
        again = port_set(written)
        assert (again.tcp.ranges, again.udp.ranges) == (found.tcp.ranges, found.udp.ranges)
        assert len(again) == len(found)


# --------------------------------------------------------------------------- targets

TARGET_SEEDS = [
    "198.18.0.1", "198.18.0.0/24", "[2001:2::1]", "2001:2::/120", "fe80::1%eth0",
    "cam.example.com", "a.b.c", "198.18.0.1:80", "http://x.example", "-x", "x" * 64,
    "198.18.0.0/" + "1" * 40,
]  # fmt: skip
TARGETS = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="0123456789abcdef.:/[]%-_ ", max_size=60),
    mutated(TARGET_SEEDS, st.one_of(HOSTILE, st.text(max_size=5))),
)


@FUZZ
@given(TARGETS)
def test_targets(text: str) -> None:
    found = clean_or_bad_input(parse_target, text)
    if found is not None:
        assert found and all(t.input == text.strip() for t in found)


@FUZZ
@given(st.lists(TARGETS, max_size=5))
def test_target_lists(texts: list[str]) -> None:
    clean_or_bad_input(parse_targets, texts)


@settings(FUZZ, max_examples=100)
@given(st.binary(max_size=300) | st.lists(TARGETS, max_size=6).map(lambda t: "\n".join(t).encode(
    "utf-8", "surrogatepass")))  # fmt: skip
def test_target_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "hosts.txt")
        with open(path, "wb") as f:
            f.write(data)
        found = clean_or_bad_input(read_targets_file, path)
    if found is not None:
        clean_or_bad_input(parse_targets, found)


# --------------------------------------------------------------------------- TOML files

TOML_VALUES = st.recursive(
    st.one_of(
        st.integers(-(10**6), 10**6),
        st.sampled_from([0, 80, 65535, 65536, 2**63 - 1, -(2**63)]),
        st.text(max_size=20),
        st.sampled_from(
            [
                "all",
                "1-65535",
                "https",
                "8000-8010",
                "198.18.0.1",
                "camera",
                "53/udp",
                "U:53",
                "80/tcp",
                "T:80",
                "ntp",
                "all/udp",
            ]
        ),
        st.booleans(),
        st.floats(allow_nan=True),
    ),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


def toml_value(value: object) -> str:
    """The TOML spelling of a drawn value (strings as basic strings with escapes)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, str):
        escaped = "".join(
            ch if ch.isprintable() and ch not in '"\\' else f"\\u{ord(ch):04x}"
            for ch in value
            if not 0xD800 <= ord(ch) <= 0xDFFF  # TOML cannot carry a surrogate
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


@st.composite
def audit_documents(draw: st.DrawFn) -> str:
    keys = st.sampled_from(
        ["target", "profile", "open", "blocked", "filtered", "refused", "x", "udp_open",
         "udp_blocked", "udp_filtered", "udp_refused", "udp_x"]
    )  # fmt: skip
    hosts = []
    for _ in range(draw(st.integers(0, 4))):
        pairs = draw(st.dictionaries(keys, TOML_VALUES, max_size=5))
        hosts.append("[[hosts]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in pairs.items()))
    return "".join(hosts)


AUDIT_SEEDS = [
    '[[hosts]]\ntarget = "cam.example"\nprofile = "camera"\nopen = [80, "https"]\n'
    'blocked = [22, "3389"]\nfiltered = ["6036-6040"]\nrefused = [8080]\n',
    'hosts = [{target = "198.18.0.1", open = [80]}, {target = "2001:2::1", refused = [81]}]\n',
    '[[hosts]]\ntarget = "pbx.example"\nopen = [5060]\nudp_open = [5060, "ntp"]\n'
    'udp_blocked = ["161/udp"]\nudp_filtered = ["U:69"]\nudp_refused = [514]\n',
    '[[hosts]]\ntarget = "a.example"\nopen = ["all"]\n[[hosts]]\ntarget = "b"\nblocked=[1]\n',
]
TOML_NOISE = st.one_of(
    HOSTILE,
    st.text(max_size=8),
    st.sampled_from(
        ["[" * 600, "{a=" * 600, "9" * 5000, "0x" + "f" * 5000, '"""', "[[", "=", "\n"]
    ),
)
AUDITS = st.one_of(st.text(max_size=200), audit_documents(), mutated(AUDIT_SEEDS, TOML_NOISE))


def profile_lookup(name: str) -> PortProfile:
    if name.lower() == "camera":
        return CAMERA
    raise ProfileError(f"unknown profile {quoted(name)}; known profiles: camera")


@FUZZ
@given(AUDITS)
def test_audit_files(text: str) -> None:
    checked = clean_or_bad_input(check_audit, text, "site.toml", profile_lookup)
    if checked is not None and checked.probes() <= 200_000:  # the CLI asks --yes past 100 000
        plan = checked.plan()
        assert plan.expectation_count >= len(plan.hosts) >= 1


@st.composite
def profile_documents(draw: st.DrawFn) -> str:
    top = draw(st.dictionaries(st.sampled_from(["name", "description", "x"]), TOML_VALUES))
    text = "".join(f"{k} = {toml_value(v)}\n" for k, v in top.items())
    keys = st.sampled_from(["port", "service", "note", "prot"])
    for _ in range(draw(st.integers(0, 4))):
        pairs = draw(st.dictionaries(keys, TOML_VALUES, max_size=3))
        table = draw(st.sampled_from(["[[ports]]", "[[udp]]"]))
        text += table + "\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in pairs.items())
    return text


PROFILE_SEEDS = [
    'name = "lab"\ndescription = "a lab"\n[[ports]]\nport = 80\nservice = "http"\nnote = "x"\n'
    "[[ports]]\nport = 6036\n",
    'description = "phones"\n[[ports]]\nport = 5060\n[[udp]]\nport = 5060\nnote = "SIP"\n'
    "[[udp]]\nport = 123\n",
]
PROFILES = st.one_of(st.text(max_size=200), profile_documents(), mutated(PROFILE_SEEDS, TOML_NOISE))


@FUZZ
@given(PROFILES)
def test_profile_files(text: str) -> None:
    profile = clean_or_bad_input(parse_profile, text, "lab", "lab.toml", "lab.toml")
    if profile is not None:
        assert profile.entries and all(1 <= p.port <= 65535 for p in profile.entries)
        keys = [(p.port, p.protocol) for p in profile.entries]
        assert len(keys) == len(set(keys))


# --------------------------------------------------------------------------- options


@FUZZ
@given(st.one_of(st.text(max_size=30), st.integers(-100, 100).map(str)))
def test_whole_number_options(text: str) -> None:
    found = clean_or_bad_input(whole("--tries", 1, 15), text)
    assert found is None or 1 <= found <= 15
