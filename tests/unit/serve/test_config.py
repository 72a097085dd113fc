"""Serve's modules: TOML and YAML files into modules, every mistake one message naming the
file, the line and the key; without a file, every profile a module of the same name."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.model import Protocol
from probe.plan.expectations import Expect
from probe.plan.profiles import get_profile, load_profiles
from probe.serve.config import ConfigError, IpProtocol, from_profiles
from probe.serve.configfile import load_config, parse_config

TOML = """\
[modules.camera-nat]
ports = [80]
refused = [6036]
tries = 2
answer_timeout = "500ms"
timeout = "8s"

[modules.firewalled]
open = ["http"]
blocked = ["81", 3389]
filtered = [82]
ping = false
ip_protocol = "ip4"
ip_protocol_fallback = false
nameservers = ["198.18.1.53"]

[modules.cams]
profile = "camera"
"""

YAML = """\
modules:
  camera-nat:
    ports: [80]
    refused: [6036]
    tries: 2
  firewalled:
    ports: "80"
    filtered: [82]
    app_protocol: http
"""


def test_toml_modules() -> None:
    config = parse_config(TOML, "probe.toml", get_profile)
    nat = config.modules["camera-nat"]
    assert [(e.port, e.expect) for e in nat.expectations] == [
        (80, Expect.OPEN),
        (6036, Expect.REFUSED),
    ]
    assert (nat.tries, nat.answer_timeout, nat.timeout) == (2, 0.5, 8.0)
    assert nat.ip_protocol is IpProtocol.IP6 and nat.ip_protocol_fallback  # blackbox's default
    assert nat.families() == ((6,), (4,))
    fw = config.modules["firewalled"]
    assert fw.ports == tuple((p, Protocol.TCP) for p in (80, 81, 82, 3389))
    assert not fw.ping and fw.families() == ((4,),)
    opts = fw.options((4,))
    assert opts.nameservers == ("198.18.1.53",) and opts.families == (4,) and not opts.ping
    assert [p.port for p in opts.ports] == [80, 81, 82, 3389]
    cams = config.modules["cams"]
    assert cams.ports == tuple(sorted((p.port, Protocol.TCP) for p in get_profile("camera").ports))
    assert {e.expect for e in cams.expectations} == {Expect.OPEN}


def test_yaml_modules_mean_the_same() -> None:
    config = parse_config(YAML, "probe.yml", get_profile)
    assert config.modules["camera-nat"].ports == ((80, Protocol.TCP), (6036, Protocol.TCP))
    fw = config.modules["firewalled"]
    assert fw.app_protocol == "http" and fw.options((4, 6)).app


def test_without_a_file_every_profile_is_a_module() -> None:
    profiles = load_profiles()
    config = from_profiles(profiles)
    assert set(config.modules) == set(profiles)
    camera = config.modules["camera"]
    assert camera.ports == tuple(sorted((p.port, Protocol.TCP) for p in profiles["camera"].ports))
    assert camera.tries == 3 and camera.ping


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[modules.a]\nports = [80]\ntries = 0\n",
            "config file f.toml, line 3, module 'a': 'tries' must be a whole number from 1 to 15",
        ),
        (
            "[modules.a]\nports = [80]\n\n[modules.b]\nports = [80]\npingg = true\n",
            "config file f.toml, line 6, module 'b': unknown key 'pingg'",
        ),
        (
            "[modules.a]\nports = [80]\nblocked = [80]\n",
            "config file f.toml, line 1, module 'a': port 80 is expected both open (ports) and "
            "blocked (blocked)",
        ),
        (
            "[modules.a]\nports = [70000]\n",
            "config file f.toml, line 2, module 'a': 'ports' has port 70000, out of range",
        ),
        (
            '[modules.a]\nprofile = "nope"\n',
            "config file f.toml, line 2, module 'a': unknown profile 'nope'",
        ),
        (
            '[modules.a]\nports = [80]\ntimeout = "soon"\n',
            "config file f.toml, line 3, module 'a': 'timeout' must be a number of seconds",
        ),
        (
            '[modules.a]\nports = [80]\nip_protocol = "ip5"\n',
            "line 3, module 'a': 'ip_protocol' must be ip4 or ip6, not 'ip5'",
        ),
        (
            '[modules.a]\nports = [80]\nnameservers = ["dns.example"]\n',
            "line 3, module 'a': 'nameservers' has 'dns.example', not an IP address",
        ),
        ("[modules.a]\ntries = 3\n", "line 1, module 'a': module 'a' probes nothing"),
        ("[modules]\n", "'modules' must hold one module table or more"),
        ("", "config file f.toml is empty"),
        ("modules = 3\nother = 1\n", "unknown key 'other' at the top level"),
        ("[modules.a\n", "config file f.toml is not valid TOML"),
    ],
)
def test_toml_mistakes(text: str, message: str) -> None:
    mistake("f.toml", text, message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "modules:\n  a:\n    ports: [80]\n    ping: maybe\n",
            "config file f.yml, line 4, module 'a': 'ping' must be true or false",
        ),
        ("modules:\n  a: [80]\n", "line 2, module 'a': a module must be a table of keys"),
        ("modules:\n  a:\n    ports: [80\n", "config file f.yml is not valid YAML"),
        ("modules:\n  'a b':\n    ports: [80]\n", "module 'a b': a module name is letters"),
    ],
)
def test_yaml_mistakes(text: str, message: str) -> None:
    mistake("f.yml", text, message)


def mistake(source: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source, get_profile)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_shipped_examples_load_and_agree() -> None:
    examples = Path(__file__).parents[3] / "examples"
    toml = load_config(examples / "probe-serve.toml", get_profile)
    yaml = load_config(examples / "probe-serve.yml", get_profile)
    assert {"camera-nat", "web-firewalled"} <= set(toml.modules)
    assert toml.modules == yaml.modules


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml", get_profile)
