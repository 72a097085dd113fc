"""``probe profiles``: the named port profiles."""

from __future__ import annotations

from typing import Annotated

import typer

from probe.cli import options as o
from probe.status import ExitStatus


def profiles(
    name: Annotated[str | None, typer.Argument(help="Show this profile's ports.")] = None,
    profiles_dir: o.ProfilesDirOpt = None,
    json_out: o.JsonOpt = False,
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
