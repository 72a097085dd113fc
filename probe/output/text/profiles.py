"""``probe profiles`` for a person: every profile with its full port lists (TCP, then UDP), or
one profile's ports (UDP ones written ``53/udp``). Lines wrap under themselves and carry no
padding (``pen.hang``); what comes from a user's profile file is shown through ``Pen.clean``,
as Text (no rich markup)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from probe.model import Protocol
from probe.output.text.pen import Pen, TextFormat, hang
from probe.output.views import ProfileList
from probe.plan.profiles import BUILTIN_SOURCE, PortProfile, ProfilePort

__all__ = ["ProfileListText", "ProfileText"]


class ProfileListText(TextFormat[ProfileList]):
    def draw(self, result: ProfileList, console: Console) -> None:
        pen = Pen(console)
        width = max((len(p.name) for p in result.profiles), default=0) + 2
        for p in result.profiles:
            hang(console, 0, Text(p.name.ljust(width)), Text(pen.clean(p.description)))
            if p.ports:
                hang(console, width, Text("ports: "), Text(", ".join(str(x.port) for x in p.ports)))
            if p.udp:
                hang(console, width, Text("udp: "), Text(", ".join(str(x.port) for x in p.udp)))
        console.print("\nUse one: probe check HOST --profile NAME   Show one: probe profiles NAME")


class ProfileText(TextFormat[PortProfile]):
    def draw(self, result: PortProfile, console: Console) -> None:
        pen = Pen(console)
        hang(console, 0, Text(f"{result.name}: "), Text(pen.clean(result.description)))
        where = (
            "built-in profile"
            if result.source == BUILTIN_SOURCE
            else f"from {pen.clean(result.source)}"
        )
        console.print(Text(where + "\n"), soft_wrap=True)
        entries = result.entries
        ports = [_port(x) for x in entries]
        services = [pen.clean(x.service or "-") for x in entries]
        port_width = max(len("PORT"), *(len(p) for p in ports)) + 2
        service_width = max(len("SERVICE"), *(len(s) for s in services)) + 2
        header = f"{'PORT':<{port_width}}{'SERVICE':<{service_width}}NOTE"
        console.print(Text(header), soft_wrap=True)
        for x, port, service in zip(entries, ports, services, strict=True):
            if x.note:
                columns = Text(f"{port:<{port_width}}{service:<{service_width}}")
                hang(console, 0, columns, Text(pen.clean(x.note)))
            else:
                console.print(Text(f"{port:<{port_width}}{service}"), soft_wrap=True)


def _port(x: ProfilePort) -> str:
    """ "80" for TCP (as probe has always shown it), "53/udp" for UDP."""
    return f"{x.port}/udp" if x.protocol is Protocol.UDP else str(x.port)
