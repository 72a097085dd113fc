"""Port profiles: the shipped files, the search order, and every way a file can be wrong."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from probe.errors import BadInput, ProfileError
from probe.model import PortRequest, Protocol
from probe.plan import profiles
from probe.plan.inputs import MAX_INPUT_BYTES
from probe.plan.profiles import (
    BUILTIN_SOURCE,
    DEFAULT_PROFILE,
    PortProfile,
    ProfilePort,
    get_profile,
    load_profiles,
    parse_profile,
    user_profiles_dir,
)

REPO = Path(__file__).resolve().parents[3]
SHIPPED = ("camera", "common", "database", "mail", "remote-access", "voip", "web", "windows")


@pytest.fixture(autouse=True)
def no_user_profiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the user's config directory at an empty temporary one for every test."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    return config


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


ONE_PORT = 'description = "test"\n[[ports]]\nport = 80\n'

# --------------------------------------------------------------------------- shipped profiles


def test_shipped_profiles_load() -> None:
    loaded = load_profiles()
    assert tuple(loaded) == SHIPPED  # sorted by name
    for name, profile in loaded.items():
        assert profile.name == name
        assert profile.source == BUILTIN_SOURCE
        assert profile.description
        assert profile.ports
        assert all(p.service for p in profile.entries), f"{name}: every shipped port is named"
        assert all(p.note for p in profile.entries), f"{name}: every shipped port has a note"
        assert all(p.protocol is Protocol.TCP for p in profile.ports)
        assert all(p.protocol is Protocol.UDP for p in profile.udp)


def test_shipped_files_declare_their_name() -> None:
    for path in sorted((REPO / "profiles").glob("*.toml")):
        assert tomllib.loads(path.read_text(encoding="utf-8"))["name"] == path.stem


@pytest.mark.parametrize(
    ("name", "must_have"),
    [
        ("common", {21, 22, 23, 25, 53, 80, 110, 143, 443, 445, 587, 993, 995, 3306, 3389, 5432}),
        ("common", {8080, 8443}),
        ("web", {80, 443, 8080, 8443}),
        ("mail", {25, 465, 587, 110, 995, 143, 993}),
        ("camera", {80, 443, 554, 8000, 37777, 6036, 8554}),
        ("database", {5432, 3306, 1433, 1521, 27017, 6379}),
        ("windows", {53, 88, 135, 139, 389, 445, 464, 636, 3268, 3269, 3389, 5985, 5986}),
        ("remote-access", {22, 23, 3389, 5900, 5938}),
        ("voip", {5060, 5061, 1720}),
    ],
)
def test_shipped_profile_ports(name: str, must_have: set[int]) -> None:
    ports = {p.port for p in get_profile(name).ports}
    assert must_have <= ports, f"{name} lacks {sorted(must_have - ports)}"


def test_default_profile_exists() -> None:
    assert get_profile(DEFAULT_PROFILE).name == "common"


def test_requests_are_sorted_and_carry_the_profile_service() -> None:
    mail = get_profile("mail")
    requests = mail.requests()
    assert [r.port for r in requests] == sorted(p.port for p in mail.ports)
    assert PortRequest(465, "submissions") in requests
    camera = get_profile("camera").requests()
    assert PortRequest(8000, "hikvision-sdk") in camera  # the profile's name, not the table's


def test_get_profile_is_case_insensitive() -> None:
    assert get_profile(" Camera ") == get_profile("camera")


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError) as info:
        get_profile("cameras")
    message = str(info.value)
    assert "unknown profile 'cameras'" in message
    for name in SHIPPED:
        assert name in message
    assert isinstance(info.value, BadInput)


def test_packaging_ships_profiles_and_lists_every_subpackage() -> None:
    """pyproject maps probe._profiles to profiles/ and so must list packages by hand."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["probe._profiles"] == "profiles"
    assert "*.toml" in setuptools["package-data"]["probe._profiles"]
    packages = set(setuptools["packages"])
    assert "probe._profiles" in packages
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "probe").rglob("*.py")
        if "__pycache__" not in init.parts
    }
    assert on_disk <= packages, f"add {sorted(on_disk - packages)} to [tool.setuptools] packages"


def test_installed_layout_is_preferred(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An installed probe reads probe/_profiles/; a bare checkout falls back to profiles/."""
    assert Path(str(profiles.builtin_profiles_dir())).name in {"_profiles", "profiles"}
    installed = tmp_path / "site" / "probe"
    write(installed / "_profiles", "only.toml", ONE_PORT)

    monkeypatch.setattr(profiles, "files", lambda package: installed)
    assert list(load_profiles()) == ["only"]


def test_missing_builtins_are_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(profiles, "builtin_profiles_dir", lambda: tmp_path / "gone")
    with pytest.raises(ProfileError, match="built-in profiles are missing"):
        load_profiles()


# --------------------------------------------------------------------------- search order


def test_user_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_profiles_dir() == tmp_path / "xdg" / "probe" / "profiles"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in ("", "relative/dir"):  # ignored, as the XDG spec says
        monkeypatch.setenv("XDG_CONFIG_HOME", unset)
        assert user_profiles_dir() == tmp_path / "home" / ".config" / "probe" / "profiles"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert user_profiles_dir() == tmp_path / "home" / ".config" / "probe" / "profiles"


def test_user_dir_overrides_builtin(no_user_profiles: Path) -> None:
    user = no_user_profiles / "probe" / "profiles"
    path = write(user, "camera.toml", 'description = "my cameras"\n[[ports]]\nport = 6036\n')
    write(user, "lab.toml", 'description = "lab"\n[[ports]]\nport = 2222\nservice = "ssh-alt"\n')
    loaded = load_profiles()
    assert loaded["camera"] == PortProfile(
        name="camera", description="my cameras", ports=(ProfilePort(6036),), source=str(path)
    )
    assert loaded["lab"].requests() == (PortRequest(2222, "ssh-alt"),)
    assert loaded["web"].source == BUILTIN_SOURCE
    assert list(loaded) == sorted(loaded)


def test_extra_dirs_override_user_dir_in_order(no_user_profiles: Path, tmp_path: Path) -> None:
    write(no_user_profiles / "probe" / "profiles", "web.toml", ONE_PORT.replace("80", "81"))
    first = tmp_path / "first"
    second = tmp_path / "second"
    write(first, "web.toml", ONE_PORT.replace("80", "82"))
    write(second, "web.toml", ONE_PORT.replace("80", "83"))
    assert load_profiles()["web"].ports == (ProfilePort(81),)
    assert load_profiles([first])["web"].ports == (ProfilePort(82),)
    assert load_profiles([first, second])["web"].ports == (ProfilePort(83),)
    assert get_profile("web", [second, first]).ports == (ProfilePort(82),)


def test_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "not a profile")
    write(tmp_path, ".hidden.toml", "not = [valid")  # editor leftovers
    write(tmp_path, "notes.toml.bak", "x")
    (tmp_path / "dir.toml").mkdir()
    assert set(load_profiles([tmp_path])) == set(SHIPPED)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_bad_extra_dir(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "profiles"
    if kind == "file":
        target.write_text("")
    expected = "does not exist" if kind == "missing" else "is not a directory"
    with pytest.raises(ProfileError, match=f"profiles directory .*profiles {expected}"):
        load_profiles([target])


def test_user_dir_that_is_a_file(no_user_profiles: Path) -> None:
    write(no_user_profiles / "probe", "profiles", "")
    with pytest.raises(ProfileError, match="is not a directory"):
        load_profiles()


# --------------------------------------------------------------------------- file format


def test_full_format() -> None:
    text = """
        # a comment
        name = "lab"
        description = "  Lab gear  "
        [[ports]]
        port = 8443
        note = "console"
        [[ports]]
        port = 22
        service = "ssh"
        [[ports]]
        port = 6036
    """
    profile = parse_profile(text, "lab", "lab.toml", "somewhere")
    assert profile == PortProfile(
        name="lab",
        description="Lab gear",
        ports=(
            ProfilePort(8443, "https-alt", "console"),  # service from the built-in table
            ProfilePort(22, "ssh", None),
            ProfilePort(6036, None, None),  # unknown to the table: no service
        ),
        source="somewhere",
    )
    assert [r.port for r in profile.requests()] == [22, 6036, 8443]


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("description = \n", "is not valid TOML"),
        ('description = "x"\n[[ports]\nport = 80\n', "(at line 2, column"),
        ('description = "x"\nport = 80\nport = 81\n', "(at line 3, column"),
        ('description = "x"\n[[ports]]\nport = 80\nprot = 81\n', "unknown key 'prot'"),
        ('descripton = "x"\n[[ports]]\nport = 80\n', "unknown key 'descripton'"),
        ('description = "x"\n[[ports]]\nport = 0\n', "ports entry 1 has port 0, out of range"),
        ('description = "x"\n[[ports]]\nport = 70000\n', "has port 70000, out of range 1-65535"),
        ('description = "x"\n[[ports]]\nport = -1\n', "has port -1"),
        ('description = "x"\n[[ports]]\nport = "80"\n', "has port '80', which is not a whole"),
        ('description = "x"\n[[ports]]\nport = 80.0\n', "has port 80.0, which is not a whole"),
        ('description = "x"\n[[ports]]\nport = true\n', "has port True, which is not a whole"),
        ('description = "x"\n[[ports]]\nservice = "http"\n', "ports entry 1 has no 'port'"),
        (
            'description = "x"\n[[ports]]\nport = 80\n[[ports]]\nport = 443\n'
            "[[ports]]\nport = 80\n",
            "lists port 80 twice (ports entries 1 and 3)",
        ),
        ('description = "x"\n[[ports]]\nport = 80\nservice = ""\n', "'service' must be"),
        ('description = "x"\n[[ports]]\nport = 80\nnote = 5\n', "'note' must be"),
        ('description = "x"\nports = [80, 443]\n', "ports entry 1 must be a [[ports]] table"),
        ('description = "x"\nports = []\n', "needs at least one [[ports]] table"),
        ('description = "x"\n', "needs at least one [[ports]] table"),
        ("[[ports]]\nport = 80\n", "needs a non-empty 'description'"),
        ('description = "  "\n[[ports]]\nport = 80\n', "needs a non-empty 'description'"),
        ("description = 3\n[[ports]]\nport = 80\n", "needs a non-empty 'description'"),
        ('name = "other"\n' + ONE_PORT, "says name = 'other' but its file name makes it 'lab'"),
    ],
)
def test_malformed_profile(tmp_path: Path, text: str, piece: str) -> None:
    path = write(tmp_path, "lab.toml", text)
    with pytest.raises(ProfileError) as info:
        load_profiles([tmp_path])
    message = str(info.value)
    assert piece in message
    assert str(path) in message  # the file is named


@pytest.mark.parametrize("file_name", ["Camera.toml", "my profile.toml", "-x.toml", "a.b.toml"])
def test_bad_file_name(tmp_path: Path, file_name: str) -> None:
    write(tmp_path, file_name, ONE_PORT)
    with pytest.raises(ProfileError, match="has a bad name"):
        load_profiles([tmp_path])


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_bytes(b'description = "caf\xe9"\n[[ports]]\nport = 80\n')
    with pytest.raises(ProfileError, match=r"lab\.toml is not UTF-8"):
        load_profiles([tmp_path])


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "lab.toml", ONE_PORT)

    real_open = os.open

    def refuse(path: str, flags: int, *args: int) -> int:
        if os.path.basename(path) == "lab.toml":
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ProfileError, match=r"cannot read profile file .*lab\.toml: Permission"):
        load_profiles([tmp_path])


def test_a_fifo_named_like_a_profile_is_skipped_and_a_huge_file_refused(tmp_path: Path) -> None:
    # Neither may hang or fill the memory: a FIFO is not a profile file at all, and a file
    # larger than probe reads is an error naming it.
    os.mkfifo(tmp_path / "pipe.toml")
    write(tmp_path, "lab.toml", ONE_PORT)
    assert "lab" in load_profiles([tmp_path])
    with (tmp_path / "big.toml").open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)
    with pytest.raises(ProfileError, match=r"big\.toml is larger than 16 MiB"):
        load_profiles([tmp_path])


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("description = " + "[" * 500, "nests arrays or tables too deeply"),
        ('description = "x"\n[[ports]]\nport = ' + "1" * 5000, "more than 4300 digits"),
        # hexadecimal has no digit limit: the number parses, and is too large to quote
        ('description = "x"\n[[ports]]\nport = 0x' + "f" * 5000, "port a value too large"),
        ('description = "x"\n[[ports]]\nport = "\\u001b[31m\\u202e"', "'\\x1b[31m\\u202e'"),
    ],
)
def test_what_the_toml_parser_cannot_take_is_one_line(text: str, piece: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "lab", "lab.toml", "lab.toml")
    message = str(info.value)
    assert piece in message and message.isprintable() and len(message) < 300, message


def test_only_the_default_profiles_ports_are_not_asked_for() -> None:
    default = profiles.select_ports(None, [], [])
    assert default and not any(p.asked for p in default)
    assert [p.port for p in default] == [p.port for p in get_profile(DEFAULT_PROFILE).requests()]
    assert all(p.asked for p in profiles.select_ports("80,443", [], []))
    assert all(p.asked for p in profiles.select_ports(None, [DEFAULT_PROFILE], []))
    assert all(p.asked for p in profiles.select_ports("8080", ["web"], []))


# --------------------------------------------------------------------------- UDP ports


@pytest.mark.parametrize(
    ("name", "must_have"),
    [
        ("voip", {5060, 4569, 2427, 2727, 1719, 3478}),
        ("camera", {3702, 1900}),
        ("windows", {137, 138, 88, 389, 53, 123}),
        ("remote-access", {500, 4500, 1194, 51820, 1701, 3389}),
        ("web", {443}),
        ("common", {53, 123, 161}),
        ("database", {1434}),
    ],
)
def test_shipped_profile_udp_ports(name: str, must_have: set[int]) -> None:
    ports = {p.port for p in get_profile(name).udp}
    assert must_have <= ports, f"{name} lacks {sorted(must_have - ports)}/udp"


def test_shipped_files_no_longer_say_udp_was_left_out() -> None:
    for path in sorted((REPO / "profiles").glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        assert "Omitted because" not in text and "not probed" not in text, path.name
    for name in ("voip", "camera"):  # RTP's ports are picked per call: said, not listed
        assert "dynamic" in (REPO / "profiles" / f"{name}.toml").read_text(encoding="utf-8")


def test_udp_tables() -> None:
    text = """
        description = "phones"
        [[ports]]
        port = 5060
        [[udp]]
        port = 5060
        note = "SIP over UDP"
        [[udp]]
        port = 123
    """
    profile = parse_profile(text, "lab", "lab.toml", "x")
    assert profile.ports == (ProfilePort(5060, "sip"),)
    assert profile.udp == (
        ProfilePort(5060, "sip", "SIP over UDP", Protocol.UDP),
        ProfilePort(123, "ntp", None, Protocol.UDP),  # the UDP table's name
    )
    assert profile.requests() == (
        PortRequest(123, "ntp", protocol=Protocol.UDP),
        PortRequest(5060, "sip"),
        PortRequest(5060, "sip", protocol=Protocol.UDP),
    )
    assert profile.requests(Protocol.UDP) == (
        PortRequest(123, "ntp", protocol=Protocol.UDP),
        PortRequest(5060, "sip", protocol=Protocol.UDP),
    )
    only_udp = parse_profile('description = "x"\n[[udp]]\nport = 53\n', "lab", "lab.toml", "x")
    assert only_udp.ports == () and only_udp.requests() == (
        PortRequest(53, "dns", True, Protocol.UDP),
    )


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ('description = "x"\n[[udp]]\nport = 70000\n', "udp entry 1 has port 70000, out of range"),
        ('description = "x"\n[[udp]]\nprot = 53\n', "udp entry 1 has unknown key 'prot'"),
        ('description = "x"\n[[udp]]\nnote = "x"\n', "udp entry 1 has no 'port'"),
        ('description = "x"\nudp = [53]\n', "udp entry 1 must be a [[udp]] table, not 53"),
        ('description = "x"\nudp = 53\n', "'udp' must be [[udp]] tables, not 53"),
        ('description = "x"\nudp = []\n', "needs at least one [[ports]] table (or a [[udp]]"),
        (
            'description = "x"\n[[udp]]\nport = 53\n[[udp]]\nport = 53\n',
            "lists port 53/udp twice (udp entries 1 and 2)",
        ),
    ],
)
def test_malformed_udp_tables(tmp_path: Path, text: str, piece: str) -> None:
    write(tmp_path, "lab.toml", text)
    with pytest.raises(ProfileError) as info:
        load_profiles([tmp_path])
    assert piece in str(info.value)


def test_select_ports_with_udp() -> None:
    def keys(requests: tuple[PortRequest, ...]) -> list[tuple[int, str]]:
        return [(p.port, str(p.protocol)) for p in requests]

    default = profiles.select_ports(None, [], [])
    assert (53, "tcp") in keys(default) and (53, "udp") in keys(default)
    assert keys(default) == sorted(keys(default), key=lambda k: (k[0], k[1] == "udp"))
    assert keys(profiles.select_ports(None, [], [], Protocol.UDP)) == [
        (53, "udp"),
        (123, "udp"),
        (161, "udp"),
    ]
    web = profiles.select_ports("443/udp,80", ["web"], [])
    assert keys(web).count((443, "udp")) == 1 and (80, "tcp") in keys(web)
    voip_udp = profiles.select_ports("5070", ["voip"], [], Protocol.UDP)
    assert {p.protocol for p in voip_udp} == {Protocol.UDP} and (5070, "udp") in keys(voip_udp)
    with pytest.raises(ProfileError, match="profile mail has no udp ports"):
        profiles.select_ports(None, ["mail"], [], Protocol.UDP)
    with pytest.raises(BadInput, match="'80/tcp' is TCP, but --udp makes every port of the spec"):
        profiles.select_ports("80/tcp", [], [], Protocol.UDP)
