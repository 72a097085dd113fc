"""Results as the formats see them, where a command's result is not one record already.

``probe analyze`` has the capture's description and the analysis; ``probe profiles`` has all
profiles (one profile is a ``PortProfile`` and needs no view). The formats render these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probe.capture.analyze.results import Analysis, Outcome
    from probe.capture.reader import CaptureInfo
    from probe.plan.profiles import PortProfile

__all__ = ["CaptureAnalysis", "ProfileList", "responder"]


@dataclass(frozen=True, slots=True)
class CaptureAnalysis:
    """``probe analyze``: what was read, and what the attempts in it came to."""

    info: CaptureInfo
    analysis: Analysis

    @property
    def notes(self) -> tuple[str, ...]:
        """The reader's remarks (a damaged file, Ctrl-C, timestamps that are no date) first,
        then the analysis's own notes."""
        info = self.info
        said: list[str] = []
        if info.truncated:
            said.append(
                f"The capture is damaged or cut short ({info.problem}): only the "
                f"{info.packets} packets before that point were analysed."
            )
        if info.interrupted:
            said.append(
                f"Interrupted (Ctrl-C): only the {info.packets} packets read until then were "
                "analysed."
            )
        if info.bad_times:
            said.append(
                f"{info.bad_times} packets have timestamps outside the years 1-9999 (a damaged "
                "file, or a wrong if_tsresol / if_tsoffset for their interface): their times "
                "are left out of the report."
            )
        return (*said, *self.analysis.notes)


def responder(o: Outcome) -> str | None:
    """Who answered the attempts: the ICMP sender, else the server (a SYN/ACK or RST came
    from its address), else nobody."""
    if o.responders:
        return o.responders[0][0]
    if o.ttls:
        return o.server
    return None


@dataclass(frozen=True, slots=True)
class ProfileList:
    """``probe profiles``: every profile, by name."""

    profiles: tuple[PortProfile, ...]

    @classmethod
    def of(cls, profiles: Mapping[str, PortProfile]) -> ProfileList:
        return cls(tuple(profiles[name] for name in sorted(profiles)))
