"""Named port profiles: ``profiles/*.toml`` -> PortProfile (pure parsing, no network).

A profile is one UTF-8 TOML file; its name is the file name without ``.toml``
(``remote-access.toml`` is the profile "remote-access"): lower-case letters, digits, ``-`` and
``_``, starting with a letter or digit. The format::

    # Comments are welcome: say why a port is there, and what was left out and why.
    name = "camera"          # optional; when present it must equal the file name's stem
    description = "IP cameras and NVRs: web UI, RTSP streaming and vendor SDK ports"

    [[ports]]                # one table per TCP port
    port = 554               # required: 1-65535, each port at most once per list
    service = "rtsp"         # optional: defaults to probe's built-in name for the port
    note = "RTSP streaming"  # optional: free text shown by `probe profiles NAME`

    [[udp]]                  # one table per UDP port, the same keys as [[ports]]
    port = 3702
    service = "ws-discovery"
    note = "ONVIF WS-Discovery: how the camera app finds cameras"

A profile needs at least one port, TCP or UDP. No other keys are accepted, so a typo
("prot = 80") is an error rather than a silently ignored line. A port number may be in both
lists (SIP is 5060/tcp and 5060/udp). A range of ports that a protocol picks at run time (RTP
media, RTSP's UDP transport) is no profile entry: say so in a note or a comment instead.
``ports`` and ``udp`` keep the file's order (for display); ``requests()`` gives them all,
sorted by port.

Where profiles come from; a later one replaces an earlier one of the same name:

1. built-in: the repository's top-level ``profiles/`` directory. It is installed inside the
   package as ``probe/_profiles/`` (pyproject maps the package ``probe._profiles`` to
   ``profiles/``), so the profiles work after ``pip install`` from any directory; in a source
   checkout that is not installed, ``profiles/`` next to ``probe/`` is read instead;
2. the user's: ``$XDG_CONFIG_HOME/probe/profiles`` or ``~/.config/probe/profiles``, skipped
   when it does not exist;
3. ``--profiles-dir`` directories, in the order given; each must exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from probe.errors import ProfileError, quoted, shown
from probe.model import PortRequest, Protocol
from probe.plan.inputs import parse_toml, read_text
from probe.plan.ports import MAX_PORT, MIN_PORT, parse_ports, service_name

__all__ = [
    "BUILTIN_SOURCE",
    "DEFAULT_PROFILE",
    "PortProfile",
    "ProfilePort",
    "builtin_profiles_dir",
    "get_profile",
    "load_profiles",
    "parse_profile",
    "user_profiles_dir",
]

DEFAULT_PROFILE = "common"  # probed when neither --ports nor --profile is given
BUILTIN_SOURCE = "built-in"  # PortProfile.source of the profiles shipped with probe

_DATA_DIR = "_profiles"  # the profiles' directory inside the installed package
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TOP_KEYS = ("name", "description", "ports", "udp")
_PORT_KEYS = ("port", "service", "note")
_LISTS = {Protocol.TCP: "ports", Protocol.UDP: "udp"}  # the file's array of tables per protocol


@dataclass(frozen=True)
class ProfilePort:
    port: int
    service: str | None = None
    note: str | None = None
    protocol: Protocol = Protocol.TCP


@dataclass(frozen=True)
class PortProfile:
    """One named set of ports: ``ports`` the TCP ones ([[ports]]), ``udp`` the UDP ones
    ([[udp]]). ``source`` is "built-in" or the path of the file it came from."""

    name: str
    description: str
    ports: tuple[ProfilePort, ...]
    source: str
    udp: tuple[ProfilePort, ...] = ()

    @property
    def entries(self) -> tuple[ProfilePort, ...]:
        """Every port of the profile: the TCP ones, then the UDP ones, in the file's order."""
        return self.ports + self.udp

    def requests(self, only: Protocol | None = None) -> tuple[PortRequest, ...]:
        """The ports to probe (``only`` one protocol's), sorted by port with TCP first on the
        same number, each with the profile's service name and its protocol."""
        chosen = [p for p in self.entries if only is None or p.protocol is only]
        ordered = sorted(chosen, key=lambda p: (p.port, p.protocol is Protocol.UDP))
        return tuple(PortRequest(p.port, p.service, protocol=p.protocol) for p in ordered)


# --------------------------------------------------------------------------- parsing


def _unknown_keys(table: Mapping[str, object], allowed: Sequence[str]) -> list[str]:
    return [key for key in table if key not in allowed]


def _optional_text(entry: Mapping[str, object], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where}: '{key}' must be a non-empty string, not {shown(value)}")
    return value.strip()


def _parse_port(entry: object, index: int, where: str, protocol: Protocol) -> ProfilePort:
    key = _LISTS[protocol]
    here = f"{where}: {key} entry {index}"
    if not isinstance(entry, dict):
        raise ProfileError(f"{here} must be a [[{key}]] table, not {shown(entry)}")
    unknown = _unknown_keys(entry, _PORT_KEYS)
    if unknown:
        raise ProfileError(
            f"{here} has unknown key {quoted(unknown[0])} (allowed: {', '.join(_PORT_KEYS)})"
        )
    port = entry.get("port")
    if port is None:
        raise ProfileError(f"{here} has no 'port'")
    if isinstance(port, bool) or not isinstance(port, int):
        raise ProfileError(f"{here} has port {shown(port)}, which is not a whole number")
    if not MIN_PORT <= port <= MAX_PORT:
        raise ProfileError(f"{here} has port {shown(port)}, out of range {MIN_PORT}-{MAX_PORT}")
    service = _optional_text(entry, "service", here)
    return ProfilePort(
        port=port,
        service=service if service is not None else service_name(port, protocol),
        note=_optional_text(entry, "note", here),
        protocol=protocol,
    )


def _parse_list(entries: object, where: str, protocol: Protocol) -> tuple[ProfilePort, ...]:
    """One protocol's array of tables; absent is empty."""
    key = _LISTS[protocol]
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ProfileError(f"{where}: '{key}' must be [[{key}]] tables, not {shown(entries)}")
    ports: list[ProfilePort] = []
    first_entry: dict[int, int] = {}
    for index, entry in enumerate(entries, start=1):
        port = _parse_port(entry, index, where, protocol)
        if port.port in first_entry:
            raise ProfileError(
                f"{where} lists {_shown_port(port)} twice ({key} entries "
                f"{first_entry[port.port]} and {index})"
            )
        first_entry[port.port] = index
        ports.append(port)
    return tuple(ports)


def _shown_port(port: ProfilePort) -> str:
    """ "port 80" for TCP (the words probe has always used), "port 53/udp" for UDP."""
    suffix = "/udp" if port.protocol is Protocol.UDP else ""
    return f"port {port.port}{suffix}"


def parse_profile(text: str, name: str, where: str, source: str) -> PortProfile:
    """Parse one profile file's text. ``name`` is the file's stem, ``where`` names the file in
    error messages and ``source`` goes into the profile. Raises ProfileError."""
    where = f"profile file {where}"
    data = parse_toml(text, where, ProfileError)
    unknown = _unknown_keys(data, _TOP_KEYS)
    if unknown:
        raise ProfileError(
            f"{where} has unknown key {quoted(unknown[0])} (allowed: {', '.join(_TOP_KEYS)})"
        )
    declared = data.get("name")
    if declared is not None and declared != name:
        raise ProfileError(
            f"{where} says name = {shown(declared)} but its file name makes it '{name}': "
            "rename the file or fix the name"
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ProfileError(f"{where} needs a non-empty 'description' string")
    tcp = _parse_list(data.get("ports"), where, Protocol.TCP)
    udp = _parse_list(data.get("udp"), where, Protocol.UDP)
    if not tcp and not udp:
        raise ProfileError(f"{where} needs at least one [[ports]] table (or a [[udp]] table)")
    return PortProfile(
        name=name, description=description.strip(), ports=tcp, source=source, udp=udp
    )


# --------------------------------------------------------------------------- loading


def builtin_profiles_dir() -> Traversable:
    """The profiles shipped with probe: inside the installed package, or the checkout's
    top-level profiles/ when probe runs from a source tree that was not installed."""
    packaged = files("probe").joinpath(_DATA_DIR)
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "profiles"


def user_profiles_dir() -> Path | None:
    """``$XDG_CONFIG_HOME/probe/profiles``, else ``~/.config/probe/profiles``; None when there
    is no home directory. (The XDG spec says to ignore a relative XDG_CONFIG_HOME.)"""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    if config and os.path.isabs(config):
        return Path(config) / "probe" / "profiles"
    try:
        return Path.home() / ".config" / "probe" / "profiles"
    except RuntimeError:
        return None


def _profile_files(directory: Traversable) -> list[Traversable]:
    found = [
        entry
        for entry in directory.iterdir()
        if entry.name.endswith(".toml") and not entry.name.startswith(".") and entry.is_file()
    ]
    return sorted(found, key=lambda entry: entry.name)


def _read_dir(directory: Traversable, source: str | None) -> Iterable[PortProfile]:
    """Profiles in one directory; ``source`` None means "use each file's path"."""
    for entry in _profile_files(directory):
        stem = entry.name[: -len(".toml")]
        if not _NAME.fullmatch(stem):
            raise ProfileError(
                f"profile file {entry} has a bad name: use lower-case letters, digits, '-' "
                "and '_' (like remote-access.toml)"
            )
        yield parse_profile(_text(entry), stem, str(entry), source if source else str(entry))


def _text(entry: Traversable) -> str:
    if isinstance(entry, Path):  # a file on disk: bounded, as every file probe reads
        return read_text(entry, "profile file", ProfileError)
    try:  # inside an installed package (a zip, say): shipped with probe
        return entry.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read profile file {entry}: {exc}") from None


def load_profiles(extra_dirs: Sequence[Path] = ()) -> dict[str, PortProfile]:
    """All profiles by name: built-in, then the user's directory, then ``extra_dirs``; a later
    one replaces an earlier one of the same name. Raises ProfileError."""
    builtin = builtin_profiles_dir()
    if not builtin.is_dir():
        raise ProfileError(
            f"probe's built-in profiles are missing (looked in {builtin}): reinstall probe"
        )
    profiles: dict[str, PortProfile] = {p.name: p for p in _read_dir(builtin, BUILTIN_SOURCE)}
    user = user_profiles_dir()
    if user is not None and user.exists():
        if not user.is_dir():
            raise ProfileError(f"the user profiles directory {user} is not a directory")
        profiles.update((p.name, p) for p in _read_dir(user, None))
    for directory in extra_dirs:
        path = Path(directory)
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise ProfileError(f"profiles directory {path} {what}")
        profiles.update((p.name, p) for p in _read_dir(path, None))
    return dict(sorted(profiles.items()))


def get_profile(name: str, extra_dirs: Sequence[Path] = ()) -> PortProfile:
    """The profile called ``name`` (case-insensitive). Raises ProfileError for an unknown name,
    listing the known ones."""
    profiles = load_profiles(extra_dirs)
    profile = profiles.get(name.strip().lower())
    if profile is None:
        raise ProfileError(f"unknown profile {quoted(name)}; known profiles: {', '.join(profiles)}")
    return profile


def select_ports(
    spec: str | None,
    profile_names: Sequence[str],
    profiles_dir: Sequence[Path],
    only: Protocol | None = None,
) -> tuple[PortRequest, ...]:
    """--ports and --profile together (a union, in port order, TCP first on the same number);
    the 'common' profile when neither is given. A profile's service names win over the
    generic ones. ``only`` (--udp): every port of the spec is of that protocol, and the
    profiles give only their ports of that protocol.

    The default profile's ports are not asked for (``PortRequest.asked`` False): they are
    probed to see what the host offers, and a closed one is no problem when another is open.
    """
    why = None if only is None else f"--{only} makes every port of the spec {only.upper()}"
    if spec is not None and not profile_names:
        return parse_ports(spec, only, why)  # already in port order, each port once
    if spec is None and not profile_names:
        default = _chosen(get_profile(DEFAULT_PROFILE, profiles_dir), only)
        return tuple(replace(p, asked=False) for p in default)
    chosen: dict[tuple[int, bool], PortRequest] = {}
    if spec is not None:
        chosen.update((_key(p), p) for p in parse_ports(spec, only, why))
    for name in profile_names:
        chosen.update((_key(p), p) for p in _chosen(get_profile(name, profiles_dir), only))
    return tuple(chosen[key] for key in sorted(chosen))


def _key(p: PortRequest) -> tuple[int, bool]:
    """Port order, TCP before UDP on the same number."""
    return (p.port, p.protocol is Protocol.UDP)


def _chosen(profile: PortProfile, only: Protocol | None) -> tuple[PortRequest, ...]:
    requests = profile.requests(only)
    if not requests:
        raise ProfileError(f"profile {profile.name} has no {only} ports (--{only})")
    return requests
