"""Records made by the tens of thousands: a full-range scan makes 65535 of several kinds (the
evidence of each answer, each port's verdict, each port asked for).

A frozen dataclass's __init__ sets each field through ``object.__setattr__``; the slots' own
descriptors set them in about two thirds of the time. A record made with
``object.__new__(cls)`` and every setter once is an ordinary instance, equal to the one
__init__ makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

_R = TypeVar("_R")


def slot_setters(cls: type[_R]) -> tuple[Callable[[_R, Any], None], ...]:
    """The setters of a frozen slots dataclass's fields, in field order."""
    return tuple(getattr(cls, f.name).__set__ for f in fields(cls))  # type: ignore[arg-type]
