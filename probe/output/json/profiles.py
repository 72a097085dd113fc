"""``probe profiles --json``: ``{"profiles": [profile, ...]}``, or one profile:
``{"name", "description", "source", "ports": [{"port", "protocol", "service", "note"}, ...]}``
(``protocol`` "tcp" or "udp", as in a check report's port entries: the TCP ports first, then
the UDP ones, each in the file's order)."""

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
        "ports": [
            {"port": x.port, "protocol": str(x.protocol), "service": x.service, "note": x.note}
            for x in p.entries
        ],
    }
