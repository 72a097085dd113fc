"""The command line: parse options, call the runner, hand the report to a format, map the
outcome to an exit status. Nothing else lives here.

Errors: every "could not run" is a ``ProbeError`` raised below this module; ``main`` catches it
once and prints one line on stderr with the error's exit status. Usage errors are click's
(exit 2). Heavy modules (scapy, dnspython, icmplib) are imported inside the commands so that
``probe --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from probe import __version__
from probe.errors import ProbeError
from probe.status import ExitStatus

app = typer.Typer(
    name="probe",
    help=(
        "Why can't this client connect to that server? DNS, route, ping and crafted SYNs per "
        "port, read like a packet capture and explained in plain words.\n\n"
        "Example: probe check camera.example.com --ports 80,6036"
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"probe {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """probe: the TCP troubleshooting checklist in one command."""


# Options shared by the probing commands (check, audit).
PortsOpt = Annotated[
    str | None,
    typer.Option(
        "--ports",
        "-p",
        metavar="SPEC",
        help="Ports: 80 | 80,443,6036 | 1-1024 | all | http,ssh. Default: the 'common' profile.",
    ),
]
ProfileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        help="Probe a named port profile's ports (see 'probe profiles'); "
        "repeatable, combinable with --ports.",
    ),
]
ProfilesDirOpt = Annotated[
    list[Path] | None,
    typer.Option("--profiles-dir", metavar="DIR", help="Extra directory of profile .toml files."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Machine output on stdout (the contract's report), only.")
]
NameserverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        metavar="IP",
        help="Resolver to ask (repeatable). Default: the system's resolvers.",
    ),
]
TriesOpt = Annotated[
    int,
    typer.Option(
        "--tries",
        min=1,
        max=15,
        metavar="N",
        help="SYNs per port before 'filtered' (the triple SYN).",
    ),
]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.05,
        max=60.0,
        metavar="SECONDS",
        help="Longest wait for an answer to one SYN (adaptive below it).",
    ),
]
NoPingOpt = Annotated[bool, typer.Option("--no-ping", help="Skip the ICMP echo step.")]
ConnectOpt = Annotated[
    bool,
    typer.Option(
        "--connect", help="Probe with connect() instead of raw SYNs (less evidence, no privilege)."
    ),
]
RateOpt = Annotated[
    float | None,
    typer.Option("--rate", min=1.0, metavar="PPS", help="Cap on packets sent per second."),
]
V4Opt = Annotated[bool, typer.Option("-4", help="IPv4 only.")]
V6Opt = Annotated[bool, typer.Option("-6", help="IPv6 only.")]
VerboseOpt = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show every port, even in large scans.")
]


@app.command()
def check(
    targets: Annotated[
        list[str],
        typer.Argument(metavar="TARGET...", help="Host names, IPv4/IPv6 addresses or CIDR blocks."),
    ],
    ports: PortsOpt = None,
    profile: ProfileOpt = None,
    profiles_dir: ProfilesDirOpt = None,
    json_out: JsonOpt = False,
    nameserver: NameserverOpt = None,
    tries: TriesOpt = 3,
    timeout: TimeoutOpt = 1.0,
    no_ping: NoPingOpt = False,
    connect: ConnectOpt = False,
    rate: RateOpt = None,
    ipv4: V4Opt = False,
    ipv6: V6Opt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Run the checklist against each TARGET: DNS, client route, ping, SYNs to each port,
    then explain what is most likely wrong.

    Examples:

      probe check camera.example.com --ports 80,6036

      probe check 192.0.2.10 --profile web --json

      probe check db1 db2 -p 5432 --nameserver 192.0.2.53 --tries 3 --timeout 1
    """
    from probe import runner
    from probe import targets as targets_mod

    parsed = targets_mod.parse_targets(targets)
    opts = runner.CheckOptions(
        ports=runner.select_ports(ports, profile or [], profiles_dir or []),
        nameservers=tuple(nameserver or ()),
        families=_families(ipv4, ipv6),
        tries=tries,
        timeout=timeout,
        ping=not no_ping,
        connect=connect,
        rate=rate,
    )
    io = runner.default_adapters(opts)
    report = runner.run_check(parsed, opts, io)
    _emit(report, json_out, verbose)
    return runner.exit_status(report)


@app.command()
def profiles(
    name: Annotated[str | None, typer.Argument(help="Show this profile's ports.")] = None,
    profiles_dir: ProfilesDirOpt = None,
    json_out: JsonOpt = False,
) -> int:
    """List the named port profiles, or show one.

    Example: probe profiles camera
    """
    from probe import profiles as profiles_mod
    from probe.report import profiles as show

    dirs = list(profiles_dir or [])
    if name is None:
        show.render_list(profiles_mod.load_profiles(dirs), json_out)
    else:
        show.render_one(profiles_mod.get_profile(name, dirs), json_out)
    return ExitStatus.OK


def _families(ipv4: bool, ipv6: bool) -> tuple[int, ...]:
    if ipv4 and ipv6:
        raise click.UsageError("-4 and -6 exclude each other.")
    return (4,) if ipv4 else (6,) if ipv6 else (4, 6)


def _emit(report: object, json_out: bool, verbose: bool) -> None:
    from probe.model import Report

    assert isinstance(report, Report)
    if json_out:
        from probe.report.json import write_json

        write_json(report, sys.stdout)
    else:
        from rich.console import Console

        from probe.report.text import render_text

        render_text(report, Console(highlight=False), verbose=verbose)


def main() -> None:
    """Entry point: run the typer app, turn every error into one line and an exit status."""
    command = typer.main.get_command(app)
    try:
        status = command.main(args=sys.argv[1:], prog_name="probe", standalone_mode=False)
    except click.exceptions.Abort:
        status = ExitStatus.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        status = exc.exit_code
    except ProbeError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        status = exc.status
    except KeyboardInterrupt:
        print("probe: interrupted", file=sys.stderr)
        status = ExitStatus.INTERRUPTED
    sys.exit(int(status or 0))
