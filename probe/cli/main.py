"""The entry point: the typer app with every command, and ``main``, where each "could not
run" error (a ``ProbeError`` raised anywhere below) becomes one line on stderr and its exit
status. Usage errors are click's (exit 2). Heavy modules (scapy, dnspython, icmplib, rich)
are imported inside the commands so that ``probe --help`` stays fast.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import typer

from probe import __version__
from probe.cli.analyze import analyze
from probe.cli.audit import audit
from probe.cli.check import check
from probe.cli.profiles import profiles
from probe.cli.trace import trace
from probe.errors import ProbeError
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
for command in (check, profiles, analyze, audit, trace):
    app.command()(command)


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
