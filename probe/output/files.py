"""Output written to a file a user named (``--junit FILE``): checked before anything is
probed, written after, and every failure one line (exit 2) instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from probe.errors import BadInput

__all__ = ["check_writable", "written"]


def check_writable(path: Path, option: str) -> None:
    """Fail early (exit 2, nothing probed) when the file ``option`` names cannot be written."""
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise BadInput(f"{option} {path} is a directory; give a file name")
    if not parent.is_dir():
        raise BadInput(f"{option} {path}: directory {parent} does not exist")


@contextmanager
def written(path: Path, what: str) -> Iterator[TextIO]:
    """The file opened for writing (UTF-8); an OSError opening or writing it is a BadInput
    that says which file (``what``: "JUnit") could not be written and why."""
    try:
        with Path(path).open("w", encoding="utf-8") as out:
            yield out
    except OSError as exc:
        raise BadInput(f"cannot write the {what} file {path}: {exc.strerror or exc}") from None
