"""Transitional: cli/main.py's old names for profiles output. Delete once the CLI renders
through ``probe.output.registry``."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from probe.output.base import FormatName
from probe.output.registry import render
from probe.output.views import ProfileList
from probe.plan.profiles import PortProfile


def render_list(profiles: Mapping[str, PortProfile], as_json: bool) -> None:
    render(ProfileList.of(profiles), FormatName.JSON if as_json else FormatName.TEXT, sys.stdout)


def render_one(profile: PortProfile, as_json: bool) -> None:
    render(profile, FormatName.JSON if as_json else FormatName.TEXT, sys.stdout)
