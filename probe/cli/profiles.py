"""``probe profiles``: the named port profiles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from probe.cli import options as o
from probe.status import ExitStatus


def profiles(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Show this profile's ports.")
    ] = None,
    profiles_dir: o.ProfilesDirOpt = None,
    json_out: o.JsonOpt = False,
) -> int:
    """List the named port profiles, or show one.

    Example: probe profiles camera
    """
    from probe.output.registry import render
    from probe.output.views import ProfileList
    from probe.plan import profiles as profiles_mod

    dirs = list(profiles_dir or [])
    fmt = o.output_format(json_out)
    if name is None:
        render(ProfileList.of(profiles_mod.load_profiles(dirs)), fmt, sys.stdout)
    else:
        render(profiles_mod.get_profile(name, dirs), fmt, sys.stdout)
    return ExitStatus.OK
