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
        """The reader's remark on a damaged file first, then the analysis's own notes."""
        info = self.info
        damaged = (
            f"The capture is damaged or cut short ({info.problem}): only the {info.packets} "
            "packets before that point were analysed."
        )
        return ((damaged,) if info.truncated else ()) + self.analysis.notes


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
