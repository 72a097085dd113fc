"""The JSON writer every ``--json`` output goes through: ``json.dumps(data, indent=2)``
exactly, written onto a stream, with long lists written piece by piece.

Speed matters because ``-p all`` makes 65535 port objects per target: ``_dumps`` gives
exactly ``json.dumps(data, indent=2)`` in about half the time (the standard library drops its
C encoder as soon as ``indent`` is set), and a ``Stream`` in the data is written in chunks,
each item by its own function, so a full-range scan never holds 65535 port dicts and the
whole text in memory at once. The text is the same either way. ``ensure_ascii=False`` keeps
non-ASCII text as it is, as ``json.dumps``'s flag of that name does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Final, Generic, TextIO, TypeVar

__all__ = ["Stream", "dumps", "number", "quote", "write", "write_at", "write_fields"]

T = TypeVar("T")

_CHUNK = 512  # items per write


@dataclass(frozen=True, slots=True)
class Stream(Generic[T]):
    """A list in the data to be written item by item: ``text(item, indent)`` must be the
    item's ``dumps`` at that indent. ``texts(items, indent)``, when given, is ``text`` for a
    chunk of items at once (one loop of its own instead of a call per item: a full-range
    scan's ports)."""

    items: Sequence[T]
    text: Callable[[T, str], str]
    texts: Callable[[Sequence[T], str], list[str]] | None = None


def write(data: Any, out: TextIO, *, ensure_ascii: bool = True) -> None:
    """``data`` as ``json.dumps(data, indent=2, ensure_ascii=...)`` would write it, and a
    newline."""
    _write(data, "", out, _SCALARS if ensure_ascii else _UNICODE)
    out.write("\n")


def write_at(data: Any, indent: str, out: TextIO) -> None:
    """``data`` as it is written nested at ``indent`` inside a larger document (its
    ``Stream`` lists piece by piece), without a newline: for documents written in parts."""
    _write(data, indent, out, _SCALARS)


def write_fields(data: dict[str, Any], indent: str, out: TextIO) -> None:
    """``write_at`` for a non-empty dict whose ``Stream``s, if any, are its own values (a big
    run's target: its ports): nothing deeper is searched for one, so each value is walked once
    (a /16's targets are written 65,536 times)."""
    _fields(data, indent, out, _SCALARS, shallow=True)


def _fields(
    obj: dict[str, Any],
    indent: str,
    out: TextIO,
    scalars: dict[type, Callable[[Any], str]],
    *,
    shallow: bool,
) -> None:
    """A non-empty dict key by key, each value through ``_write`` (``shallow``: only a
    Stream; any other value is written whole, not searched for one)."""
    inner = indent + "  "
    out.write("{")
    for n, (key, value) in enumerate(obj.items()):
        out.write(("\n" if n == 0 else ",\n") + inner + scalars[str](key) + ": ")
        if shallow and not isinstance(value, Stream):
            out.write(_dumps(value, inner, scalars))
        else:
            _write(value, inner, out, scalars)
    out.write("\n" + indent + "}")


def _write(obj: Any, indent: str, out: TextIO, scalars: dict[type, Callable[[Any], str]]) -> None:
    """``dumps`` as a writer: containers that hold a Stream are written piece by piece;
    everything else goes through ``dumps`` whole."""
    inner = indent + "  "
    if isinstance(obj, Stream):
        if not obj.items:
            out.write("[]")
            return
        # Written in chunks: one write per item costs more than rendering it.
        sep = ",\n" + inner
        text, texts = obj.text, obj.texts
        for at in range(0, len(obj.items), _CHUNK):
            chunk = obj.items[at : at + _CHUNK]
            out.write("[\n" + inner if at == 0 else sep)
            out.write(sep.join(texts(chunk, inner) if texts else [text(i, inner) for i in chunk]))
        out.write("\n" + indent + "]")
    elif isinstance(obj, dict) and obj and any(_streams(v) for v in obj.values()):
        _fields(obj, indent, out, scalars, shallow=False)
    elif isinstance(obj, list) and obj and any(_streams(v) for v in obj):
        out.write("[")
        for n, value in enumerate(obj):
            out.write(("\n" if n == 0 else ",\n") + inner)
            _write(value, inner, out, scalars)
        out.write("\n" + indent + "]")
    else:
        out.write(_dumps(obj, indent, scalars))


def _streams(obj: Any) -> bool:
    if isinstance(obj, Stream):
        return True
    if isinstance(obj, dict):
        return any(_streams(v) for v in obj.values())
    if isinstance(obj, list):
        # The data's lists hold one kind of item: a list of numbers (a finding's 65535
        # ports) holds no Stream, and is not walked to find that out.
        if not obj or isinstance(obj[0], int | float | str):
            return False
        return any(isinstance(v, dict | Stream) and _streams(v) for v in obj)
    return False


def quote(value: str | None) -> str:
    """A string field as JSON, or null."""
    return "null" if value is None else encode_basestring_ascii(str(value))


def number(value: float) -> str:
    """A float as json writes it."""
    # json writes finite floats with repr(); NaN/Infinity (never measured, but) its own way.
    return float.__repr__(value) if math.isfinite(value) else json.dumps(value)


_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    float: number,
    bool: lambda b: "true" if b else "false",
    type(None): lambda _: "null",
}
_UNICODE: dict[type, Callable[[Any], str]] = {**_SCALARS, str: encode_basestring}
_INT: Final = frozenset({int})
_STR: Final = frozenset({str})


def dumps(obj: Any, indent: str, *, ensure_ascii: bool = True) -> str:
    """``json.dumps(obj, indent=2, ensure_ascii=...)`` for JSON-ready data, nested at
    ``indent``.

    Scalars of exact built-in types are written inline, without recursing; anything
    else (str/int subclasses such as enums) is left to the standard library.
    """
    return _dumps(obj, indent, _SCALARS if ensure_ascii else _UNICODE)


def _dumps(obj: Any, indent: str, scalars: dict[type, Callable[[Any], str]]) -> str:
    scalar = scalars.get(type(obj))
    if scalar is not None:
        return scalar(obj)
    inner = indent + "  "
    sep = ",\n" + inner
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [
            scalars[str](key)
            + ": "
            + (
                scalars[type(value)](value)
                if type(value) in scalars
                else _dumps(value, inner, scalars)
            )
            for key, value in obj.items()
        ]
        return "{\n" + inner + sep.join(items) + "\n" + indent + "}"
    if isinstance(obj, list | tuple):
        if not obj:
            return "[]"
        # A finding's ports and their protocols: 65535 of each, maybe; all of one type
        kinds = set(map(type, obj))
        if kinds == _INT:
            items = list(map(int.__repr__, obj))
        elif kinds == _STR and obj.count(obj[0]) == len(obj):  # "tcp", 65535 times
            items = [scalars[str](obj[0])] * len(obj)
        elif kinds == _STR:
            items = list(map(scalars[str], obj))
        else:
            items = [_dumps(value, inner, scalars) for value in obj]
        return "[\n" + inner + sep.join(items) + "\n" + indent + "]"
    return json.dumps(obj, ensure_ascii=scalars is _SCALARS)
