"""Property tests of serve's config files, TOML and YAML: whatever the text, the parser
gives modules or a ``BadInput`` (ConfigError) that passes for one line of stderr; never
another exception. Derandomized and bounded like the plan parsers' tests."""

from __future__ import annotations

import yaml
from hypothesis import given
from hypothesis import strategies as st

from probe.errors import ProfileError
from probe.plan.profiles import PortProfile
from probe.serve.config import MODULE_KEYS
from probe.serve.configfile import parse_config

from .test_plan_parsers import (
    CAMERA,
    FUZZ,
    HOSTILE,
    TOML_NOISE,
    TOML_VALUES,
    clean_or_bad_input,
    mutated,
    toml_value,
)


def profile(name: str) -> PortProfile:
    if name == "camera":
        return CAMERA
    raise ProfileError(f"unknown profile {name!r}")


KEYS = st.sampled_from([*MODULE_KEYS, "x", "Ports"])


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    out = []
    for i in range(draw(st.integers(0, 3))):
        pairs = draw(st.dictionaries(KEYS, TOML_VALUES, max_size=6))
        out.append(
            f"[modules.m{i}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in pairs.items())
        )
    return "".join(out)


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    names = st.one_of(st.sampled_from(["m0", "m1", "a b", ""]), st.integers(), st.booleans())
    modules = {}
    for _ in range(draw(st.integers(0, 3))):
        keys = st.one_of(KEYS, st.integers(), st.booleans(), st.none())
        modules[draw(names)] = draw(st.dictionaries(keys, TOML_VALUES, max_size=6))
    return str(yaml.safe_dump({"modules": modules}, allow_unicode=True))


TOML_SEEDS = [
    '[modules.cam]\nports = [80, "https"]\nrefused = ["6036"]\ntries = 2\n'
    'answer_timeout = "500ms"\ntimeout = 8\nping = false\nip_protocol = "ip4"\n',
    '[modules.a]\nprofile = "camera"\nblocked = [22]\n[modules.b]\nfiltered = ["1-1024"]\n',
]
YAML_SEEDS = [
    "modules:\n  cam:\n    ports: [80, https]\n    refused: [6036]\n    tries: 2\n",
    "modules:\n  a:\n    profile: camera\n    nameservers: [198.18.1.53]\n  b: {open: [1]}\n",
]
YAML_NOISE = st.one_of(
    HOSTILE,
    st.text(max_size=8),
    st.sampled_from(["[" * 600, "{" * 600, "&a [*a]", "!!python/object:os.system", "\t", ": :"]),
)


@FUZZ
@given(st.one_of(st.text(max_size=200), toml_documents(), mutated(TOML_SEEDS, TOML_NOISE)))
def test_toml_configs(text: str) -> None:
    clean_or_bad_input(parse_config, text, "probe.toml", profile)


@FUZZ
@given(st.one_of(st.text(max_size=200), yaml_documents(), mutated(YAML_SEEDS, YAML_NOISE)))
def test_yaml_configs(text: str) -> None:
    clean_or_bad_input(parse_config, text, "probe.yml", profile)
