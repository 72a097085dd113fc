"""The Format interface: what every output format is and does.

A format is built once per run with that run's ``Options`` and renders one result onto a
text stream. The command line never branches on the format: it names one (``FormatName``)
and asks the registry (``probe.output.registry``) for the format that renders its result.
Adding a format (OpenMetrics, CSV) is a new ``FormatName``, a module per result kind it
supports, and one line per kind in the registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Generic, TextIO, TypeVar

__all__ = ["Format", "FormatName", "Options"]

R = TypeVar("R")


class FormatName(StrEnum):
    """The formats, by the word a user would type for them."""

    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    OPENMETRICS = "openmetrics"


@dataclass(frozen=True, slots=True)
class Options:
    """Per-run choices, fixed when the format is built.

    ``verbose`` lifts the text formats' limits (every port, row and finding listed).
    ``junit_path`` is the JUnit file an audit also wrote: the audit text names it.
    ``color``: None styles the text only on a colour terminal (and not under NO_COLOR),
    False never, True always. Glyphs follow the stream's encoding (ASCII unless UTF-8).
    """

    verbose: bool = False
    junit_path: Path | None = None
    color: bool | None = None


@dataclass(frozen=True)
class Format(ABC, Generic[R]):
    """One format for one kind of result."""

    name: ClassVar[FormatName]
    options: Options = field(default_factory=Options)

    @abstractmethod
    def render(self, result: R, out: TextIO) -> None:
        """Write the whole result onto ``out``, ending with a newline."""
