"""The typer app: every command, the root options, and probe's way of showing arguments.
``probe.cli.main`` runs it. Heavy modules (scapy, dnspython, icmplib, rich) are imported
inside the commands so that ``probe --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperArgument

from probe import __version__
from probe.cli.analyze import analyze
from probe.cli.audit import audit
from probe.cli.check import check
from probe.cli.profiles import profiles
from probe.cli.serve import serve
from probe.cli.trace import trace
from probe.cli.watch import watch

__all__ = ["app", "command"]

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
for each in (check, profiles, analyze, audit, trace, watch, serve):
    app.command()(each)


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


class _PlainArgument(TyperArgument):
    """An argument shown as man pages show it: ``TARGET...`` and ``[TARGET]...``, ``CAPTURE``.
    typer adds the Python type (``TARGET <list[str]>``) and braces a required argument in the
    usage line (``{CAPTURE}``)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _rich_display_name(self) -> str:  # typer 0.29
        return self.make_metavar(None)

    def _usage_display_name(self) -> str:  # typer 0.29
        return self.make_metavar(None, usage=True)

    def make_metavar(self, ctx: Any, *, usage: bool = False) -> str:
        """The name in the usage line and in the list of arguments."""
        name = self.metavar or (self.name or "").upper()
        if usage and not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")


def command() -> Any:
    """The click command behind the app, with probe's argument display."""
    group = typer.main.get_command(app)
    for sub in getattr(group, "commands", {}).values():
        for param in sub.params:
            if type(param) is TyperArgument:
                param.__class__ = _PlainArgument
    return group
