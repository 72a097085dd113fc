"""Reading serve's config file: TOML (``.toml``) or YAML (``.yml``/``.yaml``), one shape::

    modules:                       [modules.camera]
      camera:                      profile = "camera"
        profile: camera            blocked = [3389]
        blocked: [3389]

Only ``modules`` at the top. Messages name the file, the line and the key: YAML's parser
keeps every key's line; for TOML (tomllib keeps none) the line is found in the text, from the
module's ``[modules.NAME]`` header to the next header. PyYAML is imported only for YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from probe.errors import printable, quoted
from probe.plan.inputs import parse_toml, read_text
from probe.plan.profiles import PortProfile
from probe.serve.config import ConfigError, Module, ServeConfig, build_module

_TOP_KEYS = ("modules",)
_MODULE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_HEADER = re.compile(r"^[ \t]*\[[ \t]*([^\[\]]+?)[ \t]*\][ \t]*(#.*)?$")
_YAML_SUFFIXES = (".yml", ".yaml")

Lines = Mapping[tuple[str, ...], int]  # (module,) or (module, key) -> line (1-based)


def load_config(path: Path, profile: Callable[[str], PortProfile]) -> ServeConfig:
    """The modules of the file at ``path``; ``profile`` looks a profile up by name."""
    text = read_text(path, "config file", ConfigError)
    return parse_config(text, str(path), profile)


def parse_config(text: str, source: str, profile: Callable[[str], PortProfile]) -> ServeConfig:
    where = f"config file {source}"
    if source.lower().endswith(_YAML_SUFFIXES):
        data, lines = _yaml(text, where)
    else:
        data, lines = parse_toml(text, where, ConfigError), _toml_lines(text)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where} is empty: it needs a 'modules' table with one module or more")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}{_at(lines, ())}: unknown key {quoted(str(unknown[0]))} at the top "
            "level: only 'modules' is allowed there"
        )
    tables = data.get("modules")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{where}: 'modules' must hold one module table or more")
    modules: dict[str, Module] = {}
    for name, table in tables.items():
        name = str(name)
        here = f"{where}{_at(lines, (name,))}, module {quoted(name)}"
        if not _MODULE_NAME.fullmatch(name):
            raise ConfigError(f"{here}: a module name is letters, digits, '_', '-' or '.'")
        if not isinstance(table, dict):
            raise ConfigError(f"{here}: a module must be a table of keys")

        def at(key: str | None, name: str = name) -> str:
            line = _at(lines, (name,) if key is None else (name, key), (name,))
            return f"{where}{line}, module {quoted(name)}"

        modules[name] = build_module(name, table, at, profile)
    return ServeConfig(modules, source)


def _at(lines: Lines, key: tuple[str, ...], fallback: tuple[str, ...] | None = None) -> str:
    line = lines.get(key)
    if line is None and fallback is not None:
        line = lines.get(fallback)
    return "" if line is None else f", line {line}"


# --------------------------------------------------------------------------- TOML


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Each ``[modules.NAME]`` header's line and the lines of its keys (a plain scan: enough
    for messages; a key written inline elsewhere simply gets its module's line)."""
    lines: dict[tuple[str, ...], int] = {}
    module: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            parts = [p.strip().strip("\"'") for p in header.group(1).split(".", 1)]
            module = parts[1] if len(parts) == 2 and parts[0] == "modules" else None
            if module is not None:
                lines.setdefault((module,), number)
            continue
        if module is not None:
            key = line.split("=", 1)[0].strip().strip("\"'")
            if "=" in line and key and not key.startswith("#"):
                lines.setdefault((module, key), number)
    return lines


# --------------------------------------------------------------------------- YAML


def _yaml(text: str, where: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" (at line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{where} is not valid YAML: {printable(str(exc.problem))}{at}") from None
    except yaml.YAMLError as exc:  # the reader's: a character YAML does not allow
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where} is not valid YAML: {printable(first)}") from None
    except RecursionError:
        raise ConfigError(f"{where} nests too deeply for the YAML parser") from None
    return data, _yaml_lines(node)


def _yaml_lines(node: Any) -> dict[tuple[str, ...], int]:
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key, value in node.value:
        if key.value != "modules" or not isinstance(value, yaml.MappingNode):
            continue
        for name_node, table in value.value:
            name = str(name_node.value)
            lines[(name,)] = name_node.start_mark.line + 1
            if isinstance(table, yaml.MappingNode):
                for k, _ in table.value:
                    lines[(name, str(k.value))] = k.start_mark.line + 1
    return lines
