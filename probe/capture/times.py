"""Capture timestamps as dates, for the reports: ISO 8601 (``iso``) and the human clock
(``clock``), both in UTC; None for a timestamp that is no date between the years 1 and 9999.

Such timestamps do occur: pcapng gives every interface its own resolution (``if_tsresol``,
down to whole seconds or coarser) and offset (``if_tsoffset``, any signed 64-bit number of
seconds), so a damaged or odd Interface Description Block puts packets billions of years away
or before the year 1. The arithmetic is ``datetime``'s, not ``time.gmtime``'s (which fails
outside the platform's ``time_t``, or below 1970 on some systems).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["END", "START", "clock", "in_range", "iso"]

START: Final = -62_135_596_800.0  # 0001-01-01T00:00:00Z, as seconds since the epoch
END: Final = 253_402_300_800.0  # 10000-01-01T00:00:00Z: the first second past 9999
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def in_range(ts: float) -> bool:
    """The timestamp is a date of the years 1 to 9999 (False for NaN too)."""
    return START <= ts < END


def _split(ts: float) -> tuple[datetime, float] | None:
    """(the whole second as a UTC date, the fraction 0 <= f < 1), or None when out of range."""
    if not in_range(ts):
        return None
    whole = math.floor(ts)  # floor, not int(): -1.25 is 0.75 s past -2
    return _EPOCH + timedelta(seconds=whole), ts - whole


def iso(ts: float | None) -> str | None:
    """ "2024-05-01T12:00:01.123457Z"; None when absent or out of range."""
    parts = None if ts is None else _split(ts)
    if parts is None:
        return None
    date, frac = parts
    micro = min(round(frac * 1e6), 999_999)
    return f"{date.replace(tzinfo=None).isoformat()}.{micro:06d}Z"


def clock(ts: float) -> str | None:
    """ "2024-05-01 12:00:01.123 UTC"; None when out of range."""
    parts = _split(ts)
    if parts is None:
        return None
    date, frac = parts
    ms = min(int(frac * 1000), 999)
    return f"{date.replace(tzinfo=None).isoformat(sep=' ')}.{ms:03d} UTC"
