"""The command line: parse options, call the runner, hand the report to a format, map the
outcome to an exit status. Nothing else lives here.

Errors: every "could not run" is a ``ProbeError`` raised below this module; ``main`` catches it
once and prints one line on stderr with the error's exit status. Usage errors are click's
(exit 2). Heavy modules (scapy, dnspython, icmplib) are imported inside the commands so that
``probe --help`` stays fast.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from probe import __version__
from probe.errors import BadInput, ProbeError
from probe.status import ExitStatus

GC_THRESHOLD = 100_000  # allocations between young-generation collections (default 700)

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
# --pcap FILE for every probing command: ``with capture.recording(pcap, adapters):`` around the
# run (probe/capture.py) writes each packet sent and each answer matched as it goes.
PcapOpt = Annotated[
    Path | None,
    typer.Option(
        "--pcap",
        metavar="FILE",
        help="Write every packet sent and every answer received to FILE (pcap, for Wireshark).",
    ),
]
AppOpt = Annotated[
    bool,
    typer.Option(
        "--app",
        help="After an open port: a full connect() and a protocol hello (HTTP request, TLS "
        "handshake and certificate, SSH/SMTP/FTP/POP3/IMAP banner).",
    ),
]
AppProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--app-protocol",
        metavar="NAME",
        help="The hello to use on every open port instead of the port's service name: http, "
        "tls, ssh, smtp, ftp, pop3, imap, banner or generic. Implies --app.",
    ),
]


TargetsFileOpt = Annotated[
    str | None,
    typer.Option(
        "--targets-file",
        "-iL",
        metavar="FILE",
        help="Read more targets from FILE (one per line, # comments; - for stdin).",
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option(
        "--yes", "-y", help="Go ahead with a run of more than 256 addresses or 100000 probes."
    ),
]


@app.command()
def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(metavar="TARGET", help="Host names, IPv4/IPv6 addresses or CIDR blocks."),
    ] = None,
    targets_file: TargetsFileOpt = None,
    yes: YesOpt = False,
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
    app_hello: AppOpt = False,
    app_protocol: AppProtocolOpt = None,
    pcap: PcapOpt = None,
) -> int:
    """Run the checklist against each TARGET: DNS, client route, ping, SYNs to each port,
    then explain what is most likely wrong.

    Examples:

      probe check camera.example.com --ports 80,6036

      probe check 192.0.2.10 --profile web --json

      probe check db1 db2 -p 5432 --nameserver 192.0.2.53 --tries 3 --timeout 1
    """
    from probe.plan import targets as targets_mod
    from probe.session import check as runner

    if app_protocol is not None:
        from probe.steps.hello import PROTOCOLS

        app_protocol = app_protocol.lower()
        if app_protocol not in PROTOCOLS:
            raise typer.BadParameter(
                f"{app_protocol!r} is not one of {', '.join(PROTOCOLS)}",
                param_hint="'--app-protocol'",
            )
    texts = list(targets or ())
    if targets_file:
        texts += targets_mod.read_targets_file(targets_file)
    if not texts:
        raise BadInput("give at least one TARGET (or --targets-file)")
    parsed = targets_mod.parse_targets(texts)
    opts = runner.CheckOptions(
        ports=runner.select_ports(ports, profile or [], profiles_dir or []),
        nameservers=tuple(nameserver or ()),
        families=_families(ipv4, ipv6),
        tries=tries,
        timeout=timeout,
        ping=not no_ping,
        connect=connect,
        rate=rate,
        app=app_hello or app_protocol is not None,
        app_protocol=app_protocol,
    )
    _confirm_size(runner.oversized(targets_mod.count_addresses(parsed), len(opts.ports)), yes)
    io = runner.default_adapters(opts)
    from probe.capture.writer import recording
    from probe.output.progress import ScanProgress

    with (
        recording(pcap, io),
        ScanProgress(enabled=not json_out and sys.stderr.isatty()) as progress,
    ):
        io.progress = progress
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
    from probe.output import profiles as show
    from probe.plan import profiles as profiles_mod

    dirs = list(profiles_dir or [])
    if name is None:
        show.render_list(profiles_mod.load_profiles(dirs), json_out)
    else:
        show.render_one(profiles_mod.get_profile(name, dirs), json_out)
    return ExitStatus.OK


@app.command()
def analyze(
    capture_file: Annotated[
        Path,
        typer.Argument(
            metavar="CAPTURE", help="A pcap or pcapng file (Wireshark, tshark, tcpdump -w)."
        ),
    ],
    json_out: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> int:
    """Find the connection problems in an existing capture: SYNs without answer, RSTs, ICMP
    rejects, handshakes that never complete, per server and port, explained like 'probe check'.

    \b
    Examples:
      probe analyze ticket-4711.pcapng
      tcpdump -i eth0 -w cap.pcap 'tcp or icmp or icmp6'; probe analyze cap.pcap --json
    """
    from probe.capture import analyze as analyze_mod
    from probe.capture.reader import open_capture
    from probe.output import analyze as show

    with open_capture(capture_file) as cap:
        result = analyze_mod.analyze(cap.records())
    if json_out:
        sys.stdout.write(show.render_json(cap.info, result))
    else:
        from rich.console import Console

        show.render_text(cap.info, result, Console(highlight=False), verbose=verbose)
    return analyze_mod.exit_status(result)


@app.command()
def audit(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.toml", help="Audit file: expected port states per host ([[hosts]])."
        ),
    ],
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="FILE", help="Also write the results as JUnit XML."),
    ] = None,
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
    pcap: PcapOpt = None,
) -> int:
    """Check expected port states before a deployment: every host of FILE.toml is probed
    like 'probe check', then each expectation passes or fails (exit 0 only if all hold).

    \b
    Example file (also: filtered = [...], refused = [...], profile = "NAME"):
      [[hosts]]
      target = "cam.example.com"
      open = [80, 6036]
      blocked = [3389]

    \b
    Examples:
      probe audit site.toml
      probe audit site.toml --junit audit-junit.xml
    """
    from probe.output import audit as show
    from probe.plan.audit import load_audit
    from probe.session import audit as audit_mod
    from probe.session import check as runner

    families = _families(ipv4, ipv6)
    plan = load_audit(file, profiles_dir or [])
    if junit is not None:
        from probe.output import junit as junit_mod

        junit_mod.check_writable(junit)
    opts = runner.CheckOptions(
        ports=(),
        nameservers=tuple(nameserver or ()),
        families=families,
        tries=tries,
        timeout=timeout,
        ping=not no_ping,
        connect=connect,
        rate=rate,
    )
    from probe.capture.writer import recording

    io = runner.default_adapters(opts)
    with recording(pcap, io):
        result = audit_mod.run_audit(plan, opts, io)
    if junit is not None:
        junit_mod.write_junit(result, junit)
    if json_out:
        sys.stdout.write(show.render_audit_json(result))
    else:
        from rich.console import Console

        show.render_audit_text(result, Console(highlight=False), junit)
    return audit_mod.exit_status(result)


@app.command()
def trace(
    target: Annotated[
        str, typer.Argument(metavar="TARGET", help="A host name, an IPv4 or an IPv6 address.")
    ],
    port: Annotated[
        str,
        typer.Option(
            "--port", "-p", metavar="N", help="The TCP port to trace (a number or service name)."
        ),
    ],
    max_hops: Annotated[
        int,
        typer.Option("--max-hops", min=1, max=255, metavar="N", help="Highest TTL to send."),
    ] = 30,
    silent_hops: Annotated[
        int,
        typer.Option(
            "--silent-hops",
            min=1,
            max=255,
            metavar="N",
            help="Stop after this many silent hops past the last answer.",
        ),
    ] = 3,
    json_out: JsonOpt = False,
    nameserver: NameserverOpt = None,
    tries: TriesOpt = 3,
    timeout: TimeoutOpt = 1.0,
    ipv4: V4Opt = False,
    ipv6: V6Opt = False,
    pcap: PcapOpt = None,
) -> int:
    """TCP traceroute: SYNs to one port with TTL 1, 2, ... to find the hop where the SYN
    dies. Needs raw sockets (root or CAP_NET_RAW).

    Examples:

      probe trace camera.example.com --port 6036

      probe trace 192.0.2.10 -p 443 --max-hops 15 --json
    """
    from probe.errors import PortSpecError, TargetError
    from probe.plan import targets as targets_mod
    from probe.session import trace as trace_mod

    requests = targets_mod.parse_ports(port)
    if len(requests) != 1:
        raise PortSpecError(f"trace follows one port, not {len(requests)} ('{port}')")
    parsed = targets_mod.parse_target(target)
    if len(parsed) != 1:
        raise TargetError(f"trace follows one host: '{target}' holds {len(parsed)} addresses")
    opts = trace_mod.TraceOptions(
        port=requests[0].port,
        max_hops=max_hops,
        tries=tries,
        timeout=timeout,
        silent_hops=silent_hops,
        nameservers=tuple(nameserver or ()),
        families=_families(ipv4, ipv6),
    )
    io = trace_mod.default_adapters()
    from probe.capture.writer import recording

    with recording(pcap, io):
        report = trace_mod.run_trace(parsed[0], opts, io)
    if json_out:
        from probe.output.trace import render_trace_json

        sys.stdout.write(render_trace_json(report))
    else:
        from rich.console import Console

        from probe.output.trace import render_trace_text

        render_trace_text(report, Console(highlight=False))
    return trace_mod.exit_status(report)


def _confirm_size(why: str | None, yes: bool) -> None:
    """Large runs go ahead with --yes, or after a yes at the terminal; scripts must say --yes."""
    if why is None or yes:
        return
    if sys.stdin.isatty() and sys.stderr.isatty():
        if typer.confirm(f"probe: {why}. Go ahead?", default=False, err=True):
            return
        raise typer.Exit(ExitStatus.BAD_INPUT)
    raise BadInput(f"{why}; pass --yes to go ahead")


def _families(ipv4: bool, ipv6: bool) -> tuple[int, ...]:
    if ipv4 and ipv6:
        raise BadInput("-4 and -6 exclude each other")
    return (4,) if ipv4 else (6,) if ipv6 else (4, 6)


def _emit(report: object, json_out: bool, verbose: bool) -> None:
    from probe.model import Report

    assert isinstance(report, Report)
    if json_out:
        from probe.output.json import write_json

        write_json(report, sys.stdout)
    else:
        from rich.console import Console

        from probe.output.text import render_text

        render_text(report, Console(highlight=False), verbose=verbose)


def main() -> None:
    """Entry point: run the typer app, turn every error into one line and an exit status."""
    command = typer.main.get_command(app)
    # A run builds hundreds of thousands of small records that all live to the end (a
    # full-range scan: 65535 probes, answers, verdicts) and form no cycles. The cyclic
    # collector would walk them again and again for nothing: collect far less often.
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)
    try:
        status = command.main(args=sys.argv[1:], prog_name="probe", standalone_mode=False)
    except typer.Abort:
        status = ExitStatus.INTERRUPTED
    except ProbeError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        status = exc.status
    except KeyboardInterrupt:
        print("probe: interrupted", file=sys.stderr)
        status = ExitStatus.INTERRUPTED
    except Exception as exc:
        status = _usage_error(exc)
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    sys.exit(int(status or 0))


def entry() -> None:
    """The ``probe`` command: ``main()``, then a hard exit once the output is flushed.

    A full-range scan leaves about a million small objects; a normal exit frees them one by
    one (~0.1 s) only for the process to end. Every file probe writes is closed by then, and
    the only threads that may still run are pings abandoned after Ctrl-C, which a normal exit
    would wait for; nothing is lost by skipping that (mypy exits this way too).
    """
    try:
        main()
        status = 0
    except SystemExit as done:
        status = _exit_code(done.code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (probe ... | head): nothing more to say
        pass
    os._exit(status)


def _exit_code(code: object) -> int:
    """What the interpreter would make of ``sys.exit(code)``."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _usage_error(exc: Exception) -> int:
    """A usage error from click: shown as click shows it (usage line, "Error: ..."), with
    its exit status (2). Recent typer carries its own copy of click, older typer uses click
    itself, so these are recognised by what they offer rather than by class."""
    show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
    if not callable(show) or not isinstance(code, int):
        raise exc
    show()
    return code
