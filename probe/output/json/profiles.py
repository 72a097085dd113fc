"""``probe profiles --json``: ``{"profiles": [profile, ...]}``, or one profile:
``{"name", "description", "source", "ports": [{"port", "service", "note"}, ...]}``."""

from __future__ import annotations

from typing import Any, TextIO

from probe.output.base import Format, FormatName
from probe.output.json.writer import write
from probe.output.views import ProfileList
from probe.plan.profiles import PortProfile

__all__ = ["ProfileJson", "ProfileListJson"]


class ProfileListJson(Format[ProfileList]):
    name = FormatName.JSON

    def render(self, result: ProfileList, out: TextIO) -> None:
        write({"profiles": [_profile(p) for p in result.profiles]}, out)


class ProfileJson(Format[PortProfile]):
    name = FormatName.JSON

    def render(self, result: PortProfile, out: TextIO) -> None:
        write(_profile(result), out)


def _profile(p: PortProfile) -> dict[str, Any]:
    return {
        "name": p.name,
        "description": p.description,
        "source": p.source,
        "ports": [{"port": x.port, "service": x.service, "note": x.note} for x in p.ports],
    }
