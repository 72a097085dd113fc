"""Output of ``probe profiles``: the list of profiles, or one profile's ports."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

from probe.plan.profiles import PortProfile


def _as_dict(p: PortProfile) -> dict[str, object]:
    return {
        "name": p.name,
        "description": p.description,
        "source": p.source,
        "ports": [{"port": x.port, "service": x.service, "note": x.note} for x in p.ports],
    }


def render_list(profiles: Mapping[str, PortProfile], as_json: bool) -> None:
    if as_json:
        doc = {"profiles": [_as_dict(profiles[n]) for n in sorted(profiles)]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("PROFILE", "PORTS", "DESCRIPTION"):
        table.add_column(col, no_wrap=col != "DESCRIPTION")
    for name in sorted(profiles):
        p = profiles[name]
        ports = ",".join(str(x.port) for x in p.ports)
        table.add_row(name, ports if len(ports) <= 40 else ports[:37] + "...", p.description)
    console = Console(highlight=False)
    console.print(table)
    console.print("\nUse one: probe check HOST --profile NAME   Show one: probe profiles NAME")


def render_one(profile: PortProfile, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(_as_dict(profile), indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"{profile.name}: {profile.description}")
    console.print(f"from {profile.source}\n")
    table = Table(box=None, pad_edge=False, show_edge=False)
    for col in ("PORT", "SERVICE", "NOTE"):
        table.add_column(col)
    for x in profile.ports:
        table.add_row(str(x.port), x.service or "-", x.note or "")
    console.print(table)
