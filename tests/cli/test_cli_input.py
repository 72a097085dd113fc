"""Bad input and Ctrl-C at the command line: one printable line on stderr in probe's words,
the contract's exit status, nothing probed. The adapters are fakes: a test fails if the fake
engine is asked to scan when it must not be."""

from __future__ import annotations

import io
import json
import signal
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import CliRun

from probe.engine.fake import FakeEngine
from probe.errors import BadInput
from probe.model import (
    DnsResult,
    DnsStatus,
    PingResult,
    PingStatus,
    RouteResult,
    RouteStatus,
)
from probe.session import edge
from probe.session.edge import Edge

HOSTILE = "\x1b[31m\x07\r\n\x00\u202e"
ESCAPED = "\\x1b[31m\\x07\\r\\n\\x00\\u202e"


@pytest.fixture
def fake(cli_fake: FakeEngine) -> FakeEngine:
    return cli_fake  # tests/conftest.py: the commands' edge, faked


def one_line(err: str) -> str:
    """The single line probe said on stderr, checked to be safe to print."""
    lines = err.splitlines()
    assert len(lines) == 1, err[:2000]
    line = lines[0]
    assert line.startswith("probe: ") and line.isprintable() and "Traceback" not in line
    return line


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--timeout", "nan"], "--timeout must be a number of seconds from 0.05 to 60, not 'nan'"),
        (["--timeout", "61"], "--timeout must be a number of seconds from 0.05 to 60, not '61'"),
        (["--timeout", "-inf"], "--timeout must be a number of seconds"),
        (["--tries", "0"], "--tries must be a whole number from 1 to 15, not '0'"),
        (["--tries", "1" * 5000], "(5000 characters)"),
        (["--tries", "3x"], "--tries must be a whole number from 1 to 15, not '3x'"),
        (["--rate", "inf"], "--rate must be a number of packets per second from 1 to 1000000"),
        (["--rate", "0"], "not '0'"),
        (["--nameserver", "notanip"], "--nameserver must be the IP address of a resolver"),
        (["--nameserver", "198.18.0.53", "--nameserver", "x"], "not 'x'"),
        (["--bogus"], "no such option: --bogus"),
        (["--ports"], "option '--ports' requires an argument"),
        ([f"--x{HOSTILE}"], "no such option: --x\\x1b[31m\\x07"),  # CR, LF as \\x0d, \\x0a
    ],
)
def test_option_errors_are_one_line_in_probes_words(
    fake: FakeEngine, probe_cli: CliRun, args: list[str], said: str
) -> None:
    code, out, err = probe_cli(["check", "198.18.1.10", "-p", "80", *args])
    assert code == 2 and out == "" and fake.jobs == []
    assert said in one_line(err)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--max-hops", "0"], "--max-hops must be a whole number from 1 to 255, not '0'"),
        (["--silent-hops", "256"], "--silent-hops must be a whole number from 1 to 255"),
        (["--tries", "16"], "--tries must be a whole number from 1 to 15"),
        (["--timeout", "inf"], "--timeout must be a number of seconds"),
        (["--nameserver", "dns.example"], "not 'dns.example'"),
    ],
)
def test_trace_option_errors(
    fake: FakeEngine, probe_cli: CliRun, args: list[str], said: str
) -> None:
    code, out, err = probe_cli(["trace", "198.18.1.10", "-p", "80", *args])
    assert code == 2 and out == "" and fake.jobs == []
    assert said in one_line(err)


def test_usage_errors_name_the_help_to_read(probe_cli: CliRun) -> None:
    code, _, err = probe_cli(["trace", "198.18.1.10"])
    assert code == 2
    assert one_line(err) == "probe: missing option '--port' / '-p' (see 'probe trace --help')"
    code, _, err = probe_cli(["audit"])
    assert code == 2 and "missing argument 'FILE.toml'" in one_line(err)


def test_good_options_reach_the_run(fake: FakeEngine, probe_cli: CliRun) -> None:
    args = ["--tries", "007", "--timeout", "0.5", "--rate", "1e3", "--nameserver", "2001:2::53"]
    code, out, _ = probe_cli(["check", "198.18.1.10", "-p", "80", "--json", *args])
    assert code == 0 and json.loads(out)["targets"][0]["ports"][0]["state"] == "open"
    (config,) = fake.configs
    assert (config.tries, config.timeout, config.rate) == (7, 0.5, 1000.0)


# --------------------------------------------------------------------------- echoed input


@pytest.mark.parametrize(
    "args",
    [
        ["check", f"cam{HOSTILE}.example"],
        ["check", "198.18.1.10", "-p", f"80,{HOSTILE}"],
        ["check", "198.18.1.10", "--profile", HOSTILE],
        ["check", "-iL", f"/nonexistent/{HOSTILE}"],
        ["audit", f"/nonexistent/{HOSTILE}.toml".replace("\x00", "")],  # a path has no NUL
        ["trace", f"198.18.1.10{HOSTILE}", "-p", "80"],
    ],
)
def test_control_characters_are_escaped_in_error_lines(
    fake: FakeEngine, probe_cli: CliRun, args: list[str]
) -> None:
    code, out, err = probe_cli(args)
    assert code == 2 and out == "" and fake.jobs == []
    assert ESCAPED.replace("\\x00", "") in one_line(err).replace("\\x00", "")


def test_a_huge_target_is_quoted_once_and_cut(fake: FakeEngine, probe_cli: CliRun) -> None:
    code, _, err = probe_cli(["check", "a" * 10_000_000, "-p", "80"])
    line = one_line(err)
    assert code == 2 and len(line) < 400 and "(10000000 characters)" in line


@pytest.mark.parametrize("source", ["/dev/zero", "-"])
def test_targets_from_dev_zero_are_refused(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    with open("/dev/zero", "rb") as zero:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=zero))
        code, out, err = probe_cli(["check", "-iL", source, "-p", "80"])
    assert code == 2 and out == "" and fake.jobs == []
    assert "device" in one_line(err) if source != "-" else "larger than 16 MiB" in one_line(err)


def test_audit_of_dev_zero_is_refused(fake: FakeEngine, probe_cli: CliRun) -> None:
    code, _, err = probe_cli(["audit", "/dev/zero"])
    assert code == 2 and fake.jobs == []
    assert one_line(err) == "probe: cannot read audit file /dev/zero: it is a device; give a file"


def test_deeply_nested_audit_file(fake: FakeEngine, probe_cli: CliRun, tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text("a = " + "[" * 500)
    code, _, err = probe_cli(["audit", str(site)])
    assert code == 2 and "nests arrays or tables too deeply" in one_line(err)


# --------------------------------------------------------------------------- audit --yes


def audit_file(tmp_path: Path, hosts: int, ports: str) -> str:
    site = tmp_path / "site.toml"
    site.write_text(
        "".join(
            f'[[hosts]]\ntarget = "198.18.{n // 250}.{n % 250 + 1}"\nopen = ["{ports}"]\n'
            for n in range(hosts)
        )
    )
    return str(site)


@pytest.mark.parametrize(
    ("hosts", "ports", "said"),
    [(2, "all", "2 addresses: 131070 probes"), (300, "80", "300 addresses: 300 probes")],
)
def test_large_audits_need_yes(
    fake: FakeEngine,
    probe_cli: CliRun,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    hosts: int,
    ports: str,
    said: str,
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, out, err = probe_cli(["audit", audit_file(tmp_path, hosts, ports), "--json"])
    assert code == 2 and out == "" and fake.jobs == []
    assert said in one_line(err) and "pass --yes" in err


def test_yes_lets_a_large_audit_run(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from probe.plan import targets

    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    monkeypatch.setattr(targets, "MAX_PROBES", 100)
    site = audit_file(tmp_path, 2, "1-60")
    code, _, err = probe_cli(["audit", site])
    assert code == 2 and "2 addresses: 120 probes" in one_line(err) and fake.jobs == []
    code, out, _ = probe_cli(["audit", site, "--json", "--yes"])
    assert len(fake.jobs) == 120 and json.loads(out)["audit"]


# --------------------------------------------------------------------------- Ctrl-C


def interrupting_render(presses: int) -> Any:
    """A stand-in for the output registry's render: Ctrl-C ``presses`` times halfway."""

    def render(result: object, fmt: object, out: Any, **options: object) -> None:
        out.write('{"first": "half", ')
        for _ in range(presses):
            signal.raise_signal(signal.SIGINT)
        out.write('"second": "half"}\n')

    return render


def test_ctrl_c_while_the_report_is_written_lets_it_finish(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probe.output import registry

    monkeypatch.setattr(registry, "render", interrupting_render(1))
    code, out, err = probe_cli(["check", "198.18.1.10", "-p", "80", "--json"])
    assert code == 130 and json.loads(out) == {"first": "half", "second": "half"}
    assert one_line(err) == "probe: interrupted (the report was written in full)"


def test_a_second_ctrl_c_cuts_the_report_and_says_so(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from probe.output import registry

    monkeypatch.setattr(registry, "render", interrupting_render(2))
    code, out, err = probe_cli(["check", "198.18.1.10", "-p", "80", "--json"])
    assert code == 130 and out == '{"first": "half", '
    assert "the report was written: it is cut short" in one_line(err)


def test_ctrl_c_before_the_run_is_one_line(
    fake: FakeEngine, probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    # typer turns a KeyboardInterrupt inside a command into a silent exit 130
    from probe.plan import targets

    def pressed(texts: object) -> None:
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(targets, "parse_targets", pressed)
    code, out, err = probe_cli(["check", "198.18.1.10", "-p", "80"])
    assert code == 130 and out == "" and fake.jobs == []
    assert one_line(err) == "probe: interrupted"


def test_ctrl_c_while_the_modules_load_is_one_line(
    probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Loading(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "probe.cli.app", Loading("probe.cli.app"))
    code, out, err = probe_cli(["profiles"])
    assert code == 130 and out == ""
    assert one_line(err) == "probe: interrupted"


def test_a_check_interrupted_before_any_port_has_no_verdict(
    probe_cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine(lambda job: None)  # no job finishes: the scan was cut short
    route = RouteResult(RouteStatus.OK, "eth0", "198.18.0.2", "198.18.0.1")
    monkeypatch.setattr(
        edge,
        "default_edge",
        lambda: Edge(
            resolve=lambda name, ns, t, fams: DnsResult(DnsStatus.OK, ("198.18.1.10",)),
            literal=lambda a: DnsResult(DnsStatus.LITERAL, (a,)),
            route=lambda a: route,
            ping=lambda a, t: PingResult(PingStatus.OK, 3, 3, ttl=63),
            open_engine=lambda method: engine,
        ),
    )
    code, out, _ = probe_cli(["check", "198.18.1.10", "-p", "80"])
    assert code == 130 and "No problem found" not in out
    assert "Verdict: Interrupted before any port was probed: no verdict" in out
    code, out, _ = probe_cli(["check", "198.18.1.10", "-p", "80", "--json"])
    assert code == 130 and json.loads(out)["interrupted"] is True


# --------------------------------------------------------------------------- help


def test_help_shows_arguments_as_man_pages_do(probe_cli: CliRun) -> None:
    _, out, _ = probe_cli(["check", "--help"])
    assert "Usage: probe check [OPTIONS] [TARGET]..." in out
    assert "  TARGET...  " in out and "<list[str]>" not in out and "contract" not in out
    _, out, _ = probe_cli(["audit", "--help"])
    assert "Usage: probe audit [OPTIONS] FILE.toml" in out and "{" not in out.splitlines()[0]
    _, out, _ = probe_cli(["trace", "--help"])
    assert "SYNs per hop" in out and "SYNs per port" not in out


def test_profiles_list_every_port_without_padding(probe_cli: CliRun) -> None:
    from probe.plan.profiles import get_profile

    _, out, _ = probe_cli(["profiles"])
    lines = out.splitlines()
    assert all(line == line.rstrip() for line in lines) and "..." not in out
    camera = get_profile("camera")
    listed = " ".join(out.split("camera", 1)[1].split("common", 1)[0].split())
    assert ", ".join(str(p.port) for p in camera.ports) in listed
    _, out, _ = probe_cli(["profiles", "camera"])
    assert "built-in profile" in out.splitlines() and "from built-in" not in out
    assert all(line == line.rstrip() for line in out.splitlines())


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("answer", "outcome"), [("y\n", None), ("yes\n", None), ("n\n", 2), ("", 2)]
)
def test_the_size_question_at_a_terminal(
    monkeypatch: pytest.MonkeyPatch, answer: str, outcome: int | None
) -> None:
    import typer

    from probe.cli.options import confirm_size

    monkeypatch.setattr(sys, "stdin", _Tty(answer))
    monkeypatch.setattr(sys, "stderr", _Tty())
    if outcome is None:
        confirm_size("this run would probe a lot", yes=False)
        return
    # No (exit 2 quietly) or end of input (one line saying what to do, exit 2): never 130.
    with pytest.raises((typer.Exit, BadInput)) as exc:
        confirm_size("this run would probe a lot", yes=False)
    status = exc.value.exit_code if isinstance(exc.value, typer.Exit) else exc.value.status
    assert status == outcome
    assert isinstance(exc.value, BadInput) == (answer == "")
