"""``probe profiles`` for a person: the profiles in a table, or one profile's ports."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from probe.output.text.pen import TextFormat
from probe.output.views import ProfileList
from probe.plan.profiles import PortProfile

__all__ = ["ProfileListText", "ProfileText"]

_PORTS_SHOWN = 40  # characters of a profile's port list in the overview


class ProfileListText(TextFormat[ProfileList]):
    def draw(self, result: ProfileList, console: Console) -> None:
        table = Table(box=None, pad_edge=False, show_edge=False)
        for col in ("PROFILE", "PORTS", "DESCRIPTION"):
            table.add_column(col, no_wrap=col != "DESCRIPTION")
        for p in result.profiles:
            ports = ",".join(str(x.port) for x in p.ports)
            if len(ports) > _PORTS_SHOWN:
                ports = ports[: _PORTS_SHOWN - 3] + "..."
            table.add_row(p.name, ports, p.description)
        console.print(table)
        console.print("\nUse one: probe check HOST --profile NAME   Show one: probe profiles NAME")


class ProfileText(TextFormat[PortProfile]):
    def draw(self, result: PortProfile, console: Console) -> None:
        console.print(f"{result.name}: {result.description}")
        console.print(f"from {result.source}\n")
        table = Table(box=None, pad_edge=False, show_edge=False)
        for col in ("PORT", "SERVICE", "NOTE"):
            table.add_column(col)
        for x in result.ports:
            table.add_row(str(x.port), x.service or "-", x.note or "")
        console.print(table)
